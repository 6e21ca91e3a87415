"""Concurrency of the real engine: answers overlap inside Engine.answer() (no engine-wide lock),
give the same result as one at a time, and stay correct while another thread ingests.

Overlap is proven structurally: a recorder wrapped around the engine's own `store.dense` (called
inside `answer()`, after the index is opened and the question embedded) notes (thread, start, end)
and sleeps briefly, so intervals from different threads can only overlap if `answer()` itself lets
two threads in at once. No assertion depends on how fast the machine is.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from retrieval.api import Engine
from retrieval.config import Settings

from conftest import CORPUS_QUESTIONS, InsideEngine

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "retrieval" / "corpus" / "articles"
QUESTIONS = CORPUS_QUESTIONS


def key(answer):
    """What must not depend on concurrency: the text, abstention and the exact passages cited."""
    return (answer.answer, answer.abstained, [(s.n, s.doc, s.start, s.end, s.text) for s in answer.sources])


@pytest.mark.slow  # timing: overlap measured with sleeps inside the engine
def test_answers_from_several_threads_overlap_inside_the_engine_and_match(monkeypatch, shared_engine):
    engine = shared_engine
    expected = {q: key(engine.answer(q, mode="extractive")) for q in QUESTIONS}  # one at a time (and warm)
    rec = InsideEngine(engine.store.dense)
    monkeypatch.setattr(engine.store, "dense", rec)

    n_threads = 4
    barrier = threading.Barrier(n_threads)
    results: list[tuple[str, tuple]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            for q in QUESTIONS[i:] + QUESTIONS[:i]:  # each thread starts on a different question
                got = key(engine.answer(q, mode="extractive"))
                with lock:
                    results.append((q, got))
        except BaseException as exc:  # noqa: BLE001 - reported below
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert len(results) == n_threads * len(QUESTIONS)
    for q, got in results:
        assert got == expected[q], q
    assert len({t for t, _, _ in rec.intervals}) == n_threads
    # Intervals recorded inside answer() on different threads overlap: no engine-wide lock.
    assert rec.cross_thread_overlaps() > 0
    assert rec.max_active >= 2
    print(f"\nconcurrency: {len(rec.intervals)} dense calls, {rec.cross_thread_overlaps()} cross-thread overlaps, "
          f"max {rec.max_active} at once")


def test_first_questions_on_an_empty_index_ingest_the_bundled_corpus_once(shared_engine, tmp_path):
    """Several threads asking at once on a new data dir: one ingests the bundled corpus (under the
    engine's lock and the ingest lock file), the others wait for it; all get the normal answer."""
    q = QUESTIONS[0]
    expected = key(shared_engine.answer(q, mode="extractive"))
    engine = Engine(Settings(_env_file=None, data_dir=tmp_path / "data", mode="extractive"))
    barrier = threading.Barrier(3)
    answers, errors = [], []
    lock = threading.Lock()

    def worker():
        try:
            barrier.wait(timeout=30)
            a = engine.answer(q)
            with lock:
                answers.append(a)
        except BaseException as exc:  # noqa: BLE001 - reported below
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    assert errors == []
    assert [key(a) for a in answers] == [expected] * 3
    first_run = [a for a in answers if a.bootstrapped]  # the one answer that says so
    assert len(first_run) == 1
    assert engine.store.count() == shared_engine.store.count()


# --------------------------------------------------------------------------------------------
# Soak: questions from 4 threads while a fifth ingests new articles
# --------------------------------------------------------------------------------------------

FACTS = [  # invented facts no bundled article holds: (place, person, thing)
    ("Quenthaven", "Ilsa Varnhagen", "lantern festival"),
    ("Morrowgate", "Tobias Quellmark", "river bridge"),
    ("Saltmere", "Oona Pettigrew", "seed library"),
    ("Brackenfold", "Ruslan Odeyemi", "tram depot"),
    ("Wyndholm", "Petra Kalvik", "glass museum"),
    ("Larkspire", "Dmitri Haraldsen", "chess school"),
]


def article_text(i: int, version: int) -> str:
    place, person, thing = FACTS[i]
    return (f"{place} opens its new {thing}\n\n"
            f"The {thing} in {place} was opened on Tuesday by mayor {person}, officials said.\n\n"
            f"Mayor {person} told residents that the {thing} in {place} had cost {3 + version} million euros "
            f"and would stay open every day of the week.\n\n"
            f"Local traders in {place} welcomed the {thing}, saying it would bring visitors to the town.\n")


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.slow  # soak: 500 questions from 4 threads beside an ingest
def test_soak_questions_while_ingesting(data_copy, tmp_path):
    engine = Engine(Settings(_env_file=None, data_dir=data_copy, mode="extractive"))
    # Every version of every article that could be cited (the ingester rewrites its articles).
    texts = {p.name: [p.read_bytes().decode("utf-8-sig")] for p in CORPUS.glob("*.txt")}
    new_dir = tmp_path / "new"
    new_dir.mkdir()
    lock = threading.Lock()
    errors: list[str] = []
    bad_citations: list[str] = []
    rss_at: dict[int, int] = {}
    asked = 0
    total = 500
    n_threads = 4
    ingests = 0
    stop = threading.Event()

    cited_new = 0  # citations of the new articles while they were being ingested

    def check(answer) -> None:
        nonlocal cited_new
        for s in answer.sources:
            if Path(s.doc).name.startswith("new_") and not stop.is_set():
                with lock:
                    cited_new += 1
            with lock:
                versions = list(texts.get(Path(s.doc).name, []))
            if not any(t[s.start:s.end] == s.text for t in versions):
                with lock:
                    bad_citations.append(f"{s.doc} [{s.start}:{s.end}] {s.text[:60]!r}")

    def asker(i: int) -> None:
        nonlocal asked
        try:
            while True:
                with lock:
                    if asked >= total:
                        return
                    asked += 1
                    n = asked
                    if n in (100, total):
                        rss_at[n] = rss_bytes()
                q = QUESTIONS[n % len(QUESTIONS)] if n % 3 else f"Who opened the {FACTS[n % len(FACTS)][2]}?"
                check(engine.answer(q))
        except BaseException as exc:  # noqa: BLE001 - reported below
            with lock:
                errors.append(f"asker {i}: {type(exc).__name__}: {exc}")

    def ingester() -> None:
        nonlocal ingests
        try:
            version = 0
            while not stop.is_set():
                for i in range(len(FACTS)):
                    if stop.is_set():
                        break
                    path = new_dir / f"new_{i}.txt"
                    text = article_text(i, version)
                    path.write_text(text, encoding="utf-8")
                    with lock:  # known before the ingest can make it citable
                        texts.setdefault(path.name, []).append(text)
                    engine.ingest([path])
                    with lock:
                        ingests += 1
                version += 1
        except BaseException as exc:  # noqa: BLE001 - reported below
            with lock:
                errors.append(f"ingester: {type(exc).__name__}: {exc}")

    started = time.perf_counter()
    ing = threading.Thread(target=ingester)
    askers = [threading.Thread(target=asker, args=(i,)) for i in range(n_threads)]
    ing.start()
    for t in askers:
        t.start()
    for t in askers:
        t.join(1800)
    stop.set()
    ing.join(300)
    elapsed = time.perf_counter() - started
    assert not any(t.is_alive() for t in askers + [ing])
    assert errors == []
    assert bad_citations == []
    assert ingests >= len(FACTS)  # every new article was ingested at least once
    growth = (rss_at[total] - rss_at[100]) / rss_at[100]
    print(f"\nsoak: {total} questions from {n_threads} threads in {elapsed:.1f} s ({total / elapsed:.1f}/s), "
          f"{ingests} ingests alongside; RSS {rss_at[100] / 2**20:.0f} MB at q100 -> "
          f"{rss_at[total] / 2**20:.0f} MB at q{total} ({growth:+.1%}); {cited_new} citations of new articles")
    assert growth < 0.10
    assert cited_new > 0  # answering threads saw the other thread's ingests while they ran
    # By the end every new article is found, cited for its own question in its latest version, and answers it.
    for i, (place, person, thing) in enumerate(FACTS):
        ans = engine.answer(f"Who opened the {thing} in {place}?")
        ours = [s for s in ans.sources if Path(s.doc).name == f"new_{i}.txt"]
        assert ours, (thing, [s.doc for s in ans.sources])
        assert any(person in s.text for s in ours)
        check(ans)
        latest = texts[f"new_{i}.txt"][-1]
        assert all(latest[s.start:s.end] == s.text for s in ours)  # not an older version
        assert not ans.abstained and person in ans.answer, ans.answer
    assert bad_citations == []


# --------------------------------------------------------------------------------------------
# Exit while the model loads on the preload thread
# --------------------------------------------------------------------------------------------

EXIT_WHILE_LOADING = """
import sys, threading
import onnxruntime
from retrieval.api import Engine
from retrieval.config import Settings

inside = threading.Event()
real = onnxruntime.InferenceSession

def session(*args, **kwargs):  # the preload thread is about to build the ONNX session
    inside.set()
    return real(*args, **kwargs)

onnxruntime.InferenceSession = session
engine = Engine(Settings(_env_file=None, data_dir=sys.argv[1], mode="extractive"))
engine.index.preload()
assert inside.wait(120)
raise SystemExit(2)  # an early error (a bad index, a bad question...) while the model loads
"""


def test_early_exit_while_the_model_preloads_exits_cleanly(tmp_path):
    """An error that ends the process while onnxruntime builds its session on the preload thread
    used to abort in C++ at shutdown (exit 134, "terminate called without an active exception"):
    the thread was a daemon. Deterministic: the exit happens once the session build has begun."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", EXIT_WHILE_LOADING, str(tmp_path / "data")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert "terminate called" not in proc.stderr
    assert proc.returncode == 2, proc.stderr[-2000:]
