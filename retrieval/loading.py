"""Read article files of every supported format into `Article`s, or say why not.

A file, or one item of a JSON Lines feed, that cannot be used becomes a `Skipped` with a
reason (and the line, for a feed), so one bad item never stops an ingest of many.

Document ids are unique by construction: a file's id is its path relative to the folder that
was named on the command line (just its name when the file itself was named), and an id given
inside a feed that is already taken in the same run is reported as skipped, not overwritten.

http(s) arguments are handed to retrieval/web.py, which fetches them; `load_all` merges both.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, BinaryIO

from .articles import META_FIELDS, Unusable, make_article
from .errors import BadInput
from .types import Article, Loaded, Skipped
from .web import is_url, load_urls  # http(s) pages and RSS/Atom feeds are fetched, not read

if TYPE_CHECKING:
    from .config import WebSettings
    from .web import HostClock

__all__ = ["META_FIELDS", "Entry", "Skipped", "bundled_corpus", "iter_files", "load_all", "load_file", "load_paths",
           "walk"]

SUFFIXES = {".txt", ".md", ".markdown", ".html", ".htm", ".json", ".jsonl"}
MANIFEST = "manifest.json"
MAX_BYTES = 20 * 1024 * 1024  # per file, and per line of a .jsonl feed (feeds are streamed)


@dataclass
class Entry:
    """A file to load and the document id its path gives it."""

    path: Path
    doc: str


def iter_files(paths: list[Path], follow_links: bool = False) -> Iterator[Path]:
    """Supported files under the given paths, sorted; a missing path is an error."""
    for item in walk(paths, follow_links):
        if isinstance(item, Entry):
            yield item.path


def walk(paths: list[Path], follow_links: bool = False) -> Iterator[Entry | Skipped]:
    """Every supported file under `paths` (sorted per folder) with its document id, and the links not followed.

    A link inside a named folder that points outside it is reported, not followed, unless
    `follow_links`; a link pointing inside the folder is left out (its target is ingested anyway).
    """
    follow = follow_links
    paths = [p for p in paths if not is_url(p)]  # URLs are fetched by retrieval/web.py, not walked
    for p in paths:
        if not p.exists() and not p.is_symlink():
            raise BadInput(f"no such file or folder: {p}")
        if not p.exists():
            loop = _resolve(p) is None
            raise BadInput(f"symbolic link loop: {p} (it leads back to itself)" if loop else
                           f"broken symbolic link: {p} (to {os.readlink(p)})")
    for p in paths:
        if p.is_dir():
            yield from _walk_dir(p, follow)
        else:
            yield Entry(p, p.name)


def _resolve(path: Path) -> Path | None:
    """The path with every link followed; None for a link loop (`a -> b -> a`, `self -> self`)."""
    try:
        return path.resolve()
    except (RuntimeError, OSError):  # Python < 3.13 raises RuntimeError("Symlink loop"), later OSError(ELOOP)
        return None


def _inside(target: Path, root: Path) -> bool:
    try:
        target.relative_to(root)
        return True
    except ValueError:
        return False


def _walk_dir(root: Path, follow: bool) -> Iterator[Entry | Skipped]:
    real_root = root.resolve()
    visited = {real_root}
    found: list[Entry | Skipped] = []

    def visit(folder: Path, rel: Path) -> None:
        try:
            names = sorted(os.listdir(folder))
        except OSError as exc:
            found.append(Skipped(str(folder), f"unreadable folder: {exc.strerror or exc}"))
            return
        for name in names:
            if name.startswith("."):
                continue
            f = folder / name
            link = f.is_symlink()
            target = _resolve(f) if link else None
            if link and target is None:
                found.append(Skipped(str(f), f"symbolic link loop (to {os.readlink(f)}, which leads back to itself)"))
                continue
            if link and not f.exists():
                found.append(Skipped(str(f), f"broken symbolic link (to {os.readlink(f)})"))
                continue
            outside = link and target is not None and not _inside(target, real_root)
            if f.is_dir():
                if link and (not outside or target in visited):
                    continue  # its files are reached through the folder itself
                if outside and not follow:
                    found.append(Skipped(str(f), f"symbolic link to {target}, outside {root}; not followed "
                                                 "(use --follow-links)"))
                    continue
                here = target or _resolve(f)
                if here is None or here in visited:
                    continue  # a folder already walked (a link back up the tree, followed)
                visited.add(here)
                visit(f, rel / name)
            elif f.is_file() and f.suffix.lower() in SUFFIXES and name != MANIFEST:
                if outside and not follow:
                    found.append(Skipped(str(f), f"symbolic link to {target}, outside {root}; not followed "
                                                 "(use --follow-links)"))
                    continue
                if link and not outside:
                    continue  # the file it points to is ingested under its own name
                found.append(Entry(f, (rel / name).as_posix()))

    visit(root, Path(""))
    found.sort(key=lambda x: str(x.path))
    yield from found


def load_paths(paths: list[Path], follow_links: bool = False,
               state_dir: Path | None = None) -> tuple[list[Article], list[Skipped]]:
    """All articles under `paths` (files, folders and http(s) URLs), and what was skipped (`load_all`)."""
    loaded = load_all(paths, follow_links=follow_links, state_dir=state_dir)
    return loaded.articles, loaded.skipped


def load_all(paths: list[Path], *, follow_links: bool = False, state_dir: Path | None = None,
             web: WebSettings | None = None, clock: HostClock | None = None) -> Loaded:
    """All articles under `paths` (files, folders and http(s) URLs), what was skipped, and what fetching the URLs
    did; document ids are unique in the result. `state_dir` keeps the ETags and pages of fetched URLs (none kept
    without it), `web` the fetching settings, `clock` the per-host request times (polite across calls)."""
    articles: list[Article] = []
    skipped: list[Skipped] = []
    manifests: dict[Path, dict[str, Any]] = {}
    owner: dict[str, str] = {}  # doc id -> where it came from (path or path:line)
    for entry in walk(paths, follow_links):
        if isinstance(entry, Skipped):
            skipped.append(entry)
            continue
        f = entry.path
        meta = _manifest_meta(f, entry.doc, manifests)
        try:
            for item in _load(f, meta, entry.doc):
                if isinstance(item, Skipped):
                    skipped.append(item)
                    continue
                article, line = item
                where = f"{f}:{line}" if line else str(f)
                if article.doc in owner:
                    skipped.append(Skipped(str(f), f"duplicate document id {article.doc!r}, already used by "
                                                   f"{owner[article.doc]} in this ingest; not overwritten", line))
                    continue
                owner[article.doc] = where
                articles.append(article)
        except Unusable as why:
            skipped.append(Skipped(str(f), str(why), why.line))
        except Exception as exc:  # noqa: BLE001 - one file's bug must not stop the ingest
            skipped.append(Skipped(str(f), f"could not be loaded ({type(exc).__name__}: {str(exc)[:120]})"))
    fetched = load_urls([p for p in paths if is_url(p)], state_dir, settings=web, clock=clock)
    for article in fetched.articles:
        if article.doc in owner:
            fetched.skipped.append(Skipped(article.url or article.doc,
                                           f"duplicate document id {article.doc!r}; not overwritten"))
        else:
            owner[article.doc] = article.url or article.doc
            articles.append(article)
    return Loaded(articles, skipped + fetched.skipped, fetched.web)


def load_file(path: Path, meta: dict[str, Any] | None = None, doc: str | None = None) -> list[Article]:
    """One file's articles (several for JSON Lines); raises Unusable with the reason of the first failure."""
    out = []
    for item in _load(path, meta or {}, doc or path.name):
        if isinstance(item, Skipped):
            raise Unusable(item.reason, item.line)
        out.append(item[0])
    return out


def _load(path: Path, meta: dict[str, Any], doc: str) -> Iterator[tuple[Article, int | None] | Skipped]:
    """(article, line) pairs and per-item Skipped; raises Unusable when the whole file is unusable."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise Unusable(f"unsupported file type {suffix or '(none)'}")
    if suffix == ".jsonl":
        yield from _load_jsonl(path, doc)
        return
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise Unusable(f"too large ({size // 1024 // 1024} MB > {MAX_BYTES // 1024 // 1024} MB)")
        raw = path.read_bytes()
    except OSError as exc:
        raise Unusable(f"unreadable: {exc.strerror or exc}") from None
    if b"\x00" in raw[:8192]:
        raise Unusable("binary file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Unusable("not valid UTF-8 text") from None
    if not text.strip():
        raise Unusable("empty file")
    if suffix == ".json":
        yield from _load_json(path, text, doc)
    elif suffix in (".html", ".htm"):
        yield _from_html(path, text, meta, doc), None
    else:
        yield make_article(doc, text, meta, path), None


def _from_html(path: Path, html: str, meta: dict[str, Any], doc: str) -> Article:
    import trafilatura

    extracted = trafilatura.bare_extraction(html, include_comments=False, include_tables=False,
                                            with_metadata=True, favor_precision=True)
    text = getattr(extracted, "text", None) if extracted is not None else None
    if not text or not text.strip():
        raise Unusable("no article text found in the HTML")
    found = {
        "title": getattr(extracted, "title", "") or "",
        "outlet": getattr(extracted, "sitename", "") or "",
        "date": getattr(extracted, "date", "") or "",
        "author": getattr(extracted, "author", "") or "",
        "url": getattr(extracted, "url", "") or "",
    }
    merged = {k: meta.get(k) or found[k] for k in META_FIELDS}
    return make_article(doc, text, merged, path)


def _from_object(obj: object, path: Path, default_doc: str) -> tuple[Article, bool]:
    """One feed item as an article, and whether it named its own id; raises Unusable with the reason."""
    if not isinstance(obj, dict):
        raise Unusable(f"not a JSON object (a {type(obj).__name__})")
    body = obj.get("text") or obj.get("content") or obj.get("body")
    if not isinstance(body, str) or not body.strip():
        raise Unusable("no 'text'")
    given = obj.get("id") if obj.get("id") not in (None, "") else obj.get("doc")
    named = given not in (None, "")
    if named and not isinstance(given, (str, int)):
        raise Unusable(f"'id' must be a string or a number, not {type(given).__name__}")
    doc = str(given).strip() if named else default_doc
    if not doc:
        raise Unusable("'id' is blank")
    meta = {k: obj.get(k, "") for k in META_FIELDS}
    meta["outlet"] = meta["outlet"] or obj.get("source", "") or obj.get("publisher", "")
    return make_article(doc, body, meta, path), named


def _load_json(path: Path, text: str, doc: str) -> Iterator[tuple[Article, int | None] | Skipped]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Unusable(f"invalid JSON at line {exc.lineno}: {exc.msg}") from None
    items = data if isinstance(data, list) else [data]
    for i, obj in enumerate(items, 1):
        try:
            article, _ = _from_object(obj, path, doc if len(items) == 1 else f"{doc}#{i}")
        except Unusable as why:
            if len(items) == 1:
                raise
            yield Skipped(str(path), f"item {i}: {why}")
            continue
        yield article, None


def _lines(fh: BinaryIO) -> Iterator[tuple[int, bytes | None]]:
    """(line number, bytes) of a binary file, one line in memory at a time; None for an overlong line."""
    n = 0
    while True:
        chunk = fh.readline(MAX_BYTES + 1)
        if not chunk:
            return
        n += 1
        if len(chunk) > MAX_BYTES and not chunk.endswith(b"\n"):
            while True:  # skip the rest of the line without holding it
                rest = fh.readline(1 << 20)
                if not rest or rest.endswith(b"\n"):
                    break
            yield n, None
        else:
            yield n, chunk


def _load_jsonl(path: Path, doc: str) -> Iterator[tuple[Article, int | None] | Skipped]:
    """A JSON Lines feed, streamed: each bad line is skipped on its own, reported with its line number.

    An item without an id is `<doc>#<line>`, or just `<doc>` when it is the feed's only item.
    """
    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise Unusable(f"unreadable: {exc.strerror or exc}") from None
    items = 0
    pending: tuple[Article, int] | None = None  # the first id-less item, until we know it isn't the only one
    with fh:
        try:
            for n, raw in _lines(fh):
                if n == 1 and raw is not None:
                    if b"\x00" in raw[:8192]:
                        raise Unusable("binary file")
                    raw = raw.removeprefix(b"\xef\xbb\xbf")
                if raw is not None and not raw.strip():
                    continue
                items += 1
                if pending is not None and items > 1:
                    yield pending
                    pending = None
                if raw is None:
                    yield Skipped(str(path), f"line longer than {MAX_BYTES // 1024 // 1024} MB", n)
                    continue
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError:
                    yield Skipped(str(path), "not valid UTF-8 text", n)
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield Skipped(str(path), f"invalid JSON (column {exc.colno}): {exc.msg}", n)
                    continue
                try:
                    article, named = _from_object(obj, path, f"{doc}#{n}")
                except Unusable as why:
                    yield Skipped(str(path), str(why), n)
                    continue
                if not named and items == 1:
                    pending = (article, n)
                    continue
                yield article, n
        except OSError as exc:
            raise Unusable(f"unreadable: {exc.strerror or exc}") from None
    if pending is not None:
        pending[0].doc = doc
        yield pending
    if items == 0:
        raise Unusable("empty file")


def _manifest_meta(f: Path, doc: str, cache: dict[Path, dict[str, Any]]) -> dict[str, Any]:
    """A file's metadata from the nearest manifest.json that names it: the one beside it (by file name), or
    one in a folder above it, up to the named folder (by the path from that folder: `sub/b.md`)."""
    depth = len(Path(doc).parts)  # the file's id is its path from the named folder
    folder = f.parent
    for up in range(depth):
        rel = f.relative_to(folder).as_posix()
        meta = _manifest_for(folder, cache).get(rel)
        if isinstance(meta, dict):
            return meta
        if up + 1 < depth:
            folder = folder.parent
    return {}


def _manifest_for(folder: Path, cache: dict[Path, dict[str, Any]]) -> dict[str, Any]:
    """Metadata for the files under a folder, from its manifest.json (path from the folder -> fields)."""
    if folder not in cache:
        cache[folder] = {}
        mf = folder / MANIFEST
        if mf.is_file():
            try:
                data = json.loads(mf.read_text(encoding="utf-8"))
                cache[folder] = {PurePosixPath(str(d["doc"]).replace("\\", "/")).as_posix(): d
                                 for d in data.get("articles", []) if "doc" in d}
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                cache[folder] = {}
    return cache[folder]


def bundled_corpus() -> Path:
    """The seed articles shipped inside the package."""
    from importlib import resources

    return Path(str(resources.files("retrieval.corpus") / "articles"))
