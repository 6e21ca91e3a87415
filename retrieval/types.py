"""The typed values that cross module boundaries: articles, chunks, passages, answers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal


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
class Skipped:
    """A file, one item of a feed (`line` set), or a URL left out of an ingest, and why."""

    path: str
    reason: str
    line: int | None = None

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass
class WebStats:
    """What one round of URL loading did: pages and feeds fetched, answered 304, or read from the cache."""

    fetched: int = 0
    not_modified: int = 0
    cached: int = 0


@dataclass
class Loaded:
    """Articles loaded from files, folders and URLs, what was skipped and why, and the URL round's counts."""

    articles: list[Article] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    web: WebStats = field(default_factory=WebStats)


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
    """The other outlets that ran an article, each once, in the copies' order (nameless copies left out): the
    one "also ran in" rule of the CLI, the Discord bot and the answer's attributions."""
    return list(dict.fromkeys(c.outlet for c in copies if c.outlet and c.outlet != outlet))


def source_heading(outlet: str, title: str, doc: str) -> str:
    """How a listing names an article (a source of an answer, an indexed record): "outlet — title", either one
    alone when the other is missing, else its document id. (An answer's own attribution, "According to …",
    is `retrieval.answerer.compose.source_label`.)"""
    label = " — ".join(x for x in (" ".join((outlet or "").split()), " ".join((title or "").split())) if x)
    return label or doc


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


FallbackReason = Literal["failed", "truncated", "no_room", "no_passages", "abstained", "unsupported", "empty"]


@dataclass
class Fallback:
    """Why an LLM-mode answer is the extractive one (or an abstention) instead of the model's.

    `reason`: "failed" (the endpoint failed: a fault after the retries, a refusal, the deadline), "truncated"
    (cut off at NEWSQA_LLM_MAX_ANSWER_TOKENS), "no_room" (the window leaves no room for sources), "no_passages"
    (nothing to give the model), or what the check made of the model's reply: "abstained" (it said the sources
    don't answer), "unsupported" (no sentence of it is supported), "empty" (it held no sentence).
    `detail`: the same for people, as the note says it."""

    reason: FallbackReason
    detail: str


@dataclass
class Answer:
    """What `answer()` returns; `to_dict()` is the `ask --json` shape. `notes` are for people; code reads the
    typed fields (`mode`, `abstained`, `contested`, `fallback`, `bootstrapped`)."""

    question: str
    answer: str
    abstained: bool
    sources: list[Source]
    sentences: list[Sentence]
    mode: str = "extractive"
    confidence: float = 0.0  # the answerer's calibrated probability that its answer is right
    contested: bool = False  # the sources disagree: the answer gives each side, attributed and cited
    fallback: Fallback | None = None  # LLM mode: why the model's answer is not the one shown (None: it is, or extractive mode)
    bootstrapped: bool = False  # this question found a new data dir and loaded the bundled demo corpus into it first
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    retrieved: list[Passage] = field(default_factory=list)

    def to_dict(self, include_retrieved: bool = False) -> dict[str, Any]:
        data = asdict(self)
        if not include_retrieved:
            data.pop("retrieved")
        return data
