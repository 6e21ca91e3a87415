"""The `newsqa` command: a thin layer over `retrieval` (the library does the work).

One function a command. Each runs inside `terminal.guarded`, which turns a `NewsqaError` into one line on
stderr and its exit code; nothing else the user can cause prints a traceback. What the commands print, and
how, is bot/terminal.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from .terminal import (
    RESET_DECLINED_EXIT,
    STDOUT,
    Waiting,
    emit,
    end_draft,
    err,
    fail,
    guarded,
    ingest_progress,
    out,
    render,
)

__all__ = ["app", "main", "render"]

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="Ask questions about news articles; every answer cites the passages it comes from.")


def _version(value: bool) -> None:
    if not value:
        return
    from importlib.metadata import PackageNotFoundError, version

    def of(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    print(f"newsqa {of('newsqa')} (chromadb {of('chromadb')}, Python {sys.version.split()[0]})")
    raise typer.Exit(0)


@app.callback()
def _main(version: bool = typer.Option(False, "--version", is_eager=True, callback=_version,
                                       help="Print the version and exit.")) -> None:
    """Ask questions about news articles; every answer cites the passages it comes from."""
DataDir = typer.Option(None, "--data-dir", help="Index folder [env NEWSQA_DATA_DIR].")
ChromaUrl = typer.Option(None, "--chroma-url", help="Use a Chroma server, e.g. http://127.0.0.1:8000 [env NEWSQA_CHROMA_URL].")
Embedding = typer.Option(None, "--embedding", help="minilm (default), st:<path> or openai:<model> [env NEWSQA_EMBEDDING].")
Mode = typer.Option(None, "--mode", help="extractive (default, offline) or llm [env NEWSQA_MODE].")
K = typer.Option(None, "-k", "--k", help="How many passages to retrieve [env NEWSQA_K].")


_WARNED: set[str] = set()


def settings_from(**overrides):
    from retrieval.config import load_settings, setting_warnings

    if overrides.get("mode") not in (None, "extractive", "llm"):
        from retrieval.errors import BadInput

        raise BadInput(f"--mode must be extractive or llm, not {overrides['mode']!r}")
    for line in setting_warnings():  # NEWSQA_KK=5: "did you mean NEWSQA_K?", once per process
        if line not in _WARNED:
            _WARNED.add(line)
            err.print(f"newsqa: warning: {line}", markup=False)
    return load_settings(**overrides)


def make_engine(**overrides):
    from retrieval.api import Engine

    settings = settings_from(**overrides)
    if settings.mode == "llm":
        from retrieval.llm import require_llm_config

        require_llm_config(settings.llm)
    return Engine(settings)


@app.command()
@guarded
def ask(
    question: str = typer.Argument(..., help="The question, in quotes."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object instead of the rendered answer."),
    k: int | None = K,
    mode: str | None = Mode,
    outlet: str | None = typer.Option(None, "--outlet", help="Only passages from this outlet."),
    date_from: str | None = typer.Option(None, "--from", help="Only articles dated on or after YYYY-MM-DD."),
    date_to: str | None = typer.Option(None, "--to", help="Only articles dated on or before YYYY-MM-DD."),
    unsupported: str | None = typer.Option(None, "--unsupported", help="LLM mode: keep, flag or drop unsupported sentences."),
    data_dir: str | None = DataDir,  # a str: typer would make "" into Path("."), the working directory
    chroma_url: str | None = ChromaUrl,
    embedding: str | None = Embedding,
):
    """Answer one question with inline [n] citations and the numbered sources."""
    from retrieval.api import validate_question

    validate_question(question)
    _check_dates(date_from, date_to)
    engine = make_engine(k=k, mode=mode, data_dir=data_dir, chroma_url=chroma_url, embedding=embedding,
                         unsupported=unsupported)
    stream = None
    streamed: list[str] = []
    llm_mode = engine.settings.mode == "llm"
    with Waiting(engine.settings.llm.deadline, enabled=llm_mode) as waiting:
        if not json_out and llm_mode:
            def stream(token: str) -> None:
                waiting.stop()
                streamed.append(token)
                out.print(token, end="", markup=False)
        result = engine.answer(question, k=k, outlet=outlet, date_from=date_from, date_to=date_to, on_token=stream)
    end_draft(result, streamed)
    emit(result, json_out, engine)


def _check_dates(*dates: str | None) -> None:
    import datetime
    import re

    from retrieval.errors import BadInput

    parsed = []
    for flag, d in zip(("--from", "--to"), dates):
        if d is None:
            parsed.append(None)
            continue
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", d):
            raise BadInput(f"{flag}: dates are YYYY-MM-DD, not {d!r}")
        try:
            parsed.append(datetime.date.fromisoformat(d))
        except ValueError as exc:
            raise BadInput(f"{flag}: {d!r} is not a real date ({exc})") from None
    if len(parsed) == 2 and None not in parsed and parsed[0] > parsed[1]:
        raise BadInput(f"--from {dates[0]} is after --to {dates[1]}; nothing can match")


CHAT_HISTORY = "chat_history"  # in the data dir: the questions asked in `newsqa chat`, for Up and Ctrl-R
CHAT_HISTORY_LINES = 1000


def _chat_lines(history: Path):
    """The lines typed into `newsqa chat`. On a terminal: readline's line editing (arrows, Ctrl-R) and a
    history kept in `history` across sessions. Piped: lines read as bytes, so text that isn't UTF-8
    becomes a one-line error for that question (validate_question), never a traceback."""
    if sys.stdin.isatty():
        yield from _typed_lines(history)
        return
    source = getattr(sys.stdin, "buffer", None)
    while True:
        out.print("? ", end="", markup=False)
        raw = source.readline() if source is not None else sys.stdin.readline().encode("utf-8", "surrogateescape")
        if not raw:
            out.print()
            return
        yield raw.decode("utf-8", "surrogateescape").rstrip("\r\n")


def _typed_lines(history: Path):
    try:
        import readline
    except ImportError:  # pragma: no cover - Windows without pyreadline: plain input()
        readline = None
    if readline is not None:
        readline.set_history_length(CHAT_HISTORY_LINES)
        try:
            readline.read_history_file(history)
        except (OSError, UnicodeDecodeError):
            pass  # no history yet (or an unreadable one): start a new one
    try:
        while True:
            try:
                line = input("? ")
            except UnicodeDecodeError:
                err.print("newsqa: error: that line is not valid UTF-8 text; retype it", markup=False)
                continue
            except (EOFError, KeyboardInterrupt):
                return
            yield line
    finally:
        if readline is not None:
            try:
                history.parent.mkdir(parents=True, exist_ok=True)
                readline.write_history_file(history)
            except OSError:
                pass  # a read-only data dir: the session still worked, its history just isn't kept


@app.command()
@guarded
def chat(
    k: int | None = K,
    mode: str | None = Mode,
    data_dir: str | None = DataDir,
    chroma_url: str | None = ChromaUrl,
    embedding: str | None = Embedding,
):
    """Ask several questions in a row; models stay loaded. Empty line or Ctrl-D quits."""
    from retrieval.errors import BadInput, NewsqaError

    engine = make_engine(k=k, mode=mode, data_dir=data_dir, chroma_url=chroma_url, embedding=embedding)
    err.print("newsqa chat: ask about the indexed articles (empty line or Ctrl-D to quit)")
    previous: str | None = None  # the last turn, so "and did he agree?" is understood
    for question in _chat_lines(Path(engine.settings.data_dir) / CHAT_HISTORY):
        if not question.strip():
            break
        try:
            streamed: list[str] = []

            llm_mode = engine.settings.mode == "llm"
            with Waiting(engine.settings.llm.deadline, enabled=llm_mode) as waiting:
                def stream(t: str) -> None:  # noqa: F811 - stops the progress line first
                    waiting.stop()
                    streamed.append(t)  # noqa: B023 - called only within this turn
                    out.print(t, end="", markup=False)

                result = engine.answer(question, on_token=stream if llm_mode else None, previous=previous)
            previous = f"{result.question} {result.answer}"
            end_draft(result, streamed)
            emit(result, False, engine)
        except BadInput as exc:
            err.print(f"newsqa: error: {exc}", markup=False)
        except NewsqaError:
            raise


@app.command()
@guarded
def ingest(
    paths: list[str] = typer.Argument(..., help="Files or folders (.txt .md .html .json .jsonl), or http(s) URLs of pages and RSS/Atom feeds."),
    rebuild: bool = typer.Option(False, "--rebuild", help="Drop the whole index first (needed after changing --embedding)."),
    follow_links: bool = typer.Option(False, "--follow-links", help="Also follow symbolic links that point outside the named folders."),
    no_wait: bool = typer.Option(False, "--no-wait", help="If another ingest into the same data dir is running, stop (exit 10) instead of waiting for it."),
    prune: bool = typer.Option(False, "--prune", help="Also remove indexed articles whose files are gone from the named folders."),
    ignore_robots: bool = typer.Option(False, "--ignore-robots", help="Fetch URLs even where the site's robots.txt disallows it (for sites of your own)."),
    data_dir: str | None = DataDir,
    chroma_url: str | None = ChromaUrl,
    embedding: str | None = Embedding,
):
    """Add or update articles in the index; unchanged files cost nothing."""
    from retrieval import web
    from retrieval.loading import iter_files

    paths = [web.argument(p) for p in paths]  # URLs stay exact through Path(); retrieval/web.py fetches them
    list(iter_files(paths, follow_links))  # a missing path fails before anything is touched
    engine = make_engine(data_dir=data_dir, chroma_url=chroma_url, embedding=embedding,
                         web_robots=False if ignore_robots else None)

    def waiting(pid) -> None:
        who = f"pid {pid}" if pid else "another process"
        err.print(f"newsqa: another ingest ({who}) is writing to {engine.settings.data_dir}; waiting for it to "
                  "finish (Ctrl-C to stop, --no-wait to not wait)", markup=False)

    code = _ingest(engine, paths, rebuild, wait=not no_wait, on_wait=waiting, follow_links=follow_links)
    if prune:
        gone = engine.remove(engine.stale([p for p in paths if Path(p).is_dir()]), wait=not no_wait, on_wait=waiting)
        out.print(f"pruned {len(gone)} (files no longer in the folder)" + (": " + ", ".join(gone[:10]) if gone else ""),
                  markup=False)
    raise typer.Exit(code)


def _ingest(engine, paths, rebuild: bool, **lock_and_links) -> int:
    """Ingest with a progress bar on a terminal; print the summary and every skipped item; the exit code."""
    if rebuild:
        from retrieval.store import reset_index

        reset_index(engine.settings)
    display, tick = ingest_progress(err)
    try:
        report = engine.ingest(paths, progress=tick, **lock_and_links)
    finally:
        display.stop()
    out.print(f"added {len(report.added)}, unchanged {len(report.unchanged)}, replaced {len(report.replaced)}, "
              f"skipped {len(report.skipped)} ({report.chunks_embedded} chunks embedded)", markup=False)
    for s in report.skipped:
        where = f"{s.path}:{s.line}" if getattr(s, "line", None) else s.path
        out.print(f"  skipped {where}: {s.reason}", markup=False)
    return 0 if report.ok else 1


@app.command()
@guarded
def watch(
    feeds: list[str] = typer.Argument(..., help="URLs of RSS/Atom feeds or pages (files and folders work too)."),
    every: str = typer.Option("15m", "--every", help="How often to check: 90s, 15m, 1h."),
    once: bool = typer.Option(False, "--once", help="One round, then exit (1 when something was skipped)."),
    ignore_robots: bool = typer.Option(False, "--ignore-robots", help="Fetch even where robots.txt disallows it (for sites of your own)."),
    data_dir: str | None = DataDir,
    chroma_url: str | None = ChromaUrl,
    embedding: str | None = Embedding,
):
    """Re-ingest feeds on an interval, fetching only what changed; Ctrl-C stops (exit 130)."""
    from retrieval import web
    from retrieval.index import watch as watch_feeds
    from retrieval.loading import iter_files

    interval, targets = web.parse_interval(every), [web.argument(f) for f in feeds]
    list(iter_files(targets))
    engine = make_engine(data_dir=data_dir, chroma_url=chroma_url, embedding=embedding,
                         web_robots=False if ignore_robots else None)
    try:
        code = watch_feeds(engine.index, targets, interval, once, say=lambda line: out.print(line, markup=False))
    except KeyboardInterrupt:
        raise fail("watch stopped", 130) from None
    raise typer.Exit(code)


@app.command()
@guarded
def sources(
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
    data_dir: str | None = DataDir,
    chroma_url: str | None = ChromaUrl,
):
    """List the indexed articles with their metadata and chunk counts."""
    from rich.table import Table

    engine = make_engine(data_dir=data_dir, chroma_url=chroma_url)
    records = sorted(engine.sources().values(), key=lambda r: r.doc)
    if json_out:
        rows = [{"doc": r.doc, "title": r.title, "outlet": r.outlet, "date": r.date, "author": r.author, "url": r.url,
                 "chunks": r.chunks} for r in records]
        STDOUT.write(json.dumps(rows, ensure_ascii=False) + "\n")
        return
    if not records:
        out.print("The index is empty: run `newsqa ingest PATH` (or ask a question to load the bundled corpus).")
        return
    cols = ("doc", "outlet", "title", "date", "author", "chunks")
    if not out.is_terminal:
        # Piped: one tab-separated line per article, nothing cut, so `newsqa remove` gets whole ids.
        lines = ["\t".join(cols)] + ["\t".join(" ".join(str(v).split()) for v in
                                             (r.doc, r.outlet, r.title, r.date, r.author, r.chunks))
                                   for r in records]
        STDOUT.write("\n".join(lines) + "\n")
        return
    from rich.text import Text

    table = Table(title=f"{len(records)} articles", title_justify="left")
    longest = max(len(r.doc) for r in records)
    for col in cols:
        if col == "doc":  # the id `remove` takes: kept whole on one line while the terminal allows
            table.add_column(col, no_wrap=longest <= out.width - 30, overflow="fold", min_width=min(longest, 60))
        else:
            table.add_column(col, justify="right" if col == "chunks" else "left", overflow="fold")
    for r in records:
        table.add_row(*(Text(str(v)) for v in (r.doc, r.outlet, r.title, r.date, r.author, r.chunks)))
    out.print(table)


@app.command("config")
@guarded
def config_cmd(
    json_out: bool = typer.Option(False, "--json", help="Print JSON: one object per setting."),
    data_dir: str | None = DataDir,
    chroma_url: str | None = ChromaUrl,
    embedding: str | None = Embedding,
    mode: str | None = Mode,
):
    """Every setting: its environment variable, its value now (secrets hidden) and what it does."""
    from dataclasses import asdict

    from retrieval.config import describe

    rows = describe(settings_from(data_dir=data_dir, chroma_url=chroma_url, embedding=embedding, mode=mode))
    if json_out:
        STDOUT.write(json.dumps([asdict(r) for r in rows], ensure_ascii=False) + "\n")
        return
    if not out.is_terminal:
        STDOUT.write("\n".join("\t".join((r.variable, r.value, r.description)) for r in rows) + "\n")
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(title="newsqa settings (environment or .env; --help of a command for its flags)",
                  title_justify="left", show_lines=False, expand=True)
    table.add_column("variable", no_wrap=True)
    table.add_column("value", overflow="fold")
    table.add_column("meaning", ratio=1, overflow="fold")
    for r in rows:
        shown = Text(r.value or "(unset)", style="" if r.value != r.default else "dim")
        table.add_row(Text(r.variable), shown, Text(r.description))
    out.print(table)


@app.command()
@guarded
def remove(
    docs: list[str] = typer.Argument(..., help="Document ids, as `newsqa sources` lists them."),
    data_dir: str | None = DataDir,
    chroma_url: str | None = ChromaUrl,
):
    """Take articles out of the index (a page's id is its canonical URL: the URL itself works too)."""
    from retrieval import web
    from retrieval.errors import BadInput

    engine = make_engine(data_dir=data_dir, chroma_url=chroma_url)
    # Each argument as given, and for a URL the id its page got (its canonical URL, without the scheme).
    wanted = {d: [d] + [x for x in web.doc_ids_for(d, engine.settings.data_dir) if x != d] for d in docs}
    gone = engine.remove([x for ids in wanted.values() for x in ids])
    missing = [d for d, ids in wanted.items() if not set(ids) & set(gone)]
    out.print(f"removed {len(gone)}", markup=False)
    if missing:
        raise BadInput("not in the index: " + ", ".join(missing[:10]))


@app.command()
@guarded
def reset(
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
    data_dir: str | None = DataDir,
    chroma_url: str | None = ChromaUrl,
):
    """Delete the index (the fix for a corrupt one); ingest again afterwards."""
    from retrieval.errors import ConfigError, redact_url
    from retrieval.store import reset_index

    settings = settings_from(data_dir=data_dir, chroma_url=chroma_url)
    where = redact_url(settings.chroma_url) or str(Path(settings.data_dir) / "chroma")
    if not settings.chroma_url:
        target = Path(settings.data_dir)
        if target.exists() and not target.is_dir():
            raise ConfigError(f"{target} is a file, not a data dir: there is no index there to delete (set "
                              "NEWSQA_DATA_DIR or --data-dir to the folder that holds the index)")
        if not (target / "chroma").exists():
            out.print(f"there is no index at {where}; nothing to delete", markup=False)
            return
    if not yes and not typer.confirm(f"Delete the index {where}?"):
        err.print("newsqa: not deleted: the index is kept as it was", markup=False)
        raise typer.Exit(RESET_DECLINED_EXIT)
    reset_index(settings)
    out.print(f"index deleted: {where}", markup=False)


@app.command("eval")
@guarded
def eval_cmd(
    gold: list[Path] | None = typer.Option(None, "--gold", help="Gold JSONL file(s) [default: evals/gold/]."),
    mode: str | None = Mode,
    k: int | None = K,
    out_dir: Path | None = typer.Option(None, "--out", help="Where results.json and report.md go [runs/<timestamp>]."),
    json_out: bool = typer.Option(False, "--json", help="Print {metrics, items} as JSON to stdout."),
    baseline: Path | None = typer.Option(None, "--baseline", help="An earlier results.json to compare with."),
    fail_under: list[str] | None = typer.Option(None, "--fail-under", help="METRIC=VALUE; exit 1 when below."),
    predictions: Path | None = typer.Option(None, "--predictions", help="Score these answers instead of running newsqa."),
    judge: bool = typer.Option(False, "--judge", help="Also score citations with an LLM judge (the LLM-mode endpoint)."),
    corpus: Path | None = typer.Option(None, "--corpus", help="Ingest these articles first; gold evidence points into them."),
    data_dir: str | None = DataDir,
    chroma_url: str | None = ChromaUrl,
    embedding: str | None = Embedding,
):
    """Score answers against the gold question-and-answer pairs (--mode extractive,llm: side by side)."""
    from evals.harness import run_cli
    from evals.judge import Judge

    modes = [m.strip() for m in mode.split(",")] if mode else [None]
    code = run_cli(gold=gold, modes=modes, k=k, out_dir=out_dir, json_out=json_out, baseline=baseline,
                   fail_under=fail_under or [], predictions=predictions,
                   make_engine=lambda m: make_engine(k=k, mode=m, data_dir=data_dir, chroma_url=chroma_url,
                                                     embedding=embedding),
                   make_judge=(lambda: Judge(settings_from(data_dir=data_dir))) if judge else None,
                   out=out, err=err, corpus=corpus)
    raise typer.Exit(code)


@app.command("discord")
@guarded
def discord_cmd(
    mode: str | None = Mode,
    k: int | None = K,
    data_dir: str | None = DataDir,
    chroma_url: str | None = ChromaUrl,
):
    """Run the Discord bot (token from DISCORD_TOKEN in the environment or .env)."""
    try:
        from bot.discord_bot import run_bot
    except ImportError as exc:
        if (exc.name or "").split(".")[0] not in ("discord", "aiohttp"):
            raise
        from retrieval.errors import ConfigError

        raise ConfigError("newsqa discord needs the discord extra: pip install 'newsqa[discord]'") from None

    settings = settings_from(mode=mode, k=k, data_dir=data_dir, chroma_url=chroma_url)
    raise typer.Exit(run_bot(settings))


def main() -> None:
    try:
        app()
    except SystemExit as exc:
        _exit_past_blocked_reads(exc.code)
        raise
    _exit_past_blocked_reads(0)


def _exit_past_blocked_reads(code: object) -> None:
    """After IndexBusy abandoned a read blocked inside chromadb, the interpreter's shutdown would crash in
    chromadb (or wait): flush and leave at once, with the exit code already decided."""
    from retrieval import dblock

    if not dblock.abandoned():
        return
    import os

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code if isinstance(code, int) else (0 if code is None else 1))


if __name__ == "__main__":
    main()
