"""A newcomer's first ten minutes (issue 18): --version, chat with line editing and history, answers wrapped to
the terminal, piped listings that keep whole ids, `remove URL`, Markdown titles, manifests for subfolders, the
eval table when narrow or piped, log lines without colour codes when redirected, the ingest progress."""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
import time

import pytest

from conftest import ROOT

QUESTION = "Who praised the North Korean troops?"


def env_for(data_dir, **extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("NEWSQA_") and k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "FORCE_COLOR")}
    env.update({"NEWSQA_DATA_DIR": str(data_dir), "NO_COLOR": "1", **extra})
    return env


def run(args, data_dir, **extra):
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True,
                          env=env_for(data_dir, **extra), cwd=ROOT, timeout=300)


def test_version():
    from importlib.metadata import version

    p = run(["--version"], "/nonexistent")
    assert p.returncode == 0 and p.stdout.startswith(f"newsqa {version('newsqa')} (chromadb "), p.stdout + p.stderr


@pytest.mark.slow  # e2e: newsqa on a pseudo-terminal
def test_answers_are_wrapped_to_the_terminal_at_word_boundaries(data_copy):
    answer = json.loads(run(["ask", QUESTION, "--json"], data_copy).stdout)["answer"]
    p = run(["ask", QUESTION], data_copy, FORCE_COLOR="1", COLUMNS="50")  # rich: a 50-column terminal
    assert p.returncode == 0, p.stderr
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).rstrip() for line in p.stdout.splitlines()]  # styles, not colour
    n = next(i for i, line in enumerate(lines) if line.startswith("Sources"))
    shown = lines[:n]
    assert len(shown) > 1 and all(len(line) <= 50 for line in shown), shown  # was one 110-column line
    assert " ".join(x.strip() for x in shown) == answer  # wrapped between words, nothing lost or cut


@pytest.mark.slow  # e2e: a chain of newsqa processes
def test_piped_sources_keep_whole_ids(tmp_path):
    data = tmp_path / "data"
    src = tmp_path / "src" / "a-rather-long-folder-name-for-the-regional-desk"
    src.mkdir(parents=True)
    (src / "2025-04-26-harbour-fire-in-the-old-port-district-update-3.txt").write_text(
        "The harbour fire started at dawn and burned for six hours, officials said.\n")
    assert run(["ingest", str(tmp_path / "src")], data).returncode == 0
    p = run(["sources"], data)
    doc = "a-rather-long-folder-name-for-the-regional-desk/2025-04-26-harbour-fire-in-the-old-port-district-update-3.txt"
    assert p.stdout.splitlines()[0].split("\t")[0] == "doc"
    assert p.stdout.splitlines()[1].split("\t")[0] == doc  # was cut to "a-rather-lo…"
    assert "…" not in p.stdout


@pytest.mark.slow  # e2e: a chain of newsqa processes
def test_markdown_titles_and_manifests_for_files_in_subfolders(tmp_path):
    data = tmp_path / "data"
    root = tmp_path / "notes"
    (root / "sub").mkdir(parents=True)
    (root / "a.md").write_text("# Harbour fire in the old port\n\nThe harbour fire started at dawn and burned for "
                               "six hours, officials said.\n")
    (root / "sub" / "b.md").write_text("## Council budget vote ##\n\nThe council approved the budget by seven votes "
                                       "to two on Monday.\n")
    (root / "manifest.json").write_text(json.dumps({"articles": [
        {"doc": "sub/b.md", "outlet": "Town Crier", "date": "2025-03-01", "author": "J. Roe"}]}))
    assert run(["ingest", str(root)], data).returncode == 0
    rows = {r["doc"]: r for r in json.loads(run(["sources", "--json"], data).stdout)}
    assert rows["a.md"]["title"] == "Harbour fire in the old port"  # was "# Harbour fire in the old port"
    assert rows["sub/b.md"]["title"] == "Council budget vote"
    assert (rows["sub/b.md"]["outlet"], rows["sub/b.md"]["date"], rows["sub/b.md"]["author"]) == (
        "Town Crier", "2025-03-01", "J. Roe")  # the manifest entry was ignored


@pytest.mark.slow  # e2e: seven newsqa processes against a web server
def test_remove_accepts_a_page_url_as_given(tmp_path):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    page = (b"<!doctype html><html><head><title>Kyiv denies the withdrawal</title>"
            b"<link rel='canonical' href='BASE/news/kyiv-denies'></head><body><article><h1>Kyiv denies</h1>"
            b"<p>Ukraine's general staff said its units were still holding positions in the region and that the "
            b"report of a complete withdrawal was propaganda meant to influence talks.</p><p>Independent analysts "
            b"said the front line had moved only a few kilometres during the past week.</p></article></body></html>")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            body = page.replace(b"BASE", f"http://127.0.0.1:{self.server.server_address[1]}".encode())
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        data = tmp_path / "data"
        p = run(["ingest", f"{base}/story.html"], data, NEWSQA_WEB_DELAY="0")
        assert p.returncode == 0, p.stdout + p.stderr
        assert [r["doc"] for r in json.loads(run(["sources", "--json"], data).stdout)] == [
            f"{base[len('http://'):]}/news/kyiv-denies"]
        p = run(["remove", f"{base}/story.html"], data)  # the fetched URL; its id is the canonical one
        assert p.returncode == 0 and "removed 1" in p.stdout, p.stdout + p.stderr
        assert json.loads(run(["sources", "--json"], data).stdout) == []
        run(["ingest", f"{base}/story.html"], data, NEWSQA_WEB_DELAY="0")
        p = run(["remove", f"{base}/news/kyiv-denies"], data)  # the canonical URL itself, with its scheme
        assert p.returncode == 0 and "removed 1" in p.stdout, p.stdout + p.stderr
        p = run(["remove", f"{base}/never-ingested"], data)
        assert p.returncode == 2 and "not in the index" in p.stderr
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow  # e2e: a whole eval run in a newsqa process
def test_eval_table_is_one_metric_per_line_when_piped(tmp_path):
    p = run(["eval", "--out", str(tmp_path / "o")], tmp_path / "data")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].startswith("newsqa eval (extractive, k=8)")
    metric = next(line for line in lines if line.startswith("answer_contains "))
    assert re.match(r"answer_contains\s+\d\.\d{3}\s+\(factoid \d\.\d{3}, ", metric), metric
    assert not any(ch in p.stdout for ch in "┏┃━")  # no squeezed table


def test_eval_table_is_compact_on_a_narrow_terminal():
    from io import StringIO

    from rich.console import Console

    from evals.harness import _print_run

    res = {"config": {"mode": "extractive", "k": 8},
           "metrics": {"items": 3, "answer_contains": 0.5, "crag": 0.25, "recall_at_k": 1.0, "mrr": 0.75},
           "by_type": {"factoid": {"items": 2, "answer_contains": 0.5, "crag": 0.5, "recall_at_k": 1.0, "mrr": 1.0},
                       "cross_document": {"items": 1, "answer_contains": 0.0, "crag": -1.0, "recall_at_k": 1.0,
                                          "mrr": 0.5}},
           "items": []}
    for width, table in ((200, True), (40, False)):
        buf = StringIO()
        _print_run(res, Console(file=buf, width=width, force_terminal=True, color_system=None), show_failing=False)
        text = buf.getvalue()
        assert ("┃" in text) == table, text
        assert all(len(line) <= width for line in text.splitlines()) or not table


def test_discord_log_lines_have_no_colour_codes_when_redirected(tmp_path):
    import logging

    from bot.discord_bot import setup_logging

    stream = (tmp_path / "bot.log").open("w")
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        handler = setup_logging(stream)
        logging.getLogger("newsqa.discord").warning("logged in as newsqa")
        handler.flush()
    finally:
        for h in list(root.handlers):
            if h not in before:
                root.removeHandler(h)
        stream.close()
    text = (tmp_path / "bot.log").read_text()
    assert "logged in as newsqa" in text and "\x1b[" not in text, repr(text)  # discord.py colours in Docker


# -- chat: line editing and history ---------------------------------------------------------------------------

def _read_until(fd, needle: bytes, seconds: float) -> bytes:
    got = b""
    end = time.monotonic() + seconds
    while needle not in got and time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            got += chunk
    return got


@pytest.mark.slow  # e2e: newsqa chat on a pseudo-terminal
def test_chat_has_line_editing_and_keeps_its_history_in_the_data_dir(data_copy):
    pytest.importorskip("readline")
    master, slave = os.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "chat"], stdin=slave, stdout=slave, stderr=slave,
                            env=env_for(data_copy, TERM="xterm"), cwd=ROOT, close_fds=True)
    os.close(slave)
    try:
        assert b"? " in _read_until(master, b"? ", 120)
        os.write(master, QUESTION.encode() + b"\r")
        first = _read_until(master, b"\n? ", 120)
        assert b"Zakharova" in first, first
        os.write(master, b"\x1b[A\r")  # Up, Enter: the same question again, from readline's history
        again = _read_until(master, b"\n? ", 120)
        assert b"Zakharova" in again and b"^[[A" not in again, again
        os.write(master, b"\r")  # an empty line quits
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    history = (data_copy / "chat_history").read_text()
    assert QUESTION in history


# -- the ingest progress: one total known up front, never restarting per group ------------------------------

def _articles(n):
    from retrieval.types import Article

    return [Article(doc=f"n{i:02d}.txt", text="\n\n".join(
        f"Council meeting {i} approved budget line {j} for the harbour district after a long debate, the clerk "
        f"said, and residents asked about road {j} repairs before winter." for j in range(1 + i % 4)))
        for i in range(n)]


def test_ingest_progress_has_one_total_up_front_and_never_restarts(tmp_path, monkeypatch):
    from retrieval import ingest as ingest_mod
    from retrieval.api import Engine
    from retrieval.config import Settings

    monkeypatch.setattr(ingest_mod, "GROUP", 3)  # several groups of articles
    monkeypatch.setattr(ingest_mod, "EMBED_BATCH", 2)
    e = Engine(Settings(data_dir=tmp_path / "d"))
    arts = _articles(8)
    ingest_mod.ingest_articles(arts[:2], e.settings, e.store, e.embedder)  # two already there: unchanged
    events = []
    report = ingest_mod.ingest_articles(arts, e.settings, e.store, e.embedder, progress=events.append)
    stages = [p.stage for p in events]
    assert stages[:3] == ["checking"] * 3 and set(stages[3:]) == {"embedding"}  # all checked before embedding
    embedding = [p for p in events if p.stage == "embedding"]
    assert {p.chunks_total for p in embedding} == {report.chunks_embedded} and report.chunks_embedded > 4
    done = [p.chunks_done for p in embedding]
    assert done == sorted(done) and done[-1] == report.chunks_embedded  # never restarts, ends at its total
    assert embedding[0].articles_done == 2 and embedding[-1].articles_done == 8  # unchanged ones count as done
    assert {p.articles_total for p in events} == {8}


def test_ingest_progress_bar_shows_chunks_articles_and_an_eta(tmp_path, monkeypatch):
    from io import StringIO

    from rich.console import Console

    from bot import terminal
    from retrieval.ingest import IngestProgress

    monkeypatch.setattr(terminal, "PROGRESS_AFTER", 0.0)
    buf = StringIO()
    display, tick = terminal.ingest_progress(Console(file=buf, force_terminal=True, width=160, color_system=None))
    tick(IngestProgress("checking", 256, 512))
    for done in (64, 128, 192):
        tick(IngestProgress("embedding", 300, 512, done, 6947, "a.txt"))
    display.refresh()
    display.stop()
    text = buf.getvalue()
    assert "192/6,947 chunks" in text and "300/512 articles" in text and "ETA" in text, text
