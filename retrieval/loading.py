"""Read article files of every supported format into `Article`s, or say why not.

A file that cannot be used becomes a `Skipped` with a reason, so one bad file
never stops an ingest of many.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .cleaning import classify
from .errors import BadInput
from .types import Article
from .web import is_url, load_urls  # http(s) pages and RSS/Atom feeds are fetched, not read

SUFFIXES = {".txt", ".md", ".markdown", ".html", ".htm", ".json", ".jsonl"}
MANIFEST = "manifest.json"
META_FIELDS = ("title", "outlet", "date", "author", "url")
MAX_BYTES = 20 * 1024 * 1024


@dataclass
class Skipped:
    path: str
    reason: str


def iter_files(paths: list[Path]) -> Iterator[Path]:
    """Supported files under the given paths, sorted; a missing path is an error."""
    paths = [p for p in paths if not is_url(p)]
    for p in paths:
        if not p.exists():
            raise BadInput(f"no such file or folder: {p}")
    for p in paths:
        if p.is_dir():
            yield from sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in SUFFIXES
                              and f.name != MANIFEST and not any(part.startswith(".") for part in f.relative_to(p).parts))
        else:
            yield p


def load_paths(paths: list[Path], state_dir: Path | None = None) -> tuple[list[Article], list[Skipped]]:
    articles: list[Article] = []
    skipped: list[Skipped] = []
    manifests: dict[Path, dict] = {}
    for f in iter_files(paths):
        meta = _manifest_for(f, manifests).get(f.name, {})
        try:
            articles.extend(load_file(f, meta))
        except _Skip as why:
            skipped.append(Skipped(str(f), str(why)))
    fetched, failed = load_urls([p for p in paths if is_url(p)], state_dir)  # state_dir keeps ETags
    articles += fetched
    skipped += failed
    return articles, skipped


class _Skip(Exception):
    pass


def load_file(path: Path, meta: dict | None = None) -> list[Article]:
    """One file's articles (several for JSON Lines); raises _Skip with the reason."""
    meta = meta or {}
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise _Skip(f"unsupported file type {suffix or '(none)'}")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise _Skip(f"unreadable: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise _Skip(f"too large ({len(raw) // 1024 // 1024} MB > {MAX_BYTES // 1024 // 1024} MB)")
    if b"\x00" in raw[:8192]:
        raise _Skip("binary file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _Skip("not valid UTF-8 text") from None
    if not text.strip():
        raise _Skip("empty file")
    if suffix in (".json", ".jsonl"):
        return _load_json(path, text, suffix)
    if suffix in (".html", ".htm"):
        return [_from_html(path, text, meta)]
    return [_article(path.name, text, meta, path)]


def _article(doc: str, text: str, meta: dict, path: Path) -> Article:
    blocks, info = classify(text)
    if not any(b.kind in ("body", "caption") for b in blocks):
        raise _Skip("no article text left after removing page boilerplate")
    fields = {k: str(meta.get(k) or "") for k in META_FIELDS}
    if not fields["date"]:
        fields["date"] = info.date
    if not fields["title"] and "title" not in meta:
        fields["title"] = info.title
    if not fields["author"] and "author" not in meta:
        fields["author"] = info.author
    return Article(doc=doc, text=text, path=str(path), **fields)


def _from_html(path: Path, html: str, meta: dict) -> Article:
    import trafilatura

    doc = trafilatura.bare_extraction(html, include_comments=False, include_tables=False,
                                      with_metadata=True, favor_precision=True)
    text = getattr(doc, "text", None) if doc is not None else None
    if not text or not text.strip():
        raise _Skip("no article text found in the HTML")
    found = {
        "title": getattr(doc, "title", "") or "",
        "outlet": getattr(doc, "sitename", "") or "",
        "date": getattr(doc, "date", "") or "",
        "author": getattr(doc, "author", "") or "",
        "url": getattr(doc, "url", "") or "",
    }
    merged = {k: meta.get(k) or found[k] for k in META_FIELDS}
    return _article(path.name, text, merged, path)


def _load_json(path: Path, text: str, suffix: str) -> list[Article]:
    try:
        if suffix == ".jsonl":
            objs = [(i, json.loads(line)) for i, line in enumerate(text.splitlines(), 1) if line.strip()]
        else:
            data = json.loads(text)
            items = data if isinstance(data, list) else [data]
            objs = [(i, o) for i, o in enumerate(items, 1)]
    except json.JSONDecodeError as exc:
        raise _Skip(f"invalid JSON at line {exc.lineno}: {exc.msg}") from None
    articles = []
    for i, obj in objs:
        if not isinstance(obj, dict):
            raise _Skip(f"item {i} is not an object")
        body = obj.get("text") or obj.get("content") or obj.get("body")
        if not isinstance(body, str) or not body.strip():
            raise _Skip(f"item {i} has no 'text'")
        doc = str(obj.get("id") or obj.get("doc") or (path.name if len(objs) == 1 else f"{path.name}#{i}"))
        meta = {k: obj.get(k, "") for k in META_FIELDS}
        meta["outlet"] = meta["outlet"] or obj.get("source", "") or obj.get("publisher", "")
        articles.append(_article(doc, body, meta, path))
    return articles


def _manifest_for(f: Path, cache: dict[Path, dict]) -> dict:
    """Metadata for the files of a folder, from its manifest.json (name -> fields)."""
    folder = f.parent
    if folder not in cache:
        cache[folder] = {}
        mf = folder / MANIFEST
        if mf.is_file():
            try:
                data = json.loads(mf.read_text(encoding="utf-8"))
                cache[folder] = {d["doc"]: d for d in data.get("articles", []) if "doc" in d}
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                cache[folder] = {}
    return cache[folder]


def bundled_corpus() -> Path:
    """The seed articles shipped inside the package."""
    from importlib import resources

    return Path(str(resources.files("corpus") / "articles"))
