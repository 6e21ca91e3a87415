"""Bounded waits on the embedded index's SQLite lock, and who holds it.

chromadb's embedded client waits for SQLite's lock on `chroma.sqlite3` without a limit: while another
process holds `BEGIN EXCLUSIVE` (or a write transaction) on it, opening the index, every read and every
write block for as long as that process keeps it, with nothing on screen. chromadb has no setting for
that wait, so newsqa bounds it from outside:

- before every call (opening the index, each read, each write), it looks at the file's locks
  (`fcntl(F_GETLK)`, which takes no lock itself) and waits while another process holds one the call would
  need, at most `timeout` seconds, then raises `IndexBusy` (exit 10) naming that process;
- a read also runs on a worker thread, watched the same way while it runs, so a lock taken after the look
  still ends in `IndexBusy`; the blocked read is abandoned (`abandoned()` says so: the CLI then exits without
  the interpreter's shutdown, which would wait on it). chromadb's writes and its start hold the GIL while
  they wait for SQLite, so nothing in the process can run meanwhile: for them only the look before the call
  is possible, and a lock taken in the instant between the look and the write is waited for as chromadb
  waits.

A call that is merely slow (a large write, the first load of a big index) is never cut short: only a
lock held by another process counts.

SQLite's rollback-journal locks are POSIX byte-range locks on the database file (see SQLite's os_unix.c):
PENDING is one byte at 1 GiB, RESERVED the byte after it, SHARED the 510 bytes after that. A reader
needs no foreign write lock on PENDING or SHARED; a writer also needs RESERVED free. POSIX locks are
per process and a close of any descriptor drops all of the process's locks on that file, so the
descriptor used for looking is opened once and never closed (closing it would release the locks that
chromadb's own connections hold in this process).
"""

from __future__ import annotations

import os
import queue
import struct
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from .errors import IndexBusy

PENDING_BYTE = 0x40000000
RESERVED_BYTE = PENDING_BYTE + 1
SHARED_FIRST = PENDING_BYTE + 2
SHARED_SIZE = 510
POLL = 0.05  # seconds between looks at the lock

T = TypeVar("T")

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no POSIX locks to look at; calls run unwatched
    fcntl = None  # type: ignore[assignment]

if sys.platform.startswith("linux"):
    _FLOCK = "hhqqi4x"  # short l_type, l_whence; off_t l_start, l_len; pid_t l_pid (+ padding)
elif sys.platform == "darwin":  # pragma: no cover
    _FLOCK = "qqihh"  # off_t l_start, l_len; pid_t l_pid; short l_type, l_whence
else:  # pragma: no cover
    _FLOCK = ""

_ABANDONED = 0  # reads left blocked on a worker thread after IndexBusy


def abandoned() -> int:
    """How many reads were left blocked inside chromadb (a process exiting normally would wait on them, or
    crash in chromadb's shutdown: exit with os._exit instead)."""
    return _ABANDONED


_OPEN: dict[str, tuple[int, int]] = {}  # database path -> (descriptor, inode); never closed (see above)
_OPEN_LOCK = threading.Lock()


def _descriptor(path: Path) -> int | None:
    """A descriptor on the database file for looking at its locks; None when it doesn't exist (yet)."""
    key = os.path.abspath(path)
    try:
        ino = os.stat(key).st_ino
    except OSError:
        return None
    with _OPEN_LOCK:
        known = _OPEN.get(key)
        if known is not None and known[1] == ino:
            return known[0]
        try:
            fd = os.open(key, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            try:
                fd = os.open(key, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            except OSError:
                return None
        _OPEN[key] = (fd, ino)  # a replaced file (a reset) gets a new descriptor; the old one stays open
        return fd


def _conflict(fd: int, kind: int, start: int, length: int) -> int | None:
    """The pid of another process holding a lock on [start, start+length) that conflicts with `kind`
    (0 when the kernel doesn't say which), or None when there is none."""
    if fcntl is None or not _FLOCK:
        return None
    if _FLOCK.startswith("hh"):
        probe = struct.pack(_FLOCK, kind, os.SEEK_SET, start, length, 0)
    else:  # pragma: no cover - macOS layout
        probe = struct.pack(_FLOCK, start, length, 0, kind, os.SEEK_SET)
    try:
        got = fcntl.fcntl(fd, fcntl.F_GETLK, probe)
    except OSError:
        return None
    if _FLOCK.startswith("hh"):
        l_type, _, _, _, pid = struct.unpack(_FLOCK, got)
    else:  # pragma: no cover
        _, _, pid, l_type, _ = struct.unpack(_FLOCK, got)
    return None if l_type == fcntl.F_UNLCK else max(int(pid), 0)


def holder(path: Path, write: bool) -> int | None:
    """The pid (0: unknown) of another process whose lock on the SQLite file at `path` blocks a read (or,
    with `write`, a write) now; None when nothing does."""
    if fcntl is None or not _FLOCK:
        return None
    fd = _descriptor(path)
    if fd is None:
        return None
    for kind, start, length in ((fcntl.F_RDLCK, PENDING_BYTE, 1), (fcntl.F_RDLCK, SHARED_FIRST, SHARED_SIZE)) + (
            ((fcntl.F_WRLCK, RESERVED_BYTE, 1),) if write else ()):
        pid = _conflict(fd, kind, start, length)
        if pid is not None:
            return pid
    return None


def describe(pid: int | None) -> str:
    """"pid 1234 (python3 -m bot.cli ingest …)", or "another process" when the pid is unknown."""
    if not pid:
        return "another process"
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        cmd = " ".join(part.decode("utf-8", "replace") for part in raw.split(b"\0") if part)
    except OSError:
        cmd = ""
    if len(cmd) > 80:
        cmd = cmd[:79] + "…"
    return f"pid {pid} ({cmd})" if cmd else f"pid {pid}"


# Calls run on a few reused daemon threads (starting a thread per call costs more than a small read).
# A call abandoned while blocked keeps its thread; daemon threads never hold up the process's exit.
_idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()


class _Worker(threading.Thread):
    def __init__(self) -> None:
        super().__init__(name="newsqa-index", daemon=True)
        self.inbox: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()

    def run(self) -> None:
        while True:
            self.inbox.get()()
            _idle.put(self)


def _submit(task: Callable[[], None]) -> None:
    try:
        worker = _idle.get_nowait()
    except queue.Empty:
        worker = _Worker()
        worker.start()
    worker.inbox.put(task)


class LockWatch:
    """Runs calls on the SQLite database at `path` so that a lock held by another process costs at most
    `timeout` seconds, then `IndexBusy`."""

    def __init__(self, path: Path, timeout: float, what: str = "the index"):
        self.path = Path(path)
        self.timeout = timeout
        self.what = what
        self.enabled = fcntl is not None and bool(_FLOCK)

    def busy(self, pid: int | None) -> IndexBusy:
        return IndexBusy(f"{self.what} is locked by {describe(pid)}, which holds the database lock on {self.path}; "
                         f"waited {self.timeout:g} s (NEWSQA_LOCK_TIMEOUT). Wait for it to finish, or stop it, "
                         "and run the command again (the index is not damaged)")

    def _held_for(self, write: bool, since: list[float | None]) -> int | None:
        """Look once; the holder when a conflicting lock has been held at every look for `timeout` seconds."""
        pid = holder(self.path, write)
        now = time.monotonic()
        if pid is None:
            since[0] = None
            return None
        first = since[0] if since[0] is not None else now
        since[0] = first
        return pid if now - first >= self.timeout else None

    def wait_free(self, write: bool) -> None:
        """Wait while another process holds a conflicting lock, at most `timeout` seconds; then IndexBusy."""
        if not self.enabled:
            return
        since: list[float | None] = [None]
        while holder(self.path, write) is not None:
            pid = self._held_for(write, since)
            if pid is not None:
                raise self.busy(pid)
            time.sleep(POLL)

    def call(self, fn: Callable[..., T], *args: Any, write: bool = True, **kwargs: Any) -> T:
        """`fn(*args, **kwargs)`, bounded as described above. Exceptions are the call's own."""
        if not self.enabled:
            return fn(*args, **kwargs)
        self.wait_free(write)
        if write:  # chromadb holds the GIL while a write waits: a watcher thread could never run
            return fn(*args, **kwargs)
        box: dict[str, Any] = {}
        done = threading.Event()

        def run() -> None:
            try:
                box["value"] = fn(*args, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                box["error"] = exc
            finally:
                done.set()

        _submit(run)
        since: list[float | None] = [None]
        interrupted = False
        while not done.is_set():
            try:
                if done.wait(POLL):
                    break
            except KeyboardInterrupt:
                if interrupted:
                    raise  # a second Ctrl-C: stop now
                interrupted = True  # let a write in progress finish, then stop
                continue
            pid = self._held_for(write, since)
            if pid is not None:
                global _ABANDONED
                _ABANDONED += 1
                raise self.busy(pid)
        if interrupted:
            raise KeyboardInterrupt
        if "error" in box:
            raise box["error"]
        value: T = box["value"]
        return value
