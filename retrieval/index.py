"""The open index and everything that writes to it: `Index` opens the store once, preloads the models on a
thread, holds the ingest lock for ingest, remove and the bundled-corpus bootstrap, and finds stale articles.
`watch` re-ingests feeds through an `Index` on an interval.

`Engine` (retrieval/api.py) answers questions from an `Index`; the CLI's `ingest`, `remove`, `sources` and
`watch`, the bot's start-up and the evals go through it too.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from .config import Settings
from .web import HostClock

if TYPE_CHECKING:
    from .answerer import AnswerModel, SentenceScorer
    from .embedding import Embedder
    from .ingest import IngestReport, Progress
    from .lexical import DocRecord
    from .store import Store


class Index:
    """One data dir's index (or a Chroma server's collection), opened once and shared by every thread.

    Parts can be given instead of opened from `settings`: `store` (a `retrieval.store.Store`), `embedder`
    (anything with `model_id`, `dim` and `embed(texts)`)."""

    def __init__(self, settings: Settings, *, store: Store | None = None, embedder: Embedder | None = None):
        self.settings = settings
        self._store = store
        self._embedder = embedder
        self._scorer: SentenceScorer | None = None
        self._loader: threading.Thread | None = None
        self._open_lock = threading.Lock()  # opening the store, starting the preload thread
        self._write_lock = threading.RLock()  # this process's ingests, removals and bootstrap, one at a time
        self._bootstrap_lock = threading.Lock()
        self._unreported = False  # the bootstrap, until an answer has said so
        self.bootstrapped = False  # ensure_index loaded the bundled demo corpus into this (new) data dir
        self.clock = HostClock()  # per-host request times of URL ingest, so `watch` stays polite across rounds

    # -- parts ------------------------------------------------------------------------------------

    @property
    def store(self) -> Store:
        if self._store is None:
            # Once per index, even when the first questions arrive together: chromadb's client
            # cache is not safe to open the same path from two threads at once (IndexCorrupt).
            with self._open_lock:
                if self._store is None:
                    from .store import Store

                    s = self.settings
                    self._store = Store(s.data_dir, s.chroma_url, s.collection, s.lock_timeout)
        return self._store

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None and not self._preloaded():
            from .embedding import get_embedder  # no loader, or it failed: load here and let errors surface

            self._embedder = get_embedder(self.settings)
        assert self._embedder is not None
        return self._embedder

    @property
    def scorer(self) -> SentenceScorer:
        """The answerer's sentence scorer (loaded on the preload thread beside the embedder)."""
        if self._scorer is None and not self._preloaded():
            from .answerer import default_scorer

            self._scorer = default_scorer(self.settings.embedding_threads)
        assert self._scorer is not None
        return self._scorer

    def _preloaded(self) -> bool:
        """Wait for the preload thread, if there is one; whether it loaded everything."""
        loader = self._loader
        if loader is not None:
            loader.join()
        return self._embedder is not None and self._scorer is not None

    @property
    def answer_model(self) -> AnswerModel:
        from .answerer import default_model

        return default_model()

    def preload(self) -> None:
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

    # -- writing ----------------------------------------------------------------------------------

    def ingest(self, paths: Iterable[str | os.PathLike[str]], progress: Progress | None = None, *, wait: bool = True,
               on_wait: Callable[[int | None], None] | None = None, follow_links: bool = False) -> IngestReport:
        """Ingest files, folders and URLs. One ingest per data dir at a time (a lock file): another waits
        for it, or with `wait=False` fails at once."""
        from .ingest import ingest
        from .lock import ingest_lock

        if self._loader is not None:
            self._loader.join()  # a model still loading on the preload thread is used, not loaded twice
        with self._write_lock, ingest_lock(self.settings.data_dir, wait=wait, on_wait=on_wait):
            return ingest([Path(p) for p in paths], self.settings, self.store, self._embedder, progress,
                          follow_links=follow_links, clock=self.clock)

    def remove(self, docs: list[str], *, wait: bool = True,
               on_wait: Callable[[int | None], None] | None = None) -> list[str]:
        """Take articles out of the index (other processes see it at their next question); returns the
        ids that were indexed and are now gone."""
        from .lock import ingest_lock

        with self._write_lock, ingest_lock(self.settings.data_dir, wait=wait, on_wait=on_wait):
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
        from; True if it did (`self.bootstrapped` says so too, and the next answer's `Answer.bootstrapped`).

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
        with self._write_lock:
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
            with self._bootstrap_lock:
                self._unreported = True
            self.bootstrapped = True
            return True

    def take_bootstrap(self) -> bool:
        """Whether the bundled corpus was loaded since the last call: one answer reports it, whichever thread
        asks first."""
        with self._bootstrap_lock:
            taken, self._unreported = self._unreported, False
            return taken

    # -- reading ----------------------------------------------------------------------------------

    def sources(self) -> dict[str, DocRecord]:
        return {r.doc: r for r in self.store.records()}


def watch(index: Index, targets: list[Path], every: float, once: bool, say: Callable[[str], None],
          sleep: Callable[[float], None] = time.sleep) -> int:
    """Ingest `targets` into `index` every `every` seconds, one line per round; with `once`, one round, and
    the exit code of `newsqa ingest` (1 when something was skipped)."""
    from datetime import datetime

    n = 0
    while True:
        n += 1
        report = index.ingest(targets)
        s = report.web
        say(f"{datetime.now():%Y-%m-%d %H:%M:%S} round {n}: added {len(report.added)}, "
            f"replaced {len(report.replaced)}, unchanged {len(report.unchanged)}, skipped {len(report.skipped)}; "
            f"{s.fetched} fetched, {s.not_modified} not modified, "
            f"{s.cached} from cache ({report.chunks_embedded} chunks embedded)")
        for sk in report.skipped:
            say(f"  skipped {sk.path}: {sk.reason}")
        if once:
            return 0 if report.ok else 1
        sleep(every)
