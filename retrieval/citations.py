"""Citation markers and the offline support rule, shared by the answerers and the eval harness.

Support rule (deterministic): a sentence is supported by a set of passages when
(1) at least SUPPORT_COVERAGE of its content words (stemmed, stopwords and the
cited sources' outlet/title words aside) occur in those passages, and (2) every
number it states occurs in them. Citation precision and recall follow ALCE
(Gao et al. 2023) with this rule in place of the NLI model.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .sentences import split_spans
from .text import content_terms, numbers

SUPPORT_COVERAGE = 0.7

# [1]  [1, 2]  [1][2]  【1】  [1-3]
MARKER = re.compile(r"\s*(?:\[\s*(\d+(?:\s*[-,–;]\s*\d+)*)\s*\]|【\s*(\d+(?:\s*[-,–;]\s*\d+)*)\s*】)")


@dataclass
class Evidence:
    """What a citation points to: the passage text, plus words that may name it (outlet, title)."""

    text: str
    label: str = ""


def label_words(outlet: str, title: str, doc: str, copy_outlets: Iterable[str] = (), extra: Iterable[str] = ()) -> str:
    """The words that may name a source: its outlet, title and id, and the outlets that ran copies of it
    (an answer attributes a syndicated story as "A, B and others"), plus any `extra` words the answer may add."""
    more = list(copy_outlets)
    return " ".join([outlet, title, doc, *more, "others" if more else "", *extra]).strip()


def support_score(sentence: str, evidence: Sequence[Evidence]) -> float:
    """Fraction of the sentence's content words found in the evidence (0 if a number is missing)."""
    terms = content_terms(strip_markers(sentence))
    if not terms:
        return 1.0 if evidence else 0.0
    body = " ".join(e.text for e in evidence)
    labels = " ".join(e.label for e in evidence)
    have = set(content_terms(body)) | set(content_terms(labels))
    if not numbers(strip_markers(sentence)) <= numbers(body) | numbers(labels):
        return 0.0
    return sum(1 for t in terms if t in have) / len(terms)


def supports(sentence: str, evidence: Sequence[Evidence]) -> bool:
    return bool(evidence) and support_score(sentence, evidence) >= SUPPORT_COVERAGE


def strip_markers(text: str) -> str:
    return MARKER.sub("", text).strip()


def _expand(group: str) -> list[int]:
    out: list[int] = []
    for part in re.split(r"\s*[,;]\s*", group.strip()):
        if re.fullmatch(r"\d+\s*[-–]\s*\d+", part):
            a, b = (int(x) for x in re.split(r"\s*[-–]\s*", part))
            if 0 < b - a < 20:
                out.extend(range(a, b + 1))
                continue
        out.extend(int(x) for x in re.findall(r"\d+", part))
    return out


def markers_in(text: str) -> list[int]:
    found: list[int] = []
    for m in MARKER.finditer(text):
        found.extend(_expand(m.group(1) or m.group(2)))
    return found


def split_cited(text: str) -> list[tuple[str, list[int]]]:
    """Answer text -> (sentence without markers, its citation numbers) in order.

    A marker written after the full stop ("… in Kursk. [2]") belongs to the sentence before it.
    """
    out: list[tuple[str, list[int]]] = []
    for s, e in split_spans(text):
        piece = text[s:e]
        lead = re.match(r"(?:\s*(?:\[[\d\s,;–-]+\]|【[\d\s,;–-]+】))+", piece)
        if lead and out:
            out[-1][1].extend(markers_in(lead.group(0)))
            piece = piece[lead.end():]
        body = strip_markers(piece)
        cites = markers_in(piece)
        if body and re.search(r"\w", body):
            out.append((re.sub(r"\s+([.,;:!?])", r"\1", body), cites))
        elif cites and out:
            out[-1][1].extend(cites)
    return [(s, _unique(c)) for s, c in out]


def _unique(xs: Iterable[int]) -> list[int]:
    seen: list[int] = []
    for x in xs:
        if x not in seen:
            seen.append(x)
    return seen


def citation_scores(sentences: Sequence[tuple[str, list[int]]], evidence: dict[int, Evidence],
                    supported_by: Callable[[str, Sequence[Evidence]], bool] | None = None) -> dict[str, Any]:
    """ALCE citation recall and precision over an answer's sentences.

    Recall: a sentence counts when it cites at least one source and its cited sources together
    support it. Precision: a citation counts when its sentence is supported by all its citations
    and the citation is not redundant (it supports the sentence alone, or the others do not).
    `supported_by` decides support: the offline rule by default, or a judge with the same signature
    (evals.judge).
    """
    check = supported_by or supports
    recalled, n_sent, precise, n_cites = 0, 0, 0, 0
    per_sentence = []
    for text, cites in sentences:
        n_sent += 1
        ev = [evidence[c] for c in cites if c in evidence]
        ok = bool(cites) and check(text, ev)
        recalled += ok
        good = 0
        for c in cites:
            n_cites += 1
            if not ok or c not in evidence:
                continue
            alone = check(text, [evidence[c]])
            rest = [evidence[o] for o in cites if o != c and o in evidence]
            if alone or not check(text, rest):
                good += 1
        precise += good
        per_sentence.append({"text": text, "citations": list(cites), "supported": ok})
    return {
        "citation_recall": recalled / n_sent if n_sent else 0.0,
        "citation_precision": precise / n_cites if n_cites else 0.0,
        "sentences": per_sentence,
    }
