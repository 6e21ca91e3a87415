"""The answerer as it was before the fine-tuned scorer (newsqa 0.1 at 658a491): a logistic model over ~50
hand-made features, fitted on 331 RealTime QA 2022-2023 questions with a threshold set to abstain on 80% of
questions whose articles were removed. Kept only as a baseline (`python -m evals.baselines logistic-2025`);
its weights are evals/data/legacy-answerer.json.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from retrieval.answerer.candidates import Candidate
from retrieval.answerer.policy import ABSTAIN_TEXT, MAX_SENTENCES, Draft, _negated, _overlap
from retrieval.answerer.question import (
    QTYPES,
    REPORTING,
    YEAR,
    QuestionInfo,
    analyse_question,
    answer_spans,
    new_names,
    share,
    typed_values,
)
from retrieval.injection import passage_spans
from retrieval.sentences import split_spans
from retrieval.text import NEGATIONS, STOPWORDS, content_terms, fold, stem, words
from retrieval.types import Passage

if TYPE_CHECKING:
    from retrieval.search import TermStats

MODEL_FILE = Path(__file__).resolve().parent / "data" / "legacy-answerer.json"


FEATURES = (
    "cov_sentence", "cov_passage", "cov_title", "cov_plain", "echo", "is_question", "dense_passage",
    "inv_rank", "bm25_rel", "log_words", "first_in_passage", "early_in_article", "kind_heading", "kind_caption",
    "kind_meta", "new_name", "has_number", "has_money", "has_percent", "has_date", "names_in_sentence",
    "names_in_passage", "years_hold", "numbers_hold", "negation_mismatch", "reported",
    # No per-question-kind prior (q_quantity, ...): fitted on a news quiz, it learned how often the quiz's
    # wording of an answer matches the article's for each kind, not how often news answers it. Only the
    # kind crossed with what the sentence holds is a feature.
    "quantity_x_number", "quantity_x_money", "quantity_x_percent", "date_x_date", "person_x_name",
    "place_x_name", "which_x_name", "other_x_name", "yesno_x_cov",
    "head_in_sentence", "head_in_passage", "n_new_names", "name_near_term", "cov_x_typed", "redundancy",
    "redundancy_x_typed", "year_conflict", "bm25_sentence",
)


def sentence_features(q: QuestionInfo, idf: dict[str, float], text: str, passage: Passage,
                      context_terms: set[str], title_terms: set[str], max_bm25: float,
                      spans: dict[str, list[str]], new_names_: list[str], content: list[str]) -> dict[str, float]:
    """The features of one candidate sentence (see FEATURES; `first_in_passage`, `bm25_sentence` and the
    redundancy ones are the caller's). `spans`, `new_names_` and `content` are the sentence's
    `answer_spans`, `new_names` and `content_stems`, computed once by the caller, which needs them too."""
    ws = words(text)
    stems = {stem(w) for w in ws if w not in STOPWORDS}
    total = sum(idf.get(t, 0.0) for t in q.terms) or 1.0
    cov_s = sum(idf.get(t, 0.0) for t in q.terms if t in stems) / total
    cov_p = sum(idf.get(t, 0.0) for t in q.terms if t in stems or t in context_terms) / total
    cov_t = sum(idf.get(t, 0.0) for t in q.terms if t in title_terms) / total
    plain = sum(1 for t in q.terms if t in stems) / max(len(q.terms), 1)
    qset = set(q.terms)
    echo = sum(1 for t in content if t in qset) / max(len(content), 1)
    has_num = any(n.replace(",", "") not in q.numbers for n in spans["number"])
    has_date = any(d not in q.years for d in spans["date"])
    f = {
        "cov_sentence": cov_s, "cov_passage": cov_p, "cov_title": cov_t, "cov_plain": plain, "echo": echo,
        "is_question": float(text.rstrip("\"'”’ ").endswith("?")), "dense_passage": max(passage.dense, 0.0),
        "inv_rank": 1.0 / max(passage.rank, 1), "bm25_rel": passage.bm25 / max_bm25 if max_bm25 > 0 else 0.0,
        "log_words": math.log1p(len(ws)), "first_in_passage": 0.0,
        "early_in_article": 1.0 / (1.0 + passage.start / 1000.0),
        "kind_heading": float(passage.kind == "heading"), "kind_caption": float(passage.kind == "caption"),
        "kind_meta": float(passage.kind == "meta"), "new_name": float(bool(new_names_)), "has_number": float(has_num),
        "has_money": float(bool(spans["money"])), "has_percent": float(bool(spans["percent"])),
        "has_date": float(has_date),
        "names_in_sentence": share(q.names, stems), "names_in_passage": share(q.names, stems | context_terms),
        "years_hold": share({y for y in q.years}, set(YEAR.findall(text + " " + passage.text + " " + passage.date))),
        "numbers_hold": share(q.numbers - q.years, {n.replace(",", "") for n in re.findall(r"\d[\d,.]*", text)}),
        "negation_mismatch": float(q.negated != bool(set(ws) & NEGATIONS)),
        "reported": float(bool(REPORTING.search(text))),
    }
    is_ = {t: float(q.qtype == t) for t in QTYPES}
    f["quantity_x_number"] = is_["quantity"] * f["has_number"]
    f["quantity_x_money"] = is_["quantity"] * f["has_money"]
    f["quantity_x_percent"] = is_["quantity"] * f["has_percent"]
    f["date_x_date"] = is_["date"] * f["has_date"]
    f["person_x_name"] = is_["person"] * f["new_name"]
    f["place_x_name"] = is_["place"] * f["new_name"]
    f["which_x_name"] = is_["which"] * f["new_name"]
    f["other_x_name"] = is_["other"] * f["new_name"]
    f["yesno_x_cov"] = is_["yesno"] * cov_s
    f["head_in_sentence"] = share(set(q.head), stems) if q.head else 0.0
    f["head_in_passage"] = share(set(q.head), stems | context_terms) if q.head else 0.0
    f["n_new_names"] = math.log1p(len(new_names_))
    f["name_near_term"] = float(_name_near_term(ws, qset, new_names_))
    typed = max(f["quantity_x_number"], f["date_x_date"], f["person_x_name"], f["place_x_name"],
                f["which_x_name"], f["other_x_name"])
    f["cov_x_typed"] = cov_s * typed
    f["redundancy"] = 0.0  # filled in by the caller, which sees every retrieved passage
    f["redundancy_x_typed"] = 0.0
    s_years = set(YEAR.findall(text))
    f["year_conflict"] = float(bool(q.years and s_years and not q.years & s_years))
    f["bm25_sentence"] = 0.0  # filled in by the caller: BM25 needs the candidates' average length
    return f


def content_stems(text: str) -> list[str]:
    return [stem(w) for w in words(text) if w not in STOPWORDS]


def bm25(terms: list[str], idf: dict[str, float], content: list[str], avg_len: float,
          k1: float = 1.2, b: float = 0.75) -> float:
    """Okapi BM25 of one sentence, with the corpus's idf (the standard k1 and b)."""
    tf: dict[str, int] = {}
    for t in content:
        tf[t] = tf.get(t, 0) + 1
    norm = k1 * (1 - b + b * len(content) / avg_len)
    return sum(idf.get(t, 0.0) * tf[t] * (k1 + 1) / (tf[t] + norm) for t in set(terms) if t in tf)


def _name_near_term(ws: list[str], qset: set[str], names: list[str], window: int = 6) -> bool:
    """A new name within a few words of a word of the question: the answer usually sits next to its clue."""
    if not names:
        return False
    hits = [i for i, w in enumerate(ws) if stem(w) in qset]
    name_words = {fold(x) for n in names for x in n.split()}
    spots = [i for i, w in enumerate(ws) if w in name_words]
    return any(abs(i - j) <= window for i in hits for j in spots)


@dataclass
class AnswerModel:
    """A logistic model over FEATURES: P(sentence states the answer)."""

    features: list[str]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    threshold: float  # answer when the best sentence's probability reaches it (fitted for CRAG)
    info: dict[str, Any] = field(default_factory=dict)
    # Yes/no questions get a model of their own, fitted on yes/no forms of the tuning questions: what
    # answers "Is it true that X won?" (a sentence stating the claim) is not what answers "Who won?".
    yes_no: AnswerModel | None = None

    def for_question(self, q: QuestionInfo) -> AnswerModel:
        return self.yes_no if q.qtype == "yesno" and self.yes_no is not None else self

    def probabilities(self, rows: list[dict[str, float]]) -> np.ndarray:
        if not rows:
            return np.zeros(0)
        x = np.array([[r.get(f, 0.0) for f in self.features] for r in rows], dtype=float)
        z = ((x - self.mean) / self.scale) @ self.coef + self.intercept
        p: np.ndarray = 1.0 / (1.0 + np.exp(-z))
        return p

    def to_json(self) -> dict[str, Any]:
        out = {"features": self.features, "mean": self.mean.tolist(), "scale": self.scale.tolist(),
               "coef": self.coef.tolist(), "intercept": self.intercept, "threshold": self.threshold,
               "info": self.info}
        if self.yes_no is not None:
            out["yes_no"] = self.yes_no.to_json()
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> AnswerModel:
        return cls(list(d["features"]), np.array(d["mean"]), np.array(d["scale"]), np.array(d["coef"]),
                   float(d["intercept"]), float(d["threshold"]), d.get("info", {}),
                   cls.from_json(d["yes_no"]) if d.get("yes_no") else None)


def candidates(question: QuestionInfo, passages: list[Passage], stats: TermStats,
               side_passages: Sequence[Passage] = ()) -> list[Candidate]:
    """Every usable sentence of the passages, with its features (unscored)."""
    stats.prepare(question.terms)
    idf = {t: stats.term_idf(t) for t in question.terms}
    max_bm25 = max((p.bm25 for p in passages), default=0.0)
    side_ids = {p.id for p in side_passages}
    out: list[Candidate] = []
    facts: list[tuple[list[str], list[str]]] = []  # each candidate's content stems and new names
    for p in list(passages) + list(side_passages):
        context = set(content_terms(p.text + " " + p.title + " " + p.outlet))
        title = set(content_terms(p.title))
        marked = passage_spans(p)
        for i, (s, e) in enumerate(split_spans(p.text)):
            text = p.text[s:e]
            if len(words(text)) < 3 or (s, e) in marked:
                continue
            if text.rstrip("\"'”’)] ").endswith("?"):
                continue  # a question (a quiz, a headline asking) never answers one
            content = content_stems(text)
            spans = answer_spans(text)
            names = new_names(question, spans)
            f = sentence_features(question, idf, text, p, context, title, max_bm25, spans, names, content)
            f["first_in_passage"] = float(i == 0)
            out.append(Candidate(p, p.start + s, p.start + e, text, features=f, side_only=p.id in side_ids))
            facts.append((content, names))
    # Sentence BM25 against the candidates' own average length; redundancy: an answer that several
    # retrieved passages state is more likely the answer.
    avg = sum(len(content) for content, _ in facts) / len(facts) if facts else 1.0
    texts = [fold(p.text) for p in passages]
    for c, (content, names) in zip(out, facts):
        c.features["bm25_sentence"] = bm25(question.terms, idf, content, max(avg, 1.0))
        if names and texts:
            frac = max(sum(1 for t in texts if fold(n) in t) for n in names) / len(texts)
            c.features["redundancy"] = frac
            c.features["redundancy_x_typed"] = frac * c.features["cov_x_typed"]
    return out


def score(cands: list[Candidate], model: AnswerModel) -> None:
    for c, p in zip(cands, model.probabilities([c.features for c in cands])):
        c.score = float(p)


def extract(question: str, passages: list[Passage], stats: TermStats, model: AnswerModel | None = None,
            side_passages: Sequence[Passage] = ()) -> Draft:
    """Choose the answer sentences from the retrieved passages, or decide to abstain. Sentences of
    `side_passages` (none of them among `passages`) may only serve as the other side of a disagreement."""
    q = analyse_question(question)
    model = (model or legacy_model()).for_question(q)
    closest = passages[:3]
    if not passages:
        return Draft(True, ABSTAIN_TEXT, [], ["nothing is indexed that matches the filters"], [])
    cands = candidates(q, passages, stats, side_passages)
    if not cands:
        return Draft(True, ABSTAIN_TEXT, [], ["no sentence in the retrieved passages"], closest)
    score(cands, model)
    cands.sort(key=lambda c: -c.score)
    main = [c for c in cands if not c.side_only]
    if not main:
        return Draft(True, ABSTAIN_TEXT, [], ["no sentence in the retrieved passages"], closest)
    best = main[0]
    if best.score < model.threshold:
        notes = [f"no sentence is likely to answer (best {best.score:.2f} < {model.threshold:.2f})"]
        missing = [q.surface[t] for t in q.terms if t not in {stem(w) for w in words(best.passage.text)}]
        if missing:
            notes.append("the closest passages do not mention: " + ", ".join(missing[:5]))
        if q.presupposes and best.score >= model.threshold / 2:
            # "Why did X refuse to …?": the articles don't say so, but what they do report on X is what
            # the asker needs to see, cited, and the question stays unanswered.
            return Draft(True, ABSTAIN_TEXT, [best], notes, closest, connector="The closest they report:",
                         confidence=best.score)
        return Draft(True, ABSTAIN_TEXT, [], notes, closest, confidence=best.score)
    picked = [best]
    other = other_side(q, best, cands, model)
    if other is not None:
        picked.append(other)
    for c in main[1:]:
        if len(picked) >= MAX_SENTENCES or c.score < model.threshold:
            break
        if c in picked or any(_overlap(c.text, p.text) > 0.6 for p in picked):
            continue
        if all(c.passage.doc != p.passage.doc for p in picked):
            picked.append(c)  # another source that also answers: corroboration or a different value
    wants = best.text if other is None and REPORTING.search(best.text) else ""
    return Draft(False, "", picked, [], closest, wants_other_side=wants, confidence=best.score)


def other_side(q: QuestionInfo, best: Candidate, cands: list[Candidate], model: AnswerModel) -> Candidate | None:
    """A sentence from another article that answers differently: a figure or date the best one lacks
    while lacking one it states (a shared incidental "six hours" aside), or wholly other names; or the
    denial of what the best one states. It must itself be on the question (half the threshold)."""
    values = typed_values(q, best.text)
    negated = _negated(best.text)
    for c in cands:
        if c is best or c.passage.doc == best.passage.doc or c.score < model.threshold / 2:
            continue
        theirs = typed_values(q, c.text)
        if q.qtype in ("quantity", "date") and values - theirs and theirs - values:
            return c  # each states a figure or date the other lacks: they disagree on what was asked
        if values and theirs and not values & theirs:
            return c  # names: only wholly different ones are a disagreement (a sentence names several)
        if _overlap(c.text, best.text) <= 0.8 and _negated(c.text) != negated and _overlap(c.text, best.text) >= 0.3:
            return c
    return None


@lru_cache(maxsize=1)
def legacy_model() -> AnswerModel:
    return AnswerModel.from_json(json.loads(MODEL_FILE.read_text(encoding="utf-8")))
