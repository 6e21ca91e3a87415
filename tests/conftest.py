"""Shared fixtures: a temporary index with the bundled corpus, built once per session; and the test tiers.

Two tiers (the README's "Test" section says how to run each):
- the default run, `python -m pytest -q`: everything not marked `slow`, for the edit-test loop;
- the slow tier, marked `@pytest.mark.slow`: soak and load tests, scale (34,000 chunks), real servers
  (Chroma, llama.cpp), mounts and full devices, signals and real processes killed midway, and tests that
  wait on timing (deadlines, pacing, delays). They are deselected unless asked for with `--slow` (the
  whole suite), `-m slow` (the slow tier alone) or NEWSQA_SLOW_TESTS=1; `.ci/run` runs them.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "retrieval" / "corpus" / "articles"


@pytest.fixture(scope="session")
def seeded_dir(tmp_path_factory) -> Path:
    """A data dir with the bundled corpus ingested (copied per test that writes)."""
    from retrieval.api import Engine
    from retrieval.config import Settings

    d = tmp_path_factory.mktemp("seeded")
    Engine(Settings(data_dir=d)).ingest([CORPUS])
    return d


@pytest.fixture
def engine(seeded_dir):
    from retrieval.api import Engine
    from retrieval.config import Settings

    return Engine(Settings(data_dir=seeded_dir))


@pytest.fixture(scope="session")
def shared_engine(seeded_dir):
    from retrieval.api import Engine
    from retrieval.config import Settings

    return Engine(Settings(data_dir=seeded_dir))


@pytest.fixture
def data_copy(seeded_dir, tmp_path) -> Path:
    dst = tmp_path / "data"
    shutil.copytree(seeded_dir, dst)
    return dst


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true", default=False,
                     help="also run the tests marked slow (soak, scale, servers, mounts, timing); "
                          "NEWSQA_SLOW_TESTS=1 does the same, and -m slow runs only them")


def pytest_collection_modifyitems(config, items):
    """Deselect the slow tier unless it was asked for (`--slow`, `-m slow`, NEWSQA_SLOW_TESTS=1)."""
    wanted = (config.getoption("--slow") or os.environ.get("NEWSQA_SLOW_TESTS", "").strip() not in ("", "0")
              or "slow" in (config.getoption("markexpr") or ""))
    if wanted:
        return
    slow = [item for item in items if item.get_closest_marker("slow") is not None]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if item.get_closest_marker("slow") is None]


def default_sigint() -> None:
    """`preexec_fn` for a child that a test interrupts: Ctrl-C acts as in a terminal even when the test run itself
    was started in the background, where shells hand every child SIGINT ignored (and Python keeps it so)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Questions on the bundled corpus of every kind: answered, contested, abstained, off-corpus.
CORPUS_QUESTIONS = [
    "When did Ukraine start its cross-border operation into Kursk?",
    "Has Russia retaken Kursk?",
    "Who praised the North Korean troops?",
    "Who did Gerasimov say lost 76,000 military personnel?",
    "Which Russian region did Ukraine say it still has troops in, besides Kursk?",
    "What is the capital of Australia?",
]


class InsideEngine:
    """Wraps a method of the real engine's internals (e.g. `store.dense`, called inside `Engine.answer()`):
    records (thread, start, end) of each call and the most calls in progress at once, and blocks for
    `delay` seconds inside the engine, so overlap is measured where the work happens, not around it."""

    def __init__(self, fn, delay: float = 0.15):
        self.fn = fn
        self.delay = delay
        self.intervals: list[tuple[int, float, float]] = []
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()

    def __call__(self, *args, **kwargs):
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        start = time.perf_counter()
        try:
            time.sleep(self.delay)  # blocking, like retrieval and answering
            return self.fn(*args, **kwargs)
        finally:
            with self._lock:
                self.active -= 1
                self.intervals.append((threading.get_ident(), start, time.perf_counter()))

    def cross_thread_overlaps(self) -> int:
        iv = self.intervals
        return sum(1 for i in range(len(iv)) for j in range(i + 1, len(iv))
                   if iv[i][0] != iv[j][0] and iv[i][1] < iv[j][2] and iv[j][1] < iv[i][2])
