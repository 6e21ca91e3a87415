"""Writing the answer: numbering the cited passages in order of first use, attributing sentences when
several sources speak, and marking each sentence supported or not by what it cites (the shared rule in
retrieval/citations.py)."""

from __future__ import annotations

import re

from ..citations import Evidence, label_words, supports
from ..text import STOPWORDS
from ..types import Passage, Sentence, Source, other_outlets
from .candidates import Candidate
from .policy import Draft
from .question import NUMBER_WORDS
from .stance import named_speaker

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
    attribute = draft.attribute or len({c.passage.doc for c in draft.picked}) > 1
    for i, c in enumerate(draft.picked):
        n = cite(c)
        # '"…," she said' is given the name the sentence before it says "she" is
        who, text = named_speaker(c.text, c.speaker_prev)
        # Who claims what: a claim or denial names its speaker where the sentence does; figures, dates and names
        # that differ, or agree, are each given with the source that reports them.
        by_speaker = c.side in ("claim", "denial") and who
        body = text if not attribute or by_speaker else _attributed(c, text)
        if i == 0 and draft.lead_in:
            body = draft.lead_in + body
        sentences.append(Sentence(text=as_sentence(body), citations=[n], supported=True, side=c.side,
                                  speaker=who or source_label(c.passage)))
    parts = [draft.lead] if draft.lead else []
    if draft.lead and sentences:
        parts.append(draft.connector)
    parts.extend(f"{end_marker(s.text, s.citations)}" for s in sentences)
    if draft.contested:  # each side on a line of its own, in the CLI, in Discord and in --json alike
        return "\n".join(parts), sentences, sources
    return " ".join(parts), sentences, sources


def _attributed(c: Candidate, text: str) -> str:
    if re.match(r"according to\b", text, re.I):
        return f"{source_label(c.passage)} reports that {text[0].lower()}{text[1:]}"
    first = text.split(" ", 1)[0]
    # "According to X, the …", "According to X, forty-one people …": a common word that only opened the sentence
    if (first.lower() in STOPWORDS or first.lower() in {"the", "a", "an", "since", "in", "on", "as"}
            or first.lower().split("-")[0] in NUMBER_WORDS or _capital_only_opening(text, c.passage.text)):
        text = text[0].lower() + text[1:]
    return f"According to {source_label(c.passage)}, {text}"


def _capital_only_opening(text: str, passage: str) -> bool:
    """The sentence's first word is a word capitalised only for opening it ("Campaigners have …"): the next word is
    in lower case and the passage writes the word in lower case elsewhere, never capitalised mid-sentence. (An
    English word list alone would not do: the uncased vocabulary holds "putin" and "ukraine".)"""
    ws = text.split()
    first = ws[0].strip("\"“‘'")
    if len(ws) < 2 or not first.isalpha() or not ws[1][:1].islower():
        return False
    if not re.search(rf"\b{re.escape(first.lower())}\b", passage):
        return False
    for m in re.finditer(rf"\b{re.escape(first)}\b", passage):
        before = passage[: m.start()].rstrip()
        if before and before[-1] not in ".!?\"“”'‘’:\n":
            return False  # capitalised mid-sentence: a name
    return True


def as_sentence(text: str) -> str:
    text = text.strip()
    return text if re.search(r"[.!?…][\"'”’»)\]]*$", text) else text + "."


def end_marker(text: str, cites: list[int]) -> str:
    """Put the markers before the final punctuation: "… in Kursk [1]."."""
    marks = "".join(f"[{n}]" for n in cites)
    if re.search(r"[\"'”’»)\]]$", text):  # never inside a closing quote
        return f"{text} {marks}"
    m = re.search(r"([.!?…])$", text)
    if m:
        return f"{text[: m.start()]} {marks}{m.group(1)}"
    return f"{text} {marks}"


LEADS = ("Disputed", "Sources differ", "Yes", "No")  # the words a two-sided or agreed answer opens with


def check_support(sentences: list[Sentence], sources: list[Source]) -> None:
    """Mark each sentence supported or not by its cited sources, with the shared rule (the opening words of a
    two-sided answer count as the answer's own, not as a claim about the passage)."""
    by_n = {s.n: Evidence(s.text, label_words(s.outlet, s.title, s.doc, (c.outlet for c in s.copies), LEADS))
            for s in sources}
    for s in sentences:
        s.supported = supports(s.text, [by_n[c] for c in s.citations if c in by_n])


