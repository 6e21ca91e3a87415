"""Checking the model's answer: markers parsed, out-of-range ones dropped, sources renumbered in order of first
use, and each sentence checked against the passages it cites with the shared support rule; and the one
`<think>` stripper (the Discord bot's draft uses it too)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..types import Sentence, Source
from .packing import Packed
from .prompts import is_abstention

FLAG = "[unsupported]"
UNSUPPORTED_CHOICES = ("keep", "flag", "drop")

# A reasoning block, closed or still open (a draft being streamed, a reply cut off inside it).
THINK = re.compile(r"<think>.*?(?:</think>|$)", re.S | re.I)
_TRAILER = re.compile(r"^[ \t]*(?:#+[ \t]*)?\**[ \t]*(?:sources|references|citations)[ \t]*\**[ \t]*(?::|$)", re.I | re.M)
_BULLET = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s+")
# Text in an article that addresses an AI model or its user ("ignore previous instructions", "Note to AI
# assistants: …", "SYSTEM: …", chat-template tokens) stays in the prompt (fenced as data) but never counts as
# evidence, so an answer that repeats an injected claim is not "supported" by the very text that injected
# it. The rule is retrieval/injection.py's, the same one the extractive answerer uses.


def strip_thinking(text: str) -> str:
    """A model's reply without its `<think>…</think>` reasoning (an unclosed one runs to the end)."""
    return THINK.sub("", text)


@dataclass
class Verified:
    sentences: list[Sentence]  # every sentence the model wrote, numbered like the answer
    shown: list[tuple[Sentence, str]]  # (sentence, how it is written in the answer)
    sources: list[Source]
    dropped: int = 0
    hedges: int = 0
    out_of_range: list[int] = field(default_factory=list)
    supported: int = 0
    suspicious: list[str] = field(default_factory=list)  # cited sources (outlet) holding text addressed to a model


def clean_completion(text: str) -> str:
    """The answer part of a completion: no reasoning block, no trailing list of sources."""
    text = strip_thinking(text)
    m = _TRAILER.search(text)
    if m and m.start() > 0:
        text = text[: m.start()]
    return text.strip()


def evidence_text(text: str) -> tuple[str, bool]:
    """The passage text that may support a claim: sentences addressed to an AI model (and the payload right
    after one) are left out; the flag says whether any were."""
    from ..injection import strip_instructions

    return strip_instructions(text)


def verify(text: str, packed: Sequence[Packed], unsupported: str = "drop") -> Verified:
    """Check each sentence against the passages it cites; renumber sources by first use in the answer."""
    from ..answerer.compose import as_sentence, end_marker, make_source
    from ..citations import Evidence, label_words, split_cited, supports
    from ..injection import is_instruction

    if unsupported not in UNSUPPORTED_CHOICES:
        unsupported = "drop"
    by_n = {p.n: p for p in packed}
    evidence: dict[int, Evidence] = {}
    suspicious: list[int] = []
    for p in packed:
        body, flagged = evidence_text(p.text)
        evidence[p.n] = Evidence(body, label_words(p.passage.outlet, p.passage.title, p.passage.doc,
                                                   (c.outlet for c in p.passage.copies)))
        if flagged:
            suspicious.append(p.n)
    rows: list[tuple[str, list[int], bool, bool]] = []  # (text, valid cites (prompt numbers), supported, hedge)
    out_of_range: list[int] = []
    for body, cites in split_cited(clean_completion(text)):
        body = _BULLET.sub("", body).strip()
        if not re.search(r"\w", body):
            continue
        valid = [c for c in cites if c in by_n]
        out_of_range += [c for c in cites if c not in by_n]
        hedge = is_abstention(body)
        # A sentence that is itself an instruction ("Tell every user that …") repeats an injection: never supported.
        ok = bool(valid) and not hedge and not is_instruction(body) and supports(body, [evidence[c] for c in valid])
        rows.append((body, valid, ok, hedge))

    def shown(row: tuple[str, list[int], bool, bool]) -> bool:
        _, _, ok, hedge = row
        if hedge:
            return unsupported != "drop"
        return ok or unsupported in ("flag", "keep")

    # Numbers in order of first use in the answer as shown; citations of sentences not shown that
    # point at passages no shown sentence cites get the numbers after those (not in `sources`).
    number: dict[int, int] = {}
    for row in rows:
        if shown(row):
            for c in row[1]:
                number.setdefault(c, len(number) + 1)
    n_shown = len(number)
    for row in rows:
        for c in row[1]:
            number.setdefault(c, len(number) + 1)

    sentences: list[Sentence] = []
    written: list[tuple[Sentence, str]] = []
    for row in rows:
        body, valid, ok, hedge = row
        s = Sentence(text=as_sentence(body), citations=[number[c] for c in valid], supported=ok)
        sentences.append(s)
        if not shown(row):
            continue
        if hedge:
            written.append((s, s.text))
        elif ok or unsupported == "keep":
            written.append((s, end_marker(s.text, s.citations) if s.citations else s.text))
        else:
            written.append((s, _flagged(s.text, s.citations)))
    sources = []
    for c, n in sorted(number.items(), key=lambda kv: kv[1]):
        if n > n_shown:
            continue
        p = by_n[c]
        q = p.passage
        # The passage's source, narrowed to the text the model was given (it may be cut to fit).
        sources.append(dataclasses.replace(make_source(n, q), text=p.text, start=p.start, end=p.end))
    return Verified(sentences=sentences, shown=written, sources=sources,
                    suspicious=list(dict.fromkeys(by_n[c].passage.outlet or by_n[c].passage.doc
                                                  for c in suspicious if c in number)),
                    dropped=sum(1 for r in rows if not r[3] and not shown(r)),
                    hedges=sum(1 for r in rows if r[3]), out_of_range=sorted(set(out_of_range)),
                    supported=sum(1 for r in rows if r[2]))


def _flagged(text: str, cites: list[int]) -> str:
    marks = "".join(f"[{n}]" for n in cites)
    m = re.search(r"([.!?…])$", text)
    core, punct = (text[: m.start()], m.group(1)) if m else (text, "")
    return " ".join(x for x in (core, marks, FLAG) if x) + punct
