"""Candidate answer sentences: every sentence of the retrieved passages that could be quoted as an answer."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..injection import passage_spans
from ..sentences import split_spans
from ..text import fold, odd_quotes, words
from ..types import Passage

MIN_WORDS = 3
# A related-story link as news pages print it, a label then the linked headline with no space after the colon
# ("More:What does it take …", "Watch live:Tribute service …", "Who is Nikki Haley?:Former S.C"), or a label in
# capitals ("READ MORE: Delaware lawmakers consider …", "RELATED: …", "PLAYOFF OUTLOOK: …"): no answer.
LINK_LINE = re.compile(r"^.{0,80}?[a-z?!'’\")]:[A-Z]|^[A-Z][A-Z'’&-]+(?: [A-Z0-9'’&-]+){0,4}:\s*\S")


@dataclass
class Candidate:
    """A sentence of a retrieved passage; `start`/`end` index into the article, `prev` is the sentence
    before it in the same passage ("" for the first)."""

    passage: Passage
    start: int
    end: int
    text: str
    prev: str = ""
    position: int = 0  # the sentence's index in its passage
    side_only: bool = False  # from a passage fetched only to find the other side of a claim
    cosine: float = 0.0  # the scorer's similarity to the question
    features: dict[str, float] = field(default_factory=dict)
    score: float = 0.0  # the answer model's probability that it states the answer
    side: str = ""  # in a two-sided answer: "claim", "denial", or the value it gives
    # the sentence a "he said"/"she said" here looks back to for a name: `prev`, or, in a quotation opened in an
    # earlier sentence, the sentence before the one that opened it
    speaker_prev: str = ""

    def __post_init__(self) -> None:
        if not self.speaker_prev:
            self.speaker_prev = self.prev


def split_candidates(passages: Sequence[Passage], side_passages: Sequence[Passage] = ()) -> list[Candidate]:
    """The usable sentences of the passages, in passage order. Left out: very short ones, questions (a
    quiz or a headline that asks never answers one), related-story links (`LINK_LINE`), and text addressed
    to an AI model rather than to readers (marked at ingest in each chunk's annotations)."""
    side_ids = {p.id for p in side_passages}
    out: list[Candidate] = []
    for p in list(passages) + [p for p in side_passages if p.id not in {q.id for q in passages}]:
        marked = passage_spans(p)
        prev = ""
        opened_after: str | None = None  # inside a quotation: the sentence before the one that opened it
        for i, (s, e) in enumerate(split_spans(p.text)):
            text = p.text[s:e]
            looks_back = prev if opened_after is None else opened_after
            if odd_quotes(text):  # opens a quotation it does not close, or closes one
                opened_after = prev if opened_after is None else None
            if (len(words(text)) < MIN_WORDS or (s, e) in marked or text.rstrip("\"'”’)] ").endswith("?")
                    or LINK_LINE.match(text)):
                prev = text
                continue
            out.append(Candidate(p, p.start + s, p.start + e, text, prev, i, side_only=p.id in side_ids,
                                 speaker_prev=looks_back))
            prev = text
    return out


def headline(c: Candidate) -> bool:
    """The sentence is a headline (the article's title, a heading, or a line without closing punctuation): it
    sums a story up rather than stating one fact of it, and the body's sentence saying the same is the one to cite."""
    text = c.text.strip()
    return (c.passage.kind == "heading" or fold(text) == fold(c.passage.title)
            or not text.endswith((".", "!", "?", '"', "”", "’", "'", ")")))
