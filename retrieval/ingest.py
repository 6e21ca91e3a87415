"""Bring articles into the index: only new or changed ones are embedded.

Work is batched across articles: records are looked up, chunks embedded and
stored, and articles committed a group at a time, so a feed of many short
articles costs a few large model calls and store writes, not several per article.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .chunking import chunk_article, content_hash
from .errors import IndexBusy
from .loading import load_all
from .types import Article, Chunk, Skipped, WebStats

if TYPE_CHECKING:
    from .config import Settings
    from .embedding import Embedder
    from .store import Store
    from .web import HostClock


@dataclass
class IngestProgress:
    """Where an ingest is, for a progress display. Totals are known up front: first every article is
    compared with the index ("checking", articles only), then the chunks to embed are counted once, and
    "embedding" counts them down to the end, never restarting per group of articles."""

    stage: str  # "checking", then "embedding"
    articles_done: int  # compared (checking); committed or unchanged (embedding)
    articles_total: int | None  # None for a stream of articles of unknown length
    chunks_done: int = 0
    chunks_total: int | None = None  # None while checking, and for a stream
    doc: str = ""  # the article being embedded


Progress = Callable[[IngestProgress], None]
GROUP = 256  # articles looked up and committed together
EMBED_BATCH = 64


@dataclass
class IngestReport:
    """What an ingest did: document ids added, unchanged and replaced, what was skipped and why, the chunks
    embedded, and what fetching the URLs did (`web`)."""

    added: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    chunks_embedded: int = 0
    web: WebStats = field(default_factory=WebStats)

    @property
    def ok(self) -> bool:
        return not self.skipped


def ingest(paths: list[Path], settings: Settings, store: Store | None = None, embedder: Embedder | None = None,
           progress: Progress | None = None, annotate: Callable[[str], str] | None = None,
           follow_links: bool = False, clock: HostClock | None = None) -> IngestReport:
    """Load `paths` (files, folders, URLs; fetched URLs keep their state in the data dir) and store what is
    new or changed. `clock` keeps the per-host request times of URL fetching across calls."""
    from .store import Store

    loaded = load_all([Path(p) for p in paths], follow_links=follow_links, state_dir=Path(settings.data_dir),
                      web=settings.web, clock=clock)
    store = store or Store(settings.data_dir, settings.chroma_url, settings.collection, settings.lock_timeout)
    report = IngestReport(skipped=loaded.skipped, web=loaded.web)
    ingest_articles(loaded.articles, settings, store, embedder, progress, report, annotate)
    return report


def ingest_articles(articles: Iterable[Article], settings: Settings, store: Store, embedder: Embedder | None = None,
                    progress: Progress | None = None,
                    report: IngestReport | None = None, annotate: Callable[[str], str] | None = None) -> IngestReport:
    """Store new and changed articles. A list is checked against the index first, so the progress knows
    every total before embedding starts; any other iterable is taken a group at a time (no totals), so a
    generator of a million articles is never held in memory."""
    from .injection import annotation as default_annotate

    annotate = annotate or default_annotate
    report = report or IngestReport()
    store.lexical.find_copies()  # articles indexed before copies were found (an upgrade) are filed once, here
    state: dict[str, Any] = {"embedder": embedder, "articles": 0, "chunks": 0}
    if isinstance(articles, Sequence):
        n = len(articles)
        plans = []
        for i in range(0, n, GROUP):
            plans.append(_plan(list(articles[i:i + GROUP]), settings, store, report, annotate))
            if progress:
                progress(IngestProgress("checking", min(i + GROUP, n), n))
        total = sum(len(p.missing) for p in plans)
        state["articles"] = sum(p.unchanged for p in plans)
        for plan in plans:
            _run(plan, settings, store, state, progress, report, n, total)
        return report
    group: list[Article] = []
    for art in articles:
        group.append(art)
        if len(group) >= GROUP:
            _run(_plan(group, settings, store, report, annotate), settings, store, state, progress, report, None, None)
            group = []
    if group:
        _run(_plan(group, settings, store, report, annotate), settings, store, state, progress, report, None, None)
    return report


@dataclass
class _Plan:
    """One group's work, worked out before anything is embedded."""

    todo: list[tuple[Article, str, bool, list[Chunk]]]  # (article, digest, replacing, chunks)
    anns: dict[str, str]  # chunk id -> annotations
    missing: list[tuple[Article, str, Chunk, str]]  # chunks to embed: not stored by an interrupted run
    unchanged: int


def _plan(group: list[Article], settings: Settings, store: Store, report: IngestReport,
          annotate: Callable[[str], str]) -> _Plan:
    records = store.lookup([a.doc for a in group])
    todo = []
    unchanged = 0
    for art in group:
        digest = content_hash(art, settings.chunk_tokens)[:16]
        rec = records.get(art.doc)
        if rec and rec.hash == digest:
            report.unchanged.append(art.doc)
            unchanged += 1
        else:
            todo.append((art, digest, rec is not None, chunk_article(art, settings.chunk_tokens)))
    anns = {c.id: annotate(c.text) for *_, chunks in todo for c in chunks}
    # Chunks stored by an interrupted earlier run are kept, not embedded again.
    have = store.existing_chunk_ids([c.id for *_, chunks in todo for c in chunks]) if todo else set()
    missing = [(art, digest, c, anns[c.id]) for art, digest, _, chunks in todo for c in chunks if c.id not in have]
    return _Plan(todo, anns, missing, unchanged)


def _run(plan: _Plan, settings: Settings, store: Store, state: dict[str, Any], progress: Progress | None,
         report: IngestReport, articles_total: int | None, chunks_total: int | None) -> None:
    from .embedding import get_embedder

    if articles_total is None:
        state["articles"] += plan.unchanged
    if not plan.todo:
        return
    if state["embedder"] is None:
        state["embedder"] = get_embedder(settings)
    embedder = state["embedder"]
    store.check_model(embedder.model_id, claim=True)
    for b in range(0, len(plan.missing), EMBED_BATCH):
        batch = plan.missing[b:b + EMBED_BATCH]
        store.add_chunks(batch, embedder.embed([c.text for _, _, c, _ in batch]))
        report.chunks_embedded += len(batch)
        state["chunks"] += len(batch)
        if progress:
            progress(IngestProgress("embedding", state["articles"], articles_total, state["chunks"], chunks_total,
                                    batch[-1][0].doc))
    store.commit_docs([(art, digest, chunks, [plan.anns[c.id] for c in chunks], replacing)
                       for art, digest, replacing, chunks in plan.todo])
    _repair(plan, store, embedder)
    for art, _, replacing, _ in plan.todo:
        (report.replaced if replacing else report.added).append(art.doc)
    state["articles"] += len(plan.todo)
    if progress:
        progress(IngestProgress("embedding", state["articles"], articles_total, state["chunks"], chunks_total,
                                plan.todo[-1][0].doc))


REPAIR_TRIES = 8


def _repair(plan: _Plan, store: Store, embedder: Embedder) -> None:
    """Another process replacing the same article at the same moment can delete the chunks of the version
    that ends up current (Store.incomplete). Whichever ingest finds an article so left stores its own
    version again and makes it current; every such step ends with this check, so the last one to delete
    also checks last, and the article is never left without its chunks."""
    by_doc = {art.doc: (art, digest, chunks) for art, digest, _, chunks in plan.todo}
    for attempt in range(REPAIR_TRIES):
        broken = store.incomplete(list(by_doc))
        if not broken:
            return
        time.sleep(random.uniform(0.05, 0.25) * (attempt + 1))  # out of step with the other writer
        todo = [by_doc[d] for d in broken]
        have = store.existing_chunk_ids([c.id for _, _, chunks in todo for c in chunks])
        missing = [(art, digest, c, plan.anns[c.id]) for art, digest, chunks in todo for c in chunks
                   if c.id not in have]
        for b in range(0, len(missing), EMBED_BATCH):
            batch = missing[b:b + EMBED_BATCH]
            store.add_chunks(batch, embedder.embed([c.text for _, _, c, _ in batch]))
        store.commit_docs([(art, digest, chunks, [plan.anns[c.id] for c in chunks], True)
                           for art, digest, chunks in todo])
    broken = store.incomplete(list(by_doc))
    if broken:
        raise IndexBusy(f"{len(broken)} article(s) lost chunks to concurrent ingests {REPAIR_TRIES} times "
                               f"running (first: {broken[0]}); run the ingest again")
