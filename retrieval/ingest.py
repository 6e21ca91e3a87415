"""Bring articles into the index: only new or changed ones are embedded.

Work is batched across articles: records are looked up, chunks embedded and
stored, and articles committed a group at a time, so a feed of many short
articles costs a few large model calls and store writes, not several per article.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .chunking import chunk_article, content_hash
from .loading import Skipped, load_paths
from .types import Article

if TYPE_CHECKING:
    from .config import Settings
    from .embedding import Embedder
    from .store import Store

Progress = Callable[[str, int, int], None]  # (what, done, total)
GROUP = 256  # articles looked up and committed together
EMBED_BATCH = 64


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    chunks_embedded: int = 0

    @property
    def ok(self) -> bool:
        return not self.skipped


def ingest(paths: list[Path], settings: Settings, store: Store | None = None, embedder: Embedder | None = None,
           progress: Progress | None = None,
           annotate: Callable[[str], str] | None = None, follow_links: bool = False) -> IngestReport:
    from .store import Store

    articles, skipped = load_paths([Path(p) for p in paths], follow_links=follow_links,
                                   state_dir=Path(settings.data_dir))
    store = store or Store(settings.data_dir, settings.chroma_url, settings.collection, settings.lock_timeout)
    report = IngestReport(skipped=skipped)
    ingest_articles(articles, settings, store, embedder, progress, report, annotate)
    return report


def ingest_articles(articles: Iterable[Article], settings: Settings, store: Store, embedder: Embedder | None = None,
                    progress: Progress | None = None,
                    report: IngestReport | None = None, annotate: Callable[[str], str] | None = None) -> IngestReport:
    from .features import annotate as default_annotate

    annotate = annotate or default_annotate
    report = report or IngestReport()
    store.lexical.find_copies()  # articles indexed before copies were found (an upgrade) are filed once, here
    group: list[Article] = []
    state = {"embedder": embedder, "done": 0}
    for art in articles:
        group.append(art)
        if len(group) >= GROUP:
            _ingest_group(group, settings, store, state, progress, report, annotate)
            group = []
    if group:
        _ingest_group(group, settings, store, state, progress, report, annotate)
    return report


def _ingest_group(group: list[Article], settings: Settings, store: Store, state: dict[str, Any],
                  progress: Progress | None, report: IngestReport, annotate: Callable[[str], str]) -> None:
    from .embedding import get_embedder

    records = store.lookup([a.doc for a in group])
    todo = []
    for art in group:
        digest = content_hash(art, settings.chunk_tokens)[:16]
        rec = records.get(art.doc)
        if rec and rec.hash == digest:
            report.unchanged.append(art.doc)
        else:
            todo.append((art, digest, rec is not None))
    if not todo:
        return
    if state["embedder"] is None:
        state["embedder"] = get_embedder(settings)
    embedder = state["embedder"]
    store.check_model(embedder.model_id, claim=True)
    plans = [(art, digest, replacing, chunk_article(art, settings.chunk_tokens)) for art, digest, replacing in todo]
    anns = {c.id: annotate(c.text) for *_, chunks in plans for c in chunks}
    # Chunks stored by an interrupted earlier run are kept, not embedded again.
    have = store.existing_chunk_ids([c.id for *_, chunks in plans for c in chunks])
    missing = [(art, digest, c, anns[c.id]) for art, digest, _, chunks in plans for c in chunks if c.id not in have]
    total = len(missing)
    for b in range(0, len(missing), EMBED_BATCH):
        batch = missing[b:b + EMBED_BATCH]
        store.add_chunks(batch, embedder.embed([c.text for _, _, c, _ in batch]))
        report.chunks_embedded += len(batch)
        state["done"] += len(batch)
        if progress:
            progress(batch[-1][0].doc, b + len(batch), total)
    store.commit_docs([(art, digest, chunks, [anns[c.id] for c in chunks], replacing)
                       for art, digest, replacing, chunks in plans])
    for art, _, replacing, _ in plans:
        (report.replaced if replacing else report.added).append(art.doc)
