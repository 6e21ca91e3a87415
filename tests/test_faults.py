"""Faults a user meets, each reported by its real cause (issue 18): a held database lock, a data dir that is a
file, /proc, no permission, an empty setting, a vector store that lost its chunks, invalid UTF-8, link loops,
a full stdout, misspelt settings, reset that says what it did."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import CORPUS, ROOT

QUESTION = "Who praised the North Korean troops?"


def env_for(data_dir, **extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("NEWSQA_") and k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    if data_dir is not None:
        env["NEWSQA_DATA_DIR"] = str(data_dir)
    env.update({"NO_COLOR": "1", **extra})
    return env


def run(args, data_dir, cwd=ROOT, timeout=300, **extra):
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True,
                          env={**env_for(data_dir, **extra), "PYTHONPATH": str(ROOT)}, cwd=cwd, timeout=timeout)


def one_line_error(p) -> str:
    lines = [x for x in p.stderr.strip().splitlines() if not x.startswith("newsqa: warning:")]
    assert len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    return lines[0]


# -- a held SQLite lock: bounded waits, exit 10 naming the holder -----------------------------------------

HOLD_DB = ("import sqlite3, sys, time\n"
           "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
           "c.execute('BEGIN EXCLUSIVE')\n"
           "print('held', flush=True)\n"
           "time.sleep(300)\n")


def _db_holder(db: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD_DB, str(db)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


@pytest.mark.parametrize("args", [["ask", QUESTION], ["ingest", str(CORPUS)], ["sources"]],
                         ids=["ask", "ingest", "sources"])
@pytest.mark.slow  # timing: waits out NEWSQA_LOCK_TIMEOUT
def test_a_held_database_lock_is_exit_10_naming_the_holder_not_a_hang(data_copy, args):
    holder = _db_holder(data_copy / "chroma" / "chroma.sqlite3")
    try:
        t = time.monotonic()
        p = run(args, data_copy, timeout=120, NEWSQA_LOCK_TIMEOUT="1")  # before: still blocked at 300 s
        took = time.monotonic() - t
    finally:
        holder.kill()
        holder.wait()
    assert p.returncode == 10, p.stderr
    line = one_line_error(p)
    assert f"locked by pid {holder.pid}" in line and "chroma.sqlite3" in line and "NEWSQA_LOCK_TIMEOUT" in line
    assert "reset" not in line and took < 90


AFTER_OPEN = """
import os, subprocess, sys
from pathlib import Path
from retrieval import dblock
from retrieval.errors import IndexBusy
from retrieval.store import Store

store = Store(Path(sys.argv[1]), lock_timeout=1)
calls = [("read", lambda: store.lookup(["x"])), ("write", lambda: store.delete_docs(["x"]))]
if sys.argv[2] == "no-precheck":  # the lock taken after the look: the watched read still ends
    dblock.LockWatch.wait_free = lambda self, write: None
    calls = calls[:1]  # (chromadb's writes hold the GIL while they wait: only the look can bound them)
holder = subprocess.Popen([sys.executable, "-c", sys.argv[3], sys.argv[1] + "/chroma/chroma.sqlite3"],
                          stdout=subprocess.PIPE, text=True)
holder.stdout.readline()
for name, call in calls:
    try:
        call()
        print(name, "returned")
    except IndexBusy as exc:
        print(name, "busy", f"pid {holder.pid}" in str(exc), dblock.abandoned())
holder.kill()
sys.stdout.flush()
os._exit(0)
"""


@pytest.mark.parametrize("mode, expected", [("precheck", ["read busy True 0", "write busy True 0"]),
                                            ("no-precheck", ["read busy True 1"])])
@pytest.mark.slow  # timing: waits out NEWSQA_LOCK_TIMEOUT
def test_reads_and_writes_after_the_index_is_open_are_bounded_too(data_copy, mode, expected):
    p = subprocess.run([sys.executable, "-c", AFTER_OPEN, str(data_copy), mode, HOLD_DB], capture_output=True,
                       text=True, cwd=ROOT, timeout=120, env=env_for(None))
    assert p.stdout.splitlines() == expected, p.stdout + p.stderr


# -- the right diagnosis -------------------------------------------------------------------------------------

def test_a_data_dir_that_is_a_file_is_said_so_and_reset_does_not_pretend(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("my notes\n")
    p = run(["ask", QUESTION], f)
    assert p.returncode == 2, p.stderr  # was exit 4, "damaged … run newsqa reset"
    line = one_line_error(p)
    assert f"{f} is a file, not a folder" in line and "reset" not in line and "damaged" not in line
    p = run(["reset", "--yes"], f)  # was "index deleted", and nothing changed
    assert p.returncode == 2 and "is a file, not a data dir" in one_line_error(p)
    assert f.read_text() == "my notes\n"
    p = run(["ingest", str(CORPUS)], f)
    assert p.returncode == 2 and f"{f} is a file, not a folder" in one_line_error(p)


@pytest.mark.slow  # mount: a virtual file system (/proc)
def test_a_data_dir_in_proc_is_not_a_full_disk(tmp_path):
    p = run(["ask", QUESTION], "/proc/nope")
    assert p.returncode == 2, p.stderr  # was exit 9, "the disk is full"
    line = one_line_error(p)
    assert "/proc/nope" in line and "virtual file system" in line and "disk is full" not in line


def test_an_empty_data_dir_setting_is_an_error_not_the_working_directory(tmp_path):
    p = run(["ask", QUESTION], "", cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    line = one_line_error(p)
    assert "NEWSQA_DATA_DIR (got '')" in line and "empty" in line
    p = run(["sources", "--data-dir", ""], None, cwd=tmp_path)  # the flag given empty: the same
    assert p.returncode == 2 and "(got '')" in one_line_error(p) and "empty" in p.stderr
    assert list(tmp_path.iterdir()) == []  # no index made in the working directory


def test_no_permission_is_said_as_such(seeded_dir, tmp_path):
    import shutil

    d = tmp_path / "d"
    shutil.copytree(seeded_dir, d)
    prefix: list[str] = []
    if os.geteuid() == 0:  # root ignores permission bits: run without the capabilities that let it
        if not shutil.which("setpriv"):
            pytest.skip("running as root and setpriv is missing: permissions can't be denied")
        caps = "-dac_override,-dac_read_search"
        prefix = ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}"]
    d.chmod(0o000)
    try:
        p = subprocess.run([*prefix, sys.executable, "-m", "bot.cli", "ask", QUESTION], capture_output=True,
                           text=True, env=env_for(d), cwd=ROOT, timeout=300)
    finally:
        d.chmod(0o755)
    assert p.returncode == 8, p.stderr
    line = one_line_error(p)
    assert "no permission to read the data dir" in line and "mode 0o0" in line and "don't reset" in line


@pytest.mark.slow  # e2e: a chain of newsqa processes
def test_a_vector_store_that_lost_its_chunks_says_re_ingest(data_copy):
    (data_copy / "chroma" / "chroma.sqlite3").write_bytes(b"")  # truncated to 0 bytes
    p = run(["ask", QUESTION], data_copy)
    assert p.returncode == 4, p.stdout + p.stderr  # was exit 0 and "The articles I have don't say."
    line = one_line_error(p)
    assert "lost its chunks" in line and "lists 2 articles" in line and "re-ingest" in line.lower()
    assert run(["sources"], data_copy).returncode == 4
    p = run(["reset", "--yes"], data_copy)  # reset really resets: then ask works again
    assert p.returncode == 0 and "index deleted" in p.stdout, p.stderr
    p = run(["ask", QUESTION, "--json"], data_copy)
    assert p.returncode == 0 and json.loads(p.stdout)["sources"], p.stderr


def test_reset_without_an_index_says_there_was_none(tmp_path):
    p = run(["reset", "--yes"], tmp_path / "nothing")
    assert p.returncode == 0 and "there is no index at" in p.stdout


def test_reset_answered_no_says_so_with_its_own_exit_code(data_copy):
    p = subprocess.run([sys.executable, "-m", "bot.cli", "reset"], input="n\n", capture_output=True, text=True,
                       env=env_for(data_copy), cwd=ROOT, timeout=300)
    assert p.returncode == 13, p.stderr  # was exit 1 with no message
    assert "not deleted" in p.stderr and (data_copy / "chroma" / "chroma.sqlite3").is_file()


# -- no tracebacks -------------------------------------------------------------------------------------

def test_invalid_utf8_in_a_question_is_one_line(data_copy):
    p = subprocess.run([sys.executable.encode(), b"-m", b"bot.cli", b"ask", b"Who \xff\xfe praised the troops?"],
                       capture_output=True, env=env_for(data_copy), cwd=ROOT, timeout=300)
    err = p.stderr.decode("utf-8", "replace")
    assert p.returncode == 2 and "Traceback" not in err, err
    assert "not valid UTF-8" in err and "0xff" in err


def test_invalid_utf8_on_chat_stdin_skips_that_question_only(data_copy):
    p = subprocess.run([sys.executable, "-m", "bot.cli", "chat"], capture_output=True, cwd=ROOT, timeout=300,
                       input=b"Who \xff praised the troops?\n" + QUESTION.encode() + b"\n\n",
                       env={**env_for(data_copy), "LC_ALL": "C", "PYTHONIOENCODING": ""})
    out, err = p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")
    assert p.returncode == 0 and "Traceback" not in err, err
    assert "not valid UTF-8" in err and "Zakharova" in out  # the next question is answered


@pytest.mark.slow  # e2e: a chain of newsqa processes
def test_symlink_loops_are_skipped_and_the_good_file_beside_them_goes_in(tmp_path, data_copy):
    root = tmp_path / "articles"
    (root / "sub").mkdir(parents=True)
    (root / "good.txt").write_text("The harbour fire started at dawn and burned for six hours, officials said.\n")
    (root / "self").symlink_to("self")
    (root / "a").symlink_to("b")
    (root / "b").symlink_to("a")
    (root / "sub" / "up").symlink_to("..")
    for extra in ([], ["--follow-links"]):
        p = run(["ingest", *extra, str(root)], data_copy)
        assert "Traceback" not in p.stderr and p.returncode == 1, p.stderr  # was RuntimeError: Symlink loop
        assert "skipped 3" in p.stdout and f"skipped {root / 'self'}: symbolic link loop" in p.stdout
    docs = {r["doc"] for r in json.loads(run(["sources", "--json"], data_copy).stdout)}
    assert "good.txt" in docs
    p = run(["ingest", str(root / "self")], data_copy)
    assert p.returncode == 2 and "symbolic link loop" in one_line_error(p)


@pytest.mark.slow  # mount: a real full device (/dev/full)
@pytest.mark.parametrize("args", [["ask", QUESTION], ["ask", QUESTION, "--json"], ["sources"]])
def test_stdout_on_a_full_device_is_one_line_exit_12(data_copy, args):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    with open("/dev/full", "w") as full:
        p = subprocess.run([sys.executable, "-m", "bot.cli", *args], stdout=full, stderr=subprocess.PIPE, text=True,
                           env=env_for(data_copy), cwd=ROOT, timeout=300)
    assert p.returncode == 12, p.stderr  # was an OSError traceback from rich
    assert one_line_error(p) .startswith("newsqa: error: cannot write the output: No space left on device")


# -- settings errors name the variable and the file --------------------------------------------------------

def test_web_settings_errors_name_their_variable(tmp_path):
    p = run(["ingest", "http://127.0.0.1:9/feed.xml"], tmp_path / "d", NEWSQA_WEB_TIMEOUT="abc")
    assert p.returncode == 2
    assert one_line_error(p) == "newsqa: error: invalid setting NEWSQA_WEB_TIMEOUT (got 'abc'): it should be a valid number"


def test_a_binary_env_file_is_named(tmp_path):
    (tmp_path / ".env").write_bytes(b"NEWSQA_K=5\n\xff\xfe\x00garbage\x81\n")
    p = run(["ask", QUESTION], tmp_path / "d", cwd=tmp_path)
    assert p.returncode == 2
    line = one_line_error(p)
    assert f"the settings file {tmp_path / '.env'} is not UTF-8 text" in line and "a setting" not in line


def test_a_bad_value_in_env_file_names_the_file(tmp_path):
    (tmp_path / ".env").write_text("NEWSQA_K=abc\n")
    p = run(["ask", QUESTION], tmp_path / "d", cwd=tmp_path)
    assert p.returncode == 2
    assert f"invalid setting NEWSQA_K in {tmp_path / '.env'} (got 'abc')" in one_line_error(p)


def test_a_misspelt_setting_warns_with_the_closest_name(data_copy, tmp_path):
    p = run(["sources"], data_copy, NEWSQA_KK="5")
    assert p.returncode == 0
    assert "newsqa: warning: NEWSQA_KK is not a newsqa setting; did you mean NEWSQA_K?" in p.stderr
    (tmp_path / ".env").write_text("NEWSQA_LLM_MODLE=x\nnot a line\n")
    p = run(["sources"], data_copy, cwd=tmp_path)
    assert f"NEWSQA_LLM_MODLE (in {tmp_path / '.env'}) is not a newsqa setting; did you mean NEWSQA_LLM_MODEL?" in p.stderr
    assert f"{tmp_path / '.env'} line 2 is not NAME=value" in p.stderr
    assert "python-dotenv could not parse" not in p.stderr


# -- the demo corpus: only into a new data dir that nobody is ingesting into -----------------------------

HOLD_INGEST = ("import sys, time\nfrom retrieval.lock import ingest_lock\n"
               "with ingest_lock(sys.argv[1], wait=True):\n    print('held', flush=True)\n    time.sleep(300)\n")


@pytest.mark.slow  # timing: a second process holds the ingest lock
def test_ask_on_an_empty_data_dir_being_ingested_into_says_so_at_once_and_adds_no_demo(tmp_path):
    data = tmp_path / "data"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_INGEST, str(data)], stdout=subprocess.PIPE, text=True,
                              cwd=ROOT)
    assert holder.stdout.readline().strip() == "held"
    try:
        t = time.monotonic()
        p = run(["ask", QUESTION], data, timeout=120)  # before: waited for that ingest, then added the demo
        took = time.monotonic() - t
    finally:
        holder.kill()
        holder.wait()
    assert p.returncode == 10, p.stdout + p.stderr
    line = one_line_error(p)
    assert f"another ingest (pid {holder.pid}) is filling it" in line and "demo" in line and took < 60
    assert json.loads(run(["sources", "--json"], data).stdout) == []  # no demo articles in the user's index


@pytest.mark.slow  # e2e: a chain of newsqa processes
def test_a_data_dir_whose_articles_were_all_removed_gets_no_demo_corpus(tmp_path):
    data = tmp_path / "data"
    mine = tmp_path / "mine.txt"
    mine.write_text("The harbour fire started at dawn and burned for six hours, officials said.\n")
    assert run(["ingest", str(mine)], data).returncode == 0
    assert run(["remove", "mine.txt"], data).returncode == 0
    p = run(["ask", QUESTION, "--json"], data)
    assert p.returncode == 0 and json.loads(p.stdout)["abstained"], p.stderr
    assert "bundled corpus" not in p.stderr
    assert json.loads(run(["sources", "--json"], data).stdout) == []
