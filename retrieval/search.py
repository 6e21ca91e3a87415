"""Hybrid retrieval: dense vectors from Chroma and BM25 from bm25s, fused by reciprocal rank."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

import numpy as np

from .text import content_terms, fold, stem, words
from .types import Passage

RRF_K = 60  # the constant of Cormack et al. (2009)
DUPLICATE_JACCARD = 0.8


@dataclass
class Filters:
    outlet: str | None = None
    date_from: str | None = None  # inclusive, YYYY-MM-DD
    date_to: str | None = None

    def accepts(self, p: Passage) -> bool:
        if self.outlet and self.outlet.lower() not in p.outlet.lower():
            return False
        if self.date_from and (not p.date or p.date[:10] < self.date_from):
            return False
        if self.date_to and (not p.date or p.date[:10] > self.date_to):
            return False
        return True


class Corpus:
    """The current passages with their BM25 index and term statistics, rebuilt when the index changes."""

    def __init__(self, passages: list[Passage]):
        import bm25s

        self.passages = passages
        self.by_id = {p.id: i for i, p in enumerate(passages)}
        self.tokens = [content_terms(p.text) for p in passages]
        # Stems written capitalised mid-sentence somewhere: names, places, nationalities.
        self.proper = frozenset(stem(fold(w)) for p in passages
                                for w in re.findall(r"(?<=[\w,] )[A-Z][\w'’]+", p.text))
        self.bm25 = bm25s.BM25()
        if passages:
            self.bm25.index([t or [""] for t in self.tokens], show_progress=False)
        vocab = getattr(self.bm25, "vocab_dict", {}) or {}
        self.vocab = set(vocab)
        df: dict[str, int] = {}
        for toks in self.tokens:
            for t in set(toks):
                df[t] = df.get(t, 0) + 1
        n = max(len(passages), 1)
        self.idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}
        # A term no passage holds weighs as much as the rarest term that some passage holds.
        self.unseen_idf = max(self.idf.values(), default=math.log(1 + (n + 0.5) / 0.5))

    def term_idf(self, term: str) -> float:
        return self.idf.get(term, self.unseen_idf)

    def bm25_scores(self, question: str) -> np.ndarray:
        q = [t for t in content_terms(question) if t in self.vocab]
        if not q or not self.passages:
            return np.zeros(len(self.passages))
        return np.asarray(self.bm25.get_scores(q), dtype=float)


def search(question: str, q_vec: np.ndarray, store, corpus: Corpus, k: int,
           filters: Filters | None = None) -> list[Passage]:
    """The k best passages for the question, near-duplicates collapsed."""
    filters = filters or Filters()
    allowed = [i for i, p in enumerate(corpus.passages) if filters.accepts(p)]
    if not allowed:
        return []
    depth = max(4 * k, 30)
    dense_hits = [(corpus.by_id[cid], sim) for cid, sim in store.dense(q_vec, depth + 10) if cid in corpus.by_id]
    allowed_set = set(allowed)
    dense_hits = [(i, s) for i, s in dense_hits if i in allowed_set][:depth]
    bm = corpus.bm25_scores(question)
    bm_rank = sorted((i for i in allowed if bm[i] > 0), key=lambda i: -bm[i])[:depth]
    fused: dict[int, float] = {}
    for rank, (i, _) in enumerate(dense_hits):
        fused[i] = fused.get(i, 0.0) + 1.0 / (RRF_K + rank + 1)
    for rank, i in enumerate(bm_rank):
        fused[i] = fused.get(i, 0.0) + 1.0 / (RRF_K + rank + 1)
    dense_sim = dict(dense_hits)
    order = sorted(fused, key=lambda i: -fused[i])
    out: list[Passage] = []
    kept_words: list[set[str]] = []
    for i in order:
        ws = set(words(corpus.passages[i].text))
        if any(_jaccard(ws, other) >= DUPLICATE_JACCARD for other in kept_words):
            continue
        kept_words.append(ws)
        out.append(replace(corpus.passages[i], dense=float(dense_sim.get(i, 0.0)), bm25=float(bm[i]),
                           score=fused[i], rank=len(out) + 1))
        if len(out) >= k:
            break
    return out


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0
