"""The persistent lexical index: SQLite FTS5 with BM25 ranking, beside the vector index.

Chosen over an in-memory bm25s index because it is incremental (an added or
replaced article touches only its own rows), opens without reading the corpus,
filters by outlet and date inside the query, and stays consistent under
concurrent readers and one writer (WAL). It also holds each current chunk's text
and metadata, so a search never reads the whole corpus from Chroma.

Chroma stays the source of truth. Every article record there carries `seq`,
the time it was committed; this file remembers the highest `seq` it has applied,
so seeing another process's ingest costs one small query for records committed
since, never a full scan.
"""

from __future__ import annotations

import math
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .text import ANALYZER_VERSION, content_terms
from .types import Passage

SCHEMA = """
CREATE TABLE IF NOT EXISTS docs(
  doc TEXT PRIMARY KEY, hash TEXT NOT NULL, title TEXT, outlet TEXT, date TEXT, date_int INTEGER,
  author TEXT, url TEXT, path TEXT, chunks INTEGER, seq INTEGER);
CREATE INDEX IF NOT EXISTS docs_outlet ON docs(outlet);
CREATE INDEX IF NOT EXISTS docs_date ON docs(date_int);
CREATE TABLE IF NOT EXISTS chunks(
  rowid INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, doc TEXT NOT NULL, hash TEXT NOT NULL,
  start INTEGER, end_ INTEGER, kind TEXT, ordinal INTEGER, text TEXT, terms TEXT, ann TEXT);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc);
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(terms, content='chunks', content_rowid='rowid');
CREATE VIRTUAL TABLE IF NOT EXISTS fts_vocab USING fts5vocab(fts, 'row');
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS copies(doc TEXT PRIMARY KEY, story TEXT NOT NULL, sig BLOB);
CREATE INDEX IF NOT EXISTS copies_story ON copies(story);
CREATE TABLE IF NOT EXISTS copy_bands(band TEXT NOT NULL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS copy_bands_band ON copy_bands(band);
CREATE INDEX IF NOT EXISTS copy_bands_doc ON copy_bands(doc);
"""
COPIES_VERSION = "1"  # bump when retrieval/copies.py decides differently: stories are then recomputed


@dataclass
class DocRecord:
    doc: str
    hash: str
    title: str = ""
    outlet: str = ""
    date: str = ""
    author: str = ""
    url: str = ""
    path: str = ""
    chunks: int = 0
    seq: int = 0

    @classmethod
    def from_meta(cls, doc: str, m: dict[str, Any]) -> DocRecord:
        return cls(doc=doc, hash=str(m.get("hash", "")), title=str(m.get("title", "")),
                   outlet=str(m.get("outlet", "")), date=str(m.get("date", "")), author=str(m.get("author", "")),
                   url=str(m.get("url", "")), path=str(m.get("path", "")), chunks=int(m.get("chunks", 0) or 0),
                   seq=int(m.get("seq", 0) or 0))


@dataclass
class ChunkRow:
    """A chunk as stored: enough to search, cite and answer without Chroma."""

    id: str
    doc: str
    hash: str
    start: int
    end: int
    kind: str
    ordinal: int
    text: str
    ann: str = ""  # per-sentence annotations computed at ingest (JSON), see retrieval/annotate.py


def date_int(date: str) -> int:
    digits = "".join(ch for ch in date[:10] if ch.isdigit())
    return int(digits) if len(digits) == 8 else 0


# In the OR fallback, terms held by more chunks than this are left out (unless no term is rarer): FTS5
# would score every one of those rows, and BM25 weighs such common terms little anyway. A latency bound,
# not a quality setting: a corpus under this size is never affected (benchmarks/scale.py measures it).
OR_MAX_ROWS = 20_000


def _quote(term: str) -> str:
    """A quoted FTS5 string: query syntax never sees the user's text unquoted."""
    return '"' + term.replace('"', '""') + '"'


class LexicalIndex:
    def __init__(self, path: Path, readonly: bool = False, timeout: float = 30.0):
        self.path = Path(path)
        self.readonly = readonly
        self.timeout = timeout  # seconds to wait for another process's write lock (NEWSQA_LOCK_TIMEOUT)
        self._local = threading.local()
        self.write_lock = threading.Lock()
        if not readonly:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.write_lock, self.db:
                self.db.executescript(SCHEMA)
            if self.get_meta("analyzer") not in (None, ANALYZER_VERSION):
                self.reanalyse()
            if self.get_meta("analyzer") is None:
                self.set_meta("analyzer", ANALYZER_VERSION)

    # -- connection per thread: sqlite3 connections are not shared across threads ------------------
    @property
    def db(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self.readonly:
                conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=self.timeout)
            else:
                conn = sqlite3.connect(self.path, timeout=self.timeout)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: object) -> None:
        with self.write_lock, self.db:
            self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)", (key, str(value)))

    # -- writing -----------------------------------------------------------
    def replace_docs(self, items: list[tuple[DocRecord, list[ChunkRow]]]) -> None:
        """Make each article's stored version the given one, in one transaction."""
        if not items:
            return
        with self.write_lock, self.db as db:
            delta = 0
            for rec, rows in items:
                delta -= self._delete_doc(db, rec.doc)
                db.execute("INSERT INTO docs VALUES(?,?,?,?,?,?,?,?,?,?,?)",
                           (rec.doc, rec.hash, rec.title, rec.outlet, rec.date, date_int(rec.date), rec.author,
                            rec.url, rec.path, rec.chunks, rec.seq))
                for r in rows:
                    self._insert(db, r)
                delta += len(rows)
                if rows:
                    self._index_copy(db, rec.doc)
            self._bump(db, delta)

    def add_rows(self, rows: list[ChunkRow]) -> None:
        """Chunks of articles whose records are already here (a bulk build)."""
        with self.write_lock, self.db as db:
            for r in rows:
                self._insert(db, r)
            self._bump(db, len(rows))

    def delete_docs(self, docs: list[str]) -> None:
        with self.write_lock, self.db as db:
            self._bump(db, -sum(self._delete_doc(db, d) for d in docs))

    @staticmethod
    def _insert(db: sqlite3.Connection, r: ChunkRow) -> None:
        terms = " ".join(content_terms(r.text))
        cur = db.execute("INSERT INTO chunks(id, doc, hash, start, end_, kind, ordinal, text, terms, ann)"
                         " VALUES(?,?,?,?,?,?,?,?,?,?)",
                         (r.id, r.doc, r.hash, r.start, r.end, r.kind, r.ordinal, r.text, terms, r.ann))
        db.execute("INSERT INTO fts(rowid, terms) VALUES(?, ?)", (cur.lastrowid, terms))

    def _delete_doc(self, db: sqlite3.Connection, doc: str) -> int:
        old = db.execute("SELECT rowid, terms FROM chunks WHERE doc=?", (doc,)).fetchall()
        for rowid, terms in old:
            db.execute("INSERT INTO fts(fts, rowid, terms) VALUES('delete', ?, ?)", (rowid, terms))
        db.execute("DELETE FROM chunks WHERE doc=?", (doc,))
        db.execute("DELETE FROM docs WHERE doc=?", (doc,))
        db.execute("DELETE FROM copies WHERE doc=?", (doc,))
        db.execute("DELETE FROM copy_bands WHERE doc=?", (doc,))
        return len(old)

    # -- syndicated copies (retrieval/copies.py) ------------------------------------------------
    def _index_copy(self, db: sqlite3.Connection, doc: str) -> None:
        """File the article (its chunks already stored) under the story of an earlier copy it repeats,
        else under its own."""
        from . import copies

        text = self._text_of(db, doc)
        sig = copies.signature(text)
        story = doc
        if sig is not None:
            keys = copies.bands(sig)
            found = db.execute(
                "SELECT c.doc, c.story, c.sig FROM copies c WHERE c.doc IN (SELECT b.doc FROM copy_bands b "
                f"WHERE b.band IN ({','.join('?' * len(keys))}) AND b.doc != ?) ORDER BY c.story", (*keys, doc)
            ).fetchall()
            for other, other_story, blob in found:
                if blob is None or copies.similarity(sig, np.frombuffer(blob, dtype=np.uint32)) < copies.THRESHOLD:
                    continue
                if copies.same_story(text, self._text_of(db, other)):
                    story = other_story
                    break
            db.executemany("INSERT INTO copy_bands(band, doc) VALUES(?, ?)", [(k, doc) for k in keys])
        db.execute("INSERT OR REPLACE INTO copies(doc, story, sig) VALUES(?, ?, ?)",
                   (doc, story, None if sig is None else sig.tobytes()))

    @staticmethod
    def _text_of(db: sqlite3.Connection, doc: str) -> str:
        return "\n".join(t for (t,) in db.execute("SELECT text FROM chunks WHERE doc=? ORDER BY start", (doc,)))

    def find_copies(self) -> int:
        """File every article not yet filed (after a bulk build or an upgrade), oldest commit first, and all
        of them again if the way copies are found changed; returns how many were filed. Ingest calls it
        (cheap when nothing is missing), so a question never waits for a backlog. One transaction a page."""
        with self.write_lock, self.db as db:
            if self.get_meta("copies") != COPIES_VERSION:
                db.execute("DELETE FROM copies")
                db.execute("DELETE FROM copy_bands")
        done = 0
        while True:
            with self.write_lock, self.db as db:
                todo = db.execute("SELECT d.doc FROM docs d LEFT JOIN copies c ON c.doc = d.doc WHERE c.doc IS NULL "
                                  "ORDER BY d.seq, d.doc LIMIT 500").fetchall()
                for (doc,) in todo:
                    self._index_copy(db, doc)
                if not todo:
                    db.execute("INSERT OR REPLACE INTO meta VALUES('copies', ?)", (COPIES_VERSION,))
            done += len(todo)
            if not todo:
                return done

    def stories(self, docs: list[str]) -> dict[str, str]:
        """The story each article is filed under (its own id when no other outlet ran it)."""
        out: dict[str, str] = {}
        for i in range(0, len(docs), 500):
            part = docs[i:i + 500]
            out.update(self.db.execute(f"SELECT doc, story FROM copies WHERE doc IN ({','.join('?' * len(part))})",
                                       part).fetchall())
        return out

    def copies_of(self, docs: list[str]) -> dict[str, list[DocRecord]]:
        """For each article, the other current articles filed under its story, oldest first."""
        out: dict[str, list[DocRecord]] = {}
        docs = list(dict.fromkeys(docs))
        for i in range(0, len(docs), 500):
            part = docs[i:i + 500]
            rows = self.db.execute(
                "SELECT a.doc, d.doc, d.hash, d.title, d.outlet, d.date, d.author, d.url, d.path, d.chunks, d.seq "
                "FROM copies a JOIN copies b ON b.story = a.story AND b.doc != a.doc JOIN docs d ON d.doc = b.doc "
                f"WHERE a.doc IN ({','.join('?' * len(part))}) ORDER BY d.seq, d.doc", part).fetchall()
            for first, *rec in rows:
                out.setdefault(first, []).append(DocRecord(*rec))
        return out

    @staticmethod
    def _bump(db: sqlite3.Connection, delta: int) -> None:
        """Keep the chunk count in `meta` (COUNT(*) is a full scan) and a generation for caches."""
        db.execute("INSERT INTO meta VALUES('chunks', ?) ON CONFLICT(key) DO UPDATE SET value = value + ?",
                   (max(delta, 0), delta))
        db.execute("INSERT INTO meta VALUES('generation', 1) ON CONFLICT(key) DO UPDATE SET value = value + 1")

    def reanalyse(self) -> None:
        """Re-tokenise every stored chunk after an analyzer change (a one-off, on upgrade)."""
        with self.write_lock, self.db as db:
            db.execute("INSERT INTO fts(fts) VALUES('delete-all')")
            last = 0
            while True:
                rows = db.execute("SELECT rowid, text FROM chunks WHERE rowid > ? ORDER BY rowid LIMIT 5000",
                                  (last,)).fetchall()
                if not rows:
                    break
                for rowid, text in rows:
                    terms = " ".join(content_terms(text))
                    db.execute("UPDATE chunks SET terms=? WHERE rowid=?", (terms, rowid))
                    db.execute("INSERT INTO fts(rowid, terms) VALUES(?, ?)", (rowid, terms))
                last = rows[-1][0]
            db.execute("INSERT OR REPLACE INTO meta VALUES('analyzer', ?)", (ANALYZER_VERSION,))

    # -- reading -----------------------------------------------------------
    def count(self) -> int:
        v = self.get_meta("chunks")
        return int(v) if v else 0

    def generation(self) -> int:
        v = self.get_meta("generation")
        return int(v) if v else 0

    def doc_hashes(self, docs: list[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for i in range(0, len(docs), 500):
            part = docs[i:i + 500]
            q = f"SELECT doc, hash FROM docs WHERE doc IN ({','.join('?' * len(part))})"
            out.update(dict(self.db.execute(q, part).fetchall()))
        return out

    def records(self) -> Iterable[DocRecord]:
        """Every article's record, streamed in pages (for listings)."""
        last = ""
        while True:
            rows = self.db.execute("SELECT doc, hash, title, outlet, date, author, url, path, chunks, seq FROM docs "
                                   "WHERE doc > ? ORDER BY doc LIMIT 1000", (last,)).fetchall()
            if not rows:
                return
            for r in rows:
                yield DocRecord(*r)
            last = rows[-1][0]

    def outlets_matching(self, needle: str) -> list[str]:
        """Outlet names containing `needle`, case-insensitively (the `--outlet` filter's meaning)."""
        return [r[0] for r in self.db.execute("SELECT DISTINCT outlet FROM docs WHERE outlet LIKE ? ESCAPE '\\'",
                                              ("%" + _like_escape(needle) + "%",))]

    def search(self, terms: list[str], n: int, outlets: list[str] | None = None, date_from: int = 0,
               date_to: int = 0, exclude_docs: tuple[str, ...] = ()) -> list[tuple[str, float]]:
        """(chunk id, BM25 score) of the best n chunks; higher is better.

        FTS5 scores every row a query matches before it sorts, so an OR of common words costs time in
        proportion to the corpus. Chunks holding all the terms are asked for first (few, and usually
        the best); only when they are too few does an OR query over the rarer terms fill the list.
        """
        terms = list(dict.fromkeys(terms))
        if not terms:
            return []
        hits = self._ranked(" AND ".join(_quote(t) for t in terms), n, outlets, date_from, date_to, exclude_docs)
        if len(hits) < n and len(terms) > 1:
            df = self.document_frequency(terms)
            rare = [t for t in terms if df.get(t, 0) <= OR_MAX_ROWS] or sorted(terms, key=lambda t: df.get(t, 0))[:2]
            seen = {cid for cid, _ in hits}
            more = self._ranked(" OR ".join(_quote(t) for t in rare), n, outlets, date_from, date_to, exclude_docs)
            hits += [(cid, sc) for cid, sc in more if cid not in seen][: n - len(hits)]
        return hits

    def _ranked(self, match: str, n: int, outlets: list[str] | None, date_from: int, date_to: int,
                exclude_docs: tuple[str, ...]) -> list[tuple[str, float]]:
        sql = "SELECT c.id, -bm25(fts) FROM fts JOIN chunks c ON c.rowid = fts.rowid"
        where: list[str] = ["fts MATCH ?"]
        args: list[object] = [match]
        if outlets is not None or date_from or date_to:
            sql += " JOIN docs d ON d.doc = c.doc"
            if outlets is not None:
                where.append(f"d.outlet IN ({','.join('?' * len(outlets))})")
                args.extend(outlets)
            if date_from:
                where.append("d.date_int >= ?")
                args.append(date_from)
            if date_to:
                where.append("d.date_int <= ? AND d.date_int > 0")
                args.append(date_to)
        if exclude_docs:
            where.append(f"c.doc NOT IN ({','.join('?' * len(exclude_docs))})")
            args.extend(exclude_docs)
        sql += " WHERE " + " AND ".join(where) + " ORDER BY bm25(fts) LIMIT ?"
        args.append(n)
        return [(cid, float(sc)) for cid, sc in self.db.execute(sql, args)]

    def passages(self, ids: list[str]) -> dict[str, Passage]:
        """The current passages among `ids` (ids of replaced versions are simply absent)."""
        out: dict[str, Passage] = {}
        for i in range(0, len(ids), 500):
            part = ids[i:i + 500]
            q = ("SELECT c.id, c.doc, c.text, c.start, c.end_, c.kind, d.title, d.outlet, d.date, d.url, c.ann "
                 f"FROM chunks c JOIN docs d ON d.doc = c.doc AND d.hash = c.hash WHERE c.id IN ({','.join('?' * len(part))})")
            for cid, doc, text, s, e, kind, title, outlet, date, url, ann in self.db.execute(q, part):
                out[cid] = Passage(id=cid, doc=doc, text=text, start=s, end=e, kind=kind, title=title or "",
                                   outlet=outlet or "", date=date or "", url=url or "", ann=ann or "")
        return out

    def doc_passages(self, doc: str) -> list[Passage]:
        rows = self.db.execute("SELECT id FROM chunks WHERE doc=? ORDER BY start", (doc,)).fetchall()
        got = self.passages([r[0] for r in rows])
        return [got[r[0]] for r in rows if r[0] in got]

    def document_frequency(self, terms: list[str]) -> dict[str, int]:
        terms = list(dict.fromkeys(terms))
        if not terms:
            return {}
        q = f"SELECT term, doc FROM fts_vocab WHERE term IN ({','.join('?' * len(terms))})"
        return {t: int(d) for t, d in self.db.execute(q, terms)}

    def idf(self, terms: list[str]) -> dict[str, float]:
        """BM25's idf for each term; a term no chunk holds weighs as the rarest possible term."""
        n = max(self.count(), 1)
        df = self.document_frequency(terms)
        return {t: math.log(1 + (n - df.get(t, 0) + 0.5) / (df.get(t, 0) + 0.5)) for t in terms}


def _like_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
