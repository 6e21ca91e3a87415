"""Fit the answer model (retrieval/data/answerer.json) on a RealTime QA tuning split (2022-2023 only).

    python -m evals.realtimeqa convert --years 2022,2023 --weeks 18 --seed 16 --out DEV     # the dev weeks
    NEWSQA_DATA_DIR=DEV/index newsqa ingest DEV/articles-*.jsonl
    python -m evals.scorer_dev dump --dir DEV --out DEV/dump.jsonl                           # retrieval, once
    python -m evals.scorer_dev dump --dir DEV --gold evals/gold/tuning/natural-2022-2023.jsonl --out DEV/natural.jsonl
    python -m evals.fit --dump DEV/dump.jsonl --dump DEV/natural.jsonl [--scorer retrieval/data] [-k 8]  # answerer.json

Every candidate sentence of the k passages retrieved for a question is a row: its features
(`retrieval.answerer.features.featurize`, the same code the answerer runs) and whether it states a gold
answer and shares a content word with the question (`evals.metrics.answer_bearing`). Each answerable question is also asked with its own articles left out
(`removed`), and the split's held-out questions never had theirs (`held_out`): their rows teach the model
what a topical sentence without the answer looks like. The natural reader questions of evals/gold/tuning/ (144,
written by hand on 36 of the dev weeks' articles: 108 answerable in readers' words, 36 on the same topics that the
article does not answer) join the quiz questions, whose golds seldom match the articles' wording. A logistic regression gives P(sentence states the
answer). Out-of-fold (5 folds grouped by week) probabilities of each question's best sentence are then
calibrated (a logistic fit of whether the best sentence is right on its log-odds) into the confidence
that the answer is right, and the threshold on it is the one that maximises the CRAG score (+1 right,
0 abstained, -1 wrong) of the questions as asked while at most 15% of the questions whose candidates hold
an answer abstain (`retrieval.answerer.policy.choose_threshold`). The dev weeks must be disjoint from the
weeks the scorer was trained on (`python -m evals.scorer_data pairs --exclude-weeks DEV/split.json`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from evals.metrics import answer_bearing, answer_contains

if TYPE_CHECKING:
    from retrieval.answerer.model import AnswerModel

REPO = Path(__file__).resolve().parents[1]


def collect(records: list[dict], scorer, k: int, log=None) -> dict[str, np.ndarray]:
    """Feature rows for every candidate of every instance of a dump (`python -m evals.scorer_dev dump`)."""
    from retrieval.answerer.candidates import split_candidates
    from retrieval.answerer.features import FEATURES, featurize
    from retrieval.answerer.policy import absent_names
    from retrieval.answerer.question import analyse_question
    from retrieval.answerer.scorer import default_relevance, relevance_signals, scorer_text

    rows, labels, groups, instances, kinds, contains, forced, sources = [], [], [], [], [], [], [], []
    t = time.time()
    weeks: dict[str, int] = {}
    for n, r in enumerate(records):
        q = analyse_question(r["question"])
        cands = split_candidates(r["passages"][:k])
        if cands:
            cos = scorer.scores(r["question"], [scorer_text(c.text, c.passage.title, c.prev, scorer.context)
                                                for c in cands])
            featurize(q, cands, cos, *relevance_signals(default_relevance(), r["question"], [c.text for c in cands]))
        inst = len(kinds)
        kinds.append(r["kind"])
        sources.append(int(r.get("_source", 0)))
        forced.append(bool(absent_names(q, r["passages"][:k])))
        for c in cands:
            rows.append([c.features[f] for f in FEATURES])
            labels.append(int(bool(r["answers"]) and answer_bearing(c.text, r["question"], r["answers"])))
            contains.append(int(bool(r["answers"]) and answer_contains(c.text, r["answers"])))
            groups.append(weeks.setdefault(r["week"] or r["qid"], len(weeks)))
            instances.append(inst)
        if log and n % 200 == 0:
            log(f"  {n}/{len(records)} instances, {len(rows)} sentences, {time.time() - t:.0f} s")
    return {"x": np.array(rows, float).reshape(len(rows), len(FEATURES)), "y": np.array(labels, int),
            "contains": np.array(contains, int), "groups": np.array(groups, int),
            "instances": np.array(instances, int), "kinds": np.array(kinds), "features": np.array(FEATURES),
            "forced": np.array(forced, bool), "sources": np.array(sources, int)}


def per_instance_best(p: np.ndarray, y: np.ndarray, instances: np.ndarray, n: int):
    """Each instance's best probability, whether that sentence is labelled right, and whether any is."""
    best_p, best_ok, any_ok = np.zeros(n), np.zeros(n, bool), np.zeros(n, bool)
    order = np.lexsort((-p, instances))  # by instance, then probability descending
    first = np.ones(len(order), bool)
    first[1:] = instances[order][1:] != instances[order][:-1]
    for j in order[first]:
        best_p[instances[j]], best_ok[instances[j]] = p[j], bool(y[j])
    np.logical_or.at(any_ok, instances, y.astype(bool))
    return best_p, best_ok, any_ok


def fit_logistic(x, y, c: float):
    from sklearn.linear_model import LogisticRegression

    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=c, max_iter=5000)
    model.fit((x - mean) / scale, y)
    return mean, scale, model


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def calibration_table(conf: np.ndarray, right: np.ndarray, bins: int = 10) -> list[dict]:
    out = []
    edges = np.linspace(0, 1, bins + 1)
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (conf >= lo) & (conf < hi if hi < 1 else conf <= hi)
        if sel.any():
            out.append({"bin": f"{lo:.1f}-{hi:.1f}", "n": int(sel.sum()), "mean_confidence": round(float(conf[sel].mean()), 3),
                        "right": round(float(right[sel].mean()), 3)})
    return out


def fit_model(data: dict[str, np.ndarray], c: float = 1.0, max_wrongful: float | None = None,
              features: list[str] | None = None,
              threshold_on: set[int] | None = None) -> tuple[AnswerModel, dict]:
    """The model, its calibration and threshold, and the out-of-fold figures behind them. The sentence model is
    fitted on every dump's rows; with `threshold_on` (dump numbers, from 0), only those dumps' questions
    calibrate the confidence and choose the threshold (the questions in readers' words, not the quiz's)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold

    from retrieval.answerer.features import FEATURES
    from retrieval.answerer.model import AnswerModel
    from retrieval.answerer.policy import MAX_WRONGFUL_ABSTENTION, choose_threshold

    max_wrongful = MAX_WRONGFUL_ABSTENTION if max_wrongful is None else max_wrongful
    x, y, groups, instances, kinds = (data[k] for k in ("x", "y", "groups", "instances", "kinds"))
    names = [str(f) for f in data["features"]]
    features = list(features or FEATURES)
    x = x[:, [names.index(f) for f in features]]
    n = len(kinds)
    oof = np.zeros(len(y))
    for train, test in GroupKFold(n_splits=5).split(x, y, groups):
        mean, scale, m = fit_logistic(x[train], y[train], c)
        oof[test] = m.predict_proba((x[test] - mean) / scale)[:, 1]
    best_p, best_ok, any_ok = per_instance_best(oof, y, instances, n)
    has_rows = np.zeros(n, bool)
    has_rows[instances] = True
    sources = data["sources"] if "sources" in data else np.zeros(n, int)
    pool = np.isin(sources, sorted(threshold_on)) if threshold_on else np.ones(n, bool)
    if not pool.any():
        raise SystemExit(f"evals.fit: no question comes from dump(s) {sorted(threshold_on or [])}")
    sel = has_rows & pool
    platt = LogisticRegression(C=1e6, max_iter=1000).fit(logit(best_p[sel]).reshape(-1, 1), best_ok[sel])
    a, b = float(platt.coef_[0][0]), float(platt.intercept_[0])
    conf = 1.0 / (1.0 + np.exp(-(a * logit(best_p) + b)))
    conf[~has_rows] = 0.0
    forced = data["forced"] if "forced" in data else np.zeros(n, bool)
    tau, curve = choose_threshold(conf[pool], best_ok[pool], any_ok[pool], kinds[pool], max_wrongful, forced[pool])
    at = next(row for row in curve if row["threshold"] == tau)
    best_contains = np.zeros(n, bool)
    bp2, bc, _ = per_instance_best(oof, data["contains"], instances, n)
    best_contains[:] = bc
    asked = (kinds == "asked") & pool  # the figures below are over the questions that chose the threshold
    answered = (conf >= tau) & ~forced
    mean, scale, m = fit_logistic(x, y, c)
    info = {
        "fitted_on": {"instances": n, "asked": int(asked.sum()), "removed": int((kinds == "removed").sum()),
                      "held_out": int((kinds == "held_out").sum()), "sentences": int(len(y)),
                      "positive_sentences": int(y.sum()), "weeks": int(len(set(groups.tolist()))), "C": c,
                      "threshold_on": (f"dump(s) {', '.join(str(i + 1) for i in sorted(threshold_on))}: "
                                       f"{int(pool.sum())} instances" if threshold_on else "every dump")},
        "policy": f"maximise CRAG over the questions as asked (and held out) while at most {max_wrongful:.0%} of the "
                  "questions whose candidates hold an answer abstain; confidence calibrated out of fold",
        "out_of_fold": {
            "folds": "5, grouped by week",
            "sentence_auc": round(float(roc_auc_score(y, oof)), 4),
            "best_sentence_right": round(float(best_ok[asked].mean()), 4),
            "best_sentence_contains": round(float(best_contains[asked].mean()), 4),
            "some_candidate_right": round(float(any_ok[asked].mean()), 4),
            "accuracy": round(at["accuracy"], 4), "contains_at_threshold": round(float((answered & best_contains)[asked].mean()), 4),
            "coverage": round(at["coverage"], 4), "risk": round(at["risk"], 4), "crag": round(at["crag"], 4),
            "wrongful_abstention": round(at["wrongful_abstention"], 4),
            "abstain_absent": round(at["abstain_absent"], 4),
            "abstain_removed": round(float((~answered[(kinds == "removed") & pool]).mean()), 4)
            if ((kinds == "removed") & pool).any() else None,
            "abstain_held_out": round(float((~answered[(kinds == "held_out") & pool]).mean()), 4)
            if ((kinds == "held_out") & pool).any() else None,
        },
        "calibration": calibration_table(conf[sel], best_ok[sel]),
        "risk_coverage": _thin(curve),
    }
    model = AnswerModel(features, mean, scale, m.coef_[0], float(m.intercept_[0]), (a, b), float(tau), "", info)
    return model, info


def _thin(curve: list[dict], points: int = 25) -> list[dict]:
    """The risk-coverage curve at about `points` coverages (the full one has a point per question)."""
    out, last = [], None
    for c in sorted(curve, key=lambda c: c["coverage"]):
        key = round(c["coverage"] * points)
        if key != last:
            out.append({k: round(v, 4) for k, v in c.items()})
            last = key
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m evals.fit", description=__doc__.split("\n")[0])
    ap.add_argument("--dump", required=True, action="append",
                    help="a tuning split's dump from `python -m evals.scorer_dev dump`; repeat to fit on several "
                         "(the quiz questions and the natural reader questions of evals/gold/tuning/)")
    ap.add_argument("--scorer", default=str(REPO / "retrieval" / "data"),
                    help="a folder with scorer.onnx and its card (scorer.json or card.json) [the shipped one]")
    ap.add_argument("-k", type=int, default=8, help="passages per question (newsqa's default k)")
    ap.add_argument("-C", type=float, default=1.0, help="inverse regularisation strength")
    ap.add_argument("--features", help="comma-separated subset of the features to fit on [all]")
    ap.add_argument("--threshold-on", type=int, action="append", metavar="N",
                    help="calibrate the confidence and choose the threshold on the questions of the N-th --dump only "
                         "(from 1; repeatable) [all]: the sentence model still learns from every dump")
    ap.add_argument("--cache", help="keep the collected rows in this .npz and reuse them (refitting only)")
    ap.add_argument("--out", default=str(REPO / "retrieval" / "data" / "answerer.json"))
    args = ap.parse_args(argv)
    from evals.scorer_dev import load_dump, make_scorer

    cache = Path(args.cache) if args.cache else None
    scorer = make_scorer(args.scorer)
    if cache and cache.is_file():
        z = np.load(cache)
        data = {k: z[k] for k in z.files}
    else:
        records = [dict(r, _source=i) for i, dump_file in enumerate(args.dump) for r in load_dump(Path(dump_file))]
        if any(str(r.get("week", ""))[:4] not in ("2022", "2023") for r in records):
            raise SystemExit("evals.fit: only 2022-2023 (the tuning years) may be fitted on")
        data = collect(records, scorer, args.k, log=lambda s: print(s, file=sys.stderr))
        data["weeks"] = np.array(sorted({str(r.get("week", "")) for r in records}))
        if cache:
            np.savez(cache, **data)
    if args.threshold_on and not all(1 <= i <= len(args.dump) for i in args.threshold_on):
        raise SystemExit(f"evals.fit: --threshold-on takes a --dump's number, 1 to {len(args.dump)}")
    model, info = fit_model(data, args.C, features=args.features.split(",") if args.features else None,
                            threshold_on={i - 1 for i in args.threshold_on} if args.threshold_on else None)
    model.scorer = scorer.sha256 or ""
    info["fitted_on"].update({"dump": ", ".join(Path(f).name for f in args.dump), "k": args.k, "scorer": scorer.model_id,
                              "dev_weeks": [str(w) for w in data.get("weeks", [])]})
    info["script"] = "python -m evals.fit"
    Path(args.out).write_text(json.dumps(model.to_json(), indent=1) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in info.items() if k != "risk_coverage"}, indent=1))
    print(f"threshold {model.threshold:.3f}; wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
