"""The typed values that cross module boundaries: articles, chunks, passages, answers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Article:
    """A document as loaded: `text` is the exact text every offset points into."""

    doc: str
    text: str
    title: str = ""
    outlet: str = ""
    date: str = ""
    author: str = ""
    url: str = ""
    path: str = ""


@dataclass
class Chunk:
    """A retrievable span of an article; `start`/`end` index into `Article.text`."""

    id: str
    doc: str
    text: str
    start: int
    end: int
    kind: str = "body"  # "body", "caption" or "heading"
    ordinal: int = 0


@dataclass
class Copy:
    """Another outlet's copy of a passage's article (the same wire story, the same facts)."""

    doc: str
    outlet: str
    title: str = ""
    date: str = ""
    url: str = ""


def other_outlets(outlet: str, copies: list[Copy]) -> list[str]:
    """The other outlets that ran an article, each once, in the copies' order (nameless copies left out)."""
    return list(dict.fromkeys(c.outlet for c in copies if c.outlet and c.outlet != outlet))


@dataclass
class Passage:
    """A chunk returned by search, with its article's metadata and its scores."""

    id: str
    doc: str
    text: str
    start: int
    end: int
    kind: str
    title: str
    outlet: str
    date: str
    url: str = ""
    dense: float = 0.0  # cosine similarity to the question, 0 when not from dense search
    bm25: float = 0.0
    score: float = 0.0  # fused (RRF) score
    rank: int = 0
    ann: str = ""  # per-sentence annotations made at ingest (JSON; retrieval/annotate.py)
    copies: list[Copy] = field(default_factory=list)  # other outlets that ran the same article


@dataclass
class Source:
    """One numbered source of an answer: the exact passage cited, with where it lives."""

    n: int
    doc: str
    title: str
    outlet: str
    date: str
    text: str
    start: int
    end: int
    url: str = ""
    chunk_id: str = ""
    kind: str = "body"  # "caption" and "meta" (byline, dateline) are shown as such
    copies: list[Copy] = field(default_factory=list)  # the same article as other outlets ran it


@dataclass
class Sentence:
    """A sentence of an answer with the source numbers it cites and whether they support it."""

    text: str
    citations: list[int]
    supported: bool
    side: str = ""  # in a two-sided answer: "claim", "denial", or the value this sentence gives
    speaker: str = ""  # who the sentence says is speaking, else the source's outlet


@dataclass
class Answer:
    """What `answer()` returns; `to_dict()` is the `ask --json` shape."""

    question: str
    answer: str
    abstained: bool
    sources: list[Source]
    sentences: list[Sentence]
    mode: str = "extractive"
    confidence: float = 0.0  # the answerer's calibrated probability that its answer is right
    contested: bool = False  # the sources disagree: the answer gives each side, attributed and cited
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    retrieved: list[Passage] = field(default_factory=list)

    def to_dict(self, include_retrieved: bool = False) -> dict[str, Any]:
        data = asdict(self)
        if not include_retrieved:
            data.pop("retrieved")
        return data
