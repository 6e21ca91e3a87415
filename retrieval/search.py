"""Hybrid retrieval: dense vectors from Chroma and BM25 from the lexical index, fused by reciprocal rank.

Both searches run inside their stores with the outlet and date filters applied
there, so a question costs two top-n queries, never a pass over the corpus.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from .copies import same_facts
from .lexical import date_int
from .text import content_terms, words
from .types import Copy, Passage

if TYPE_CHECKING:
    from .lexical import LexicalIndex
    from .store import Store

RRF_K = 60  # the constant of Cormack et al. (2009)
DUPLICATE_JACCARD = 0.8


@dataclass
class Filters:
    outlet: str | None = None
    date_from: str | None = None  # inclusive, YYYY-MM-DD
    date_to: str | None = None
    exclude_docs: tuple[str, ...] = ()  # articles to leave out (evaluating abstention without re-indexing)

    def chroma_where(self, outlets: list[str] | None) -> dict[str, Any] | None:
        parts: list[dict[str, Any]] = []
        if self.exclude_docs:
            parts.append({"doc": {"$nin": list(self.exclude_docs)}})
        if outlets is not None:
            parts.append({"outlet": {"$in": outlets}})
        if self.date_from:
            parts.append({"date_int": {"$gte": date_int(self.date_from)}})
        if self.date_to:
            parts.append({"date_int": {"$lte": date_int(self.date_to)}})
            parts.append({"date_int": {"$gt": 0}})
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else {"$and": parts}


def search(question: str, q_vec: np.ndarray, store: Store, k: int, filters: Filters | None = None) -> list[Passage]:
    """The k best passages for the question, near-duplicates collapsed."""
    filters = filters or Filters()
    outlets = store.lexical.outlets_matching(filters.outlet) if filters.outlet else None
    if outlets == []:
        return []
    depth = max(4 * k, 30)
    dense_hits = store.dense(q_vec, depth, filters.chroma_where(outlets))
    lex_hits = store.lexical.search(content_terms(question), depth, outlets, date_int(filters.date_from or ""),
                                    date_int(filters.date_to or ""), tuple(filters.exclude_docs))
    fused: dict[str, float] = {}
    for hits in (dense_hits, lex_hits):
        for rank, (cid, _) in enumerate(hits):
            fused[cid] = fused.get(cid, 0.0) + 1.0 / (RRF_K + rank + 1)
    current = store.passages(list(fused))  # ids of replaced versions drop out here
    stories = store.lexical.stories(list({p.doc for p in current.values()}))
    dense_sim, bm25 = dict(dense_hits), dict(lex_hits)
    out: list[Passage] = []
    kept: list[tuple[set[str], Passage]] = []
    for cid in sorted(current, key=lambda c: -fused[c]):
        p = current[cid]
        ws = set(words(p.text))
        if any(_duplicate(ws, p, other, q, stories) for other, q in kept):
            continue
        kept.append((ws, p))
        out.append(replace(p, dense=float(dense_sim.get(cid, 0.0)), bm25=float(bm25.get(cid, 0.0)),
                           score=fused[cid], rank=len(out) + 1))
        if len(out) >= k:
            break
    return _with_copies(out, store, set(filters.exclude_docs))


def _duplicate(ws: set[str], p: Passage, other: set[str], q: Passage, stories: dict[str, str]) -> bool:
    """Near-identical passages stating the same facts. Passages of two copies of one story (see
    retrieval/copies.py) are cut at different places when one copy has an extra line, so there one
    mostly holding the other's words is enough."""
    if _jaccard(ws, other) < DUPLICATE_JACCARD:
        story = stories.get(p.doc)
        if story is None or story != stories.get(q.doc) or _overlap(ws, other) < DUPLICATE_JACCARD:
            return False
    return same_facts(p.text, q.text)  # the costlier check last: most pairs share few words


def _with_copies(passages: list[Passage], store: Store, exclude: set[str]) -> list[Passage]:
    """Each passage with the other outlets that ran its article (syndicated copies)."""
    found = store.lexical.copies_of([p.doc for p in passages])
    out = []
    for p in passages:
        copies = [Copy(doc=r.doc, outlet=r.outlet, title=r.title, date=r.date, url=r.url)
                  for r in found.get(p.doc, []) if r.doc not in exclude]
        out.append(replace(p, copies=copies) if copies else p)
    return out


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def _overlap(a: set[str], b: set[str]) -> float:
    return len(a & b) / min(len(a), len(b)) if a and b else 0.0


class TermStats:
    """Term rarity from the lexical index, for the answerer's weighting (looked up per question)."""

    def __init__(self, lexical: LexicalIndex) -> None:
        self.lexical = lexical
        self.proper: frozenset[str] = frozenset()
        self._idf: dict[str, float] = {}

    def prepare(self, terms: list[str]) -> None:
        missing = [t for t in terms if t not in self._idf]
        if missing:
            self._idf.update(self.lexical.idf(missing))

    def term_idf(self, term: str) -> float:
        if term not in self._idf:
            self.prepare([term])
        return self._idf[term]
