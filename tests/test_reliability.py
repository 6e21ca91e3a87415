"""Failure modes a user meets in practice: broken pipes, bad settings, feeds with bad lines, id collisions,
links out of a folder, credentials in URLs, a damaged or unwritable index, two ingests at once."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from retrieval.errors import (
    DiskFull,
    IndexBusy,
    IndexCorrupt,
    IndexNotWritable,
    IndexVersionMismatch,
    diagnose_store_error,
    redact_text,
    redact_url,
)

from conftest import ROOT, free_port


def env_for(data_dir, **extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("NEWSQA_") and k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    env.update({"NEWSQA_DATA_DIR": str(data_dir), "NO_COLOR": "1", **extra})
    return env


def run(args, data_dir, **extra):
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True,
                          env=env_for(data_dir, **extra), cwd=ROOT, timeout=300)


def one_line_error(p) -> str:
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    return lines[0]


# -- 4. broken pipe, impossible dates, settings errors ---------------------------------------------

@pytest.mark.slow  # signals: a reader that closes the pipe (SIGPIPE)
@pytest.mark.parametrize("args", [["ask", "Who praised the North Korean troops?"],
                                  ["ask", "Who praised the North Korean troops?", "--json"],
                                  ["sources"]])
def test_a_closed_pipe_ends_quietly_with_exit_0(data_copy, args):
    r, w = os.pipe()
    os.close(r)  # the reader is gone before anything is written, like `| head -0`
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", *args], stdout=w, stderr=subprocess.PIPE, text=True,
                            env=env_for(data_copy), cwd=ROOT)
    os.close(w)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err  # BROKEN_PIPE_EXIT; rich's own handler used to exit 1
    assert err == "", err


def test_head_reads_the_first_line_and_the_command_exits_0(data_copy):
    cmd = f"{sys.executable} -m bot.cli ask 'When did Ukraine start its cross-border operation into Kursk?' | head -1; " \
          "echo \"status=${PIPESTATUS[0]}\""
    p = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, env=env_for(data_copy), cwd=ROOT,
                       timeout=300)
    out = p.stdout.strip().splitlines()
    assert len(out) == 2 and out[-1] == "status=0" and "August 2024" in out[0], p.stdout + p.stderr
    assert "Traceback" not in p.stderr


@pytest.mark.parametrize("args, needle", [
    (["--from", "2025-13-45"], "'2025-13-45' is not a real date"),
    (["--to", "2025-02-30"], "'2025-02-30' is not a real date"),
    (["--from", "26/04/2025"], "dates are YYYY-MM-DD"),
    (["--from", "2025-05-01", "--to", "2025-04-01"], "is after --to"),
])
def test_impossible_dates_are_a_one_line_error_exit_2(tmp_path, args, needle):
    p = run(["ask", "Who retook Kursk?", *args], tmp_path / "d")
    assert p.returncode == 2
    assert needle in one_line_error(p)
    assert not (tmp_path / "d").exists()  # checked before anything was opened


@pytest.mark.parametrize("env, needle", [
    ({"NEWSQA_K": "abc"}, "NEWSQA_K (got 'abc'): it should be a valid integer"),
    ({"NEWSQA_K": "0"}, "NEWSQA_K (got '0'): it should be greater than or equal to 1"),
    ({"NEWSQA_MODE": "fast"}, "NEWSQA_MODE (got 'fast')"),
    ({"NEWSQA_LLM_DEADLINE": "soon"}, "NEWSQA_LLM_DEADLINE"),
])
def test_settings_errors_are_plain_one_line_exit_2(tmp_path, env, needle):
    p = run(["ask", "Who retook Kursk?"], tmp_path / "d", **env)
    assert p.returncode == 2
    line = one_line_error(p)
    assert needle in line and line.startswith("newsqa: error: invalid setting")
    for raw in ("validation error", "type=", "pydantic", "input_value", "For further information"):
        assert raw not in line


def test_a_secret_setting_is_never_echoed(tmp_path):
    p = run(["discord"], tmp_path / "d", NEWSQA_DISCORD_GUILD_IDS="not-json", DISCORD_TOKEN="tok-SECRET-123")
    assert p.returncode == 2 and "NEWSQA_DISCORD_GUILD_IDS" in one_line_error(p)
    assert "tok-SECRET" not in p.stderr + p.stdout


# -- 1-3. feeds, ids, links through `newsqa ingest` -------------------------------------------------

@pytest.mark.slow  # e2e: a chain of newsqa processes
def test_ingest_a_feed_with_bad_lines_keeps_the_good_ones_exit_1(tmp_path, data_copy):
    feed = tmp_path / "feed.jsonl"
    feed.write_text("\n".join([
        json.dumps({"id": "good-1", "text": "The harbour fire started at dawn and burned for six hours."}),
        '{"id": "bad", "text": "unterminated',
        json.dumps({"id": "heading", "text": "Harbour fire latest"}),
        json.dumps({"id": "good-2", "text": "Firefighters contained the blaze by noon, the mayor said."}),
    ]) + "\n", encoding="utf-8")
    p = run(["ingest", str(feed)], data_copy)
    assert p.returncode == 1, p.stderr
    assert "added 2," in p.stdout and "skipped 2" in p.stdout
    assert f"skipped {feed}:2: invalid JSON" in p.stdout
    assert f"skipped {feed}:3: no article text" in p.stdout
    docs = {r["doc"] for r in json.loads(run(["sources", "--json"], data_copy).stdout)}
    assert {"good-1", "good-2"} <= docs and "bad" not in docs and "heading" not in docs


@pytest.mark.slow  # e2e: a chain of newsqa processes
def test_same_file_name_in_two_folders_and_same_id_in_two_feeds_never_overwrite(tmp_path, data_copy):
    root = tmp_path / "root"
    for sub, text in (("kyiv", "The bridge in Kyiv closed on Monday for repairs."),
                      ("lviv", "The school in Lviv reopened on Tuesday after repairs.")):
        (root / sub).mkdir(parents=True)
        (root / sub / "news.txt").write_text(text + "\n", encoding="utf-8")
    (root / "a.jsonl").write_text(json.dumps({"id": "x1", "text": "Feed A says the ferry sailed at noon."}) + "\n",
                                  encoding="utf-8")
    (root / "b.jsonl").write_text(json.dumps({"id": "x1", "text": "Feed B says the train left at dawn."}) + "\n",
                                  encoding="utf-8")
    p = run(["ingest", str(root)], data_copy)
    assert p.returncode == 1 and "added 3," in p.stdout and "skipped 1" in p.stdout, p.stdout
    assert f"skipped {root / 'b.jsonl'}:1: duplicate document id 'x1', already used by {root / 'a.jsonl'}:1" in p.stdout
    docs = {r["doc"]: r for r in json.loads(run(["sources", "--json"], data_copy).stdout)}
    assert {"kyiv/news.txt", "lviv/news.txt", "x1"} <= set(docs)
    assert {"000_ab32f97f3e457f91.txt", "003_c7d2b25bb0186fa3.txt"} <= set(docs)  # seed ids unchanged


@pytest.mark.slow  # e2e: a chain of newsqa processes (tests/test_loading.py has the rule)
def test_links_out_of_the_folder_are_skipped_unless_follow_links(tmp_path, data_copy):
    outside = tmp_path / "home"
    outside.mkdir()
    (outside / "diary.txt").write_text("The diary says the vault code is kept under the floor.\n", encoding="utf-8")
    root = tmp_path / "articles"
    root.mkdir()
    (root / "real.txt").write_text("The harbour fire started at dawn and burned for hours.\n", encoding="utf-8")
    (root / "diary.txt").symlink_to(outside / "diary.txt")
    p = run(["ingest", str(root)], data_copy)
    assert p.returncode == 1 and "added 1," in p.stdout
    assert f"skipped {root / 'diary.txt'}: symbolic link to {outside / 'diary.txt'}" in p.stdout
    assert "--follow-links" in p.stdout
    p = run(["ingest", "--follow-links", str(root)], data_copy)
    assert p.returncode == 0 and "added 1, unchanged 1" in p.stdout, p.stdout


# -- 5. credentials in URLs ------------------------------------------------------------------------

def test_redact_url():
    assert redact_url("http://admin:SECRETPASS@127.0.0.1:9/v1") == "http://***@127.0.0.1:9/v1"
    assert redact_url("https://tok@host/x?api_key=k1&model=m") == "https://***@host/x?api_key=***&model=m"
    assert redact_url("http://127.0.0.1:8000") == "http://127.0.0.1:8000"
    assert redact_url(None) == ""
    assert redact_text("at http://u:p@h:1/v1 and https://h/?token=t") == "at http://***@h:1/v1 and https://h/?token=***"


def test_chroma_url_credentials_are_not_printed(tmp_path):
    p = run(["ask", "Who retook Kursk?", "--chroma-url", f"http://admin:SECRETPASS@127.0.0.1:{free_port()}"],
            tmp_path / "d")
    assert p.returncode == 3
    line = one_line_error(p)
    assert "SECRETPASS" not in p.stderr + p.stdout and "admin" not in line and "Chroma server" in line


def test_llm_url_credentials_are_not_printed(data_copy):
    p = run(["ask", "Who praised the North Korean troops?", "--mode", "llm", "--json"], data_copy,
            OPENAI_BASE_URL=f"http://admin:SECRETPASS@127.0.0.1:{free_port()}/v1", NEWSQA_LLM_MODEL="x",
            NEWSQA_LLM_RETRIES="0")
    assert p.returncode == 0, p.stderr
    assert "SECRETPASS" not in p.stdout + p.stderr
    assert any("could not connect to http://***@127.0.0.1:" in n for n in json.loads(p.stdout)["notes"])


# -- 8. index errors: diagnosed from real conditions ------------------------------------------------

def _chroma_error(index_dir: Path, write: bool = True) -> Exception:
    """The exception chromadb raises opening (and writing to) the index at `index_dir`, from a real run."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    client = None
    try:
        client = chromadb.PersistentClient(path=str(index_dir), settings=ChromaSettings(anonymized_telemetry=False))
        col = client.get_or_create_collection("newsqa_chunks", embedding_function=None)
        col.count()
        if write:
            import numpy as np

            for b in range(40):
                col.upsert(ids=[f"probe{b}-{i}" for i in range(50)], embeddings=np.random.rand(50, 384).tolist(),
                           documents=["x" * 2000] * 50)
    except Exception as exc:  # noqa: BLE001 - that's what we are capturing
        return exc
    finally:
        chromadb.api.client.SharedSystemClient.clear_system_cache()  # close its files (the mount must go)
        del client
    raise AssertionError("chromadb raised nothing")


def _umount(path: Path) -> None:
    if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(path)], check=True)  # detach now, freed when the last file closes


def _mount(*args) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@pytest.mark.slow  # mount: a read-only bind mount
def test_a_read_only_index_is_a_permission_problem_not_corruption(seeded_dir, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(seeded_dir, src)
    ro = tmp_path / "ro"
    ro.mkdir()
    if not (_mount("--bind", str(src), str(ro)) and _mount("-o", "remount,bind,ro", str(ro))):
        subprocess.run(["umount", str(ro)], capture_output=True)
        pytest.skip("no read-only bind mount in this sandbox (needs CAP_SYS_ADMIN)")
    try:
        exc = _chroma_error(ro / "chroma")
        err = diagnose_store_error(exc, ro / "chroma")  # while the condition holds, as in real use
    finally:
        _umount(ro)
    assert isinstance(err, IndexNotWritable) and err.exit_code == 8, (exc, err)
    assert "permissions" in str(err) and "reset" not in str(err)


@pytest.mark.slow  # mount: a small tmpfs filled up
def test_a_full_disk_is_not_corruption(tmp_path):
    small = tmp_path / "small"
    small.mkdir()
    if not _mount("-t", "tmpfs", "-o", "size=400k", "tmpfs", str(small)):
        pytest.skip("cannot mount a small tmpfs in this sandbox")
    try:
        exc = _chroma_error(small / "chroma")
        err = diagnose_store_error(exc, small / "chroma")  # while the condition holds, as in real use
    finally:
        _umount(small)
    assert isinstance(err, DiskFull) and err.exit_code == 9, (exc, err)
    assert "disk is full" in str(err) and "reset" not in str(err)


def test_a_damaged_index_suggests_reset(tmp_path):
    d = tmp_path / "chroma"
    d.mkdir()
    (d / "chroma.sqlite3").write_bytes(b"this is not a database" * 100)
    err = diagnose_store_error(_chroma_error(d, write=False), d)
    assert isinstance(err, IndexCorrupt) and err.exit_code == 4
    assert "newsqa reset" in str(err) and "not a database" in str(err)


def test_an_index_from_another_chromadb_version_is_a_version_mismatch(seeded_dir, tmp_path):
    import sqlite3

    shutil.copytree(seeded_dir, tmp_path / "d")
    db = sqlite3.connect(tmp_path / "d" / "chroma" / "chroma.sqlite3")
    # What a database migrated by another chromadb release looks like to this one: a migration it
    # knows by name, applied with different content.
    db.execute("UPDATE migrations SET hash = 'ffffffffffffffffffffffffffffffff' "
               "WHERE version = (SELECT max(version) FROM migrations WHERE dir = 'sysdb') AND dir = 'sysdb'")
    db.commit()
    db.close()
    err = diagnose_store_error(_chroma_error(tmp_path / "d" / "chroma", write=False), tmp_path / "d" / "chroma")
    assert isinstance(err, IndexVersionMismatch) and err.exit_code == 11, err
    assert "chromadb version" in str(err) and "newsqa reset" not in str(err)


def test_a_locked_database_and_os_errors_are_told_apart():
    import errno

    import chromadb.errors as ce

    # chromadb's Rust layer reports SQLite's result codes in this form (captured: code 8, 13, 26 above).
    locked = ce.InternalError("error returned from database: (code: 5) database is locked")
    assert isinstance(diagnose_store_error(locked, "/x"), IndexBusy)
    assert isinstance(diagnose_store_error(OSError(errno.ENOSPC, "No space left on device"), "/x"), DiskFull)
    assert isinstance(diagnose_store_error(PermissionError(errno.EACCES, "Permission denied"), "/x"),
                      IndexNotWritable)
    assert isinstance(diagnose_store_error(OSError(errno.EROFS, "Read-only file system"), "/x"), IndexNotWritable)
    codes = {c.exit_code for c in (IndexCorrupt, IndexNotWritable, DiskFull, IndexBusy, IndexVersionMismatch)}
    assert len(codes) == 5 and not codes & {0, 1, 2, 3, 5, 6, 7, 130}


# -- 9. the ingest lock, with real processes ----------------------------------------------------------

HOLD = ("import sys, time\nfrom retrieval.lock import ingest_lock\n"
        "with ingest_lock(sys.argv[1], wait=True):\n    print('held', flush=True)\n    time.sleep(120)\n")


def _holder(data_dir):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(data_dir)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout.readline().strip() == "held"
    return proc


@pytest.mark.slow  # signals: a lock holder killed
def test_no_wait_refuses_while_another_ingest_holds_the_lock_and_a_killed_holder_frees_it(tmp_path, data_copy):
    article = tmp_path / "fire.txt"
    article.write_text("The harbour fire started at dawn and burned for six hours.\n", encoding="utf-8")
    holder = _holder(data_copy)
    try:
        p = run(["ingest", "--no-wait", str(article)], data_copy)
        assert p.returncode == 10, p.stderr
        assert f"pid {holder.pid}" in one_line_error(p) and "added" not in p.stdout
        waiter = subprocess.Popen([sys.executable, "-m", "bot.cli", "ingest", str(article)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=env_for(data_copy), cwd=ROOT)
        line = waiter.stderr.readline()
        assert f"another ingest (pid {holder.pid})" in line and "waiting" in line
        time.sleep(0.5)
        assert waiter.poll() is None  # still waiting
    finally:
        holder.send_signal(signal.SIGKILL)  # no cleanup runs: the kernel releases the flock
        holder.wait()
    out, err = waiter.communicate(timeout=300)
    assert waiter.returncode == 0, err
    assert "added 1," in out


@pytest.mark.slow  # timing: two ingest processes at once
def test_two_ingests_at_once_embed_each_article_once(tmp_path, data_copy):
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(60):
        (folder / f"n{i:02d}.txt").write_text(
            f"Council meeting {i} approved budget line {i} for the harbour district.\n\n"
            f"Residents asked about road {i} repairs before winter, the clerk said.\n", encoding="utf-8")
    procs = [subprocess.Popen([sys.executable, "-m", "bot.cli", "ingest", str(folder)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env_for(data_copy), cwd=ROOT) for _ in range(2)]
    results = [p.communicate(timeout=300) + (p.returncode,) for p in procs]
    assert [r[2] for r in results] == [0, 0], results
    summaries = sorted(r[0].splitlines()[0] for r in results)
    assert summaries[0].startswith("added 0, unchanged 60") and "(0 chunks embedded)" in summaries[0], summaries
    assert summaries[1].startswith("added 60, unchanged 0"), summaries


def test_cli_on_a_read_only_index_says_permissions_not_reset(seeded_dir, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(seeded_dir, src)
    ro = tmp_path / "ro"
    ro.mkdir()
    if not (_mount("--bind", str(src), str(ro)) and _mount("-o", "remount,bind,ro", str(ro))):
        subprocess.run(["umount", str(ro)], capture_output=True)
        pytest.skip("no read-only bind mount in this sandbox (needs CAP_SYS_ADMIN)")
    try:
        p = run(["ask", "Who praised the North Korean troops?"], ro)
    finally:
        _umount(ro)
    assert p.returncode == 8, p.stderr
    line = one_line_error(p)
    assert "not writable" in line and "permissions" in line and "reset" not in line


def test_the_lock_nests_in_one_thread_but_excludes_other_threads(tmp_path):
    import threading

    from retrieval.lock import holder_pid, ingest_lock

    with ingest_lock(tmp_path, wait=False):
        with ingest_lock(tmp_path, wait=False):  # e.g. the CLI around Engine.ingest: no self-deadlock
            assert holder_pid(tmp_path) == os.getpid()
        failed = []

        def other():
            try:
                with ingest_lock(tmp_path, wait=False):
                    pass
            except IndexBusy as exc:
                failed.append(str(exc))

        t = threading.Thread(target=other)
        t.start()
        t.join()
        assert failed and f"pid {os.getpid()}" in failed[0]
    with ingest_lock(tmp_path, wait=False):  # released on exit
        pass


def test_an_endpoint_echoing_credentials_in_its_error_body_is_redacted_in_json_notes(data_copy):
    """A 400 body that echoes `Bearer sk-…` (and the configured key itself, whatever its shape) never
    reaches the notes printed by --json."""
    from llm_double import ScriptedLLM, Step

    body = json.dumps({"error": {"message": "Invalid header 'Authorization: Bearer sk-live-abcdef1234567890' for "
                                            "key Zq9-own-key-Zq9 (api_key=Zq9-own-key-Zq9)"}}).encode()
    with ScriptedLLM([Step(status=400, raw=body)]) as srv:
        p = run(["ask", "Who praised the North Korean troops?", "--mode", "llm", "--json"], data_copy,
                OPENAI_BASE_URL=srv.url, NEWSQA_LLM_MODEL="x", NEWSQA_LLM_RETRIES="0",
                OPENAI_API_KEY="Zq9-own-key-Zq9")
    assert p.returncode == 0, p.stderr
    notes = json.loads(p.stdout)["notes"]
    assert any("HTTP 400" in n and "Bearer ***" in n for n in notes), notes
    assert "abcdef1234567890" not in p.stdout + p.stderr and "Zq9-own-key-Zq9" not in p.stdout + p.stderr
