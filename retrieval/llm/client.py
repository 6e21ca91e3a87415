"""The model endpoint: `LLMClient.complete`, one chat completion with bounded retries inside one deadline.

Why tenacity and not the openai client's own retries (`max_retries`, which stay 0 here): the openai client
retries timeouts, connection errors, 408/409/429 and 5xx with backoff, but knows nothing of newsqa's rules:
one overall deadline for the whole answer (attempts, waits and a read that hangs), no retry once text has
been streamed to the user, a reply that is empty, malformed or cut off without a finish_reason counted as a
fault worth retrying, and a request adapted once (not retried) when an endpoint rejects `max_tokens` or
`temperature`. Where those rules don't apply, the openai client's retries do the job: the `openai:` embedder
(retrieval/embedding.py) uses them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

from ..errors import ConfigError, LLMError, redact_text, redact_url

if TYPE_CHECKING:
    import tenacity
    from openai import APIStatusError, OpenAI
    from openai.types.chat import ChatCompletionMessageParam

    from ..config import LLMSettings

# Backoff between retries: BACKOFF_BASE * 2**attempt seconds, at most BACKOFF_MAX (a server's
# Retry-After is honoured up to BACKOFF_MAX). Module-level so tests can patch them.
BACKOFF_BASE = 0.5
BACKOFF_MAX = 8.0
_sleep = time.sleep


def require_llm_config(settings: LLMSettings) -> None:
    """Raise ConfigError (exit 2, one line) when LLM mode lacks its extra, a model or an endpoint."""
    from importlib.util import find_spec

    absent = [m for m in ("openai", "tenacity") if find_spec(m) is None]
    if absent:
        raise ConfigError(f"--mode llm needs the llm extra ({', '.join(absent)} not installed): pip install "
                          "'newsqa[llm]', or use --mode extractive")
    missing = []
    if not (settings.model or "").strip():
        missing.append("NEWSQA_LLM_MODEL (the model name)")
    has_key = bool(settings.api_key and settings.api_key.get_secret_value().strip())
    if not has_key and not (settings.base_url or "").strip():
        missing.append("OPENAI_API_KEY or OPENAI_BASE_URL (a local server needs only the URL)")
    if missing:
        raise ConfigError("--mode llm needs " + " and ".join(missing) +
                          "; set them in the environment or .env, or use --mode extractive")


@dataclass
class Completion:
    text: str
    attempts: int
    truncated: bool = False
    first_token: float | None = None


class _Params(TypedDict, total=False):
    """The request parameters `complete` adapts per endpoint (and the per-attempt timeout)."""

    temperature: float
    max_tokens: int
    max_completion_tokens: int
    timeout: float


class LLMClient:
    """One OpenAI-compatible endpoint (`settings`: settings.llm), its openai client made when first needed."""

    def __init__(self, settings: LLMSettings, openai_client: OpenAI | None = None):
        self.settings = settings
        self._openai = openai_client
        self._lock = threading.Lock()

    @property
    def openai(self) -> OpenAI:
        """The openai client; its own retries are off (`complete` retries, within the answer's deadline)."""
        with self._lock:
            if self._openai is None:
                try:
                    from openai import OpenAI
                except ImportError:
                    raise ConfigError("LLM mode needs the llm extra: pip install 'newsqa[llm]'") from None
                from ..errors import register_secret

                s = self.settings
                key = s.api_key.get_secret_value() if s.api_key else ""
                register_secret(key)  # settings built directly (not by load_settings) are redacted too
                self._openai = OpenAI(api_key=key or "unused", base_url=s.base_url or None, timeout=s.timeout,
                                      max_retries=0)
            return self._openai

    def complete(self, messages: list[ChatCompletionMessageParam], *, max_tokens: int,
                 on_token: Callable[[str], None] | None = None, stream: bool = True, retries: int | None = None,
                 deadline: float | None = None) -> Completion:
        """One chat completion with bounded retries; raises LLMError when it can't get usable text.

        The retrying is tenacity's (`Retrying`): a retryable failure (timeout, refused connection, 429, 5xx, a
        malformed or empty reply) is tried again up to `retries` times, waiting 0.5 s, 1 s, 2 s… or the server's
        Retry-After, at most BACKOFF_MAX. The rest is newsqa's (the module's docstring says why): everything
        (attempts, waits) fits in one overall `deadline` (a `time.monotonic()` instant; default: `deadline`
        seconds of the settings from now), so a hung endpoint costs the deadline, not attempts x timeout;
        nothing is retried once text has been streamed to `on_token` (the user has seen it); a stream that ends
        without a finish_reason (cut midway) is a failure; and an endpoint that rejects `max_tokens` or
        `temperature` gets the request adapted once, which is not a retry.
        """
        import tenacity

        settings = self.settings
        retries = settings.retries if retries is None else retries
        end = time.monotonic() + settings.deadline if deadline is None else deadline
        params: _Params = {"temperature": 0.0, "max_tokens": max_tokens}
        tried = [0]  # completions requested (adapting the request counts once)
        last: list[LLMError | None] = [None]
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
                    return _bounded(lambda gate: self._once(messages, params, gate, stream, emitted,  # noqa: B023
                                                            tried[0], min(settings.timeout, remaining)),  # noqa: B023
                                    on_token, remaining)
                except _DeadlinePassed:
                    if emitted[0]:
                        raise LLMError(f"the answer was not finished within the {settings.deadline:g} s "
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
                        raise LLMError(failure.reason + " while streaming the answer", False) from None
                    last[0] = failure
                    raise failure from None

        def wait(state: tenacity.RetryCallState) -> float:
            failure = state.outcome.exception() if state.outcome is not None else None
            return _backoff(state.attempt_number - 1, failure if isinstance(failure, LLMError) else LLMError("", True))

        def stop(state: tenacity.RetryCallState) -> bool:
            if state.attempt_number > retries:
                return True
            if time.monotonic() + (state.upcoming_sleep or 0.0) >= end - 0.05:
                out_of_time[0] = True  # the wait would pass the deadline: give up now, saying so
                return True
            return False

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(lambda e: isinstance(e, LLMError) and e.retryable),
            wait=wait, stop=stop, sleep=lambda seconds: _sleep(seconds), reraise=True)
        try:
            return retrying(attempt)
        except LLMError as failure:
            failed = _past_deadline(settings, failure) if out_of_time[0] else failure
            failed.attempts = tried[0]
            raise failed from None

    def _once(self, messages: list[ChatCompletionMessageParam], params: _Params,
              on_token: Callable[[str], None] | None, stream: bool, emitted: list[bool], attempt: int,
              timeout: float | None = None) -> Completion:
        model = self.settings.model
        if model is None:  # every caller runs require_llm_config first; a direct call fails plainly
            raise LLMError("no model configured (NEWSQA_LLM_MODEL)", False)
        client = self.openai
        if timeout is not None:
            params = {**params, "timeout": timeout}
        t0 = time.perf_counter()
        if not stream:
            reply = client.chat.completions.create(model=model, messages=messages, stream=False, **params)
            top = reply.choices[0]
            text = top.message.content or ""
            if not text.strip():
                raise LLMError("empty completion", True)
            return Completion(text, attempt, top.finish_reason == "length", time.perf_counter() - t0)
        parts: list[str] = []
        finish: str | None = None
        first: float | None = None
        resp = client.chat.completions.create(model=model, messages=messages, stream=True, **params)
        try:
            for chunk in resp:
                error = getattr(chunk, "error", None)  # not in the chunk's schema: some servers add it
                if error:
                    raise LLMError(f"the server reported an error mid-stream: {short_text(str(error))}", True)
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
            raise LLMError("empty completion", True)
        if finish is None:
            # The stream ended without the model saying it had finished: the connection was cut midway.
            raise LLMError("the stream ended before the model finished (no finish_reason)", True)
        return Completion(text, attempt, finish == "length", first)


def _classify(exc: Exception, settings: LLMSettings) -> LLMError:
    import openai

    if isinstance(exc, LLMError):
        return exc
    if isinstance(exc, openai.APITimeoutError):
        return LLMError(f"no reply within {settings.timeout:g} s", True)
    if isinstance(exc, openai.APIConnectionError):
        return LLMError(f"could not connect to {redact_url(settings.base_url) or 'the OpenAI API'}", True)
    if isinstance(exc, openai.APIStatusError):
        code = exc.status_code
        after = _retry_after(exc)
        if code == 429:
            return LLMError("rate limited (HTTP 429)", True, after)
        if code >= 500 or code in (408, 409):
            return LLMError(f"server error (HTTP {code})", True, after)
        if code in (401, 403):
            return LLMError(f"the endpoint refused the credentials (HTTP {code}); check OPENAI_API_KEY", False)
        if code == 404:
            return LLMError("model or endpoint not found (HTTP 404); check NEWSQA_LLM_MODEL and OPENAI_BASE_URL",
                            False)
        return LLMError(f"the endpoint rejected the request (HTTP {code}: {short_text(_message(exc))})", False)
    if isinstance(exc, (openai.APIResponseValidationError, ValueError, KeyError, AttributeError, TypeError,
                        IndexError, UnicodeDecodeError)):
        return LLMError(f"malformed response ({type(exc).__name__})", True)
    if isinstance(exc, openai.OpenAIError):
        return LLMError(f"{type(exc).__name__}: {short_text(str(exc))}", True)
    try:
        import httpx

        if isinstance(exc, (httpx.TransportError, httpx.StreamError)):  # a connection dropped mid-stream
            return LLMError(f"the connection broke ({type(exc).__name__})", True)
    except ImportError:  # pragma: no cover - openai depends on httpx
        pass
    return LLMError(f"unexpected error ({type(exc).__name__}: {short_text(str(exc))})", False)


def _message(exc: BaseException) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
    return str(getattr(exc, "message", "") or exc)


def short_text(text: str, limit: int = 160) -> str:
    """`text` on one line, redacted, at most `limit` characters."""
    text = " ".join(redact_text(str(text)).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _retry_after(exc: APIStatusError) -> float | None:
    try:
        value = exc.response.headers.get("retry-after")
        return float(value) if value is not None else None
    except (AttributeError, TypeError, ValueError):
        return None


def _backoff(attempt: int, failure: LLMError) -> float:
    delay = BACKOFF_BASE * (2 ** attempt)
    if failure.retry_after is not None:
        delay = max(delay, failure.retry_after)
    return float(min(delay, BACKOFF_MAX))


class _DeadlinePassed(Exception):
    pass


def _past_deadline(settings: LLMSettings, last: LLMError | None) -> LLMError:
    why = f"no complete answer within the {settings.deadline:g} s deadline (NEWSQA_LLM_DEADLINE)"
    if last is not None:
        why += f"; last error: {last.reason}"
    return LLMError(why, False)


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
