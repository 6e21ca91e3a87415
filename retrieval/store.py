"""The index in Chroma: chunk vectors plus one record per article, embedded or on a server.

Crash safety comes from ordering: a changed article's new chunks (ids carry its
content hash) are stored first, then its record is switched to the new hash,
then old chunks are deleted. Search only trusts chunks whose hash matches the
record, so an interrupted ingest never leaves a half-replaced article visible.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .dblock import LockWatch
from .errors import IndexOutOfStep, ModelMismatch, StoreUnavailable, data_dir_problem, diagnose_store_error, redact_url
from .lexical import ChunkRow, DocRecord, LexicalIndex, date_int
from .types import Article, Chunk, Passage

if TYPE_CHECKING:
    from .config import Settings

PAGE = 5000  # Chroma's get() fails above 32,766 records: every large read is paged
# Records committed this close before the last one seen are read again: a commit whose clock
# ran behind another's (another host, or a slow write) is still picked up.
SYNC_SLACK_NS = 30 * 1_000_000_000
GENERATION = "__newsqa_generation__"  # a record in the docs collection, never an article

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


class Store:
    def __init__(self, data_dir: Path, chroma_url: str | None = None, name: str = "newsqa",
                 lock_timeout: float = 10.0):
        self.data_dir = Path(data_dir)
        self.chroma_url = chroma_url
        self.name = name if len(name) >= 3 else f"{name}___"
        # Every open, read and write of the embedded index waits at most lock_timeout seconds for a lock
        # another process holds on chroma.sqlite3 (chromadb itself would wait forever): retrieval/dblock.py.
        self._watch = None if chroma_url else LockWatch(self.data_dir / "chroma" / "chroma.sqlite3", lock_timeout)
        self.client = self._connect()
        self.chunks = self._call(self.client.get_or_create_collection, f"{self.name}_chunks", embedding_function=None,
                                 metadata={"hnsw:space": "cosine"})
        self.docs = self._call(self.client.get_or_create_collection, f"{self.name}_docs", embedding_function=None)
        self._sync_lock = threading.Lock()
        self._synced_lock = threading.Lock()  # commits (ingest) and sync (questions) both advance _synced
        self._synced = 0
        try:
            self.lexical = LexicalIndex(self.lexical_path(), timeout=lock_timeout)
        except sqlite3.Error as exc:
            raise self._wrap(exc) from None
        if not chroma_url:
            self._check_in_step()

    def _check_in_step(self) -> None:
        """The lexical index lists articles but Chroma has never had a commit: chroma.sqlite3 was emptied or
        replaced (truncated to 0 bytes, restored from elsewhere). Every answer would abstain while `sources`
        lists the articles, so say so now."""
        if self.lexical.count() == 0 or self._generation() > 0:
            return
        if self._call(self.docs.get, limit=1, include=[])["ids"]:
            return  # records without the generation one: an index from before it existed
        n = sum(1 for _ in self.lexical.records())
        raise IndexOutOfStep(
            f"the vector store ({self.data_dir / 'chroma' / 'chroma.sqlite3'}) has lost its chunks while the "
            f"lexical index still lists {n} article{'s' if n != 1 else ''}: the two halves of the index disagree. "
            "Re-ingest: `newsqa ingest --rebuild PATH…` with the files or URLs you indexed (or `newsqa reset`, "
            "then ingest again)")

    def lexical_path(self) -> Path:
        """Beside the embedded index (so `reset` removes both); per server for a Chroma server."""
        if not self.chroma_url:
            return self.data_dir / "chroma" / f"lexical-{self.name}.sqlite"
        host, port, _ = self._server()
        return self.data_dir / f"lexical-{self.name}-{host}_{port}.sqlite"

    def _server(self) -> tuple[str, int, bool]:
        """The Chroma server's host, port and whether it speaks https, from NEWSQA_CHROMA_URL."""
        from urllib.parse import urlparse

        url = self.chroma_url or ""
        u = urlparse(url if "://" in url else f"http://{url}")
        return u.hostname or "127.0.0.1", u.port or 8000, u.scheme == "https"

    def _connect(self) -> Any:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        if self.chroma_url:
            host, port, https = self._server()
            try:
                return chromadb.HttpClient(host=host, port=port, ssl=https, settings=chroma_settings)
            except Exception:
                raise StoreUnavailable(
                    f"cannot reach the Chroma server at {redact_url(self.chroma_url)}; start it (chroma run --path DIR) "
                    "or unset NEWSQA_CHROMA_URL / --chroma-url to use the local index") from None
        index_dir = self.data_dir / "chroma"
        problem = data_dir_problem(self.data_dir)  # a file, /proc, no permission: said before chromadb tries
        if problem is not None:
            raise problem
        try:
            index_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise diagnose_store_error(exc, index_dir) from None
        return self._call(chromadb.PersistentClient, path=str(index_dir), settings=chroma_settings)

    def _wrap(self, exc: Exception) -> Exception:
        if self.chroma_url:
            return StoreUnavailable(
                f"the Chroma server at {redact_url(self.chroma_url)} failed ({type(exc).__name__}); check it is "
                "running or unset NEWSQA_CHROMA_URL")
        return diagnose_store_error(exc, self.data_dir / "chroma")

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """A chromadb call: its errors said plainly; on the embedded index, a lock held by another process
        waited for at most lock_timeout seconds (reads only wait for a writer's exclusive lock)."""
        try:
            if self._watch is None:
                return fn(*args, **kwargs)
            write = getattr(fn, "__name__", "") not in _READS
            return self._watch.call(fn, *args, write=write, **kwargs)
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

    def is_new(self) -> bool:
        """Nothing was ever committed or stored here: no article record (not even a removed one's), no
        chunk (not even of an interrupted ingest). Three small reads."""
        if self._generation() > 0:
            return False
        return not (self._call(self.docs.get, limit=1, include=[])["ids"]
                    or self._call(self.chunks.get, limit=1, include=[])["ids"])

    # -- documents ---------------------------------------------------------
    def lookup(self, docs: list[str]) -> dict[str, DocRecord]:
        """The current records of these articles (deleted ones absent), read in pages."""
        out: dict[str, DocRecord] = {}
        for i in range(0, len(docs), PAGE):
            got = self._call(self.docs.get, ids=docs[i:i + PAGE], include=["metadatas"])
            for doc_id, m in zip(got["ids"], got["metadatas"] or []):
                if m and not m.get("deleted"):
                    out[doc_id] = DocRecord.from_meta(doc_id, m)
        return out

    def records(self) -> list[DocRecord]:
        """Every indexed article (for listings), from the lexical index after a sync."""
        self.sync()
        return list(self.lexical.records())

    def existing_chunk_ids(self, ids: list[str]) -> set[str]:
        out: set[str] = set()
        for i in range(0, len(ids), PAGE):
            out.update(self._call(self.chunks.get, ids=ids[i:i + PAGE], include=[])["ids"])
        return out

    def add_chunks(self, batch: list[tuple[Article, str, Chunk, str]], vectors: np.ndarray) -> None:
        """Store chunks of one or more articles: (article, digest, chunk, annotations JSON) each."""
        if not batch:
            return
        metas = [{
            "doc": c.doc, "hash": digest, "start": c.start, "end": c.end, "kind": c.kind, "ordinal": c.ordinal,
            "title": art.title, "outlet": art.outlet, "date": art.date, "date_int": date_int(art.date),
            "url": art.url, "ann": ann,
        } for art, digest, c, ann in batch]
        self._call(self.chunks.upsert, ids=[c.id for _, _, c, _ in batch], documents=[c.text for _, _, c, _ in batch],
                   embeddings=vectors.tolist(), metadatas=metas)

    def commit_docs(self, items: list[tuple[Article, str, list[Chunk], list[str], bool]]) -> None:
        """Make each (article, digest, chunks, annotations, replacing) the current version.

        Order gives crash safety: the chunks are already stored; the record switches to the new
        hash (searches trust only chunks of the record's hash); the lexical index follows in one
        transaction; older chunks go last.
        """
        if not items:
            return
        seq = time.time_ns()
        recs = [DocRecord(doc=a.doc, hash=d, title=a.title, outlet=a.outlet, date=a.date, author=a.author, url=a.url,
                          path=a.path, chunks=len(cs), seq=seq) for a, d, cs, _, _ in items]
        self._call(self.docs.upsert, ids=[r.doc for r in recs], embeddings=[[0.0]] * len(recs),
                   metadatas=[_record_meta(r) for r in recs])
        self._set_generation(seq)
        self.lexical.replace_docs([
            (r, [ChunkRow(c.id, c.doc, r.hash, c.start, c.end, c.kind, c.ordinal, c.text, ann)
                 for c, ann in zip(cs, anns)])
            for r, (_, _, cs, anns, _) in zip(recs, items)])
        self._note_synced(seq)
        for rec, (_, _, _, _, replacing) in zip(recs, items):
            if replacing:
                self.drop_stale(rec.doc, rec.hash)

    def incomplete(self, docs: list[str]) -> list[str]:
        """Those of these articles whose current record lacks some of its chunks. Chroma has no
        transactions, so two processes replacing one article at once can each delete what the other just
        made current (a check, then a delete); the ingest that finds this stores its version again."""
        recs = self.lookup(docs)
        have: dict[tuple[str, str], int] = {}
        for i in range(0, len(docs), 64):  # 64 articles' chunks stay well under a get's limit
            part = docs[i:i + 64]
            offset = 0
            while True:
                got = self._call(self.chunks.get, where={"doc": {"$in": part}}, include=["metadatas"],
                                 limit=PAGE, offset=offset)
                for m in got["metadatas"] or []:
                    key = (str(m.get("doc")), str(m.get("hash")))
                    have[key] = have.get(key, 0) + 1
                if len(got["ids"]) < PAGE:
                    break
                offset += PAGE
        return [d for d in docs if d in recs and have.get((d, recs[d].hash), 0) < recs[d].chunks]

    def drop_stale(self, doc: str, digest: str) -> None:
        """Drop the article's chunks of other versions, unless another process has meanwhile made
        its own version current (then those chunks are its, and it drops ours)."""
        current = self.lookup([doc]).get(doc)
        if current is not None and current.hash == digest:
            self._call(self.chunks.delete, where={"$and": [{"doc": doc}, {"hash": {"$ne": digest}}]})

    def delete_docs(self, docs: list[str]) -> None:
        """Remove articles: a tombstone record (so other processes see the removal), then the chunks."""
        if not docs:
            return
        seq = time.time_ns()
        self._call(self.docs.upsert, ids=docs, embeddings=[[0.0]] * len(docs),
                   metadatas=[{"deleted": 1, "hash": "", "seq": seq} for _ in docs])
        self._set_generation(seq)
        self.lexical.delete_docs(docs)
        for d in docs:
            self._call(self.chunks.delete, where={"doc": d})

    # -- keeping the lexical index in step with Chroma -------------------------------------------
    def _note_synced(self, seq: int) -> None:
        """Only ever forward: an ingest's commit and a question's sync may report out of order."""
        with self._synced_lock:
            if seq > self._synced:
                self._synced = seq
                self.lexical.set_meta("synced_seq", seq)

    def _generation(self) -> int:
        got = self._call(self.docs.get, ids=[GENERATION], include=["metadatas"])
        return int((got["metadatas"] or [{}])[0].get("seq", 0)) if got["ids"] else 0

    def _set_generation(self, seq: int) -> None:
        """The newest commit's seq, in one record every process can read by id. Last writer wins,
        so it may briefly say less than the newest commit: sync reads a slack window for that."""
        self._call(self.docs.upsert, ids=[GENERATION], embeddings=[[0.0]], metadatas=[{"seq": seq, "deleted": 1}])

    def sync(self) -> int:
        """Apply articles committed to Chroma since the last sync (by this or another process);
        returns how many changed. Costs one small query when nothing did."""
        with self._sync_lock:
            if self._synced == 0:
                self._synced = int(self.lexical.get_meta("synced_seq") or 0)
                if self._synced == 0 and self.lexical.count() == 0:
                    self._full_build()
            # Commits just before the newest one seen may still be landing (or come from a host whose
            # clock runs behind): they are read again until the slack has passed.
            since = -1
            if self._synced:
                late = time.time_ns() - self._synced < SYNC_SLACK_NS
                since = self._synced - SYNC_SLACK_NS if late else self._synced
            if since >= 0 and since == self._synced and self._generation() <= self._synced:
                return 0  # the O(1) path of every question: nothing was committed since
            changed, top = 0, self._synced
            offset = 0
            while True:
                got = self._call(self.docs.get, where={"seq": {"$gt": since}}, include=["metadatas"],
                                 limit=PAGE, offset=offset)
                ids, metas = got["ids"], got["metadatas"] or []
                if not ids:
                    break
                recs = [DocRecord.from_meta(d, m or {}) for d, m in zip(ids, metas)]
                top = max([top] + [r.seq for r in recs])
                have = self.lexical.doc_hashes([r.doc for r in recs])
                gone = [r.doc for r, m in zip(recs, metas) if (m or {}).get("deleted") and r.doc in have]
                fresh = [r for r, m in zip(recs, metas) if not (m or {}).get("deleted") and have.get(r.doc) != r.hash]
                if gone:
                    self.lexical.delete_docs(gone)
                if fresh:
                    self.lexical.replace_docs([(r, self._chunks_of(r)) for r in fresh])
                changed += len(gone) + len(fresh)
                if len(ids) < PAGE:
                    break
                offset += PAGE
            self._note_synced(top)
            return changed

    def _full_build(self) -> None:
        """A new lexical index beside an existing Chroma index (another host's, or an older
        version's): one paged pass over the records, then one over the chunks."""
        recs: dict[str, DocRecord] = {}
        offset = 0
        while True:
            got = self._call(self.docs.get, include=["metadatas"], limit=PAGE, offset=offset)
            for d, m in zip(got["ids"], got["metadatas"] or []):
                if m and not m.get("deleted"):
                    recs[d] = DocRecord.from_meta(d, m)
            if len(got["ids"]) < PAGE:
                break
            offset += PAGE
        if not recs:
            return
        self.lexical.replace_docs([(r, []) for r in recs.values()])
        offset = 0
        while True:
            got = self._call(self.chunks.get, include=["documents", "metadatas"], limit=PAGE, offset=offset)
            rows = [_row(cid, text, m) for cid, text, m in zip(got["ids"], got["documents"] or [], got["metadatas"] or [])
                    if m and m.get("doc") in recs and recs[m["doc"]].hash == m.get("hash")]
            self.lexical.add_rows(rows)
            if len(got["ids"]) < PAGE:
                break
            offset += PAGE
        self.lexical.find_copies()  # the chunks arrived after their records, so copies are filed now
        self._note_synced(max(r.seq for r in recs.values()))

    def _chunks_of(self, rec: DocRecord) -> list[ChunkRow]:
        got = self._call(self.chunks.get, where={"$and": [{"doc": rec.doc}, {"hash": rec.hash}]},
                         include=["documents", "metadatas"], limit=PAGE)
        rows = [_row(cid, text, m) for cid, text, m in zip(got["ids"], got["documents"] or [], got["metadatas"] or [])]
        return sorted(rows, key=lambda r: r.start)

    # -- reading -----------------------------------------------------------
    def passages(self, ids: list[str]) -> dict[str, Passage]:
        return self.lexical.passages(ids)

    def all_passages(self) -> list[Passage]:
        """Every current passage, ordered by doc and position (tests and exports; read in pages)."""
        self.sync()
        return [p for r in self.lexical.records() for p in self.lexical.doc_passages(r.doc)]

    def dense(self, vector: np.ndarray, n: int, where: dict[str, Any] | None = None) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity) of the nearest chunks."""
        count = self.lexical.count()
        if count == 0:
            return []
        got = self._call(self.chunks.query, query_embeddings=[vector.tolist()], n_results=max(1, min(n, count)),
                         where=where or None, include=["distances"])
        return [(cid, 1.0 - float(d)) for cid, d in zip(got["ids"][0], got["distances"][0])]

    def count(self) -> int:
        """Chunks of current articles, from the lexical index (COUNT(*) over Chroma is a full scan)."""
        return self.lexical.count()


_READS = frozenset({"get", "query", "count", "peek"})  # chromadb calls that only read


def _row(cid: str, text: str | None, m: dict[str, Any]) -> ChunkRow:
    return ChunkRow(cid, str(m.get("doc", "")), str(m.get("hash", "")), int(m.get("start", 0)), int(m.get("end", 0)),
                    str(m.get("kind", "body")), int(m.get("ordinal", 0)), text or "", str(m.get("ann", "")))


def _record_meta(r: DocRecord) -> dict[str, Any]:
    # "deleted": 0 explicitly: Chroma merges metadata on upsert, so a re-added article would keep its tombstone.
    return {"hash": r.hash, "title": r.title, "outlet": r.outlet, "date": r.date, "author": r.author, "url": r.url,
            "path": r.path, "chunks": r.chunks, "seq": r.seq, "deleted": 0}


def reset_index(settings: Settings) -> None:
    """Delete the index: the embedded folder, or the collections on a Chroma server."""
    import shutil

    if settings.chroma_url:
        store = Store(settings.data_dir, settings.chroma_url, settings.collection, settings.lock_timeout)
        for name in (store.chunks.name, store.docs.name):
            store._call(store.client.delete_collection, name)
        store.lexical.close()
        for suffix in ("", "-wal", "-shm"):
            Path(str(store.lexical_path()) + suffix).unlink(missing_ok=True)
        return
    target = Path(settings.data_dir) / "chroma"
    if target.is_dir():
        try:
            shutil.rmtree(target)
        except OSError as exc:
            raise diagnose_store_error(exc, target) from None
    elif target.exists():
        target.unlink()  # a file where the index folder should be: what reset is for
    if target.exists():
        from .errors import IndexNotWritable

        raise IndexNotWritable(f"the index at {target} could not be deleted; check the permissions of that folder")
