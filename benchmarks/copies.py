"""What finding syndicated copies costs at ingest, and what it finds on a real corpus.

    python -m benchmarks.copies FILE_OR_FOLDER... [--runs 3] [--limit N]

Files the articles (real loading and chunking, no embedding) into fresh lexical indexes twice:
with copies found as usual, and with the finding switched off, and prints the median cost per
article over the runs. Then counts the stories that more than one article was filed under, and
the candidate pairs LSH found that were similar enough but told different facts (kept apart).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np

from retrieval import copies
from retrieval.chunking import chunk_article, content_hash
from retrieval.lexical import ChunkRow, DocRecord, LexicalIndex
from retrieval.loading import load_paths


def build(articles, path: Path, find: bool) -> float:
    index = LexicalIndex(path)
    items = []
    for i, a in enumerate(articles):
        digest = content_hash(a, 160)[:16]
        rows = [ChunkRow(c.id, c.doc, digest, c.start, c.end, c.kind, c.ordinal, c.text)
                for c in chunk_article(a, 160)]
        items.append((DocRecord(a.doc, digest, a.title, a.outlet, a.date, a.author, a.url, "", len(rows), i), rows))
    t = time.perf_counter()
    if find:
        for b in range(0, len(items), 256):  # ingest's group size
            index.replace_docs(items[b:b + 256])
    else:
        with mock.patch.object(LexicalIndex, "_index_copy", lambda *a, **k: None):
            for b in range(0, len(items), 256):
                index.replace_docs(items[b:b + 256])
    elapsed = time.perf_counter() - t
    index.close()
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--limit", type=int, default=0)
    args = ap.parse_args()
    articles, _ = load_paths([Path(p) for p in args.paths])
    if args.limit:
        articles = articles[: args.limit]
    copies.signature("warm up the import of datasketch and scipy once")
    with_copies, without = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            without.append(build(articles, Path(tmp) / f"off-{run}.sqlite", find=False))
            with_copies.append(build(articles, Path(tmp) / f"on-{run}.sqlite", find=True))
        n = len(articles)
        on, off = statistics.median(with_copies), statistics.median(without)
        print(f"{n} articles, median of {args.runs} runs: filing {off / n * 1000:.2f} ms/article without copies, "
              f"{on / n * 1000:.2f} ms/article with them (+{(on - off) / n * 1000:.2f} ms)")
        index = LexicalIndex(Path(tmp) / "on-0.sqlite")
        db = index.db
        stories = db.execute("SELECT story, COUNT(*) FROM copies GROUP BY story HAVING COUNT(*) > 1").fetchall()
        filed = sum(c for _, c in stories)
        print(f"stories run by more than one article: {len(stories)} ({filed} articles; largest {max([c for _, c in stories], default=0)})")
        sigs = {d: np.frombuffer(b, dtype=np.uint32) for d, b in db.execute("SELECT doc, sig FROM copies WHERE sig IS NOT NULL")}
        story = dict(db.execute("SELECT doc, story FROM copies"))
        pairs = db.execute("SELECT DISTINCT a.doc, b.doc FROM copy_bands a JOIN copy_bands b ON a.band = b.band "
                           "AND a.doc < b.doc").fetchall()
        similar = [(a, b) for a, b in pairs if copies.similarity(sigs[a], sigs[b]) >= copies.THRESHOLD]
        apart = [(a, b) for a, b in similar if story[a] != story[b]]
        print(f"LSH candidate pairs {len(pairs)}, similar enough {len(similar)}, kept apart for differing facts {len(apart)}")
        for a, b in apart[:5]:
            print(f"  kept apart: {a} / {b}")
        index.close()


if __name__ == "__main__":
    main()
