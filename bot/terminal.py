"""What the `newsqa` command writes to the terminal, and the one place its failures end.

- The consoles (`out` on stdout, `err` on stderr), with a write that fails (a full disk, a closed pipe)
  raised as `OutputError` and kept apart from every other OSError.
- `guarded`: every command runs inside it; a `NewsqaError` becomes one line on stderr and its exit code, a
  closed pipe ends quietly (exit 0), a stdout that refuses writes is exit 12, Ctrl-C is 130. Nothing else the
  user can cause prints a traceback.
- What an answer looks like (`render`, `emit`), the line shown while the language model is silent
  (`Waiting`), and the ingest progress bar (`ingest_progress`).
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import typer
from rich.console import Console


class OutputError(Exception):
    """Writing to stdout failed (a full disk, a closed pipe): kept apart from every other OSError."""

    def __init__(self, error: OSError):
        super().__init__(str(error))
        self.error = error


class _Stdout:
    """Whatever sys.stdout is now (CliRunner swaps it), with write errors raised as OutputError."""

    def write(self, text: str) -> int:
        try:
            return sys.stdout.write(text)
        except OSError as exc:
            raise OutputError(exc) from None

    def flush(self) -> None:
        try:
            sys.stdout.flush()
        except OSError as exc:
            raise OutputError(exc) from None

    def __getattr__(self, name: str):
        return getattr(sys.stdout, name)


STDOUT = _Stdout()
out = Console(file=STDOUT, highlight=False, soft_wrap=True)  # type: ignore[arg-type]
err = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str, code: int) -> typer.Exit:
    from retrieval.errors import redact_text

    first = " ".join(str(message).split())  # one line, whatever the message held
    err.print(f"newsqa: error: {redact_text(first)}", markup=False)
    return typer.Exit(code)


# A reader that stops early (`newsqa ask … | head -1`) closes the pipe: that is not an error, so the
# command ends quietly with exit 0 (not 141 as if killed by SIGPIPE, which fails `set -o pipefail`).
BROKEN_PIPE_EXIT = 0


def _on_broken_pipe() -> None:
    """rich's own broken-pipe handler exits 1; ours ends the command quietly with BROKEN_PIPE_EXIT."""
    raise _quiet_broken_pipe()


def _quiet_broken_pipe() -> typer.Exit:
    """Stop writing to the closed pipe, so the interpreter's final flush doesn't complain either."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
    return typer.Exit(BROKEN_PIPE_EXIT)


out.on_broken_pipe = _on_broken_pipe  # type: ignore[method-assign]


# The output could not be written (stdout on a full disk, a device that refuses writes): a distinct code,
# since nothing is wrong with the index or the input.
OUTPUT_FAILED_EXIT = 12
RESET_DECLINED_EXIT = 13  # `newsqa reset` answered "n": nothing was deleted


def _output_failed(exc: OSError) -> typer.Exit:
    """stdout refused the answer (`newsqa ask … > /dev/full`): one line on stderr, exit 12, and no second
    complaint from the interpreter's final flush."""
    import os

    why = exc.strerror or type(exc).__name__
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
    return fail(f"cannot write the output: {why} (errno {exc.errno}); the command's work is done, only printing "
                "it failed", OUTPUT_FAILED_EXIT)


def _flush_stdout() -> None:
    """Push buffered output out now, so a failing stdout is reported here, not after exit."""
    try:
        STDOUT.flush()
    except OutputError as exc:
        raise _output_error(exc) from None
    except ValueError:  # stdout already closed
        pass


def _output_error(exc: OutputError) -> typer.Exit:
    import errno

    if isinstance(exc.error, BrokenPipeError) or exc.error.errno == errno.EPIPE:
        return _quiet_broken_pipe()
    return _output_failed(exc.error)


def guarded(fn):
    """Run a command; user-caused failures become one line and an exit code."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        import sqlite3

        from retrieval.errors import NewsqaError

        try:
            result = fn(*args, **kwargs)
            _flush_stdout()
            return result
        except typer.Exit:
            _flush_stdout()
            raise
        except NewsqaError as exc:
            raise fail(str(exc), exc.exit_code) from None
        except KeyboardInterrupt:
            raise fail("interrupted; the index keeps everything stored before the interruption", 130) from None
        except BrokenPipeError:
            raise _quiet_broken_pipe() from None
        except OutputError as exc:  # e.g. `newsqa ask … > /dev/full`
            raise _output_error(exc) from None
        except sqlite3.Error as exc:  # the lexical index (SQLite, beside Chroma): a lock, a full disk, damage
            from retrieval.errors import diagnose_store_error

            raised = diagnose_store_error(exc, _index_dir(kwargs))
            raise fail(str(raised), raised.exit_code) from None
        except OSError as exc:
            import errno

            if exc.errno == errno.EPIPE:
                raise _quiet_broken_pipe() from None
            raise
        except ValueError as exc:  # a settings error that escaped load_settings
            from retrieval.config import settings_error_message

            if hasattr(exc, "errors"):
                raise fail(settings_error_message(exc), 2) from None
            raise fail(f"invalid value: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", 2) from None

    return wrapper


def _index_dir(kwargs: dict) -> Path:
    """The index folder a command works on, for messages about errors raised outside the store."""
    try:
        from retrieval.config import load_settings

        return Path(kwargs.get("data_dir") or load_settings().data_dir) / "chroma"
    except Exception:  # noqa: BLE001 - only for wording a message
        return Path("the index")


class Waiting:
    """Progress on stderr while the language model has written nothing yet.

    On a terminal: a line updated every half second with the seconds waited and the deadline,
    erased when the first token arrives. Otherwise: one line saying what is being waited for.
    """

    def __init__(self, deadline: float, enabled: bool = True, interval: float = 0.5):
        import threading

        self.deadline = deadline
        self.enabled = enabled
        self.interval = interval
        self._done = threading.Event()
        self._thread = None
        self._drawn = False

    def __enter__(self) -> Waiting:
        import threading

        if not self.enabled:
            return self
        if err.is_terminal:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        else:
            err.print(f"newsqa: waiting for the language model (at most {self.deadline:g} s, then the extractive "
                      "answer)…", markup=False)
        return self

    def _run(self) -> None:
        import time

        t0 = time.monotonic()
        while not self._done.wait(self.interval):
            waited = time.monotonic() - t0
            sys.stderr.write(f"\r\033[Kwaiting for the language model… {waited:.0f} s "
                             f"(extractive answer after {self.deadline:g} s)")
            sys.stderr.flush()
            self._drawn = True

    def stop(self) -> None:
        if self._done.is_set():
            return
        self._done.set()
        if self._thread is not None:
            self._thread.join()
            if self._drawn:
                sys.stderr.write("\r\033[K")
                sys.stderr.flush()

    def __exit__(self, *exc) -> None:
        self.stop()


def end_draft(result, streamed: list[str]) -> None:
    """After a streamed draft: a rule saying whether what follows is the checked model answer."""
    if not streamed:
        return
    out.print()
    out.rule("verified answer" if result.mode == "llm" else "draft not used: extractive answer")


BOOTSTRAP_LINE = "the index was empty: ingested the bundled corpus first"


def emit(result, json_out: bool, engine=None) -> None:
    if result.bootstrapped:
        where = f" (the demo articles in {engine.settings.data_dir}; `newsqa reset` empties it again)" if engine else ""
        err.print(f"newsqa: {BOOTSTRAP_LINE}{where}", markup=False)
    if json_out:
        STDOUT.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
        return
    render(result)


def render(result) -> None:
    from rich.markup import escape
    from rich.table import Table

    from retrieval.types import other_outlets

    style = "yellow" if result.abstained else ""
    # On a terminal, rich wraps the answer at word boundaries to its width (the terminal would cut words:
    # "retak / en"); piped, each paragraph stays one line for the next program.
    out.print(escape(result.answer), style=style, soft_wrap=not out.is_terminal)
    if result.sources:
        cited = any(f"[{s.n}]" in result.answer for s in result.sources)
        title = "Closest passages" if result.abstained and not cited else "Sources"
        table = Table(title=title, title_justify="left", show_lines=True, expand=True)
        table.add_column("#", justify="right", no_wrap=True)
        table.add_column("article", ratio=1, overflow="fold")  # doc ids are folded, never cut with "…"
        table.add_column("passage", ratio=3, overflow="fold")
        for s in result.sources:
            also = other_outlets(s.outlet, s.copies)
            more = f" and {len(also) - 8} more" if len(also) > 8 else ""
            ran = f"also ran in: {', '.join(also[:8])}{more}" if also else ""
            where = "\n".join(x for x in (s.outlet, s.title, s.date, f"{s.doc} @{s.start}-{s.end}", ran) if x)
            passage = s.text if s.kind not in ("caption", "meta") else f"({'photo caption' if s.kind == 'caption' else 'byline'}) {s.text}"
            table.add_row(str(s.n), escape(where), escape(passage))
        out.print(table)
    for note in result.notes:
        out.print(f"note: {escape(note)}", style="dim")


PROGRESS_AFTER = 1.0  # seconds before the ingest progress shows: quick ingests print just their summary


def ingest_progress(console: Console):
    """A rich progress display for `Engine.ingest` and the callback that drives it: a spinner while the
    articles are compared with the index, then one bar over every chunk to embed (its total known before
    the first is embedded), with articles done, elapsed time and an ETA."""
    import time

    from rich.progress import (
        BarColumn,
        Progress,
        SpinnerColumn,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    display = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                       TextColumn("{task.fields[chunks]}"), TextColumn("{task.fields[articles]}"),
                       TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console,
                       transient=True, disable=not console.is_terminal)
    started = time.monotonic()
    task = display.add_task("checking articles", total=None, chunks="", articles="")
    stage = ["checking"]

    def tick(p) -> None:
        if not display.live.is_started and time.monotonic() - started >= PROGRESS_AFTER:
            display.start()
        of = f"/{p.articles_total:,}" if p.articles_total is not None else ""
        articles = f"{p.articles_done:,}{of} articles"
        if p.stage == "checking":
            display.update(task, description="checking articles", articles=articles)
            return
        if stage[0] != "embedding":  # once, when the counting is over: the ETA starts from here
            stage[0] = "embedding"
            display.reset(task, total=p.chunks_total, description="embedding")
        chunks = f"{p.chunks_done:,}/{p.chunks_total:,} chunks" if p.chunks_total is not None else \
            f"{p.chunks_done:,} chunks"
        display.update(task, completed=p.chunks_done, chunks=chunks, articles=articles)

    return display, tick
