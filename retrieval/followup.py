"""Follow-up questions without a language model: "And did the Ukrainians agree with him?" after a
question about Gerasimov is searched for with the previous turn's names added.

Only general English is used: personal and demonstrative pronouns, and the shape of names.
"""

from __future__ import annotations

from .answerer.question import answer_spans
from .text import words

PRONOUNS = frozenset("he she they him her them his hers their theirs it its this that these those there then "
                     "he's she's they're it's".split())


def needs_context(question: str) -> bool:
    """A question that leans on an earlier turn: it refers back with a pronoun, or starts with "and"/"but"/"so"."""
    ws = words(question)
    return bool(ws) and (ws[0] in {"and", "but", "so", "also"} or any(w in PRONOUNS for w in ws))


def contextual_query(question: str, previous: str | None) -> str:
    """The text to search and answer with: the question, plus the names of the previous turn
    (its question and answer) when the question leans on it. Names already in the question are not repeated."""
    if not previous or not needs_context(question):
        return question
    have = {w for w in words(question)}
    names = []
    for n in answer_spans(previous)["name"]:
        if n.lower() not in have and n not in names and not any(w in have for w in words(n)):
            names.append(n)
    return f"{question} ({', '.join(names[:6])})" if names else question
