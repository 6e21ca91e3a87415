"""`answer(question)`: the one call the CLI, the Discord bot and the eval harness share.

`Engine` is the front: it validates a question, retrieves passages from its `Index` (retrieval/index.py),
answers with the extractive answerer (retrieval/answerer/) and, in LLM mode, has the model rewrite the answer
(retrieval/llm/). Every part can be given to the constructor instead of being built from the settings:

    Engine(settings, store=my_store, embedder=my_embedder, llm=my_llm_client)
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from .config import MAX_QUESTION_CHARS, Settings, load_settings
from .errors import BadInput
from .index import Index
from .types import Answer, Passage, Source

if TYPE_CHECKING:  # imported lazily at run time: slow to import
    import numpy as np

    from .answerer import AnswerModel, SentenceScorer
    from .embedding import Embedder
    from .ingest import IngestReport, Progress
    from .lexical import DocRecord
    from .llm import LLMClient
    from .search import TermStats
    from .store import Store


def validate_question(question: str | None) -> str:
    q = (question or "").strip()
    bad = next((i for i, ch in enumerate(q) if "\udc80" <= ch <= "\udcff"), None)
    if bad is not None:
        # Bytes that aren't UTF-8 reach Python as lone surrogates (argv, or stdin in the C locale).
        raise BadInput(f"the question is not valid UTF-8 text (byte 0x{ord(q[bad]) - 0xdc00:02x} at character "
                       f"{bad + 1}); retype it, or check the terminal's encoding")
    if any("\ud800" <= ch <= "\udfff" for ch in q):
        raise BadInput("the question holds an unpaired surrogate character; retype it")
    if not q:
        raise BadInput("the question is empty; ask something, e.g. newsqa ask \"Who claimed Kursk was retaken?\"")
    if len(q) > MAX_QUESTION_CHARS:
        raise BadInput(f"the question is {len(q)} characters long; the limit is {MAX_QUESTION_CHARS}")
    return q


class Engine:
    """Answers questions from an index, reusing the loaded models and the open index (chat, bot, eval).

    `store` and `embedder` go to the `Index` (`self.index`), `llm` is the `retrieval.llm.LLMClient` LLM mode
    uses (default: one for `settings.llm`, made when first needed)."""

    def __init__(self, settings: Settings | None = None, *, store: Store | None = None,
                 embedder: Embedder | None = None, llm: LLMClient | None = None):
        self.settings = settings or load_settings()
        self.index = Index(self.settings, store=store, embedder=embedder)
        self._llm = llm
        self._own_llm: LLMClient | None = None

    @property
    def llm(self) -> LLMClient:
        """The LLM client of LLM mode: the one given, else one for `settings.llm` (made again if those change)."""
        if self._llm is not None:
            return self._llm
        if self._own_llm is None or self._own_llm.settings is not self.settings.llm:
            from .llm import LLMClient

            self._own_llm = LLMClient(self.settings.llm)
        return self._own_llm

    # The index's parts and upkeep, for whoever holds an Engine (the CLI, the bot, the evals).
    @property
    def store(self) -> Store:
        return self.index.store

    @property
    def embedder(self) -> Embedder:
        return self.index.embedder

    @property
    def scorer(self) -> SentenceScorer:
        return self.index.scorer

    @property
    def answer_model(self) -> AnswerModel:
        return self.index.answer_model

    @property
    def bootstrapped(self) -> bool:
        return self.index.bootstrapped

    def ingest(self, paths: Iterable[str | os.PathLike[str]], progress: Progress | None = None, *, wait: bool = True,
               on_wait: Callable[[int | None], None] | None = None, follow_links: bool = False) -> IngestReport:
        return self.index.ingest(paths, progress, wait=wait, on_wait=on_wait, follow_links=follow_links)

    def remove(self, docs: list[str], *, wait: bool = True,
               on_wait: Callable[[int | None], None] | None = None) -> list[str]:
        return self.index.remove(docs, wait=wait, on_wait=on_wait)

    def stale(self, folders: Iterable[str | os.PathLike[str]]) -> list[str]:
        return self.index.stale(folders)

    def ensure_index(self) -> bool:
        return self.index.ensure_index()

    def sources(self) -> dict[str, DocRecord]:
        return self.index.sources()

    def retrieve(self, question: str, k: int | None = None, outlet: str | None = None,
                 date_from: str | None = None, date_to: str | None = None, timings: dict[str, Any] | None = None,
                 sync: bool = True, exclude_docs: tuple[str, ...] = ()) -> tuple[list[Passage], np.ndarray, TermStats]:
        """The fused top-k passages and the question vector; `sync` first applies other processes' ingests."""
        from .search import Filters, TermStats, search

        timings = timings if timings is not None else {}
        t = time.perf_counter()
        self.store.check_model(self.embedder.model_id)
        if sync:
            self.store.sync()
        timings["load"] = timings.get("load", 0.0) + time.perf_counter() - t
        t = time.perf_counter()
        q_vec = self.embedder.embed([question])[0]
        timings["embed"] = time.perf_counter() - t
        t = time.perf_counter()
        passages = search(question, q_vec, self.store, k or self.settings.k,
                          Filters(outlet, date_from, date_to, tuple(exclude_docs)))
        timings["search"] = time.perf_counter() - t
        return passages, q_vec, TermStats(self.store.lexical)

    def answer(self, question: str, *, k: int | None = None, mode: str | None = None, outlet: str | None = None,
               date_from: str | None = None, date_to: str | None = None,
               on_token: Callable[[str], None] | None = None,
               previous: str | None = None) -> Answer:
        """Answer from the indexed articles, citing each sentence, or abstain. `previous` is the last
        turn of a conversation (its question and answer), for follow-ups like "and did he agree?"."""
        from .answerer import check_support, compose, extract
        from .followup import contextual_query

        q = validate_question(question)
        mode = mode or self.settings.mode
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        t = time.perf_counter()
        self.index.preload()
        self.index.ensure_index()
        timings["load"] = time.perf_counter() - t
        query = contextual_query(q, previous)
        passages, _, _ = self.retrieve(query, k, outlet, date_from, date_to, timings, sync=False)
        bootstrapped = self.index.take_bootstrap()  # said by exactly one answer, whichever thread asks first
        notes: list[str] = []
        if query != q:
            notes.append(f"read as a follow-up: searched for {query!r}")
        t = time.perf_counter()
        scorer, model = self.scorer, self.answer_model
        timings["load"] += time.perf_counter() - t
        t = time.perf_counter()
        draft = extract(query, passages, model, scorer)
        if draft.wants_other_side:
            # The best sentence makes a claim and none of the passages opposes it: search with the
            # claim itself, since a denial reads much like the claim it denies.
            side, _, _ = self.retrieve(draft.wants_other_side, k, outlet, date_from, date_to, {}, sync=False)
            seen = {p.id for p in passages}
            side = [p for p in side if p.id not in seen]
            if side:
                draft = extract(query, passages, model, scorer, side_passages=side)
        text, sentences, sources = compose(draft)
        check_support(sentences, sources)
        if draft.abstained and not sources:
            sources = _closest_sources(draft.closest)
        timings["answer"] = time.perf_counter() - t
        result = Answer(question=q, answer=text, abstained=draft.abstained, sources=sources, sentences=sentences,
                        mode="extractive", confidence=round(draft.confidence, 4), contested=draft.contested,
                        bootstrapped=bootstrapped, notes=notes + draft.notes,
                        timings=timings, retrieved=passages)
        if mode == "llm":
            from .llm import llm_answer

            result = llm_answer(self.settings.llm, q, passages, result, timings, on_token=on_token, client=self.llm)
        timings["total"] = time.perf_counter() - t0
        return result


def _closest_sources(passages: list[Passage]) -> list[Source]:
    from .answerer import make_source

    return [make_source(i + 1, p) for i, p in enumerate(passages)]


_DEFAULT: Engine | None = None


def answer(question: str, **kwargs: Any) -> Answer:
    """Module-level convenience: one shared Engine configured from the environment."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Engine()
    return _DEFAULT.answer(question, **kwargs)
