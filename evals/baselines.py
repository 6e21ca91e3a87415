"""Simple baselines whose predictions `newsqa eval --predictions FILE` scores.

    python -m evals.baselines bm25-sentence --gold FILE --out preds.jsonl [--data-dir D] [-k 8]

bm25-sentence: retrieve k passages with newsqa's own retrieval (`Engine.retrieve`), split them into
sentences, rank the sentences by BM25 (the `bm25s` package) against the question, and answer with the
single best sentence, citing its passage. It never abstains.

Only `Engine(settings).retrieve(question, k=...)[0]` (the passages) and the Passage fields
id/doc/text/start/end/title/outlet/date/url are relied on.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

_WORD = re.compile(r"\w+", re.UNICODE)
SOURCE_FIELDS = ("id", "doc", "text", "start", "end", "title", "outlet", "date", "url")


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens without English stopwords (bm25s's list); no stemming."""
    from bm25s.stopwords import STOPWORDS_EN

    stop = set(STOPWORDS_EN)
    return [w for w in _WORD.findall(text.lower().replace("’", "'")) if w not in stop]


def best_sentence(question: str, passages) -> tuple[int, int, int] | None:
    """(passage index, start, end) of the sentence BM25 ranks first among the passages' sentences;
    ties go to the higher-ranked passage and the earlier sentence. None when there are no sentences."""
    import bm25s
    import numpy as np

    from retrieval.sentences import split_spans

    spans = [(i, s, e) for i, p in enumerate(passages) for s, e in split_spans(p.text)]
    if not spans:
        return None
    docs = [tokens(passages[i].text[s:e]) for i, s, e in spans]
    q = tokens(question)
    vocab = {t for d in docs for t in d}
    q = [t for t in q if t in vocab]
    if not q:
        return spans[0]
    bm = bm25s.BM25()
    bm.index([d or [""] for d in docs], show_progress=False)
    scores = np.asarray(bm.get_scores(q), dtype=float)
    return spans[int(np.argmax(scores))]  # argmax keeps the first of equal scores


def bm25_sentence(engine, gold: list[dict], k: int | None = None, progress=None) -> list[dict]:
    """One prediction per gold item: the top BM25 sentence of the retrieved passages, cited as [1]."""
    preds = []
    for n, g in enumerate(gold, 1):
        passages = engine.retrieve(g["question"], k=k)[0]
        hit = best_sentence(g["question"], passages)
        if hit is None:
            preds.append({"id": g["id"], "answer": "", "sources": [], "abstained": False})
        else:
            i, s, e = hit
            p = passages[i]
            source = {f: getattr(p, f, None) for f in SOURCE_FIELDS}
            source["n"] = 1
            preds.append({"id": g["id"], "answer": f"{p.text[s:e]} [1]", "sources": [source], "abstained": False})
        if progress:
            progress(n, len(gold))
    return preds


def write_predictions(preds: list[dict], path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in preds), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m evals.baselines", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="name", required=True)
    b = sub.add_parser("bm25-sentence", help="the top BM25 sentence of the retrieved passages")
    b.add_argument("--gold", required=True, action="append", help="gold JSONL file(s)")
    b.add_argument("--out", required=True, help="predictions JSONL to write")
    b.add_argument("--data-dir", help="the index folder [env NEWSQA_DATA_DIR]")
    b.add_argument("--corpus", help="ingest these articles first (unchanged ones are skipped)")
    b.add_argument("-k", type=int, help="passages retrieved per question [NEWSQA_K, 8]")
    args = ap.parse_args(argv)

    from retrieval.api import Engine
    from retrieval.config import load_settings
    from retrieval.errors import NewsqaError

    from .harness import load_gold

    try:
        gold = load_gold([Path(g) for g in args.gold])
        engine = Engine(load_settings(data_dir=args.data_dir, k=args.k))
        if args.corpus:
            engine.ingest([Path(args.corpus)])
        else:
            engine.ensure_index()
        preds = bm25_sentence(engine, gold, k=args.k)
    except NewsqaError as exc:
        print(f"baselines: error: {exc}", file=sys.stderr)
        return exc.exit_code
    write_predictions(preds, Path(args.out))
    print(f"baselines: {len(preds)} predictions -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
