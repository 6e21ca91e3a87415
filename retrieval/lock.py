"""One ingest at a time per data dir, so two ingests don't both embed the same articles.

`ingest_lock(data_dir, wait)` takes an exclusive `fcntl.flock` on `<data_dir>/ingest.lock`. The
kernel releases it when the holder exits, however it exits (even `kill -9`), so a stale lock
never blocks anyone. The file holds the holder's pid, only to name it in messages.

    with ingest_lock(settings.data_dir, wait=True, on_wait=lambda pid: print(f"waiting for {pid}")):
        engine.ingest(paths)

The second ingest either waits (and then finds the first one's work already stored, so it embeds
nothing twice) or, with `wait=False`, raises `IndexBusy` (exit 10) naming the holder.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from .errors import IndexBusy, diagnose_store_error

LOCK_NAME = "ingest.lock"
_HELD: dict[tuple[str, int], int] = {}  # (lock file, thread) -> depth, so a holder may nest the lock

try:  # POSIX; elsewhere the lock is a no-op
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


def lock_path(data_dir: str | os.PathLike[str]) -> Path:
    return Path(data_dir) / LOCK_NAME


def holder_pid(data_dir: str | os.PathLike[str]) -> int | None:
    """The pid written in the lock file (the current or last holder), if any."""
    try:
        text = lock_path(data_dir).read_text(encoding="ascii").strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None


def _read_pid(fd: int) -> int | None:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 32).decode("ascii", "replace").strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def ingest_lock(data_dir: str | os.PathLike[str], wait: bool = True, on_wait: Callable[[int | None], None] | None = None) -> Iterator[None]:
    """Hold the data dir's ingest lock for the block.

    If another process holds it: with `wait`, call `on_wait(pid)` once and block until it is
    released; without, raise `IndexBusy` naming the holder's pid.
    """
    path = lock_path(data_dir)
    key = (os.path.abspath(path), threading.get_ident())
    if _HELD.get(key):
        # Already held by this thread (the CLI around Engine.ingest, or ensure_index inside an ingest):
        # a second flock on a new descriptor would wait for ourselves forever.
        _HELD[key] += 1
        try:
            yield
        finally:
            _HELD[key] -= 1
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise diagnose_store_error(exc, path.parent) from None
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pid = _read_pid(fd)
                who = f"pid {pid}" if pid else "another process"
                if not wait:
                    raise IndexBusy(f"another ingest ({who}) is writing to {path.parent}; wait for it to finish, "
                                    "or run without --no-wait to wait for it") from None
                if on_wait is not None:
                    on_wait(pid)
                fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        except OSError:
            pass  # the pid is only for messages; the flock is the lock
        _HELD[key] = 1
        try:
            yield
        finally:
            _HELD.pop(key, None)
    finally:
        os.close(fd)  # releases the flock
