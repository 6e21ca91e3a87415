"""Warm `answer()` latency on a large index: each question asked once with the answerer's sentence-vector caches
empty (a new story every time), and once more with them filled (a chat or a bot session), medians of several runs.

    .venv/bin/python benchmarks/answer_latency.py --data-dir DIR --gold GOLD.jsonl [--questions 50] [--runs 3]

The index must exist (for example a RealTime QA split ingested by `python -m evals.realtimeqa run`); the first
question of each run, which loads the models and opens the index, is not counted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--gold", required=True)
    ap.add_argument("--questions", type=int, default=50)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    from retrieval.answerer import default_relevance, default_scorer
    from retrieval.api import Engine
    from retrieval.config import load_settings

    questions = [json.loads(x)["question"] for x in Path(args.gold).read_text(encoding="utf-8").splitlines()
                 if x.strip()][: args.questions + 1]
    engine = Engine(load_settings(data_dir=args.data_dir))
    engine.answer(questions[0])
    chunks = engine.store.count()
    cold_p50, cold_p95, warm_p50, warm_p95, stages = [], [], [], [], []
    for _ in range(args.runs):
        default_scorer().clear()
        default_relevance().clear()
        for label, p50s, p95s in (("uncached", cold_p50, cold_p95), ("cached", warm_p50, warm_p95)):
            times = []
            for q in questions[1:]:
                t = time.perf_counter()
                r = engine.answer(q)
                times.append(time.perf_counter() - t)
                if label == "uncached":
                    stages.append(r.timings)
            p50s.append(percentile(times, 50))
            p95s.append(percentile(times, 95))
    stage = {k: statistics.median(s.get(k, 0.0) for s in stages) * 1000 for k in ("embed", "search", "answer")}
    print(f"index: {chunks:,} chunks; {len(questions) - 1} questions, {args.runs} runs (medians)")
    print(f"warm answer(), sentence vectors uncached: p50 {statistics.median(cold_p50) * 1000:.0f} ms, "
          f"p95 {statistics.median(cold_p95) * 1000:.0f} ms (stages: embed {stage['embed']:.0f} ms, "
          f"search {stage['search']:.0f} ms, answer {stage['answer']:.0f} ms)")
    print(f"warm answer(), the same questions again: p50 {statistics.median(warm_p50) * 1000:.0f} ms, "
          f"p95 {statistics.median(warm_p95) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
