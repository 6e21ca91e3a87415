"""Choosing the answer: the best candidate when the model is confident enough, at most two more sentences
from other articles that confirm it or give a different value, or an abstention whose notes say truthfully
what the passages do and do not mention. Also the rule that fits the threshold (`choose_threshold`),
shared with `python -m evals.fit`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from prompts import load as load_prompt

from ..text import NEGATIONS, content_terms, inflected_in, words
from ..types import Passage
from .candidates import Candidate, split_candidates
from .features import featurize
from .model import AnswerModel, default_model
from .question import REPORTING, QuestionInfo, analyse_question, typed_values
from .scorer import SentenceScorer, default_relevance, default_scorer, scorer_text

# The one abstention sentence, shared with the LLM prompt (prompts/abstain.txt).
ABSTAIN_TEXT = load_prompt("abstain").strip()
MAX_SENTENCES = 3
MAX_WRONGFUL_ABSTENTION = 0.15  # of questions whose passages hold an answer, at most this share may abstain


@dataclass
class Draft:
    """The answerer's output before numbering: sentences with the passages they cite."""

    abstained: bool
    lead: str  # the abstain text, or ""
    picked: list[Candidate]
    notes: list[str]
    closest: list[Passage]
    wants_other_side: str = ""  # the best sentence reports a claim and nothing retrieved opposes it
    connector: str = "They report:"  # between an abstaining lead and the sentences it cites
    confidence: float = 0.0
    candidates: list[Candidate] = field(default_factory=list)


def scored(question: QuestionInfo, passages: Sequence[Passage], scorer: SentenceScorer, model: AnswerModel,
           side_passages: Sequence[Passage] = (), relevance: SentenceScorer | None = None) -> list[Candidate]:
    """Every candidate sentence with its cosine, features and probability, best first. Side passages'
    sentences are scored against the main ones, but the main ones' features never see them."""
    cands = split_candidates(passages, side_passages)
    main = [c for c in cands if not c.side_only]
    cos = scorer.scores(question.text, [scorer_text(c.text, c.passage.title, c.prev, scorer.context) for c in cands])
    rel = (relevance or default_relevance()).scores(question.text, [c.text for c in cands])
    side = [c for c in cands if c.side_only]
    if side:
        featurize(question, cands, cos, rel)  # the side sentences' features among all
    keep = [i for i, c in enumerate(cands) if not c.side_only]
    featurize(question, main, cos[keep], rel[keep])
    for c, p in zip(cands, model.probabilities([c.features for c in cands])):
        c.score = float(p)
    return sorted(cands, key=lambda c: -c.score)


def extract(question: str, passages: list[Passage], model: AnswerModel | None = None,
            scorer: SentenceScorer | None = None, side_passages: Sequence[Passage] = (),
            relevance: SentenceScorer | None = None) -> Draft:
    """Choose the answer sentences from the retrieved passages, or decide to abstain. Sentences of
    `side_passages` (none of them among `passages`) may only serve as the other side of a disagreement."""
    q = analyse_question(question)
    model = model or default_model()
    scorer = scorer or default_scorer()
    closest = passages[:3]
    if not passages:
        return Draft(True, ABSTAIN_TEXT, [], ["nothing is indexed that matches the filters"], [])
    cands = scored(q, passages, scorer, model, side_passages, relevance)
    main = [c for c in cands if not c.side_only]
    if not main:
        return Draft(True, ABSTAIN_TEXT, [], ["no sentence in the retrieved passages"], closest)
    best = main[0]
    conf = model.confidence(best.score)
    if conf < model.threshold:
        notes = [f"no sentence is likely to answer (confidence {conf:.2f} < {model.threshold:.2f})",
                 mention_note(q, passages)]
        if q.presupposes and conf >= model.threshold / 2:
            # "Why did X refuse to …?": the articles don't say so, but what they do report on X is what
            # the asker needs to see, cited, and the question stays unanswered.
            return Draft(True, ABSTAIN_TEXT, [best], notes, closest, connector="The closest they report:",
                         confidence=conf, candidates=cands)
        return Draft(True, ABSTAIN_TEXT, [], notes, closest, confidence=conf, candidates=cands)
    picked = [best]
    other = other_side(q, best, cands, model)
    if other is not None:
        picked.append(other)
    for c in main[1:]:
        if len(picked) >= MAX_SENTENCES or model.confidence(c.score) < model.threshold:
            break
        if c in picked or any(_overlap(c.text, p.text) > 0.6 for p in picked):
            continue
        if all(c.passage.doc != p.passage.doc for p in picked):
            picked.append(c)  # another source that also answers: corroboration or a different value
    wants = best.text if other is None and REPORTING.search(best.text) else ""
    return Draft(False, "", picked, [], closest, wants_other_side=wants, confidence=conf, candidates=cands)


def other_side(q: QuestionInfo, best: Candidate, cands: list[Candidate], model: AnswerModel) -> Candidate | None:
    """A sentence from another article that answers differently: a figure or date the best one lacks
    while lacking one it states, or wholly other names; or the denial of what the best one states. It
    must itself be on the question (half the threshold)."""
    values = typed_values(q, best.text)
    negated = _negated(best.text)
    for c in cands:
        if c is best or c.passage.doc == best.passage.doc or model.confidence(c.score) < model.threshold / 2:
            continue
        theirs = typed_values(q, c.text)
        if q.qtype in ("quantity", "date") and values - theirs and theirs - values:
            return c  # each states a figure or date the other lacks: they disagree on what was asked
        if values and theirs and not values & theirs:
            return c  # names: only wholly different ones are a disagreement (a sentence names several)
        if _overlap(c.text, best.text) <= 0.8 and _negated(c.text) != negated and _overlap(c.text, best.text) >= 0.3:
            return c
    return None


def _negated(text: str) -> bool:
    return bool(set(words(text)) & NEGATIONS)


def _overlap(a: str, b: str) -> float:
    wa, wb = set(content_terms(a)), set(content_terms(b))
    return len(wa & wb) / min(len(wa), len(wb)) if wa and wb else 0.0


def mention_note(q: QuestionInfo, passages: Sequence[Passage]) -> str:
    """What the retrieved passages mention of the question's words, and what none of them mentions in any
    inflection."""
    vocabulary = {w for p in passages for w in words(p.text + " " + p.title)}
    found: list[str] = []
    missing: list[str] = []
    for t in q.terms:
        surface = q.surface[t]
        (found if inflected_in(surface, vocabulary) else missing).append(surface)
    if not found:
        return "no retrieved passage mentions any of: " + ", ".join(missing[:6])
    note = "the retrieved passages mention " + ", ".join(found[:6])
    if missing:
        note += "; none mentions " + ", ".join(missing[:5])
    return note


# --- fitting the threshold (python -m evals.fit) -------------------------------------------------------
def choose_threshold(conf: np.ndarray, right: np.ndarray, has_answer: np.ndarray, kinds: np.ndarray,
                     max_wrongful: float = MAX_WRONGFUL_ABSTENTION) -> tuple[float, list[dict[str, Any]]]:
    """The threshold on the confidence that maximises the CRAG score (+1 right, 0 abstained, -1 wrong) over
    the questions as asked (and those held out with their articles), among the thresholds at which at most
    `max_wrongful` of the questions whose candidates hold an answer abstain. Returns it and the whole
    risk-coverage curve.

    `conf`, `right` (the best sentence states the answer), `has_answer` (some candidate does) and `kinds`
    ("asked", "removed", "held_out") have one entry per question instance."""
    asked = kinds == "asked"
    pool = asked | (kinds == "held_out")
    absent = (kinds == "removed") | (kinds == "held_out")
    present = asked & has_answer
    curve = []
    for tau in np.unique(np.concatenate([conf, [0.0, 1.01]])):
        answered = conf >= tau
        score = np.where(answered, np.where(right, 1.0, -1.0), 0.0)
        curve.append({
            "threshold": float(tau),
            "coverage": float(answered[asked].mean()),
            "risk": float((~right[answered & asked]).mean()) if (answered & asked).any() else 0.0,
            "accuracy": float((answered & right)[asked].mean()),
            "crag": float(score[pool].mean()),
            "wrongful_abstention": float((~answered[present]).mean()) if present.any() else 0.0,
            "abstain_absent": float((~answered[absent]).mean()) if absent.any() else 1.0,
        })
    ok = [c for c in curve if c["wrongful_abstention"] <= max_wrongful] or curve[:1]
    best = max(ok, key=lambda c: (c["crag"], c["threshold"]))
    return best["threshold"], curve
