"""Bring articles into the index: only new or changed ones are embedded."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .chunking import chunk_article, content_hash
from .loading import Skipped, load_paths

Progress = Callable[[str, int, int], None]  # (what, done, total)


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


def ingest(paths: list[Path], settings, store=None, embedder=None, progress: Progress | None = None) -> IngestReport:
    from .embedding import get_embedder
    from .store import Store

    articles, skipped = load_paths([Path(p) for p in paths])
    report = IngestReport(skipped=skipped)
    store = store or Store(settings.data_dir, settings.chroma_url, settings.collection)
    records = store.records()
    todo = []
    for art in articles:
        digest = content_hash(art, settings.chunk_tokens)[:16]
        rec = records.get(art.doc)
        if rec and rec.hash == digest:
            report.unchanged.append(art.doc)
        else:
            todo.append((art, digest, rec is not None))
    if not todo:
        return report
    embedder = embedder or get_embedder(settings)
    store.check_model(embedder.model_id, claim=True)
    plans = [(art, digest, replacing, chunk_article(art, settings.chunk_tokens)) for art, digest, replacing in todo]
    total = sum(len(chunks) for *_, chunks in plans)
    done = 0
    for art, digest, replacing, chunks in plans:
        # Chunks stored by an interrupted earlier run are kept, not embedded again.
        have = store.existing_chunk_ids([c.id for c in chunks])
        missing = [c for c in chunks if c.id not in have]
        for b in range(0, len(missing), 64):
            batch = missing[b : b + 64]
            store.add_chunks(art, digest, batch, embedder.embed([c.text for c in batch]))
            report.chunks_embedded += len(batch)
            done += len(batch)
            if progress:
                progress(art.doc, done, total)
        done += len(chunks) - len(missing)
        store.commit_doc(art, digest, len(chunks))
        (report.replaced if replacing else report.added).append(art.doc)
        if progress:
            progress(art.doc, done, total)
    return report
