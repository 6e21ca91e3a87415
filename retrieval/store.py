"""The index in Chroma: chunk vectors plus one record per article, embedded or on a server.

Crash safety comes from ordering: a changed article's new chunks (ids carry its
content hash) are stored first, then its record is switched to the new hash,
then old chunks are deleted. Search only trusts chunks whose hash matches the
record, so an interrupted ingest never leaves a half-replaced article visible.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import IndexCorrupt, ModelMismatch, StoreUnavailable
from .types import Article, Chunk, Passage

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


@dataclass
class DocRecord:
    doc: str
    hash: str
    title: str
    outlet: str
    date: str
    author: str
    url: str
    path: str
    chunks: int


def _date_int(date: str) -> int:
    digits = "".join(ch for ch in date[:10] if ch.isdigit())
    return int(digits) if len(digits) == 8 else 0


class Store:
    def __init__(self, data_dir: Path, chroma_url: str | None = None, name: str = "newsqa"):
        self.data_dir = Path(data_dir)
        self.chroma_url = chroma_url
        self.name = name if len(name) >= 3 else f"{name}___"
        self.client = self._connect()
        try:
            self.chunks = self.client.get_or_create_collection(
                f"{self.name}_chunks", embedding_function=None, metadata={"hnsw:space": "cosine"})
            self.docs = self.client.get_or_create_collection(f"{self.name}_docs", embedding_function=None)
        except Exception as exc:  # chromadb raises many types for a damaged sqlite/segment
            raise self._wrap(exc) from None

    def _connect(self):
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        if self.chroma_url:
            from urllib.parse import urlparse

            u = urlparse(self.chroma_url if "://" in self.chroma_url else f"http://{self.chroma_url}")
            try:
                return chromadb.HttpClient(host=u.hostname or "127.0.0.1", port=u.port or 8000,
                                           ssl=u.scheme == "https", settings=chroma_settings)
            except Exception:
                raise StoreUnavailable(
                    f"cannot reach the Chroma server at {self.chroma_url}; start it (chroma run --path DIR) "
                    "or unset NEWSQA_CHROMA_URL / --chroma-url to use the local index") from None
        index_dir = self.data_dir / "chroma"
        try:
            index_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise IndexCorrupt(f"cannot create the index folder {index_dir}: {exc.strerror}; set NEWSQA_DATA_DIR") from None
        try:
            return chromadb.PersistentClient(path=str(index_dir), settings=chroma_settings)
        except Exception as exc:
            raise self._wrap(exc) from None

    def _wrap(self, exc: Exception) -> Exception:
        if self.chroma_url:
            return StoreUnavailable(
                f"the Chroma server at {self.chroma_url} failed ({type(exc).__name__}); check it is running "
                "or unset NEWSQA_CHROMA_URL")
        return IndexCorrupt(
            f"the index at {self.data_dir / 'chroma'} is unreadable ({type(exc).__name__}); "
            f"run `newsqa reset` and ingest again")

    def _call(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            raise self._wrap(exc) from None

    # -- model bookkeeping -------------------------------------------------
    def model_id(self) -> str | None:
        return (self.chunks.metadata or {}).get("embedding_model")

    def check_model(self, model_id: str, claim: bool = False) -> None:
        """Refuse to mix vectors of two models; `claim` records the model on an empty index."""
        current = self.model_id()
        if current and current != model_id:
            raise ModelMismatch(
                f"the index was built with {current}, not {model_id}; re-ingest with --rebuild "
                f"(or set NEWSQA_EMBEDDING to the index's model)")
        if not current and claim:
            meta = dict(self.chunks.metadata or {})
            meta.pop("hnsw:space", None)
            meta["embedding_model"] = model_id
            self._call(self.chunks.modify, metadata=meta)

    # -- documents ---------------------------------------------------------
    def records(self) -> dict[str, DocRecord]:
        got = self._call(self.docs.get, include=["metadatas"])
        out = {}
        for doc_id, m in zip(got["ids"], got["metadatas"] or []):
            m = m or {}
            out[doc_id] = DocRecord(doc=doc_id, hash=str(m.get("hash", "")), title=str(m.get("title", "")),
                                    outlet=str(m.get("outlet", "")), date=str(m.get("date", "")),
                                    author=str(m.get("author", "")), url=str(m.get("url", "")),
                                    path=str(m.get("path", "")), chunks=int(m.get("chunks", 0)))
        return out

    def existing_chunk_ids(self, ids: list[str]) -> set[str]:
        if not ids:
            return set()
        return set(self._call(self.chunks.get, ids=ids, include=[])["ids"])

    def add_chunks(self, article: Article, digest: str, chunks: list[Chunk], vectors: np.ndarray) -> None:
        if not chunks:
            return
        metas = [{
            "doc": c.doc, "hash": digest, "start": c.start, "end": c.end, "kind": c.kind, "ordinal": c.ordinal,
            "title": article.title, "outlet": article.outlet, "date": article.date,
            "date_int": _date_int(article.date), "url": article.url,
        } for c in chunks]
        self._call(self.chunks.upsert, ids=[c.id for c in chunks], documents=[c.text for c in chunks],
                   embeddings=vectors.tolist(), metadatas=metas)

    def commit_doc(self, article: Article, digest: str, n_chunks: int) -> None:
        """Make `digest` the article's current version, then drop its older chunks."""
        meta = {"hash": digest, "title": article.title, "outlet": article.outlet, "date": article.date,
                "author": article.author, "url": article.url, "path": article.path, "chunks": n_chunks}
        self._call(self.docs.upsert, ids=[article.doc], embeddings=[[0.0]], metadatas=[meta])
        self.drop_stale(article.doc, digest)

    def drop_stale(self, doc: str, digest: str) -> None:
        self._call(self.chunks.delete, where={"$and": [{"doc": doc}, {"hash": {"$ne": digest}}]})

    def delete_doc(self, doc: str) -> None:
        self._call(self.docs.delete, ids=[doc])
        self._call(self.chunks.delete, where={"doc": doc})

    # -- reading -----------------------------------------------------------
    def all_passages(self) -> list[Passage]:
        """Every current chunk (the BM25 corpus), ordered by doc and position."""
        records = self.records()
        got = self._call(self.chunks.get, include=["documents", "metadatas"])
        out = []
        for cid, text, m in zip(got["ids"], got["documents"] or [], got["metadatas"] or []):
            if _is_current(m, records):
                out.append(_passage(cid, text, m))
        out.sort(key=lambda p: (p.doc, p.start))
        return out

    def dense(self, vector: np.ndarray, n: int, where: dict | None = None) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity) of the nearest chunks."""
        count = self._call(self.chunks.count)
        if count == 0:
            return []
        got = self._call(self.chunks.query, query_embeddings=[vector.tolist()], n_results=min(n, count),
                         where=where or None, include=["distances"])
        return [(cid, 1.0 - float(d)) for cid, d in zip(got["ids"][0], got["distances"][0])]

    def count(self) -> int:
        return self._call(self.chunks.count)


def _is_current(meta: dict | None, records: dict[str, DocRecord]) -> bool:
    meta = meta or {}
    rec = records.get(str(meta.get("doc")))
    return rec is not None and rec.hash == meta.get("hash")


def _passage(cid: str, text: str, m: dict) -> Passage:
    return Passage(id=cid, doc=str(m.get("doc", "")), text=text or "", start=int(m.get("start", 0)),
                   end=int(m.get("end", 0)), kind=str(m.get("kind", "body")), title=str(m.get("title", "")),
                   outlet=str(m.get("outlet", "")), date=str(m.get("date", "")), url=str(m.get("url", "")))


def reset_index(settings) -> None:
    """Delete the index: the embedded folder, or the collections on a Chroma server."""
    import shutil

    if settings.chroma_url:
        store = Store(settings.data_dir, settings.chroma_url, settings.collection)
        for name in (store.chunks.name, store.docs.name):
            store._call(store.client.delete_collection, name)
        return
    target = Path(settings.data_dir) / "chroma"
    if target.exists():
        shutil.rmtree(target)
