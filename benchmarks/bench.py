"""Performance figures for newsqa on this machine; prints medians over several runs.

    .venv/bin/python benchmarks/bench.py [--runs 5]

Targets (2 cores): cold `newsqa ask` <= 2.5 s with the index present, warm answer() p50 <= 50 ms,
embedding >= 200 chunks/s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()

    from evals.harness import default_gold, load_gold
    from retrieval.api import Engine
    from retrieval.chunking import chunk_article
    from retrieval.config import Settings
    from retrieval.embedding import MiniLMOnnx
    from retrieval.loading import bundled_corpus, load_paths

    articles, _ = load_paths([bundled_corpus()])
    chunks = [c.text for a in articles for c in chunk_article(a)]
    texts = (chunks * (400 // len(chunks) + 1))[:400]
    emb = MiniLMOnnx()
    emb.embed(texts[:16])
    rates = []
    for _ in range(args.runs):
        t = time.perf_counter()
        emb.embed(texts)
        rates.append(len(texts) / (time.perf_counter() - t))
    print(f"embedding throughput: {statistics.median(rates):.0f} chunks/s (median of {args.runs}, "
          f"{len(texts)} corpus chunks, mean {sum(map(len, texts)) / len(texts):.0f} chars)")

    ingest_times = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as d:
            engine = Engine(Settings(data_dir=Path(d)), embedder=emb)  # the model load is measured in the cold ask below
            t = time.perf_counter()
            engine.ingest([bundled_corpus()])
            ingest_times.append(time.perf_counter() - t)
    print(f"ingest of the bundled corpus ({len(articles)} articles, {len(chunks)} chunks): "
          f"{statistics.median(ingest_times) * 1000:.0f} ms (median of {args.runs}, fresh index, model loaded)")

    data = Path(tempfile.mkdtemp())
    engine = Engine(Settings(data_dir=data))
    engine.ingest([bundled_corpus()])
    questions = [g["question"] for g in load_gold(default_gold())]
    for q in questions:  # warm-up: caches, word vectors
        engine.answer(q)
    lat = []
    for _ in range(max(1, args.runs // 2)):
        for q in questions:
            t = time.perf_counter()
            engine.answer(q)
            lat.append(time.perf_counter() - t)
    lat.sort()

    def p(x: float) -> float:
        return lat[min(len(lat) - 1, int(round(x / 100 * (len(lat) - 1))))]

    print(f"warm answer() latency over {len(questions)} gold questions: p50 {p(50) * 1000:.1f} ms, "
          f"p95 {p(95) * 1000:.1f} ms")

    env = {**os.environ, "NEWSQA_DATA_DIR": str(data)}
    exe = [sys.executable, "-m", "bot.cli", "ask", "How many North Korean troops were deployed?", "--json"]
    walls = []
    for _ in range(args.runs):
        t = time.perf_counter()
        out = subprocess.run(exe, capture_output=True, text=True, env=env, cwd=ROOT)
        walls.append(time.perf_counter() - t)
        assert out.returncode == 0 and json.loads(out.stdout)["sources"], out.stderr
    print(f"cold `newsqa ask` wall time: {statistics.median(walls):.2f} s (median of {args.runs}, index present; "
          f"min {min(walls):.2f}, max {max(walls):.2f})")


if __name__ == "__main__":
    main()
