"""Scale figures: indexes of 10k, 100k and 1M chunks built through the real ingest code.

    .venv/bin/python benchmarks/scale.py --sizes 10000,100000 [--runs 3] [--server]
    .venv/bin/python benchmarks/scale.py --real-ingest 2000      # real model on RealTime QA articles

Above the real-model run, chunks get vectors from a stand-in embedder (a fixed
pseudo-random unit vector per text, recorded under the MiniLM model id so that the
real CLI can query the index with the real model: its cold start and question
embedding are real, only the stored vectors are not). Built indexes are kept under
--work and reused. Every figure is a median over --runs runs.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from benchmarks.synth import StandInEmbedder, article  # noqa: E402

CHUNKS_PER_ARTICLE = 10
QUESTIONS = [f"What did {n} say about the {w} in {p}?" for n, w, p in
             zip("Alvarez Becker Chen Dubois Evans Fischer Garcia Haddad Ivanova Jensen".split() * 5,
                 "budget strike election storm vaccine summit transfer merger flood treaty".split() * 5,
                 ("Lisbon Nairobi Osaka Quito Riga Seoul Tunis Valencia Warsaw Zagreb " * 5).split())]


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def build(data_dir: Path, chunks: int, chroma_url: str | None = None) -> float:
    from retrieval.config import Settings
    from retrieval.embedding import MiniLMOnnx
    from retrieval.ingest import ingest_articles
    from retrieval.store import Store

    marker = data_dir / f"built-{chunks}"
    if marker.exists():
        return float(marker.read_text())
    stand_in = StandInEmbedder()
    stand_in.model_id = MiniLMOnnx.model_id
    settings = Settings(data_dir=data_dir, chroma_url=chroma_url)
    store = Store(data_dir, chroma_url)
    t = time.perf_counter()
    n_articles = chunks // CHUNKS_PER_ARTICLE
    done = [0]

    def progress(_p):
        pass

    ingest_articles((article(i) for i in range(n_articles)), settings, store, stand_in, progress)
    took = time.perf_counter() - t
    marker.write_text(f"{took:.1f}")
    done[0] = n_articles
    return took


def cold_ask(data_dir: Path, question: str, chroma_url: str | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one `newsqa ask` process."""
    env = {**os.environ, "NEWSQA_DATA_DIR": str(data_dir), "NO_COLOR": "1"}
    if chroma_url:
        env["NEWSQA_CHROMA_URL"] = chroma_url
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "ask", question, "--json"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    took = time.perf_counter() - t
    if status != 0:
        raise SystemExit(f"newsqa ask failed ({status}): {proc.stderr.read().decode()[-500:]}")
    return took, usage.ru_maxrss / 1024


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def measure(data_dir: Path, chunks: int, runs: int, chroma_url: str | None = None) -> dict:
    from retrieval.api import Engine
    from retrieval.config import Settings

    built = build(data_dir, chunks, chroma_url)
    colds = [cold_ask(data_dir, QUESTIONS[i], chroma_url) for i in range(runs)]
    engine = Engine(Settings(data_dir=data_dir, chroma_url=chroma_url))
    engine.answer(QUESTIONS[0])
    warm = []
    for q in QUESTIONS:
        t = time.perf_counter()
        engine.answer(q)
        warm.append(time.perf_counter() - t)
    adds = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(runs):
            f = Path(tmp) / f"new-{r}.txt"
            a = article(10_000_000 + r, paragraphs=8, seed=time.time_ns() % 1_000_000)  # new text every run
            f.write_text(a.text, encoding="utf-8")
            t = time.perf_counter()
            engine.ingest([f])
            adds.append(time.perf_counter() - t)
        # Another engine (another host's process on a Chroma server: its own data dir) sees a new article
        # by its next question: the time of that question's sync, which applies just the new article.
        other_dir = data_dir / "host-b" if chroma_url else data_dir
        other = Engine(Settings(data_dir=other_dir, chroma_url=chroma_url))
        t = time.perf_counter()
        other.store.sync()
        first_sync = time.perf_counter() - t
        seen = []
        for r in range(runs):
            f = Path(tmp) / f"seen-{r}.txt"
            f.write_text(article(20_000_000 + r, paragraphs=8, seed=time.time_ns() % 1_000_000).text, encoding="utf-8")
            engine.ingest([f])
            t = time.perf_counter()
            other.store.sync()
            seen.append(time.perf_counter() - t)
            assert f.name in other.store.lexical.doc_hashes([f.name]), "the other engine did not see the new article"
        # Re-ingest of unchanged files: the last added article, as a folder of one file.
        reingest = []
        for _ in range(runs):
            t = time.perf_counter()
            rep = engine.ingest([Path(tmp)])
            reingest.append(time.perf_counter() - t)
            assert not rep.added and not rep.replaced
    return {
        "chunks": chunks, "build_s": built,
        "cold_ask_s": statistics.median(c[0] for c in colds), "cold_ask_rss_mb": statistics.median(c[1] for c in colds),
        "warm_p50_ms": 1000 * percentile(warm, 0.5), "warm_p95_ms": 1000 * percentile(warm, 0.95),
        "add_one_article_s": statistics.median(adds), "reingest_unchanged_s": statistics.median(reingest),
        "disk_mb": du(data_dir) / 1e6, "other_first_sync_s": first_sync,
        "other_sees_new_article_s": statistics.median(seen),
    }


def real_ingest(n_articles: int, runs: int, threads: list[int]) -> None:
    """The real model on real pages: ingest chunks/s against the model's raw throughput, same run."""
    from retrieval.chunking import chunk_article
    from retrieval.config import Settings
    from retrieval.embedding import MiniLMOnnx
    from retrieval.ingest import ingest_articles
    from retrieval.store import Store
    from retrieval.types import Article

    src = Path(os.environ.get("NEWSQA_REALTIMEQA", ROOT.parent / "shared" / "datasets" / "realtimeqa"))
    rows = [json.loads(line) for line in gzip.open(src / "articles.jsonl.gz", "rt", encoding="utf-8")]
    rows = [r for r in rows if len(r["text"]) > 500]
    random.Random(0).shuffle(rows)
    arts = [Article(doc=f"rtqa-{i}", text=r["text"], title=r["title"] or "", date=(r.get("publish_date") or "")[:10]
                    .replace("/", "-")) for i, r in enumerate(rows[:n_articles])]
    chunks = [c.text for a in arts for c in chunk_article(a)]
    print(f"{len(arts)} real articles, {len(chunks)} chunks ({len(chunks) / len(arts):.1f} per article)")
    for th in threads:
        model = MiniLMOnnx(threads=th)
        raw, ing = [], []
        for _ in range(runs):
            t = time.perf_counter()
            for b in range(0, len(chunks), 64):
                model.embed(chunks[b:b + 64])
            raw.append(len(chunks) / (time.perf_counter() - t))
            with tempfile.TemporaryDirectory() as tmp:
                settings = Settings(data_dir=Path(tmp), embedding_threads=th)
                t = time.perf_counter()
                ingest_articles(arts, settings, Store(Path(tmp)), model)
                ing.append(len(chunks) / (time.perf_counter() - t))
        print(f"threads={th}: raw embedding {statistics.median(raw):.1f} chunks/s, ingest "
              f"{statistics.median(ing):.1f} chunks/s, efficiency {statistics.median(ing) / statistics.median(raw):.2f}"
              f"  (runs: raw {[round(x) for x in raw]}, ingest {[round(x) for x in ing]})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "newsqa-scale"))
    ap.add_argument("--server", help="also measure against this Chroma server URL (e.g. http://127.0.0.1:8000)")
    ap.add_argument("--real-ingest", type=int, default=0, help="articles of RealTime QA for the real-model run")
    ap.add_argument("--threads", default="1,2")
    args = ap.parse_args()
    if args.real_ingest:
        real_ingest(args.real_ingest, args.runs, [int(t) for t in args.threads.split(",")])
        return
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        url = args.server
        d = Path(args.work) / (f"server-{size}" if url else f"embedded-{size}")
        d.mkdir(parents=True, exist_ok=True)
        row = measure(d, size, args.runs, url)
        rows.append(row)
        print(json.dumps(row), flush=True)
    base = rows[0]
    print("\n| chunks | build s | cold ask s | cold RSS MB | warm p50 ms | warm p95 ms | add 1 article s | "
          "re-ingest unchanged s | disk MB | 2nd engine sees new article s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['chunks']:,} | {r['build_s']:.0f} | {r['cold_ask_s']:.2f} | {r['cold_ask_rss_mb']:.0f} | "
              f"{r['warm_p50_ms']:.0f} | {r['warm_p95_ms']:.0f} | {r['add_one_article_s']:.2f} | "
              f"{r['reingest_unchanged_s']:.3f} | {r['disk_mb']:.0f} | {r['other_sees_new_article_s']:.3f} |")
    for r in rows[1:]:
        print(f"ratio {r['chunks']:,}/{base['chunks']:,}: cold {r['cold_ask_s'] / base['cold_ask_s']:.2f}x, "
              f"warm p50 {r['warm_p50_ms'] / base['warm_p50_ms']:.2f}x, RSS {r['cold_ask_rss_mb'] / base['cold_ask_rss_mb']:.2f}x, "
              f"add {r['add_one_article_s'] / base['add_one_article_s']:.2f}x")


if __name__ == "__main__":
    main()
