"""Text addressed to an AI model rather than to readers ("Ignore previous instructions…", "SYSTEM:"): marked at
ingest in each chunk's annotations, and never quoted as an answer.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .types import Passage

# Text addressed to an AI model rather than to readers: never quoted as an answer.
INSTRUCTION = re.compile(r"\b(ignore|disregard|forget) (all |any |the )?(previous|prior|above|earlier) "
                         r"(instructions|prompts?|rules|messages)\b|^\s*(system|assistant)\s*:|\byou are now\b|"
                         r"\bas an ai( language)? model\b|\bnew instructions\s*:", re.I | re.M)


def is_instruction(text: str) -> bool:
    return bool(INSTRUCTION.search(text))


def annotate(chunk_text: str) -> str:
    """What ingest stores with a chunk for the answerer (JSON): the sentence spans that read as
    instructions to an AI model, which are never quoted as an answer. "{}" means checked and clean."""
    from .sentences import split_spans

    bad = [[s, e] for s, e in split_spans(chunk_text) if is_instruction(chunk_text[s:e])]
    return json.dumps({"instructions": bad}, separators=(",", ":")) if bad else "{}"


def instruction_spans(passage: Passage) -> set[tuple[int, int]] | None:
    """The spans ingest marked in this passage, or None if it was stored without annotations."""
    if not passage.ann:
        return None
    try:
        return {(s, e) for s, e in json.loads(passage.ann).get("instructions", [])}
    except (ValueError, TypeError):
        return None
