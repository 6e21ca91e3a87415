"""Cached vectors of short texts: single words (for synonym matching of a question's terms)
and the corpus's sentences (for how close each candidate sentence is to the question).

Embedding on demand costs ~5 ms a batch; the corpus vocabulary and sentences are
embedded once at ingest and kept beside the index, so answering a question rarely
embeds more than the question itself.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Iterable

import numpy as np

from .text import STOPWORDS, words


def vocabulary(texts: Iterable[str]) -> set[str]:
    return {w for t in texts for w in words(t) if w not in STOPWORDS and not w[0].isdigit()}


class WordVectors:
    def __init__(self, embedder, path: Path | None):
        self.embedder = embedder
        self.path = path
        self.vectors: dict[str, np.ndarray] = {}
        self.dirty = False
        if path and path.is_file():
            try:
                with np.load(path, allow_pickle=False) as z:
                    if str(z["model"]) == embedder.model_id:
                        self.vectors = dict(zip(z["words"].tolist(), z["vectors"]))
            except (OSError, ValueError, KeyError):
                self.vectors = {}  # a damaged cache is rebuilt, never trusted

    @classmethod
    def beside_index(cls, embedder, data_dir: Path, kind: str = "word") -> "WordVectors":
        name = re.sub(r"\W+", "_", embedder.model_id)
        return cls(embedder, Path(data_dir) / f"{kind}vectors-{name}.npz")

    def ensure(self, ws: Iterable[str]) -> None:
        missing = [w for w in dict.fromkeys(ws) if w not in self.vectors]
        for b in range(0, len(missing), 256):
            batch = missing[b : b + 256]
            for w, v in zip(batch, self.embedder.embed(batch)):
                self.vectors[w] = v
            self.dirty = True

    def __getitem__(self, w: str) -> np.ndarray:
        return self.vectors[w]

    def save(self) -> None:
        """Atomic write, so an interrupted save leaves the old cache or none."""
        if not self.path or not self.dirty or not self.vectors:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        ws = list(self.vectors)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, suffix=".npz")
        os.close(fd)
        try:
            np.savez(tmp, words=np.array(ws), vectors=np.stack([self.vectors[w] for w in ws]),
                     model=np.array(self.embedder.model_id))
            os.replace(tmp, self.path)
            self.dirty = False
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
