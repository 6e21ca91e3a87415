"""Fit the extractive answerer's model on a tuning split, and write retrieval/data/answerer.json.

    python -m evals.realtimeqa convert --years 2022,2023 --max-chunks 40000 --seed 1 --out /tmp/rtqa-tune
    newsqa ingest /tmp/rtqa-tune/articles-*.jsonl          # with NEWSQA_DATA_DIR=/tmp/rtqa-tune/index
    python -m evals.fit --dir /tmp/rtqa-tune [--data-dir /tmp/rtqa-tune/index] [-k 8]

Every sentence of the passages retrieved for a tuning question is a row: its features
(retrieval/features.py) and whether it states a gold answer. Questions whose articles were
removed from the index (the converter's held-out ones) contribute rows that are all negative,
which is what teaches the model that a topical sentence is not an answer. A logistic
regression gives P(sentence states the answer). The answer threshold is the one that maximises
the CRAG-style score (+1 right, 0 abstained, -1 wrong) of the best sentence per question, on
out-of-fold probabilities (5 folds grouped by question), so it is not fitted on its own predictions.
Only the tuning split (2022-2023) may be used here; the 2024 split is for reporting.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from evals.metrics import answer_contains

if TYPE_CHECKING:
    from retrieval.answering import AnswerModel


def states_answer(sentence: str, answers: list[str]) -> bool:
    """The training label: the sentence states a gold answer, verbatim or with all of its words (stemmed)
    present ("Nyota Uhura" for "Lt. Nyota Uhura" is still missed; "al-Qaida" for "al Qaeda" too)."""
    from retrieval.text import content_terms, numbers

    if answer_contains(sentence, answers):
        return True
    have, have_numbers = set(content_terms(sentence)), numbers(sentence)
    for a in answers:
        need = set(content_terms(a))
        if need and need <= have:
            return True
        # A figure is the same figure however it is written: "60%" and "60 percent", "$3.99" and "3.99 dollars".
        if numbers(a) and numbers(a) <= have_numbers and not (set(content_terms(a)) - numbers(a)) - have:
            return True
    return False


def as_yes_no(question: str, answer: str) -> str | None:
    """A yes/no form of a wh-question with its answer put in: "Which team won the 2022 Stanley Cup?" and
    "Colorado Avalanche" give "Is it true that Colorado Avalanche won the 2022 Stanley Cup?". The quiz has no
    yes/no questions; these teach a separate model what answers one (a sentence that states the claim)."""
    import re

    q = question.strip().rstrip("?").strip()
    m = re.match(r"(?i)(who|(?:which|what) [\w'-]+)\s+(.+)$", q)
    if not m or not answer.strip():
        return None
    return f"Is it true that {answer.strip()} {m.group(2)}?"


POLAR = {"yes_no": "asked", "yes_no_removed": "removed"}  # yes/no instance kinds, as the policy reads them


def collect(gold: list[dict], data_dir: Path, k: int, yes_no: bool = False):
    """Rows for every sentence of every instance. An instance is a question as asked, and, for an answerable
    one, the same question with its own articles left out of the search (as if never indexed): the model
    learns what an answer looks like and what a topical sentence without the answer looks like. A question
    whose answer fits `as_yes_no` is also asked in that yes/no form, with and without its articles, when
    `yes_no` is set."""
    from retrieval.answering import candidates
    from retrieval.api import Engine
    from retrieval.config import Settings
    from retrieval.features import FEATURES, analyse_question

    engine = Engine(Settings(data_dir=data_dir))
    rows, labels, groups, instances, kinds = [], [], [], [], []
    t = time.time()
    for qi, item in enumerate(gold):
        has_answer = item["type"] not in ("unanswerable", "false_premise")
        variants = [("asked", (), item["question"])]
        if has_answer and item.get("docs"):
            removed = tuple(item["docs"]) + (f"evidence-{item['id']}",)
            variants.append(("removed", removed, item["question"]))
            polar = as_yes_no(item["question"], item["answers"][0]) if yes_no else None
            if polar:
                variants += [("yes_no", (), polar), ("yes_no_removed", removed, polar)]
        elif not has_answer:
            variants = [("held_out", (), item["question"])]
        for kind, exclude, question in variants:
            passages, _, stats = engine.retrieve(question, k=k, exclude_docs=exclude)
            cands = candidates(analyse_question(question), passages, stats)
            inst = len(kinds)
            kinds.append(kind)
            for c in cands:
                rows.append([c.features[f] for f in FEATURES])
                labels.append(1 if has_answer and states_answer(c.text, item["answers"]) else 0)
                groups.append(qi)
                instances.append(inst)
        if qi % 50 == 0:
            print(f"  {qi}/{len(gold)} questions, {len(rows)} sentences, {time.time() - t:.0f} s", file=sys.stderr)
    return (np.array(rows, float), np.array(labels), np.array(groups), np.array(instances), np.array(kinds))


def crag_at(best_p: np.ndarray, best_ok: np.ndarray, tau: float) -> float:
    answered = best_p >= tau
    return float(np.where(answered, np.where(best_ok, 1.0, -1.0), 0.0).mean())


def per_instance_best(p: np.ndarray, y: np.ndarray, instances: np.ndarray, n: int):
    best_p, best_ok = np.zeros(n), np.zeros(n, bool)
    order = np.lexsort((-p, instances))  # by instance, then probability descending
    first = np.ones(len(order), bool)
    first[1:] = instances[order][1:] != instances[order][:-1]
    for j in order[first]:
        best_p[instances[j]], best_ok[instances[j]] = p[j], bool(y[j])
    return best_p, best_ok


def policy_threshold(best_p, best_ok, kinds, min_abstain: float) -> tuple[float, list[dict]]:
    """The lowest threshold (answering most) at which the answerer still abstains on at least `min_abstain`
    of the questions whose articles are absent; and the whole curve, for the record."""
    absent = np.isin(kinds, ("removed", "held_out"))
    asked = kinds == "asked"
    curve = []
    for tau in np.unique(np.concatenate([best_p, [1.01]])):
        answered = best_p >= tau
        curve.append({"threshold": float(tau), "accuracy": float((answered & best_ok)[asked].mean()),
                      "abstain_absent": float((~answered[absent]).mean()),
                      "crag_asked": float(np.where(answered, np.where(best_ok, 1, -1), 0)[asked].mean())})
    ok = [c for c in curve if c["abstain_absent"] >= min_abstain]
    return min(c["threshold"] for c in ok), curve


def fit(x, y, groups, c: float):
    from sklearn.linear_model import LogisticRegression

    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=c, max_iter=5000)
    model.fit((x - mean) / scale, y)
    return mean, scale, model


def write_evidence(d: Path, dataset: str | None = None) -> Path:
    """DIR/evidence.jsonl: each answerable tuning question's quiz explanation (RealTime QA's `evidence`,
    markup removed) as a one-paragraph document `evidence-<id>`. Ingested beside the tuning articles, these
    give the model clean sentences that state the answer, which the articles found by web search often lack
    (or state in other words than the quiz's choice). Tuning only: the report split is never given them."""
    import gzip
    import html
    import re

    from evals.realtimeqa import dataset_dir

    gold = {json.loads(line)["id"]: json.loads(line) for line in (d / "gold.jsonl").read_text("utf-8").splitlines()
            if line.strip()}
    source = dataset_dir(dataset)
    by_src: dict[str, list[dict]] = {}
    with gzip.open(source / "questions.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            q = json.loads(line)
            by_src.setdefault(f"rtqa-{q['id']}", []).append(q)
    lines = []
    for gid, item in gold.items():
        if item["type"] == "unanswerable":
            continue
        base = re.sub(r"-\d+$", "", gid) if gid not in by_src else gid
        match = [q for q in by_src.get(base, []) if q["question"].strip() == item["question"]]
        text = html.unescape(re.sub(r"<[^>]+>", "", match[0]["evidence"] if match else "")).strip()
        if len(text) < 40:
            continue
        if not re.search(r"[.!?…][\"'”’)]*$", text):
            text += "."
        lines.append(json.dumps({"id": f"evidence-{gid}", "text": text + "\n", "title": "",
                                 "outlet": f"{match[0]['source']} quiz", "date": item.get("week", "")[:4] + "-"
                                 + item.get("week", "")[4:6] + "-" + item.get("week", "")[6:8]},
                                ensure_ascii=False) + "\n")
    out = d / "evidence.jsonl"
    out.write_text("".join(lines), encoding="utf-8")
    print(f"{len(lines)} evidence documents -> {out}; ingest them into the tuning index before fitting")
    return out


def main(argv=None) -> None:
    from retrieval.features import FEATURES

    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["evidence"]:
        ev = argparse.ArgumentParser(prog="python -m evals.fit evidence")
        ev.add_argument("--dir", required=True)
        ev.add_argument("--dataset")
        a = ev.parse_args(argv[1:])
        write_evidence(Path(a.dir), a.dataset)
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", required=True, help="a tuning folder written by `python -m evals.realtimeqa convert`")
    ap.add_argument("--data-dir", help="the index built from it [DIR/index]")
    ap.add_argument("-k", type=int, default=8, help="passages retrieved per question (newsqa's default k)")
    ap.add_argument("-C", type=float, default=1.0, help="inverse regularisation strength")
    ap.add_argument("--cache", help="keep the collected rows in this .npz and reuse them (refitting only)")
    ap.add_argument("--min-abstain", type=float, default=0.8,
                    help="the share of questions without their articles the answerer must abstain on")
    ap.add_argument("--yes-no", action="store_true",
                    help="also fit a separate model for yes/no questions on yes/no forms of the tuning questions "
                         "(measured, not shipped: see README)")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "retrieval" / "data" / "answerer.json"))
    args = ap.parse_args(argv)
    d = Path(args.dir)
    split = json.loads((d / "split.json").read_text(encoding="utf-8"))
    if split.get("split") != "tuning":
        raise SystemExit("evals.fit: only a tuning split (2022-2023) may be fitted on; this folder holds "
                         f"{split.get('split')!r}")
    gold = [json.loads(line) for line in (d / "gold.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    cache = Path(args.cache) if args.cache else None
    if cache and cache.is_file():
        z = np.load(cache)
        x, y, groups, instances, kinds = (z[n] for n in ("x", "y", "groups", "instances", "kinds"))
        names = [str(f) for f in z["features"]]
        if not set(FEATURES) <= set(names):
            raise SystemExit(f"evals.fit: {cache} lacks features {sorted(set(FEATURES) - set(names))}; collect again")
        x = x[:, [names.index(f) for f in FEATURES]]  # a cache collected with more features is still usable
    else:
        x, y, groups, instances, kinds = collect(gold, Path(args.data_dir or d / "index"), args.k, args.yes_no)
        if cache:
            np.savez(cache, x=x, y=y, groups=groups, instances=instances, kinds=kinds, features=np.array(FEATURES))
    polar = np.isin(kinds, list(POLAR))[instances]  # rows of yes/no forms (a cache may hold them)
    model, info = fit_part(x[~polar], y[~polar], groups[~polar], instances[~polar], kinds, args.C, args.min_abstain)
    info["fitted_on"].update({"split": "tuning", "years": split.get("years"), "weeks": split.get("weeks"),
                              "seed": split.get("seed"), "questions": len(gold), "k": args.k})
    info["script"] = "python -m evals.fit"
    out = model.to_json()
    if args.yes_no and polar.any():
        yes_no, yn_info = fit_part(x[polar], y[polar], groups[polar], instances[polar],
                                   np.array([POLAR.get(str(k), str(k)) for k in kinds]), args.C, args.min_abstain)
        yn_info["fitted_on"]["forms"] = "Is it true that <gold answer> <rest of the wh-question>?"
        out["yes_no"] = {**yes_no.to_json(), "info": yn_info}
        info["yes_no"] = yn_info
    Path(args.out).write_text(json.dumps({**out, "info": info}, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(info, indent=1))
    print(f"threshold {model.threshold:.3f}" + (f", yes/no {out['yes_no']['threshold']:.3f}" if "yes_no" in out else "")
          + f"; wrote {args.out}")


def fit_part(x: np.ndarray, y: np.ndarray, groups: np.ndarray, instances: np.ndarray, kinds: np.ndarray, c: float,
             min_abstain: float) -> tuple[AnswerModel, dict]:
    """One model and its threshold from the rows of some instances (`kinds` is indexed by instance id)."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold

    from retrieval.answering import AnswerModel
    from retrieval.features import FEATURES

    ids, inst = np.unique(instances, return_inverse=True)  # this part's instances, numbered from 0
    part_kinds = kinds[ids]
    n = len(ids)
    oof = np.zeros(len(y))
    for train, test in GroupKFold(n_splits=5).split(x, y, groups):
        mean, scale, m = fit(x[train], y[train], groups[train], c)
        oof[test] = m.predict_proba((x[test] - mean) / scale)[:, 1]
    best_p, best_ok = per_instance_best(oof, y, inst, n)
    tau, curve = policy_threshold(best_p, best_ok, part_kinds, min_abstain)
    at = next(row for row in curve if row["threshold"] == tau)
    asked = part_kinds == "asked"
    mean, scale, m = fit(x, y, groups, c)
    info = {
        "fitted_on": {"instances": n,
                      "instances_without_their_articles": int(np.isin(part_kinds, ("removed", "held_out")).sum()),
                      "sentences": int(len(y)), "positive_sentences": int(y.sum()), "C": c},
        "policy": f"answer as often as possible while abstaining on >= {min_abstain:.0%} of questions whose "
                  "articles are absent (out-of-fold)",
        "out_of_fold": {"sentence_auc": round(float(roc_auc_score(y, oof)), 4),
                        "best_sentence_right": round(float(best_ok[asked].mean()), 4),
                        "accuracy": round(at["accuracy"], 4), "abstain_absent": round(at["abstain_absent"], 4),
                        "crag_asked": round(at["crag_asked"], 4)},
    }
    model = AnswerModel(list(FEATURES), mean, scale, m.coef_[0], float(m.intercept_[0]), tau, info)
    return model, info


if __name__ == "__main__":
    main()
