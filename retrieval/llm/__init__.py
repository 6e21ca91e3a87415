"""LLM answer mode: a model writes the answer from numbered sources, then every sentence is checked.

The flow, per question, one module a step:

1. **Pack** (`packing`): the retrieved passages, best first, into the `llm.context_tokens` budget (counted
   with tiktoken), never letting prompt + answer exceed `llm.window_tokens`.
2. **Prompt** (`prompts`): the files in `retrieval/prompts/`: the rules (`answer_system`), the sources fenced
   as untrusted data (`answer_sources`, one `answer_source` element each), the question (`answer_question`)
   and the fixed abstain phrase (`abstain`).
3. **Call** (`client`): `LLMClient.complete` streams the completion through `on_token`; timeouts, refused
   connections, 429 and 5xx are retried with exponential backoff (`llm.retries`), all within one overall
   deadline per answer (`llm.deadline`). A completion that stops before the model finished (no
   finish_reason, "length", a dropped connection) is a fault too.
4. **Verify** (`verify`): markers are parsed, out-of-range ones dropped, sources renumbered in order of
   first use, and each sentence checked against the passages it cites with the shared support rule
   (`retrieval.citations.supports`). `llm.unsupported` = drop | flag | keep decides what the answer shows.
5. **Answer** (`answer`): when the model fails or abstains, or nothing it wrote is supported, the extractive
   answer is shown if it has a supported sentence (mode "extractive", `Answer.fallback` saying why, and a
   note); otherwise the result abstains. `rewrite_question` turns a follow-up into a standalone question.
"""

from .answer import llm_answer, rewrite_question
from .client import BACKOFF_BASE, BACKOFF_MAX, Completion, LLMClient, require_llm_config
from .packing import (
    MIN_SOURCE_TOKENS,
    REPLY_PRIMER,
    TOKENS_PER_MESSAGE,
    WINDOW_SAFETY,
    Packed,
    pack_context,
    source_budget,
)
from .prompts import (
    abstain_phrase,
    build_messages,
    fence_names,
    fill,
    is_abstention,
    neutralise,
    source_block,
    system_prompt,
    user_prompt,
)
from .verify import FLAG, UNSUPPORTED_CHOICES, Verified, clean_completion, evidence_text, strip_thinking, verify

__all__ = ["BACKOFF_BASE", "BACKOFF_MAX", "FLAG", "MIN_SOURCE_TOKENS", "REPLY_PRIMER", "TOKENS_PER_MESSAGE",
           "UNSUPPORTED_CHOICES", "WINDOW_SAFETY", "Completion", "LLMClient", "Packed", "Verified", "abstain_phrase",
           "build_messages", "clean_completion", "evidence_text", "fence_names", "fill", "is_abstention",
           "llm_answer", "neutralise", "pack_context", "require_llm_config", "rewrite_question", "source_block",
           "source_budget", "strip_thinking", "system_prompt", "user_prompt", "verify"]
