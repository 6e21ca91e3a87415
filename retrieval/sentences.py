"""Sentence spans with offsets, because citations point at exact characters.

Hand-written rather than nltk/pysbd: punkt needs a data download and pysbd drops
offsets on some inputs; news prose needs only abbreviations, initials, decimals
and quotes handled.
"""

from __future__ import annotations

import re

ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "gen", "lt", "col", "sgt", "capt", "maj", "adm", "cmdr",
    "gov", "sen", "rep", "pres", "st", "jr", "sr", "no", "vs", "etc", "inc", "ltd", "co", "corp",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
    "e.g", "i.e", "u.s", "u.k", "u.n", "a.m", "p.m", "approx", "est", "dept", "fig",
}
# A candidate boundary: terminal punctuation, optional closing quotes/brackets, then space.
_BOUNDARY = re.compile(r"[.!?…]+[\"'”’»)\]]*(?=\s+|$)")
_NEXT_STARTS_SENTENCE = re.compile(r"\s+[\"'“‘«(\[]*[A-Z0-9А-ЯЁІЇЄ]")


def split_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """(start, end) offsets of the sentences in text[start:end], whitespace trimmed."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    # Line breaks always end a sentence: headings, captions and list items have no full stop.
    for line in re.finditer(r"[^\n]+", text[start:end]):
        ls, le = start + line.start(), start + line.end()
        cursor = ls
        for m in _BOUNDARY.finditer(text, ls, le):
            cut = m.end()
            if not _is_boundary(text, m.start(), cut, le):
                continue
            _add(spans, text, cursor, cut)
            cursor = cut
        _add(spans, text, cursor, le)
    return spans


def _is_boundary(text: str, punct: int, cut: int, line_end: int) -> bool:
    if cut >= line_end:
        return True
    if not _NEXT_STARTS_SENTENCE.match(text, cut, line_end):
        return False
    if text[punct] != ".":
        return True
    word = re.search(r"([\w.]+)$", text[max(0, punct - 12) : punct])
    token = word.group(1).lower() if word else ""
    if token in ABBREVIATIONS or token.rstrip(".") in ABBREVIATIONS:
        return False
    if len(token) == 1 and token.isalpha():  # an initial: "Valery V. Gerasimov"
        return False
    return True


def _add(spans: list[tuple[int, int]], text: str, s: int, e: int) -> None:
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    if e > s:
        spans.append((s, e))


def split(text: str) -> list[str]:
    return [text[s:e] for s, e in split_spans(text)]
