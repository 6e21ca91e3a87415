"""Hybrid retrieval: dense vectors from Chroma and BM25 from the lexical index, fused by reciprocal rank.

Both searches run inside their stores with the outlet and date filters applied
there, so a question costs two top-n queries, never a pass over the corpus.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .lexical import date_int
from .text import content_terms, fold, numbers, words
from .types import Passage

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


def search(question: str, q_vec: np.ndarray, store, k: int, filters: Filters | None = None) -> list[Passage]:
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
    dense_sim, bm25 = dict(dense_hits), dict(lex_hits)
    out: list[Passage] = []
    kept: list[tuple[set[str], Passage]] = []
    for cid in sorted(current, key=lambda c: -fused[c]):
        p = current[cid]
        ws = set(words(p.text))
        if any(_jaccard(ws, other) >= DUPLICATE_JACCARD and same_facts(p.text, q.text) for other, q in kept):
            continue
        kept.append((ws, p))
        out.append(replace(p, dense=float(dense_sim.get(cid, 0.0)), bm25=float(bm25.get(cid, 0.0)),
                           score=fused[cid], rank=len(out) + 1))
        if len(out) >= k:
            break
    return out


def same_facts(a: str, b: str) -> bool:
    """Two near-identical texts are duplicates only if they state the same numbers and names:
    a copy that differs in the very figure or place asked about is another source's claim."""
    return numbers(a) == numbers(b) and _names(a) == _names(b)


def _names(text: str) -> set[str]:
    return {fold(w) for w in re.findall(r"(?<=[\w,] )[^\W\d_][\w'’-]*", text) if w[0].isupper()}


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


class TermStats:
    """Term rarity from the lexical index, for the answerer's weighting (looked up per question)."""

    def __init__(self, lexical):
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
