"""The extractive answerer: scores every sentence of the retrieved passages with a fitted model,
answers with the best one (cited), or abstains when the model's probability says it is unlikely
to hold the answer.

No weight or threshold here is set by hand: `evals/fit.py` fits them on the RealTime QA
tuning split (2022-2023) and writes retrieval/data/answerer.json, which records the data,
split and score it was fitted on. When sources give different values for what was asked,
or one denies what another states, both are shown and attributed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np

from prompts import load as load_prompt

from .citations import Evidence, label_words, supports
from .features import (
    FEATURES,
    REPORTING,
    QuestionInfo,
    analyse_question,
    answer_spans,
    bm25,
    content_stems,
    instruction_spans,
    is_instruction,
    new_names,
    sentence_features,
    typed_values,
)
from .sentences import split_spans
from .text import NEGATIONS, STOPWORDS, content_terms, fold, stem, words
from .types import Passage, Sentence, Source, other_outlets

if TYPE_CHECKING:
    from .search import TermStats

# The one abstention sentence, shared with the LLM prompt (prompts/abstain.txt).
ABSTAIN_TEXT = load_prompt("abstain").strip()
MAX_SENTENCES = 3


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


@lru_cache(maxsize=1)
def default_model() -> AnswerModel:
    path = resources.files("retrieval") / "data" / "answerer.json"
    return AnswerModel.from_json(json.loads(path.read_text(encoding="utf-8")))


@dataclass
class Candidate:
    passage: Passage
    start: int
    end: int
    text: str
    features: dict[str, float] = field(default_factory=dict)
    score: float = 0.0  # the model's probability
    side_only: bool = False  # from a passage fetched only to find the other side of a claim


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
        marked = instruction_spans(p)
        for i, (s, e) in enumerate(split_spans(p.text)):
            text = p.text[s:e]
            if len(words(text)) < 3 or ((s, e) in marked if marked is not None else is_instruction(text)):
                continue
            if text.rstrip("\"'”’)] ").endswith("?"):
                continue  # a question (a quiz, a headline asking) never answers one
            content = content_stems(text)
            spans = answer_spans(text)
            names = new_names(question, spans)
            f = sentence_features(question, idf, text, p, context, title, max_bm25, spans, names, content)
            f["first_in_passage"] = float(i == 0)
            out.append(Candidate(p, p.start + s, p.start + e, text, f, side_only=p.id in side_ids))
            facts.append((content, names))
    # Sentence BM25 against the candidates' own average length; redundancy: an answer that several
    # retrieved passages state is more likely the answer.
    avg = sum(len(content) for content, _ in facts) / len(facts) if facts else 1.0
    texts = [fold(p.text) for p in passages]
    for c, (content, names) in zip(out, facts):
        c.features["bm25_sentence"] = bm25(question.terms, idf, content, max(avg, 1.0))
        if names and texts:
            share = max(sum(1 for t in texts if fold(n) in t) for n in names) / len(texts)
            c.features["redundancy"] = share
            c.features["redundancy_x_typed"] = share * c.features["cov_x_typed"]
    return out


def score(cands: list[Candidate], model: AnswerModel) -> None:
    for c, p in zip(cands, model.probabilities([c.features for c in cands])):
        c.score = float(p)


def extract(question: str, passages: list[Passage], stats: TermStats, model: AnswerModel | None = None,
            side_passages: Sequence[Passage] = ()) -> Draft:
    """Choose the answer sentences from the retrieved passages, or decide to abstain. Sentences of
    `side_passages` (none of them among `passages`) may only serve as the other side of a disagreement."""
    q = analyse_question(question)
    model = (model or default_model()).for_question(q)
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


def _negated(text: str) -> bool:
    return bool(set(words(text)) & NEGATIONS)


def _overlap(a: str, b: str) -> float:
    wa, wb = set(content_terms(a)), set(content_terms(b))
    return len(wa & wb) / min(len(wa), len(wb)) if wa and wb else 0.0


NAMED_OUTLETS = 3  # a story many outlets ran is attributed to the first few "and others"


def source_label(p: Passage) -> str:
    """How an answer names a source when it attributes: the outlet (with the outlets that ran the same
    story), else "one report" and its title."""
    if p.outlet:
        names = [p.outlet, *other_outlets(p.outlet, p.copies)]
        if len(names) == 1:
            return p.outlet
        if len(names) > NAMED_OUTLETS:
            return ", ".join(names[:NAMED_OUTLETS]) + " and others"
        return ", ".join(names[:-1]) + " and " + names[-1]
    first_line = p.title or ""
    return f"one report ({first_line})" if first_line else "one report"


def make_source(n: int, p: Passage) -> Source:
    """The one way a passage becomes a numbered source."""
    return Source(n=n, doc=p.doc, title=p.title, outlet=p.outlet, date=p.date, text=p.text, start=p.start,
                  end=p.end, url=p.url, chunk_id=p.id, kind=p.kind, copies=list(p.copies))


def compose(draft: Draft) -> tuple[str, list[Sentence], list[Source]]:
    """Number the cited passages in order of first use and write the answer with [n] markers."""
    sources: list[Source] = []
    numbers: dict[tuple[str, int, int], int] = {}

    def cite(c: Candidate) -> int:
        key = (c.passage.doc, c.passage.start, c.passage.end)
        if key not in numbers:
            numbers[key] = len(sources) + 1
            sources.append(make_source(numbers[key], c.passage))
        return numbers[key]

    sentences: list[Sentence] = []
    attribute = len({c.passage.doc for c in draft.picked}) > 1
    for c in draft.picked:
        n = cite(c)
        body = _attributed(c) if attribute else c.text
        sentences.append(Sentence(text=_as_sentence(body), citations=[n], supported=True))
    parts = [draft.lead] if draft.lead else []
    if draft.lead and sentences:
        parts.append(draft.connector)
    parts.extend(f"{_end_marker(s.text, s.citations)}" for s in sentences)
    return " ".join(parts), sentences, sources


def _attributed(c: Candidate) -> str:
    text = c.text
    if re.match(r"according to\b", text, re.I):
        return f"{source_label(c.passage)} reports that {text[0].lower()}{text[1:]}"
    first = text.split(" ", 1)[0]
    if first.lower() in STOPWORDS or first.lower() in {"the", "a", "an", "since", "in", "on", "as"}:
        text = text[0].lower() + text[1:]
    return f"According to {source_label(c.passage)}, {text}"


def _as_sentence(text: str) -> str:
    text = text.strip()
    return text if re.search(r"[.!?…][\"'”’»)\]]*$", text) else text + "."


def _end_marker(text: str, cites: list[int]) -> str:
    """Put the markers before the final punctuation: "… in Kursk [1]."."""
    marks = "".join(f"[{n}]" for n in cites)
    if re.search(r"[\"'”’»)\]]$", text):  # never inside a closing quote
        return f"{text} {marks}"
    m = re.search(r"([.!?…])$", text)
    if m:
        return f"{text[: m.start()]} {marks}{m.group(1)}"
    return f"{text} {marks}"


def check_support(sentences: list[Sentence], sources: list[Source]) -> None:
    """Mark each sentence supported or not by its cited sources, with the shared rule."""
    by_n = {s.n: Evidence(s.text, label_words(s.outlet, s.title, s.doc, (c.outlet for c in s.copies)))
            for s in sources}
    for s in sentences:
        s.supported = supports(s.text, [by_n[c] for c in s.citations if c in by_n])


__all__ = ["ABSTAIN_TEXT", "AnswerModel", "Candidate", "Draft", "FEATURES", "candidates", "check_support", "compose",
           "extract", "make_source", "score"]
