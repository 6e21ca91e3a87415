"""Generated news-like articles and a stand-in embedder, for scale tests and benchmarks.

The stand-in returns a fixed pseudo-random unit vector per text (seeded by its hash), so
Chroma's HNSW index does real work while the model's cost, measured separately, is left out.
"""

from __future__ import annotations

import hashlib
import random

import numpy as np

from retrieval.types import Article

_WORDS = ("minister council vote budget court ruling league match striker season market shares profit "
          "quarter company merger strike union wages election poll campaign senator governor storm flood "
          "rescue hospital vaccine trial study researchers climate summit treaty border troops ceasefire "
          "festival award film album tour stadium coach transfer injury final record growth inflation bank "
          "rates factory exports imports police arrest investigation report statement officials region city").split()
_NAMES = ("Alvarez Becker Chen Dubois Evans Fischer Garcia Haddad Ivanova Jensen Kowalski Lopez Moreau Novak "
          "Okafor Petrov Quinn Rossi Silva Tanaka Ueda Varga Weber Xu Yilmaz Zhou").split()
_PLACES = "Lisbon Nairobi Osaka Quito Riga Seoul Tunis Valencia Warsaw Zagreb Austin Bergen Cork Dakar".split()


def sentence(rng: random.Random) -> str:
    ws = rng.sample(_WORDS, 9)
    return (f"{rng.choice(_NAMES)} said the {ws[0]} {ws[1]} in {rng.choice(_PLACES)} would {ws[2]} "
            f"{rng.randint(2, 9000)} {ws[3]} {ws[4]} by {rng.choice(['March', 'June', 'October'])} "
            f"{rng.randint(2019, 2025)}, after the {ws[5]} {ws[6]} {ws[7]} {ws[8]}.")


def article(i: int, paragraphs: int = 10, seed: int = 0) -> Article:
    """About `paragraphs` chunks: one paragraph of three sentences each."""
    rng = random.Random(seed * 1_000_003 + i)
    text = "\n\n".join(" ".join(sentence(rng) for _ in range(3)) for _ in range(paragraphs))
    return Article(doc=f"gen-{seed}-{i:07d}", text=text + "\n", title=f"Report {i}: {rng.choice(_WORDS)} in "
                   f"{rng.choice(_PLACES)}", outlet=rng.choice(["Daily Ledger", "Evening Wire", "Harbor Times"]),
                   date=f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}")


class StandInEmbedder:
    model_id = "stand-in/hash"

    def __init__(self, dim: int = 384):
        self.dim = dim

    def embed(self, texts):
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            seed = int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "little")
            v = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
            out[i] = v / np.linalg.norm(v)
        return out
