"""Deterministic metrics, each a fraction in [0, 1] (latency aside).

EM and F1 are exactly the official SQuAD v1.1 evaluation script's definitions.
Citation recall and precision are ALCE's (Gao et al. 2023) with newsqa's offline
support rule (retrieval.citations) in place of the NLI judge.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence

from retrieval.citations import Evidence, citation_scores, label_words, split_cited, strip_markers

ABSTAIN_TYPES = ("unanswerable", "false_premise")
TYPES = ("factoid", "numeric", "date", "attribution", "cross_document", "contested", "unanswerable", "false_premise")


# --- SQuAD v1.1 -------------------------------------------------------------
def normalize_answer(s: str) -> str:
    """Lower text and remove punctuation, articles and extra whitespace (SQuAD v1.1)."""

    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    return white_space_fix(remove_articles(remove_punc(s.lower())))


def f1_score(prediction: str, ground_truth: str) -> float:
    prediction_tokens = normalize_answer(prediction).split()
    ground_truth_tokens = normalize_answer(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    return (2 * precision * recall) / (precision + recall)


def exact_match_score(prediction: str, ground_truth: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(ground_truth))


def metric_max_over_ground_truths(metric_fn, prediction: str, ground_truths: Iterable[str]) -> float:
    return max((metric_fn(prediction, gt) for gt in ground_truths), default=0.0)


_SCALE_ABBREVIATIONS = ((re.compile(r"(\d)\s?(?:bn)\b", re.I), r"\1 billion"),
                        (re.compile(r"(\d)\s?(?:m|mn)\b", re.I), r"\1 million"))


def _spelt_scales(text: str) -> str:
    """"£5.6m" as "£5.6 million", "$2bn" as "$2 billion" (both sides are read so)."""
    for pattern, spelt in _SCALE_ABBREVIATIONS:
        text = pattern.sub(spelt, text)
    return text


def answer_contains(prediction: str, ground_truths: Iterable[str]) -> float:
    """A normalized gold answer appears, on word boundaries, in the normalized prediction.

    Unlike EM/F1 (kept exactly as SQuAD's), typographic quotes and dashes are folded to ASCII first,
    so “propaganda maneuvering” contains "propaganda maneuvering"; and it is checked a second time with each
    hyphen or slash joining two words read as a space, so "10,000-12,000" contains "12,000" (while "e-mail"
    still contains "email", as SQuAD's normalization reads it); and a third time with the news abbreviations of
    scale spelt out, so "£5.6m" contains "£5.6 million" and "$2bn" contains "$2 billion".
    """
    for norm in (normalize_answer, lambda t: normalize_answer(_split_joined(t)),
                 lambda t: normalize_answer(_spelt_scales(t))):
        pred = f" {norm(_ascii_punct(prediction))} "
        if any(g and f" {g} " in pred for g in (norm(_ascii_punct(x)) for x in ground_truths)):
            return 1.0
    return 0.0


def _split_joined(s: str) -> str:
    """A hyphen or slash between two words or figures becomes a space, so that removing punctuation keeps them
    apart: "10,000-12,000" holds "12,000", as "Kremlin-backed" holds "Kremlin" (gold answers get the same)."""
    return re.sub(r"(?<=\w)[-/](?=\w)", " ", s)


_TYPOGRAPHIC = str.maketrans({"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'", "‚": "'", "«": '"', "»": '"',
                              "‹": "'", "›": "'", "–": "-", "—": "-", "\u00a0": " "})


def _ascii_punct(s: str) -> str:
    """Typographic quotes and dashes to ASCII, after NFKC (no-break spaces, ligatures, full-width forms)."""
    return unicodedata.normalize("NFKC", s).translate(_TYPOGRAPHIC)


def first_sentence(answer: str) -> str:
    """The answer's first sentence, citation markers removed ("" for an empty answer)."""
    sentences = split_cited(answer or "")
    return sentences[0][0] if sentences else strip_markers(answer or "")


def states_answer(sentence: str, answers: list[str]) -> bool:
    """The fitting label: the sentence states a gold answer, verbatim or with all of its words (stemmed)
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


def answer_bearing(sentence: str, question: str, answers: list[str]) -> bool:
    """The sentence answers the question: it states a gold answer and shares a content word with the question
    besides the answer's own words (a sentence that merely mentions "New York" does not answer "found liable for
    fraud in which state?"). The scorer's training positives and the answer model's labels are defined so too."""
    from retrieval.text import content_terms

    if not states_answer(sentence, answers):
        return False
    answer_terms = {t for a in answers for t in content_terms(a)}
    return bool((set(content_terms(question)) - answer_terms) & set(content_terms(sentence)))


def answer_in_passages(passages: Sequence[dict], question: str, answers: list[str]) -> bool:
    """Some sentence of the retrieved passages answers the question (so abstaining would be wrongful)."""
    from retrieval.sentences import split

    return any(answer_bearing(s, question, answers) for p in passages for s in split(p.get("text") or ""))


def first_sentence_contains(answer: str, ground_truths: Iterable[str]) -> float:
    """answer_contains on the answer's first sentence alone: is the answer stated up front?"""
    return answer_contains(first_sentence(answer), ground_truths)


def evidence_doc(cited: Sequence[dict], docs: Iterable[str]) -> float:
    """Some cited source comes from one of the item's own documents (RealTimeQA: the question's articles)."""
    own = set(docs)
    return float(any(s.get("doc") in own for s in cited))


# --- retrieval ----------------------------------------------------------------
def quote_span(article_text: str | None, quote: str) -> tuple[int, int] | None:
    if not article_text:
        return None
    i = article_text.find(quote)
    return (i, i + len(quote)) if i >= 0 else None


def is_relevant(passage: dict, ev: dict, article_text: str | None) -> bool:
    """A passage is relevant to an evidence quote when it contains the quote, or when their character
    spans overlap by more than half of the shorter of the two."""
    if passage.get("doc") != ev["doc"]:
        return False
    if ev["quote"] in (passage.get("text") or ""):
        return True
    span = quote_span(article_text, ev["quote"])
    if span is None or passage.get("start") is None or passage.get("end") is None:
        return False
    s, e = int(passage["start"]), int(passage["end"])
    overlap = min(e, span[1]) - max(s, span[0])
    return overlap > 0.5 * min(e - s, span[1] - span[0])


def retrieval_scores(passages: Sequence[dict], evidence: Sequence[dict], articles: dict[str, str], k: int) -> dict:
    """recall@k: share of evidence quotes found in the top k passages; MRR: 1/rank of the first relevant one."""
    if not evidence:
        return {}
    top = list(passages)[:k]
    found = sum(1 for ev in evidence if any(is_relevant(p, ev, articles.get(ev["doc"])) for p in top))
    rr = 0.0
    for rank, p in enumerate(top, 1):
        if any(is_relevant(p, ev, articles.get(ev["doc"])) for ev in evidence):
            rr = 1.0 / rank
            break
    return {"recall_at_k": found / len(evidence), "mrr": rr}


# --- one item -------------------------------------------------------------------
def score_item(gold: dict, answer: str, abstained: bool, sources: Sequence[dict], retrieved: Sequence[dict] | None,
               articles: dict[str, str], k: int, judge=None) -> dict:
    """All metrics for one gold item; a metric that does not apply to the item is absent. With a `judge`
    (evals.judge.Judge), citation recall and precision are also scored by it, under `*_judge` names."""
    kind = gold["type"]
    should_abstain = kind in ABSTAIN_TYPES
    text = strip_markers(answer or "")
    m: dict[str, float] = {"abstain_accuracy": float(abstained == should_abstain)}
    if not should_abstain:
        golds = gold["answers"]
        m["answered"] = float(not abstained)
        m["exact_match"] = 0.0 if abstained else metric_max_over_ground_truths(exact_match_score, text, golds)
        m["f1"] = 0.0 if abstained else metric_max_over_ground_truths(f1_score, text, golds)
        m["answer_contains"] = 0.0 if abstained else answer_contains(text, golds)
        m["first_sentence_contains"] = 0.0 if abstained else first_sentence_contains(answer or "", golds)
    if retrieved is not None and gold["evidence"]:
        m.update(retrieval_scores(retrieved, gold["evidence"], articles, k))
    if retrieved is not None and not should_abstain and answer_in_passages(list(retrieved)[:k], gold["question"], gold["answers"]):
        m["wrongful_abstention"] = float(abstained)  # the passages hold an answer, and it declined
    by_n = {int(s["n"]): s for s in sources if "n" in s}
    if not abstained and answer:
        sentences = split_cited(answer)
        ev = {n: Evidence(s.get("text", ""), label_words(s.get("outlet", ""), s.get("title", ""), s.get("doc", ""),
                                                         (c.get("outlet", "") for c in s.get("copies", []))))
              for n, s in by_n.items()}
        cs = citation_scores(sentences, ev)
        m["citation_recall"] = cs["citation_recall"]
        m["citation_precision"] = cs["citation_precision"]
        if judge is not None:
            js = citation_scores(sentences, ev, supported_by=judge.supports)
            m["citation_recall_judge"] = js["citation_recall"]
            m["citation_precision_judge"] = js["citation_precision"]
    cited = [by_n[n] for n in _cited_numbers(answer) if n in by_n]
    if gold.get("docs") and not should_abstain:
        # An answer without any [n] marker (an outside system's) is taken to cite all the sources it lists.
        listed = cited if _cited_numbers(answer) else list(sources)
        m["evidence_doc"] = 0.0 if abstained else evidence_doc(listed, gold["docs"])
    if gold["evidence"] and (not abstained or kind == "false_premise"):
        gold_docs = {ev["doc"] for ev in gold["evidence"]}
        m["evidence_cited"] = float(any(s.get("doc") in gold_docs for s in cited))
    if kind == "contested":
        m["both_sides_cited"] = 0.0 if abstained else both_sides(cited, gold["evidence"], articles)
    m["crag"] = crag(kind, abstained, m)
    return m


def _cited_numbers(answer: str) -> list[int]:
    from retrieval.citations import markers_in

    return markers_in(answer or "")


def both_sides(cited: Sequence[dict], evidence: Sequence[dict], articles: dict[str, str]) -> float:
    """The cited passages cover evidence of two sides: two `side` labels when the gold has them,
    else two distinct evidence quotes."""
    covered = [ev for ev in evidence if any(is_relevant(s, ev, articles.get(ev["doc"])) for s in cited)]
    if any("side" in ev for ev in evidence):
        return float(len({ev.get("side") for ev in covered if ev.get("side")}) >= 2)
    return float(len(covered) >= 2)


def crag(kind: str, abstained: bool, m: dict) -> float:
    """CRAG-style truthfulness: +1 correct, 0 abstained, -1 wrong. Abstaining is the correct answer to an
    unanswerable or false-premise question; answering one is a hallucination."""
    if kind in ABSTAIN_TYPES:
        return 1.0 if abstained else -1.0
    if abstained:
        return 0.0
    correct = m.get("answer_contains", 0.0) > 0 or m.get("f1", 0.0) >= 0.5
    if kind == "contested":
        correct = correct or m.get("both_sides_cited", 0.0) > 0
    return 1.0 if correct else -1.0


# --- aggregation ----------------------------------------------------------------
METRICS = ("exact_match", "f1", "answer_contains", "first_sentence_contains", "evidence_doc", "recall_at_k", "mrr", "citation_recall", "citation_precision",
           "citation_recall_judge", "citation_precision_judge", "evidence_cited", "both_sides_cited",
           "abstain_accuracy", "answered", "wrongful_abstention", "crag")


def aggregate(items: Sequence[dict]) -> dict:
    """Mean of each metric over the items it applies to, plus latency percentiles."""
    out: dict[str, float] = {}
    for name in METRICS:
        vals = [it["scores"][name] for it in items if name in it["scores"]]
        if vals:
            out[name] = sum(vals) / len(vals)
    lat = sorted(it.get("latency", 0.0) for it in items if it.get("latency") is not None)
    if lat:
        out["latency_p50"] = percentile(lat, 50)
        out["latency_p95"] = percentile(lat, 95)
    out["items"] = len(items)
    return out


def percentile(sorted_vals: Sequence[float], pct: float) -> float:
    """Linear-interpolated percentile of already-sorted values."""
    if not sorted_vals:
        return 0.0
    pos = (len(sorted_vals) - 1) * pct / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(sorted_vals) - 1)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (pos - lo)
