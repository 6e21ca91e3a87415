"""The LLM-mode answer: pack, prompt, call, verify, and the honest ending when the model's answer can't be
shown (`Answer.fallback` says why); and follow-up questions rewritten as standalone ones (the Discord bot)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ..errors import ConfigError, LLMError
from ..types import Answer, Fallback, FallbackReason, Passage
from .client import LLMClient, require_llm_config, short_text
from .packing import MIN_SOURCE_TOKENS, pack_context, source_budget
from .prompts import build_messages, fill, is_abstention, neutralise, prompt
from .verify import FLAG, clean_completion, verify

if TYPE_CHECKING:
    from ..config import LLMSettings


def llm_answer(settings: LLMSettings, question: str, passages: Sequence[Passage], extractive: Answer,
               timings: dict[str, float], on_token: Callable[[str], None] | None = None, *,
               client: LLMClient | None = None) -> Answer:
    """The LLM-mode answer for `question`, verified; falls back to `extractive` on any failure. `client`: the
    endpoint (default: one for `settings`)."""
    require_llm_config(settings)
    client = client if client is not None else LLMClient(settings)
    t = time.perf_counter()
    deadline = time.monotonic() + settings.deadline  # one deadline for the whole answer
    result = _llm_answer(settings, client, question, passages, extractive, timings, on_token, deadline)
    timings["llm"] = time.perf_counter() - t
    result.timings = timings  # the engine's dict: it adds "total" after this returns
    return result


def _llm_answer(settings: LLMSettings, client: LLMClient, question: str, passages: Sequence[Passage],
                extractive: Answer, timings: dict[str, float], on_token: Callable[[str], None] | None,
                deadline: float | None = None) -> Answer:
    from ..answerer import ABSTAIN_TEXT

    budget = source_budget(settings, question)
    if budget < MIN_SOURCE_TOKENS:
        return _fallback(extractive, "no_room", f"the model's window (NEWSQA_LLM_WINDOW_TOKENS="
                                                f"{settings.window_tokens}) leaves no room for sources")
    packed = pack_context(passages, budget)
    if not packed:
        # Nothing to answer from: asking the model could only produce unsupported text.
        return _fallback(extractive, "no_passages", "no passage to give the model")
    messages = build_messages(question, [x.block for x in packed])
    try:
        done = client.complete(messages, max_tokens=settings.max_answer_tokens, on_token=on_token, deadline=deadline)
    except LLMError as exc:
        tries = f"; {exc.attempts} attempts" if exc.attempts > 1 else ""
        return _fallback(extractive, "failed", f"the language model failed ({exc.reason}{tries})")
    if done.first_token is not None:
        timings["llm_first_token"] = done.first_token
    if done.truncated:
        # Cut off at max_tokens: what it wrote is not a complete answer, so it isn't shown as one.
        return _fallback(extractive, "truncated", f"the model's answer was cut off at {settings.max_answer_tokens} "
                                                  "tokens (NEWSQA_LLM_MAX_ANSWER_TOKENS)")

    v = verify(done.text, packed, settings.unsupported)
    notes: list[str] = []
    if done.attempts > 1:
        notes.append(f"the model answered on attempt {done.attempts}")
    if v.suspicious:
        notes.append("a cited source (" + ", ".join(v.suspicious) + ") contains text addressed to an AI model "
                     "(possible prompt injection); that text is not counted as evidence")
    if v.out_of_range:
        notes.append("removed citations of sources that were not given: " + ", ".join(f"[{c}]" for c in v.out_of_range))

    if v.supported == 0:
        reason: FallbackReason
        if v.hedges and v.hedges == len(v.sentences):
            reason, why = "abstained", "the model said the sources don't answer this"
        elif v.sentences:
            reason, why = "unsupported", "none of the model's sentences is supported by the sources it cites"
        else:
            reason, why = "empty", "the model's reply held no sentence"
        if any(s.supported for s in extractive.sentences):
            return _fallback(extractive, reason, why)
        # The listed sources are the extractive answerer's closest passages; the model's citations
        # point at passages beyond them (the rule for citations of sentences not shown).
        for s in v.sentences:
            s.citations = [c + len(extractive.sources) for c in s.citations]
        return Answer(question=question, answer=ABSTAIN_TEXT, abstained=True, sources=extractive.sources,
                      sentences=v.sentences, mode="llm", fallback=Fallback(reason, why),
                      bootstrapped=extractive.bootstrapped, notes=notes + [why], timings=timings,
                      retrieved=list(passages))

    if v.dropped:
        notes.append(f"dropped {v.dropped} sentence{'s' if v.dropped > 1 else ''} the cited sources don't support "
                     "(--unsupported flag or keep shows them)")
    if v.hedges and settings.unsupported == "drop":
        notes.append("the model said the sources don't answer part of the question")
    if settings.unsupported == "flag" and any(not s.supported and not is_abstention(s.text) for s, _ in v.shown):
        notes.append(f"sentences marked {FLAG} are not supported by the sources they cite (or cite none)")
    answer_text = " ".join(w for _, w in v.shown)
    return Answer(question=question, answer=answer_text, abstained=False, sources=v.sources, sentences=v.sentences,
                  mode="llm", bootstrapped=extractive.bootstrapped, notes=notes, timings=timings,
                  retrieved=list(passages))


def _fallback(extractive: Answer, reason: FallbackReason, why: str) -> Answer:
    """The extractive answer, labelled as such, with why the model's wasn't used (typed, and in a note)."""
    extractive.mode = "extractive"
    extractive.fallback = Fallback(reason, why)
    extractive.notes = list(extractive.notes) + [f"{why}; showing the extractive answer"]
    return extractive


# ---------------------------------------------------------------------------------------------
# follow-up questions (Discord)

REWRITE_HISTORY_TOKENS = 1200
REWRITE_MAX_TOKENS = 96


def rewrite_question(settings: LLMSettings, history: Sequence[tuple[str, str]], question: str, *,
                     client: LLMClient | None = None) -> str:
    """A follow-up rewritten as a standalone question by the model; the question unchanged on any failure
    (no history, no LLM configured, a failed call, an empty or runaway reply)."""
    try:
        return _rewrite(settings, client, history, question)
    except Exception:  # noqa: BLE001 - the bot must always have a question to answer
        return question


def _rewrite(settings: LLMSettings, client: LLMClient | None, history: Sequence[tuple[str, str]],
             question: str) -> str:
    from ..chunking import count_tokens
    from ..config import MAX_QUESTION_CHARS

    if not history or not question.strip():
        return question
    try:
        require_llm_config(settings)
    except ConfigError:
        return question
    turns: list[str] = []
    used = 0
    for q, a in reversed(list(history)[-6:]):
        a = short_text(re.sub(r"\s*(?:\[\d+\])+", "", a or ""), 600)
        turn = f"User: {neutralise(short_text(q, 400))}\nAssistant: {neutralise(a)}"
        t = count_tokens(turn)
        if used + t > REWRITE_HISTORY_TOKENS:
            break
        turns.insert(0, turn)
        used += t
    if not turns:
        return question
    text = fill(prompt("rewrite"), history="\n\n".join(turns), question=neutralise(question))
    client = client if client is not None else LLMClient(settings)
    done = client.complete([{"role": "user", "content": text}], max_tokens=REWRITE_MAX_TOKENS, stream=False,
                           retries=min(settings.retries, 1))
    if done.truncated:
        return question  # a rewrite cut off midway may have lost part of the question
    line = next((x for x in clean_completion(done.text).splitlines() if x.strip()), "")
    line = re.sub(r"^\s*(?:standalone question|question|rewritten question)\s*:\s*", "", line, flags=re.I)
    line = line.strip().strip("\"'“”‘’`").strip()
    if not line or len(line) > min(MAX_QUESTION_CHARS, 4 * len(question) + 300):
        return question
    return line
