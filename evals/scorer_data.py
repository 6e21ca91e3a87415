"""Training and dev data for the sentence scorer, from RealTime QA's tuning years (2022-2023) only.

    python -m evals.scorer_data pairs --exclude-weeks DEV/split.json [--synthetic 6] --out pairs.jsonl [--seed 0]

A training row is (question, a sentence that states its answer, a hard negative): the question's own
articles (the ones the quiz's web search returned) are cleaned and split as newsqa ingest does; a
sentence is a positive when it states the gold choice (the fitting label, `evals.metrics.states_answer`)
and shares a content word with the question; the quiz's own explanation adds its sentences that state
the gold. Hard negatives are the sentences of the same articles that share the most (idf-weighted)
words with the question without holding any word of the answer, so a differently worded answer
("the Avalanche" for "Colorado Avalanche") is not taught as a negative. Each row keeps the sentence's
article title and previous sentence, for context variants.

Weeks of the dev split (a `split.json` written by `python -m evals.realtimeqa convert`) are left out, so
the scorer is never trained on the questions its answerer is calibrated and chosen on; 2024 is never read.
"""

from __future__ import annotations

import argparse
import gzip
import html
import json
import math
import random
import re
import sys
from collections.abc import Iterator
from pathlib import Path

from evals.metrics import states_answer
from evals.realtimeqa import TUNING_YEARS, dataset_dir, outlet_of

MAX_POSITIVES = 3  # per question: a question with many answer sentences should not dominate
NEGATIVES = 2  # hard negatives kept per question (each row gets one, in turn)
MIN_WORDS, MAX_WORDS = 4, 80


def article_sentences(text: str, title: str = "") -> list[dict[str, str]]:
    """The sentences newsqa would index from an article's text: body, heading and caption blocks, split
    into sentences, each with the one before it (in the same block) and the title."""
    from retrieval.cleaning import classify
    from retrieval.sentences import split_spans
    from retrieval.text import words

    blocks, _info = classify(text)
    out = []
    for b in blocks:
        if b.kind not in ("body", "caption"):
            continue
        prev = ""
        for s, e in split_spans(text, b.start, b.end):
            sent = text[s:e].strip()
            n = len(words(sent))
            if MIN_WORDS <= n <= MAX_WORDS and not sent.rstrip("\"'”’) ").endswith("?"):
                out.append({"text": sent, "prev": prev, "title": title})
            prev = sent
    return out


def evidence_sentences(evidence: str) -> list[dict[str, str]]:
    """The quiz's explanation (HTML removed), sentence by sentence."""
    from retrieval.sentences import split

    text = html.unescape(re.sub(r"<[^>]+>", " ", evidence or ""))
    text = re.sub(r"\s+", " ", text).strip()
    return [{"text": s, "prev": "", "title": ""} for s in split(text) if len(s.split()) >= MIN_WORDS]


def _idf(pool: list[list[str]]) -> dict[str, float]:
    df: dict[str, int] = {}
    for terms in pool:
        for t in set(terms):
            df[t] = df.get(t, 0) + 1
    n = len(pool)
    return {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) for t, d in df.items()}


def question_rows(q: dict, articles: dict[str, dict], rng: random.Random, max_positives: int = MAX_POSITIVES,
                  negatives_kept: int = NEGATIVES) -> Iterator[dict]:
    """Training rows for one question (none when no sentence states its answer)."""
    from retrieval.text import content_terms

    gold = q["gold"][0] if isinstance(q["gold"], list) else q["gold"]
    from evals.realtimeqa import answer_aliases

    answers = answer_aliases(str(gold))
    q_terms = set(content_terms(q["question"]))
    answer_terms = {t for a in answers for t in content_terms(a)}
    sents: list[dict[str, str]] = []
    seen: set[str] = set()
    for u in q.get("gcs_urls") or []:
        a = articles.get(u)
        if a is None:
            continue
        for s in article_sentences(a["text"], (a.get("title") or "").strip()):
            if s["text"] not in seen:
                seen.add(s["text"])
                sents.append(s)
    if not sents:
        return
    terms = [content_terms(s["text"]) for s in sents]
    idf = _idf(terms)
    positives, negatives = [], []
    for s, ts in zip(sents, terms):
        shared = q_terms & set(ts)
        if states_answer(s["text"], answers):
            if shared - answer_terms:
                positives.append(s)
        elif not (answer_terms & set(ts)):
            score = sum(idf.get(t, 0.0) for t in sorted(shared))
            if score > 0:
                negatives.append((score, s))
    for s in evidence_sentences(q.get("evidence", "")):
        ts = set(content_terms(s["text"]))
        if states_answer(s["text"], answers) and (q_terms & ts) - answer_terms:
            positives.append(s)
    if not positives or not negatives:
        return
    rng.shuffle(positives)
    negatives.sort(key=lambda x: -x[0])
    hard = [s for _, s in negatives[:negatives_kept]]
    for i, pos in enumerate(positives[:max_positives]):
        neg = hard[i % len(hard)]
        yield {"qid": q["id"], "week": q["week"], "question": q["question"].strip(), "answers": answers,
               "pos": pos["text"], "pos_title": pos["title"], "pos_prev": pos["prev"],
               "neg": neg["text"], "neg_title": neg["title"], "neg_prev": neg["prev"]}


# Synthetic rows after Fabbri et al. (2020), "Template-Based Question Generation from Retrieved Sentences for
# Improved Unsupervised Question Answering": a question is made from a sentence B of one outlet by putting a
# question word in place of a name or figure E ("wh" + the rest of B), and its positive is a sentence A of
# another outlet's article on the same story that states E in other words. The scorer then learns to match a
# question to an answer that is not worded like it, which the quiz rows teach little of.
_SPAN = re.compile(r"(?<=[\w,] )(?:[A-Z][\w'’-]+(?: (?:of |de |bin |al-)?[A-Z][\w'’-]+)*)|"
                   r"(?:[$£€]\s?)?\d[\d,.]*(?:\s?(?:%|percent|million|billion|thousand))?")
_YEAR = re.compile(r"(?:1[89]|20)\d\d")
SYNTHETIC_OVERLAP = (0.2, 0.6)  # Jaccard of the two sentences' other content words: one fact, other words
MIN_SHARED = 3  # content words the two sentences share besides E


def _spans(sentence: str) -> set[str]:
    return {m.group(0).strip() for m in _SPAN.finditer(sentence) if len(m.group(0).strip()) >= 2}


def _wh(span: str) -> str:
    if span[0] in "$£€":
        return "How much"
    if span[0].isdigit():
        if _YEAR.fullmatch(span):
            return "When"
        if span.endswith("%") or span.endswith("percent"):
            return "What percentage"
        return "How many"
    return "Who" if len(span.split()) == 2 else "What"


def synthetic_rows(q: dict, articles: dict[str, dict], rng: random.Random, per_question: int) -> Iterator[dict]:
    """Up to `per_question` (question made from B, A, hard negative) rows from one question's own articles."""
    from retrieval.text import content_terms, fold

    by_article = []
    for u in q.get("gcs_urls") or []:
        a = articles.get(u)
        if a is not None:
            sents = article_sentences(a["text"], (a.get("title") or "").strip())
            by_article.append((outlet_of(u), sents, [set(content_terms(x["text"])) for x in sents]))
    if len({h for h, _, _ in by_article}) < 2:
        return
    index: dict[str, list[tuple[int, int]]] = {}  # span -> (article, sentence) holding it
    spans = [[_spans(x["text"]) for x in sents] for _h, sents, _t in by_article]
    for i, per in enumerate(spans):
        for k, sp in enumerate(per):
            for e in sp:
                index.setdefault(e, []).append((i, k))
    found = []
    for j, (hj, sj, tj) in enumerate(by_article):
        for kb, (b, tb) in enumerate(zip(sj, tj)):
            for e in sorted(spans[j][kb]):  # sorted: set order changes with the hash seed
                e_terms = set(content_terms(e))
                rest_b = tb - e_terms
                for i, ka in index.get(e, ()):
                    if by_article[i][0] == hj:
                        continue
                    rest_a = by_article[i][2][ka] - e_terms
                    shared, union = rest_a & rest_b, rest_a | rest_b
                    if len(shared) >= MIN_SHARED and SYNTHETIC_OVERLAP[0] <= len(shared) / len(union) <= SYNTHETIC_OVERLAP[1]:
                        found.append((i, by_article[i][1][ka], b, e))
    rng.shuffle(found)
    used: set[str] = set()
    idfs: dict[int, dict[str, float]] = {}  # per article, computed when a row first needs it
    n = 0
    for i, a, b, e in found:
        if n >= per_question:
            break
        if a["text"] in used or b["text"] in used:
            continue
        rest = b["text"].replace(e, " ", 1)
        rest = re.sub(r"\s+", " ", rest).strip().rstrip(".!\"'”’ ")
        if len(rest.split()) < 4:
            continue
        rest = re.sub(r"^\((?:CNN|AP|Reuters)[^)]*\)\s*", "", rest)
        question = f"{_wh(e)} {rest}?"
        q_terms = set(content_terms(question))
        e_terms = set(content_terms(e))
        _h, sents, terms = by_article[i]
        if i not in idfs:
            idfs[i] = _idf(terms)
        idf = idfs[i]
        negs = [(sum(idf.get(t, 0.0) for t in sorted(q_terms & ts)), s) for s, ts in zip(sents, terms)
                if fold(e) not in fold(s["text"]) and not (e_terms & ts)]
        negs = [x for x in negs if x[0] > 0]
        if not negs:
            continue
        neg = max(negs, key=lambda x: x[0])[1]
        used.update((a["text"], b["text"]))
        n += 1
        yield {"qid": f"{q['id']}-syn{n}", "week": q["week"], "question": question, "answers": [e],
               "pos": a["text"], "pos_title": a["title"], "pos_prev": a["prev"],
               "neg": neg["text"], "neg_title": neg["title"], "neg_prev": neg["prev"], "synthetic": True}


def read_jsonl_gz(path: Path) -> Iterator[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def build_pairs(dataset: Path, exclude_weeks: set[str], seed: int = 0, min_chars: int = 200,
                max_positives: int = MAX_POSITIVES, negatives_kept: int = NEGATIVES,
                synthetic: int = 0) -> tuple[list[dict], dict]:
    questions = [q for q in read_jsonl_gz(dataset / "questions.jsonl.gz")
                 if str(q.get("week", ""))[:4] in TUNING_YEARS and q.get("gold") and q["week"] not in exclude_weeks]
    wanted = {u for q in questions for u in q.get("gcs_urls") or []}
    articles = {a["url"]: a for a in read_jsonl_gz(dataset / "articles.jsonl.gz")
                if a.get("url") in wanted and len((a.get("text") or "").strip()) >= min_chars}
    rng = random.Random(seed)
    rows: list[dict] = []
    with_rows = 0
    for q in questions:
        got = list(question_rows(q, articles, rng, max_positives, negatives_kept))
        with_rows += bool(got)
        rows.extend(got)
    n_synthetic = 0
    if synthetic:
        srng = random.Random(seed + 1)
        for q in questions:
            got = list(synthetic_rows(q, articles, srng, synthetic))
            n_synthetic += len(got)
            rows.extend(got)
    rng.shuffle(rows)
    stats = {"questions": len(questions), "questions_with_rows": with_rows, "rows": len(rows),
             "weeks": sorted({q["week"] for q in questions}), "excluded_weeks": sorted(exclude_weeks),
             "articles": len(articles), "seed": seed, "max_positives": max_positives, "negatives": negatives_kept,
             "synthetic_per_question": synthetic, "synthetic_rows": n_synthetic}
    return rows, stats


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m evals.scorer_data", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pairs", help="(question, answer sentence, hard negative) rows from 2022-2023")
    p.add_argument("--exclude-weeks", metavar="SPLIT_JSON", action="append", default=[],
                   help="leave out the weeks of a split.json (the dev split)")
    p.add_argument("--dataset", help="the RealTime QA folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-positives", type=int, default=MAX_POSITIVES, help="answer sentences kept per question")
    p.add_argument("--negatives", type=int, default=NEGATIVES, help="hard negatives kept per question")
    p.add_argument("--synthetic", type=int, default=0, metavar="N",
                   help="also up to N synthetic rows per question (Fabbri et al. 2020: a question made from one "
                        "outlet's sentence, answered by another outlet's)")
    p.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    exclude = {w for f in args.exclude_weeks for w in json.loads(Path(f).read_text(encoding="utf-8"))["weeks"]}
    rows, stats = build_pairs(dataset_dir(args.dataset), exclude, args.seed, max_positives=args.max_positives,
                              negatives_kept=args.negatives, synthetic=args.synthetic)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    out.with_suffix(".stats.json").write_text(json.dumps(stats, indent=1) + "\n", encoding="utf-8")
    print(f"scorer_data: {stats['rows']} rows from {stats['questions_with_rows']} of {stats['questions']} questions "
          f"({len(stats['weeks'])} weeks, {len(exclude)} excluded) -> {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
