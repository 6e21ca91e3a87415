"""The answer model's features: one `featurize()` computes every one of them, for run time and for fitting.

The fine-tuned scorer's cosine and its lead over the other candidates of its kind are the main signal; the others are
general properties a fitted model weighs (`python -m evals.fit`): the untuned MiniLM's cosine, whether the
sentence holds an answer of the kind asked for that the question does not already contain (a figure for "how
many", a new name for "who"), how many of the question's words the sentence and its passage lack in every
inflection, and whether the question's years and numbers hold. Features tried on the dev weeks and left out
(idf-weighted coverage, agreement across articles, passage rank, echo of the question, heading/caption kind, a
figure counting the very noun a how-many question counts) are listed in docs/evaluation.md with their figures.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from ..citations import SUPPORT_COVERAGE
from ..text import fold, inflected_in, stem, vocabulary
from .candidates import Candidate
from .question import (
    LEADER_ROLES,
    REASON,
    REPORTING,
    YEAR,
    QuestionInfo,
    answer_spans,
    new_names,
    share,
)
from .stance import speaker

FEATURES = (
    "cos", "cos_margin", "typed", "typed_x_cos", "zs_cos", "zs_margin",
    "missing_sentence", "missing_passage", "years_hold", "numbers_hold", "year_conflict", "rare_held",
    "soft_held", "soft_least",
)


WordVectors = tuple[list[str], np.ndarray]  # a text's words and one unit vector a word (SentenceScorer.word_vectors)


def claim_coverage(q: QuestionInfo, text: str) -> float:
    """The share of a yes/no question's content words that the sentence holds in some inflection (0 when the
    question has none)."""
    if not q.terms:
        return 0.0
    vocab = vocabulary(text)
    return sum(inflected_in(q.surface[t], vocab) for t in q.terms) / len(q.terms)


def states_claim(q: QuestionInfo, text: str) -> bool:
    """For a yes/no question: the sentence states (or disputes) its claim, i.e. holds at least SUPPORT_COVERAGE of
    the question's content words in some inflection, the share the support check asks of an answer's words."""
    return bool(q.terms) and claim_coverage(q, text) >= SUPPORT_COVERAGE


def has_answer_kind(q: QuestionInfo, spans: dict[str, list[str]], names: list[str], text: str = "",
                    prev: str = "") -> bool:
    """The sentence holds a value of the kind the question asks for, one the question does not contain; for a
    yes/no question, the claim itself; for a money question, an amount of money or a share; for "how far/long/fast
    …", a figure beside a unit of that measure; for a why-question, a reason; for "who runs …", a name and a leader's role;
    for "who said …", a new name or a speaker named for the sentence's "he"/"she" (`stance.speaker`)."""
    if q.qtype == "quantity":
        # a year is a date, not an amount ("moved to Orchard Park in 2011" holds no crowd size)
        vals = [v for v in spans["number"] if v not in spans["date"]] + spans["money"] + spans["percent"]
        if q.money:  # "what did the telescope cost": an amount of money, not "1.2-metre"
            vals = spans["money"] + spans["percent"]
        elif q.units and not in_units(q.units, text):  # "how fast": a figure in a unit of speed, not "15,000 deliveries"
            return False
        return any(v.replace(",", "") not in q.numbers for v in vals)
    if q.qtype == "date":
        return any(d not in q.years for d in spans["date"])
    if q.qtype == "yesno":
        return states_claim(q, text)
    if q.asks_reason:  # "why …?": a reason (`REASON`), not a name
        return bool(REASON.search(text))
    if q.qtype == "person" and q.leader:  # "who runs …": a name and a leader's role
        return bool(names) and bool(LEADER_ROLES.search(text))
    if not names and q.qtype == "person" and REPORTING.search(q.text):
        # "who said …": a quote attributed with "she said" names its speaker in the sentence before
        who = speaker(text, prev).name
        return who[:1].isupper() and not all(stem(fold(w)) in set(q.terms) | q.names for w in who.split())
    return bool(names)


def in_units(units: tuple[str, ...], text: str) -> bool:
    """The text gives a figure in one of `units` ("4.7 metres", "94mph", "for a year and a half"): a unit word (or
    its singular), or a short unit symbol right after a digit."""
    return bool(_units_pattern(units).search(fold(text)))


@lru_cache(maxsize=32)
def _units_pattern(units: tuple[str, ...]) -> re.Pattern[str]:
    long_ = sorted({u for u in units if len(u) > 2} | {u[:-1] for u in units if len(u) > 3 and u.endswith("s")})
    every = "|".join(map(re.escape, sorted(set(units) | set(long_), key=len, reverse=True)))
    pattern = r"\d\s?(?:%s)\b" % every
    if long_:
        pattern += r"|\b(?:%s)\b" % "|".join(map(re.escape, long_))
    return re.compile(pattern)


def featurize(q: QuestionInfo, cands: Sequence[Candidate], cosines: np.ndarray,
              relevance: np.ndarray | None = None, word_vectors: Sequence[WordVectors] | None = None) -> None:
    """Fill every candidate's `cosine` and `features` (all of FEATURES). `cosines` are the fine-tuned scorer's,
    `relevance` the general MiniLM's (not fine-tuned): it ranks sentences worse, but its level says more about
    whether a sentence is on the question at all. Nothing here reads corpus statistics, so a feature means the
    same on a two-article corpus as on a million chunks. `word_vectors` (the question's, then each candidate's,
    under the general MiniLM) give the soft coverage of the question's words."""
    if not cands:
        return
    cos = np.asarray(cosines, dtype=float)
    zs = np.asarray(relevance if relevance is not None else cosines, dtype=float)
    spans = [answer_spans(c.text) for c in cands]
    kinds = np.array([float(has_answer_kind(q, sp, new_names(q, sp), c.text, c.speaker_prev)) for c, sp in zip(cands, spans)])
    # The scorer's lead is taken over the candidates of the same kind: a sentence holding a date, for "what day
    # …?", competes with the other sentences that hold one, not with a closer sentence that could not answer.
    tops = {t: _top_two(cos[kinds == t]) for t in set(kinds.tolist())}
    zs_top, zs_second = _top_two(zs)
    held = _held_terms(q, cands)  # the question's words each sentence holds: missing_sentence and rare_held
    rare = _rare_held(held)
    soft = _soft_coverage(q, word_vectors[0], word_vectors[1:]) if word_vectors else np.ones((len(cands), 1))
    missing_in: dict[str, float] = {}
    for i, c in enumerate(cands):
        p = c.passage
        if p.id not in missing_in:
            missing_in[p.id] = _missing(q, vocabulary(p.text + " " + p.title))
        typed = float(kinds[i])
        top, second = tops[typed]
        s_years = set(YEAR.findall(c.text))
        c.cosine = float(cos[i])
        c.features = {
            "cos": float(cos[i]),
            # the lead over the others of its kind, or the gap to the best of them
            "cos_margin": float(cos[i] - (second if cos[i] >= top else top)),
            "typed": typed,
            "typed_x_cos": typed * float(cos[i]),
            "zs_cos": float(zs[i]),
            "zs_margin": float(zs[i] - (zs_second if zs[i] >= zs_top else zs_top)),
            # the share of the question's words that the sentence (its passage) holds in no inflection
            "missing_sentence": float((held[i] == 0).sum() / held.shape[1]) if held.shape[1] else 0.0,
            "missing_passage": missing_in[p.id],
            "years_hold": share(q.years, set(YEAR.findall(c.text + " " + p.text + " " + p.date))),
            "numbers_hold": share(q.numbers - q.years, {n.replace(",", "") for n in re.findall(r"\d[\d,.]*", c.text)}),
            "year_conflict": float(bool(q.years and s_years and not q.years & s_years)),
            "rare_held": float(rare[i]),
            # how closely the sentence's words match the question's, a word at a time in context (synonyms
            # count: "rise" for "go up", "decade" for "ten years"): on average, and for the worst-matched word
            "soft_held": float(soft[i].mean()),
            "soft_least": float(soft[i].min()),
        }


def missable(q: QuestionInfo) -> list[str]:
    """The question's words a sentence may lack: all but those naming the kind of answer ("day" in "what day of the
    week": the answer, "Saturday", stands in for it)."""
    return [t for t in q.terms if t not in q.asks_for]


def _held_terms(q: QuestionInfo, cands: Sequence[Candidate]) -> np.ndarray:
    """Which of the question's words (less those naming the kind of answer) each candidate holds in some
    inflection: a candidates x terms matrix of 0/1."""
    terms = missable(q)
    out = np.zeros((len(cands), len(terms)))
    for i, c in enumerate(cands):
        vocab = vocabulary(c.text)
        out[i] = [inflected_in(q.surface[t], vocab) for t in terms]
    return out


def _rare_held(held: np.ndarray) -> np.ndarray:
    """The idf-weighted share of the question's words a sentence holds, the idf taken over this question's own
    candidates (BM25's form, Robertson & Zaragoza 2009): a word every retrieved sentence repeats (the story's
    topic, "tram strike") says little about which one answers; the word few hold ("end", "profit") says more.
    Read from the candidates only, so it means the same on two articles as on a million chunks."""
    if held.size == 0:
        return np.zeros(held.shape[0])
    n = held.shape[0]
    df = held.sum(axis=0)
    idf = np.log(1.0 + (n - df + 0.5) / (df + 0.5))
    return np.asarray(held @ idf / idf.sum())


def _soft_coverage(q: QuestionInfo, question: WordVectors, cands: Sequence[WordVectors]) -> np.ndarray:
    """For each candidate and each of the question's words (less those naming the kind of answer), the highest
    cosine between that word's contextual vector in the question and any word of the sentence: BERTScore's
    greedy matching, recall side (Zhang et al. 2020, "BERTScore: Evaluating Text Generation with BERT"), over
    all-MiniLM-L6-v2's last layer. A candidates x words matrix; one column of 1.0 when the question has no such
    word (nothing to miss)."""
    names, qmat = question
    vecs = []
    for t in missable(q):
        rows = [i for i, w in enumerate(names) if w == q.surface[t] or stem(fold(w)) == t]
        if rows:
            v = qmat[rows].astype(np.float32).mean(axis=0)
            vecs.append(v / max(float(np.linalg.norm(v)), 1e-12))
    if not vecs:
        return np.ones((len(cands), 1))
    terms = np.array(vecs)
    out = np.zeros((len(cands), len(vecs)))
    for i, (_, mat) in enumerate(cands):
        if len(mat):
            out[i] = (terms @ mat.astype(np.float32).T).max(axis=1)
    return out


def _top_two(x: np.ndarray) -> tuple[float, float]:
    srt = np.sort(x)[::-1]
    return float(srt[0]), float(srt[1] if len(srt) > 1 else srt[0])


def _missing(q: QuestionInfo, vocabulary: set[str]) -> float:
    """The share of the question's words that `vocabulary` holds in no inflection, leaving out the words that
    name the kind of answer ("day" in "what day of the week": the answer, "Saturday", stands in for it)."""
    terms = missable(q)
    if not terms:
        return 0.0
    return sum(not inflected_in(q.surface[t], vocabulary) for t in terms) / len(terms)

