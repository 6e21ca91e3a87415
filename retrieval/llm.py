"""LLM answer mode: a model writes the answer from numbered sources, then every sentence is checked.

The flow, per question:

1. **Pack** the retrieved passages, best first, into the `llm_context_tokens` budget (counted with
   tiktoken), never letting prompt + answer exceed `llm_window_tokens`.
2. **Prompt** with the files in `prompts/`: the rules (`answer_system`), the sources fenced as
   untrusted data (`answer_sources`, one `answer_source` element each), the question
   (`answer_question`) and the fixed abstain phrase (`abstain`).
3. **Stream** the completion through `on_token`; timeouts, refused connections, 429 and 5xx are
   retried with exponential backoff (`llm_retries`), all within one overall deadline per answer
   (`llm_deadline`), then the extractive answer is shown instead. A completion that stops before
   the model finished (no finish_reason, "length", a dropped connection) is a fault too.
4. **Verify**: markers are parsed, out-of-range ones dropped, sources renumbered in order of first
   use, and each sentence checked against the passages it cites with the shared support rule
   (`citations.supports`). `unsupported` = drop | flag | keep decides what the answer shows.
5. **Honest ending**: when the model abstains or nothing it wrote is supported, the extractive
   answer is shown if it has a supported sentence (mode "extractive", with a note); otherwise
   the result abstains.
"""

from __future__ import annotations

import dataclasses
import functools
import html
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

from .errors import ConfigError, LLMError, redact_url
from .types import Answer, Passage, Sentence, Source

if TYPE_CHECKING:
    from openai import APIStatusError, OpenAI
    from openai.types.chat import ChatCompletionMessageParam
    from tiktoken import Encoding

    from .api import Engine
    from .config import Settings

# Backoff between retries: BACKOFF_BASE * 2**attempt seconds, at most BACKOFF_MAX (a server's
# Retry-After is honoured up to BACKOFF_MAX). Module-level so tests can patch them.
BACKOFF_BASE = 0.5
BACKOFF_MAX = 8.0
_sleep = time.sleep

# The served model's tokenizer is not cl100k: SmolLM2's counts ~10% more on the bundled corpus.
# Prompt tokens are scaled by this factor when checking the model's window.
WINDOW_SAFETY = 1.15
# Chat formats add a few tokens per message (role markers) and to prime the reply.
TOKENS_PER_MESSAGE = 4
REPLY_PRIMER = 3
MIN_SOURCE_TOKENS = 48  # below this no passage fits usefully: fall back instead of asking

FLAG = "[unsupported]"
UNSUPPORTED_CHOICES = ("keep", "flag", "drop")
INDEX_NOTE = "the index was empty"  # the engine's own note, kept on LLM answers

_THINK = re.compile(r"<think>.*?(?:</think>|$)", re.S | re.I)
_TRAILER = re.compile(r"^[ \t]*(?:#+[ \t]*)?\**[ \t]*(?:sources|references|citations)[ \t]*\**[ \t]*(?::|$)", re.I | re.M)
_BULLET = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s+")
# Text in an article that addresses an AI model or its user ("ignore previous instructions", "Note to AI
# assistants: …", "SYSTEM: …", chat-template tokens) stays in the prompt (fenced as data) but never counts as
# evidence, so an answer that repeats an injected claim is not "supported" by the very text that injected
# it. The rule is retrieval/injection.py's, the same one the extractive answerer uses.


# ---------------------------------------------------------------------------------------------
# configuration


def require_llm_config(settings: Settings) -> None:
    """Raise ConfigError (exit 2, one line) when LLM mode lacks a model or an endpoint."""
    missing = []
    if not (settings.llm_model or "").strip():
        missing.append("NEWSQA_LLM_MODEL (the model name)")
    has_key = bool(settings.openai_api_key and settings.openai_api_key.get_secret_value().strip())
    if not has_key and not (settings.openai_base_url or "").strip():
        missing.append("OPENAI_API_KEY or OPENAI_BASE_URL (a local server needs only the URL)")
    if missing:
        raise ConfigError("--mode llm needs " + " and ".join(missing) +
                          "; set them in the environment or .env, or use --mode extractive")


_CLIENTS: dict[tuple[str | None, int, float], OpenAI] = {}


def _client(settings: Settings) -> OpenAI:
    """One OpenAI client per endpoint; the client's own retries are off (`complete` retries with tenacity,
    within the answer's deadline)."""
    from .config import register_secrets

    register_secrets(settings)  # settings built directly (not by load_settings) are redacted too
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
    ident = (settings.openai_base_url, hash(key), settings.llm_timeout)
    if ident not in _CLIENTS:
        from openai import OpenAI

        _CLIENTS[ident] = OpenAI(api_key=key or "unused", base_url=settings.openai_base_url or None,
                                 timeout=settings.llm_timeout, max_retries=0)
    return _CLIENTS[ident]


# ---------------------------------------------------------------------------------------------
# prompts


def _prompt(name: str) -> str:
    from prompts import load

    return load(name).strip("\n")


def fill(template: str, **values: object) -> str:
    """Replace `{name}` for the given names only; other braces and the values stay as they are."""
    return re.sub(r"\{(\w+)\}", lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0),
                  template)


def abstain_phrase() -> str:
    """The abstention sentence the model is told to use: the file answering.ABSTAIN_TEXT is read from."""
    return _prompt("abstain").strip()


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
    return fill(_prompt("answer_system"), abstain=abstain_phrase())


@functools.cache
def fence_names() -> frozenset[str]:
    """Every tag used as a fence in `prompts/*.txt` (`sources`, `source`, `conversation`, …), read from the
    files, so a fence added to a prompt is escaped without anyone remembering to list it."""
    from importlib import resources

    names: set[str] = set()
    for f in resources.files("prompts").iterdir():
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
    return fill(_prompt("answer_source"), n=n, outlet=_attr(p.outlet), title=_attr(p.title), date=_attr(p.date),
                kind=_attr(p.kind or "body"), text=neutralise(text if text is not None else p.text).strip())


def user_prompt(question: str, blocks: Sequence[str]) -> str:
    sources = fill(_prompt("answer_sources"), sources="\n".join(blocks))
    ask = fill(_prompt("answer_question"), question=neutralise(question), abstain=abstain_phrase())
    return f"{sources}\n\n{ask}"


def build_messages(question: str, blocks: Sequence[str]) -> list[ChatCompletionMessageParam]:
    return [{"role": "system", "content": system_prompt()},
            {"role": "user", "content": user_prompt(question, blocks)}]


# ---------------------------------------------------------------------------------------------
# context packing


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


def source_budget(settings: Settings, question: str) -> int:
    """Tokens left for the source block: the configured budget, capped by the model's window."""
    from .chunking import count_tokens

    # The two messages `build_messages(question, [])` would send.
    overhead = sum(count_tokens(text) + TOKENS_PER_MESSAGE for text in (system_prompt(), user_prompt(question, [])))
    overhead += REPLY_PRIMER
    room = int((settings.llm_window_tokens - settings.llm_max_answer_tokens) / WINDOW_SAFETY) - overhead
    return int(min(settings.llm_context_tokens, room))


def pack_context(passages: Sequence[Passage], budget: int) -> list[Packed]:
    """Best passages first (retrieved order) while they fit `budget` tokens; a passage that doesn't
    fit is skipped for smaller ones after it. If even the best one doesn't fit alone, it is cut
    at a sentence boundary (its offsets follow the cut)."""
    from .chunking import count_tokens, encoding

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
    from .sentences import split_spans

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


# ---------------------------------------------------------------------------------------------
# calling the model


class LLMFailure(LLMError):
    """A failed completion, with whether it is worth retrying (an LLMError: callers catch that one type)."""

    def __init__(self, reason: str, retryable: bool, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after
        self.attempts = 1


@dataclass
class Completion:
    text: str
    attempts: int
    truncated: bool = False
    first_token: float | None = None


def _classify(exc: Exception, settings: Settings) -> LLMFailure:
    import openai

    if isinstance(exc, LLMFailure):
        return exc
    if isinstance(exc, openai.APITimeoutError):
        return LLMFailure(f"no reply within {settings.llm_timeout:g} s", True)
    if isinstance(exc, openai.APIConnectionError):
        return LLMFailure(f"could not connect to {redact_url(settings.openai_base_url) or 'the OpenAI API'}", True)
    if isinstance(exc, openai.APIStatusError):
        code = exc.status_code
        after = _retry_after(exc)
        if code == 429:
            return LLMFailure("rate limited (HTTP 429)", True, after)
        if code >= 500 or code in (408, 409):
            return LLMFailure(f"server error (HTTP {code})", True, after)
        if code in (401, 403):
            return LLMFailure(f"the endpoint refused the credentials (HTTP {code}); check OPENAI_API_KEY", False)
        if code == 404:
            return LLMFailure("model or endpoint not found (HTTP 404); check NEWSQA_LLM_MODEL and OPENAI_BASE_URL",
                              False)
        return LLMFailure(f"the endpoint rejected the request (HTTP {code}: {_short(_message(exc))})", False)
    if isinstance(exc, (openai.APIResponseValidationError, ValueError, KeyError, AttributeError, TypeError,
                        IndexError, UnicodeDecodeError)):
        return LLMFailure(f"malformed response ({type(exc).__name__})", True)
    if isinstance(exc, openai.OpenAIError):
        return LLMFailure(f"{type(exc).__name__}: {_short(str(exc))}", True)
    try:
        import httpx

        if isinstance(exc, (httpx.TransportError, httpx.StreamError)):  # a connection dropped mid-stream
            return LLMFailure(f"the connection broke ({type(exc).__name__})", True)
    except ImportError:  # pragma: no cover - openai depends on httpx
        pass
    return LLMFailure(f"unexpected error ({type(exc).__name__}: {_short(str(exc))})", False)


def _message(exc: BaseException) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
    return str(getattr(exc, "message", "") or exc)


def _short(text: str, limit: int = 160) -> str:
    from .errors import redact_text

    text = " ".join(redact_text(str(text)).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _retry_after(exc: APIStatusError) -> float | None:
    try:
        value = exc.response.headers.get("retry-after")
        return float(value) if value is not None else None
    except (AttributeError, TypeError, ValueError):
        return None


def _backoff(attempt: int, failure: LLMFailure) -> float:
    delay = BACKOFF_BASE * (2 ** attempt)
    if failure.retry_after is not None:
        delay = max(delay, failure.retry_after)
    return float(min(delay, BACKOFF_MAX))


class _Params(TypedDict, total=False):
    """The request parameters `complete` adapts per endpoint (and the per-attempt timeout)."""

    temperature: float
    max_tokens: int
    max_completion_tokens: int
    timeout: float


def complete(settings: Settings, messages: list[ChatCompletionMessageParam], *, max_tokens: int,
             on_token: Callable[[str], None] | None = None, stream: bool = True, retries: int | None = None,
             deadline: float | None = None) -> Completion:
    """One chat completion with bounded retries; raises LLMFailure when it can't get usable text.

    The retrying is tenacity's (`Retrying`): a retryable failure (timeout, refused connection, 429, 5xx, a
    malformed or empty reply) is tried again up to `retries` times, waiting 0.5 s, 1 s, 2 s… or the server's
    Retry-After, at most BACKOFF_MAX. The rest is newsqa's, since no client knows it: everything (attempts,
    waits) fits in one overall `deadline` (a `time.monotonic()` instant; default: `llm_deadline` seconds from
    now), so a hung endpoint costs the deadline, not attempts x timeout; nothing is retried once text has
    been streamed to `on_token` (the user has seen it); a stream that ends without a finish_reason (cut
    midway) is a failure; and an endpoint that rejects `max_tokens` or `temperature` gets the request adapted
    once, which is not a retry. The openai client's own retries stay off: they know none of this.
    """
    import tenacity

    retries = settings.llm_retries if retries is None else retries
    end = time.monotonic() + settings.llm_deadline if deadline is None else deadline
    params: _Params = {"temperature": 0.0, "max_tokens": max_tokens}
    tried = [0]  # completions requested (adapting the request counts once)
    last: list[LLMFailure | None] = [None]
    out_of_time = [False]

    def attempt() -> Completion:
        tried[0] += 1
        while True:
            emitted = [False]
            remaining = end - time.monotonic()
            if remaining <= 0.05:
                raise _past_deadline(settings, last[0])
            try:
                # The lambda runs within this iteration (_bounded calls it before the loop moves on).
                return _bounded(lambda gate: _once(settings, messages, params, gate, stream, emitted,  # noqa: B023
                                                   tried[0], min(settings.llm_timeout, remaining)),  # noqa: B023
                                on_token, remaining)
            except _DeadlinePassed:
                if emitted[0]:
                    raise LLMFailure(f"the answer was not finished within the {settings.llm_deadline:g} s "
                                     "deadline", False) from None
                raise _past_deadline(settings, last[0]) from None
            except Exception as exc:  # noqa: BLE001 - every failure is classified, none escapes as a traceback
                failure = _classify(exc, settings)
                # Some endpoints (OpenAI's reasoning models) want max_completion_tokens and no temperature:
                # adapt the request once per parameter, without counting it as a retry.
                if not emitted[0] and getattr(exc, "status_code", None) in (400, 422):
                    msg = _message(exc).lower()
                    if "max_completion_tokens" in msg and "max_tokens" in params:
                        params["max_completion_tokens"] = params.pop("max_tokens")
                        continue
                    if "temperature" in msg and "temperature" in params:
                        params.pop("temperature")
                        continue
                if emitted[0]:
                    raise LLMFailure(failure.reason + " while streaming the answer", False) from None
                last[0] = failure
                raise failure from None

    def wait(state: tenacity.RetryCallState) -> float:
        failure = state.outcome.exception() if state.outcome is not None else None
        return _backoff(state.attempt_number - 1, failure if isinstance(failure, LLMFailure) else LLMFailure("", True))

    def stop(state: tenacity.RetryCallState) -> bool:
        if state.attempt_number > retries:
            return True
        if time.monotonic() + (state.upcoming_sleep or 0.0) >= end - 0.05:
            out_of_time[0] = True  # the wait would pass the deadline: give up now, saying so
            return True
        return False

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(lambda e: isinstance(e, LLMFailure) and e.retryable),
        wait=wait, stop=stop, sleep=lambda seconds: _sleep(seconds), reraise=True)
    try:
        return retrying(attempt)
    except LLMFailure as failure:
        failed = _past_deadline(settings, failure) if out_of_time[0] else failure
        failed.attempts = tried[0]
        raise failed from None


class _DeadlinePassed(Exception):
    pass


def _past_deadline(settings: Settings, last: LLMFailure | None) -> LLMFailure:
    why = f"no complete answer within the {settings.llm_deadline:g} s deadline (NEWSQA_LLM_DEADLINE)"
    if last is not None:
        why += f"; last error: {last.reason}"
    return LLMFailure(why, False)


def _bounded(call: Callable[[Callable[[str], None] | None], Completion], on_token: Callable[[str], None] | None,
             seconds: float) -> Completion:
    """Run one attempt on a worker thread and wait at most `seconds` for it.

    A hung read can't be interrupted, so the attempt is abandoned on its (daemon) thread: its
    tokens stop reaching `on_token` at once, and its own request timeout ends it later.
    """
    abandoned = threading.Event()
    gate = None
    if on_token is not None:
        def gate(token: str) -> None:
            if not abandoned.is_set():
                on_token(token)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = call(gate)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=target, name="newsqa-llm", daemon=True)
    worker.start()
    worker.join(max(seconds, 0.0))
    if worker.is_alive():
        abandoned.set()
        raise _DeadlinePassed()
    if "error" in box:
        raise box["error"]
    value: Completion = box["value"]
    return value


def _once(settings: Settings, messages: list[ChatCompletionMessageParam], params: _Params,
          on_token: Callable[[str], None] | None, stream: bool, emitted: list[bool], attempt: int,
          timeout: float | None = None) -> Completion:
    model = settings.llm_model
    if model is None:  # every caller runs require_llm_config first; a direct call fails plainly
        raise LLMFailure("no model configured (NEWSQA_LLM_MODEL)", False)
    client = _client(settings)
    if timeout is not None:
        params = {**params, "timeout": timeout}
    t0 = time.perf_counter()
    if not stream:
        reply = client.chat.completions.create(model=model, messages=messages, stream=False, **params)
        top = reply.choices[0]
        text = top.message.content or ""
        if not text.strip():
            raise LLMFailure("empty completion", True)
        return Completion(text, attempt, top.finish_reason == "length", time.perf_counter() - t0)
    parts: list[str] = []
    finish: str | None = None
    first: float | None = None
    resp = client.chat.completions.create(model=model, messages=messages, stream=True, **params)
    try:
        for chunk in resp:
            error = getattr(chunk, "error", None)  # not in the chunk's schema: some servers add it
            if error:
                raise LLMFailure(f"the server reported an error mid-stream: {_short(str(error))}", True)
            if not chunk.choices:
                continue
            choice = chunk.choices[0]
            finish = choice.finish_reason or finish
            delta = choice.delta.content if choice.delta is not None else None
            if not delta:
                continue
            if first is None:
                first = time.perf_counter() - t0
            parts.append(delta)
            if on_token is not None:
                emitted[0] = True
                try:
                    on_token(delta)
                except Exception:  # noqa: BLE001 - a broken display must not lose the answer
                    on_token = None
    finally:
        close = getattr(resp, "close", None)
        if close:
            try:
                close()
            except Exception:  # noqa: BLE001
                pass
    text = "".join(parts)
    if not text.strip():
        raise LLMFailure("empty completion", True)
    if finish is None:
        # The stream ended without the model saying it had finished: the connection was cut midway.
        raise LLMFailure("the stream ended before the model finished (no finish_reason)", True)
    return Completion(text, attempt, finish == "length", first)


# ---------------------------------------------------------------------------------------------
# verification


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
    text = _THINK.sub("", text)
    m = _TRAILER.search(text)
    if m and m.start() > 0:
        text = text[: m.start()]
    return text.strip()


def evidence_text(text: str) -> tuple[str, bool]:
    """The passage text that may support a claim: sentences addressed to an AI model (and the payload right
    after one) are left out; the flag says whether any were."""
    from .injection import strip_instructions

    return strip_instructions(text)


def verify(text: str, packed: Sequence[Packed], unsupported: str = "drop") -> Verified:
    """Check each sentence against the passages it cites; renumber sources by first use in the answer."""
    from .answerer.compose import as_sentence, end_marker, make_source
    from .citations import Evidence, label_words, split_cited, supports
    from .injection import is_instruction

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


# ---------------------------------------------------------------------------------------------
# the answer


def llm_answer(engine: Engine, question: str, passages: Sequence[Passage], extractive: Answer,
               timings: dict[str, float], on_token: Callable[[str], None] | None = None) -> Answer:
    """The LLM-mode answer for `question`, verified; falls back to `extractive` on any failure."""
    settings = engine.settings
    require_llm_config(settings)
    t = time.perf_counter()
    deadline = time.monotonic() + settings.llm_deadline  # one deadline for the whole answer
    result = _llm_answer(settings, question, passages, extractive, timings, on_token, deadline)
    timings["llm"] = time.perf_counter() - t
    result.timings = timings  # the engine's dict: it adds "total" after this returns
    return result


def _llm_answer(settings: Settings, question: str, passages: Sequence[Passage], extractive: Answer,
                timings: dict[str, float], on_token: Callable[[str], None] | None,
                deadline: float | None = None) -> Answer:
    from .answerer.policy import ABSTAIN_TEXT

    budget = source_budget(settings, question)
    if budget < MIN_SOURCE_TOKENS:
        return _fallback(extractive, f"the model's window (NEWSQA_LLM_WINDOW_TOKENS={settings.llm_window_tokens}) "
                                     "leaves no room for sources")
    packed = pack_context(passages, budget)
    if not packed:
        # Nothing to answer from: asking the model could only produce unsupported text.
        return _fallback(extractive, "no passage to give the model")
    messages = build_messages(question, [x.block for x in packed])
    try:
        done = complete(settings, messages, max_tokens=settings.llm_max_answer_tokens, on_token=on_token,
                        deadline=deadline)
    except LLMError as exc:
        tries = f"; {exc.attempts} attempts" if exc.attempts > 1 else ""
        return _fallback(extractive, f"the language model failed ({exc.reason}{tries})")
    if done.first_token is not None:
        timings["llm_first_token"] = done.first_token
    if done.truncated:
        # Cut off at max_tokens: what it wrote is not a complete answer, so it isn't shown as one.
        return _fallback(extractive, f"the model's answer was cut off at {settings.llm_max_answer_tokens} tokens "
                                     "(NEWSQA_LLM_MAX_ANSWER_TOKENS)")

    v = verify(done.text, packed, settings.unsupported)
    notes = [n for n in extractive.notes if n.startswith(INDEX_NOTE)]
    if done.attempts > 1:
        notes.append(f"the model answered on attempt {done.attempts}")
    if v.suspicious:
        notes.append("a cited source (" + ", ".join(v.suspicious) + ") contains text addressed to an AI model "
                     "(possible prompt injection); that text is not counted as evidence")
    if v.out_of_range:
        notes.append("removed citations of sources that were not given: " + ", ".join(f"[{c}]" for c in v.out_of_range))

    if v.supported == 0:
        if v.hedges and v.hedges == len(v.sentences):
            why = "the model said the sources don't answer this"
        elif v.sentences:
            why = "none of the model's sentences is supported by the sources it cites"
        else:
            why = "the model's reply held no sentence"
        if any(s.supported for s in extractive.sentences):
            return _fallback(extractive, why)
        # The listed sources are the extractive answerer's closest passages; the model's citations
        # point at passages beyond them (the rule for citations of sentences not shown).
        for s in v.sentences:
            s.citations = [c + len(extractive.sources) for c in s.citations]
        return Answer(question=question, answer=ABSTAIN_TEXT, abstained=True, sources=extractive.sources,
                      sentences=v.sentences, mode="llm", notes=notes + [why], timings=timings,
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
                  mode="llm", notes=notes, timings=timings, retrieved=list(passages))


def _fallback(extractive: Answer, why: str) -> Answer:
    """The extractive answer, labelled as such, with a note saying why the model's wasn't used."""
    extractive.mode = "extractive"
    extractive.notes = list(extractive.notes) + [f"{why}; showing the extractive answer"]
    return extractive


# ---------------------------------------------------------------------------------------------
# follow-up questions (Discord)

REWRITE_HISTORY_TOKENS = 1200
REWRITE_MAX_TOKENS = 96


def rewrite_question(engine: Engine, history: Sequence[tuple[str, str]], question: str) -> str:
    """A follow-up rewritten as a standalone question by the model; the question unchanged on any failure
    (no history, no LLM configured, a failed call, an empty or runaway reply)."""
    try:
        return _rewrite(engine.settings, history, question)
    except Exception:  # noqa: BLE001 - the bot must always have a question to answer
        return question


def _rewrite(settings: Settings, history: Sequence[tuple[str, str]], question: str) -> str:
    from .chunking import count_tokens
    from .config import MAX_QUESTION_CHARS

    if not history or not question.strip():
        return question
    try:
        require_llm_config(settings)
    except ConfigError:
        return question
    turns: list[str] = []
    used = 0
    for q, a in reversed(list(history)[-6:]):
        a = _short(re.sub(r"\s*(?:\[\d+\])+", "", a or ""), 600)
        turn = f"User: {neutralise(_short(q, 400))}\nAssistant: {neutralise(a)}"
        t = count_tokens(turn)
        if used + t > REWRITE_HISTORY_TOKENS:
            break
        turns.insert(0, turn)
        used += t
    if not turns:
        return question
    prompt = fill(_prompt("rewrite"), history="\n\n".join(turns), question=neutralise(question))
    done = complete(settings, [{"role": "user", "content": prompt}], max_tokens=REWRITE_MAX_TOKENS, stream=False,
                    retries=min(settings.llm_retries, 1))
    if done.truncated:
        return question  # a rewrite cut off midway may have lost part of the question
    line = next((x for x in clean_completion(done.text).splitlines() if x.strip()), "")
    line = re.sub(r"^\s*(?:standalone question|question|rewritten question)\s*:\s*", "", line, flags=re.I)
    line = line.strip().strip("\"'“”‘’`").strip()
    if not line or len(line) > min(MAX_QUESTION_CHARS, 4 * len(question) + 300):
        return question
    return line
