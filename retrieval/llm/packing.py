"""Context packing: the retrieved passages, best first, in the prompt's token budget, capped by the model's
window (the prompt and the longest answer together must fit)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..types import Passage
from .prompts import source_block, system_prompt, user_prompt

if TYPE_CHECKING:
    from tiktoken import Encoding

    from ..config import LLMSettings

# The served model's tokenizer is not cl100k: SmolLM2's counts ~10% more on the bundled corpus.
# Prompt tokens are scaled by this factor when checking the model's window.
WINDOW_SAFETY = 1.15
# Chat formats add a few tokens per message (role markers) and to prime the reply.
TOKENS_PER_MESSAGE = 4
REPLY_PRIMER = 3
MIN_SOURCE_TOKENS = 48  # below this no passage fits usefully: fall back instead of asking

@dataclass
class Packed:
    """A passage as put in the prompt, under its prompt number `n` (text may be cut to fit)."""

    n: int
    passage: Passage
    text: str
    start: int
    end: int
    block: str
    tokens: int


def source_budget(settings: LLMSettings, question: str) -> int:
    """Tokens left for the source block: the configured budget, capped by the model's window."""
    from ..chunking import count_tokens

    # The two messages `build_messages(question, [])` would send.
    overhead = sum(count_tokens(text) + TOKENS_PER_MESSAGE for text in (system_prompt(), user_prompt(question, [])))
    overhead += REPLY_PRIMER
    room = int((settings.window_tokens - settings.max_answer_tokens) / WINDOW_SAFETY) - overhead
    return int(min(settings.context_tokens, room))


def pack_context(passages: Sequence[Passage], budget: int) -> list[Packed]:
    """Best passages first (retrieved order) while they fit `budget` tokens; a passage that doesn't
    fit is skipped for smaller ones after it. If even the best one doesn't fit alone, it is cut
    at a sentence boundary (its offsets follow the cut)."""
    from ..chunking import count_tokens, encoding

    packed: list[Packed] = []
    used = 0
    seen: set[tuple[str, int, int]] = set()
    for p in passages:
        key = (p.doc, p.start, p.end)
        if key in seen or not p.text.strip():
            continue
        n = len(packed) + 1
        block = source_block(n, p)
        t = count_tokens(block + "\n")
        if used + t <= budget:
            packed.append(Packed(n, p, p.text, p.start, p.end, block, t))
            used += t
            seen.add(key)
        elif not packed:
            cut = _cut_to_fit(p, n, budget, count_tokens, encoding)
            if cut:
                packed.append(cut)
                used += cut.tokens
                seen.add(key)
    # Joining can merge tokens across blocks; make sure the whole block really fits.
    while packed and count_tokens("\n".join(x.block for x in packed)) > budget:
        packed.pop()
    return packed


def _cut_to_fit(p: Passage, n: int, budget: int, count_tokens: Callable[[str], int],
                encoding: Callable[[], Encoding]) -> Packed | None:
    from ..sentences import split_spans

    frame = count_tokens(source_block(n, p, "")) + 1
    room = budget - frame
    if room < 16:
        return None
    end = 0
    for _s, e in split_spans(p.text):
        if count_tokens(p.text[:e]) > room:
            break
        end = e
    if end == 0:  # a single sentence longer than the budget: cut at a token boundary
        ids = encoding().encode(p.text, disallowed_special=())[:room]
        end = len(encoding().decode(ids))
        while end > 0 and count_tokens(p.text[:end]) > room:
            end -= 1
    text = p.text[:end].rstrip()
    if not text:
        return None
    block = source_block(n, p, text)
    return Packed(n, p, text, p.start, p.start + len(text), block, count_tokens(block + "\n"))
