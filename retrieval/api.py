"""`answer(question)`: the one call the CLI, the Discord bot and the eval harness share."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import MAX_QUESTION_CHARS, Settings, load_settings
from .errors import BadInput
from .types import Answer, Passage, Source

if TYPE_CHECKING:  # imported lazily at run time: slow to import, or importing this module
    import numpy as np

    from .answerer import AnswerModel, SentenceScorer
    from .embedding import Embedder
    from .ingest import IngestReport, Progress
    from .lexical import DocRecord
    from .search import TermStats
    from .store import Store


BOOTSTRAP_NOTE = "the index was empty: ingested the bundled corpus first"


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
    """Loaded models and the open index, reused across questions (chat, bot, eval)."""

    def __init__(self, settings: Settings | None = None):
        self.settings = settings or load_settings()
        self._store: Store | None = None
        self._embedder: Embedder | None = None
        self._scorer: SentenceScorer | None = None
        self._loader: threading.Thread | None = None
        self._lock = threading.RLock()
        self._open_lock = threading.Lock()
        self._notes_lock = threading.Lock()
        self.notes: list[str] = []  # one-off notes, e.g. "ingested the bundled corpus"
        self.bootstrapped = False  # ensure_index loaded the bundled demo corpus into this (new) data dir

    @property
    def store(self) -> Store:
        if self._store is None:
            # Once per engine, even when the first questions arrive together: chromadb's client
            # cache is not safe to open the same path from two threads at once (IndexCorrupt).
            with self._open_lock:
                if self._store is None:
                    from .store import Store

                    self._store = Store(self.settings.data_dir, self.settings.chroma_url, self.settings.collection,
                                        self.settings.lock_timeout)
        return self._store

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            loader = self._loader
            if loader is not None:
                loader.join()
            if self._embedder is None:  # no loader, or it failed: load here and let errors surface
                from .embedding import get_embedder

                self._embedder = get_embedder(self.settings)
        return self._embedder

    @property
    def scorer(self) -> SentenceScorer:
        """The answerer's sentence scorer (loaded on the preload thread beside the embedder)."""
        if self._scorer is None:
            loader = self._loader
            if loader is not None:
                loader.join()
            if self._scorer is None:
                from .answerer import default_scorer

                self._scorer = default_scorer(self.settings.embedding_threads)
        return self._scorer

    @property
    def answer_model(self) -> AnswerModel:
        from .answerer import default_model

        return default_model()

    def _preload_embedder(self) -> None:
        """Load the models on a thread while the index opens: each takes ~0.3-0.5 s cold, mostly outside the GIL."""
        with self._open_lock:  # created and started as one step: another thread may join it at once
            if self._embedder is not None or self._loader is not None:
                return
            self._start_loader()

    def _start_loader(self) -> None:
        def load() -> None:
            from .answerer import default_model, default_relevance, default_scorer
            from .embedding import get_embedder

            try:
                self._embedder = get_embedder(self.settings)
                self._scorer = default_scorer(self.settings.embedding_threads)
                default_relevance(self.settings.embedding_threads)
                default_model()
            except Exception:  # noqa: BLE001 - the properties retry and raise the real error
                pass

        # Not a daemon: a process exiting (say on an early error) while onnxruntime builds its session
        # on this thread aborts in C++ ("terminate called without an active exception", exit 134).
        # Shutdown waits for the load instead, at most the ~0.5 s it takes.
        loader = threading.Thread(target=load, name="newsqa-preload", daemon=False)
        loader.start()
        self._loader = loader

    def ingest(self, paths: Iterable[str | os.PathLike[str]], progress: Progress | None = None, *, wait: bool = True,
               on_wait: Callable[[int | None], None] | None = None, follow_links: bool = False) -> IngestReport:
        """Ingest files, folders and URLs. One ingest per data dir at a time (a lock file): another waits
        for it, or with `wait=False` fails at once."""
        from .ingest import ingest
        from .lock import ingest_lock

        if self._loader is not None:
            self._loader.join()  # a model still loading on the preload thread is used, not loaded twice
        with self._lock, ingest_lock(self.settings.data_dir, wait=wait, on_wait=on_wait):
            return ingest([Path(p) for p in paths], self.settings, self.store, self._embedder, progress,
                          follow_links=follow_links)

    def remove(self, docs: list[str], *, wait: bool = True,
               on_wait: Callable[[int | None], None] | None = None) -> list[str]:
        """Take articles out of the index (other processes see it at their next question); returns the
        ids that were indexed and are now gone."""
        from .lock import ingest_lock

        with self._lock, ingest_lock(self.settings.data_dir, wait=wait, on_wait=on_wait):
            present = list(self.store.lookup(list(dict.fromkeys(docs))))
            self.store.delete_docs(present)
            return present

    def stale(self, folders: Iterable[str | os.PathLike[str]]) -> list[str]:
        """Indexed articles whose file was under one of `folders` and no longer exists (for `--prune`).
        A maintenance pass: it reads every record, in pages."""
        roots = [Path(f).resolve() for f in folders if Path(f).is_dir()]
        out: list[str] = []
        for rec in self.store.records():
            if not rec.path:
                continue
            p = Path(rec.path).resolve()
            if any(p == r or r in p.parents for r in roots) and not p.exists():
                out.append(rec.doc)
        return out

    def ensure_index(self) -> bool:
        """Ingest the bundled demo corpus into a new data dir, so a first question has something to answer
        from; True if it did (`self.bootstrapped` says so too).

        Only a data dir that is new (nothing ever committed or stored in it) and that no other process is
        ingesting into gets the demo articles: they never mix into a user's index. An index with no articles
        yet that another ingest is filling raises IndexBusy at once (exit 10), instead of waiting for that
        ingest and then adding the demo corpus to it.
        """
        from .errors import IndexBusy
        from .lock import holder_pid, ingest_lock

        self.store.sync()
        if self.store.count() > 0:
            return False
        with self._lock:
            self.store.sync()
            if self.store.count() > 0 or not self.store.is_new():
                return False  # used before (every article removed, or an interrupted ingest's chunks): no demo
            try:
                with ingest_lock(self.settings.data_dir, wait=False):
                    self.store.sync()
                    if self.store.count() > 0 or not self.store.is_new():
                        return False  # another ingest finished just now
                    from .loading import bundled_corpus

                    self.ingest([bundled_corpus()])
            except IndexBusy:
                pid = holder_pid(self.settings.data_dir)
                who = f"pid {pid}" if pid else "another process"
                raise IndexBusy(f"the index at {self.settings.data_dir} has no articles yet: another ingest ({who}) "
                                "is filling it. Ask again when it has finished (newsqa loads its demo articles only "
                                "into a new data dir that nobody is ingesting into)") from None
            with self._notes_lock:
                self.notes.append(BOOTSTRAP_NOTE)
            self.bootstrapped = True
            return True

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
        self._preload_embedder()
        self.ensure_index()
        timings["load"] = time.perf_counter() - t
        query = contextual_query(q, previous)
        passages, _, _ = self.retrieve(query, k, outlet, date_from, date_to, timings, sync=False)
        with self._notes_lock:  # a one-off note goes to exactly one answer, whichever thread asks first
            notes, self.notes = self.notes, []
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
                        notes=notes + draft.notes,
                        timings=timings, retrieved=passages)
        if mode == "llm":
            from .llm import llm_answer

            result = llm_answer(self, q, passages, result, timings, on_token=on_token)
        timings["total"] = time.perf_counter() - t0
        return result

    def sources(self) -> dict[str, DocRecord]:
        return {r.doc: r for r in self.store.records()}


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
