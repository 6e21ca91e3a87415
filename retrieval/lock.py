"""One ingest at a time per data dir, so two ingests don't both embed the same articles.

`ingest_lock(data_dir, wait)` holds `<data_dir>/ingest.lock` with the `filelock` library (an `flock` on
POSIX, `msvcrt.locking` on Windows). The kernel releases it when the holder exits, however it exits
(even `kill -9`), so a stale lock never blocks anyone. The holder writes its pid to `ingest.pid` beside
it, only to name it in messages.

    with ingest_lock(settings.data_dir, wait=True, on_wait=lambda pid: print(f"waiting for {pid}")):
        engine.ingest(paths)

The second ingest either waits (and then finds the first one's work already stored, so it embeds
nothing twice) or, with `wait=False`, raises `IndexBusy` (exit 10) naming the holder. The same thread
may take the lock again inside (the CLI around `Engine.ingest`, `ensure_index` inside an ingest); other
threads of the process wait like other processes.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from .errors import IndexBusy, diagnose_store_error

LOCK_NAME = "ingest.lock"
PID_NAME = "ingest.pid"
_LOCKS: dict[str, FileLock] = {}  # one per lock file: its hold count is per thread (thread_local)
_LOCKS_GUARD = threading.Lock()


def lock_path(data_dir: str | os.PathLike[str]) -> Path:
    return Path(data_dir) / LOCK_NAME


def holder_pid(data_dir: str | os.PathLike[str]) -> int | None:
    """The pid the current (or last) holder wrote, if any."""
    try:
        text = (Path(data_dir) / PID_NAME).read_text(encoding="ascii").strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None


def _lock_for(path: Path) -> FileLock:
    key = os.path.abspath(path)
    with _LOCKS_GUARD:
        lock = _LOCKS.get(key)
        if lock is None:
            lock = _LOCKS[key] = FileLock(key, thread_local=True)
        return lock


@contextlib.contextmanager
def ingest_lock(data_dir: str | os.PathLike[str], wait: bool = True,
                on_wait: Callable[[int | None], None] | None = None) -> Iterator[None]:
    """Hold the data dir's ingest lock for the block.

    If another process (or thread) holds it: with `wait`, call `on_wait(pid)` once and block until it is
    released; without, raise `IndexBusy` naming the holder's pid.
    """
    path = lock_path(data_dir)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise diagnose_store_error(exc, path.parent) from None
    lock = _lock_for(path)
    try:
        try:
            lock.acquire(timeout=0)
        except Timeout:
            pid = holder_pid(data_dir)
            if not wait:
                who = f"pid {pid}" if pid else "another process"
                raise IndexBusy(f"another ingest ({who}) is writing to {path.parent}; wait for it to finish, "
                                "or run without --no-wait to wait for it") from None
            if on_wait is not None:
                on_wait(pid)
            lock.acquire(poll_interval=0.1)
    except OSError as exc:
        raise diagnose_store_error(exc, path.parent) from None
    try:
        if lock.lock_counter == 1:
            try:
                (path.parent / PID_NAME).write_text(f"{os.getpid()}\n", encoding="ascii")
            except OSError:
                pass  # the pid is only for messages; the file lock is the lock
        yield
    finally:
        lock.release()
