"""An optional LLM judge of citation support, through any OpenAI-compatible endpoint.

The offline support rule (retrieval.citations) is the metric that gates CI; the judge is a second
opinion reported under its own names (`citation_recall_judge`, `citation_precision_judge`), so the
two can be compared. The judge is asked one yes/no question per (sentence, cited passages) pair,
at temperature 0, and its verdicts are cached for the run.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from retrieval.citations import Evidence, strip_markers
from retrieval.prompts import load

JUDGE_MAX_TOKENS = 4


class Judge:
    def __init__(self, settings):
        from retrieval.llm import LLMClient, require_llm_config

        require_llm_config(settings.llm)  # a ConfigError naming the variables, before any work
        self.settings = settings
        self.client = LLMClient(settings.llm)
        self.cache: dict[tuple, bool] = {}
        self.calls = 0
        self.failures: list[str] = []

    def supports(self, sentence: str, evidence: Sequence[Evidence]) -> bool:
        """The judge's verdict; no evidence, a failed call or a reply that is neither yes nor no is 'no'."""
        if not evidence:
            return False
        key = (strip_markers(sentence), tuple((e.text, e.label) for e in evidence))
        if key not in self.cache:
            self.cache[key] = self._ask(*key)
        return self.cache[key]

    def _ask(self, claim: str, evidence: tuple) -> bool:
        from retrieval.errors import LLMError
        from retrieval.llm import fill

        def inert(text: str) -> str:  # no tag inside the data can close the fence
            return text.replace("<", "&lt;")

        passages = "\n\n".join(f"({inert(label.strip()) or 'source'}) {inert(text)}" for text, label in evidence)
        prompt = fill(load("judge"), passages=passages, claim=inert(claim))
        self.calls += 1
        try:
            done = self.client.complete([{"role": "user", "content": prompt}], max_tokens=JUDGE_MAX_TOKENS,
                                        stream=False)
        except LLMError as exc:
            self.failures.append(exc.reason)
            return False
        m = re.match(r"\W*(yes|no)\b", done.text.strip(), re.I)
        if not m:
            self.failures.append(f"unreadable verdict {done.text.strip()[:40]!r}")
            return False
        return m.group(1).lower() == "yes"
