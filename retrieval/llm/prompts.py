"""The prompts of LLM mode, from the text files in retrieval/prompts/, and the fences that keep untrusted text
(articles, earlier answers, questions) inert inside them."""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..types import Passage

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionMessageParam


def prompt(name: str) -> str:
    """A prompt file by name (`answer_system`, `rewrite`, …), without its surrounding blank lines."""
    from ..prompts import load

    return load(name).strip("\n")


def fill(template: str, **values: object) -> str:
    """Replace `{name}` for the given names only; other braces and the values stay as they are."""
    return re.sub(r"\{(\w+)\}", lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0),
                  template)


def abstain_phrase() -> str:
    """The abstention sentence the model is told to use: the file answerer.ABSTAIN_TEXT is read from."""
    return prompt("abstain").strip()


def _norm(text: str) -> str:
    t = text.lower().replace("’", "'").replace("‘", "'")
    t = re.sub(r"\b(do|does|did|is|are|can) not\b", r"\1n't", t)
    t = re.sub(r"\bcannot\b", "can't", t)
    return " ".join(re.findall(r"[\w']+", t))


def is_abstention(sentence: str) -> bool:
    """True when a sentence is (or contains) the prompt's fixed abstain phrase."""
    phrase = _norm(abstain_phrase())
    return bool(phrase) and phrase in _norm(sentence)


def system_prompt() -> str:
    return fill(prompt("answer_system"), abstain=abstain_phrase())


@functools.cache
def fence_names() -> frozenset[str]:
    """Every tag used as a fence in `retrieval/prompts/*.txt` (`sources`, `source`, `conversation`, …), read
    from the files, so a fence added to a prompt is escaped without anyone remembering to list it."""
    from importlib import resources

    names: set[str] = set()
    for f in resources.files("retrieval.prompts").iterdir():
        if f.name.endswith(".txt"):
            names |= {m.lower() for m in re.findall(r"</\s*([A-Za-z][\w-]*)\s*>", f.read_text(encoding="utf-8"))}
    return frozenset(names)


@functools.cache
def _fence_tag() -> re.Pattern[str]:
    names = sorted(fence_names() | {"source", "sources"}, key=len, reverse=True)
    return re.compile(r"<(\s*/?\s*(?:" + "|".join(map(re.escape, names)) + r")\b)", re.I)


def neutralise(text: str) -> str:
    """Untrusted text as inert data: no opening or closing tag of any prompt fence inside it (`</sources>`,
    `</conversation>`, `<source n=…>`) can close a fence or open a fake one; its `<` becomes `&lt;`."""
    return _fence_tag().sub(r"&lt;\1", text)


def _attr(value: str) -> str:
    return html.escape(" ".join((value or "").split()), quote=True)


def source_block(n: int, p: Passage, text: str | None = None) -> str:
    return fill(prompt("answer_source"), n=n, outlet=_attr(p.outlet), title=_attr(p.title), date=_attr(p.date),
                kind=_attr(p.kind or "body"), text=neutralise(text if text is not None else p.text).strip())


def user_prompt(question: str, blocks: Sequence[str]) -> str:
    sources = fill(prompt("answer_sources"), sources="\n".join(blocks))
    ask = fill(prompt("answer_question"), question=neutralise(question), abstain=abstain_phrase())
    return f"{sources}\n\n{ask}"


def build_messages(question: str, blocks: Sequence[str]) -> list[ChatCompletionMessageParam]:
    return [{"role": "system", "content": system_prompt()},
            {"role": "user", "content": user_prompt(question, blocks)}]
