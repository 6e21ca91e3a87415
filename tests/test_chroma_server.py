"""The HttpClient path against a real `chroma run` on 127.0.0.1, started and stopped here."""

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import CORPUS, ROOT, free_port

pytestmark = pytest.mark.slow  # server: a real Chroma server

CHROMA = Path(sys.executable).parent / "chroma"


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    exe = str(CHROMA) if CHROMA.exists() else shutil.which("chroma")
    if not exe:
        pytest.skip("the chroma command is not installed")
    path = tmp_path_factory.mktemp("chroma-server")
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    for _attempt in range(3):  # a free port can be taken by another process before chroma binds it
        port = free_port()
        proc = subprocess.Popen([exe, "run", "--host", "127.0.0.1", "--port", str(port), "--path", str(path)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        url = f"http://127.0.0.1:{port}"
        deadline = time.time() + 60
        while time.time() < deadline and proc.poll() is None:
            try:
                urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1)
                break
            except OSError:
                time.sleep(0.3)
        else:
            proc.kill()
            continue
        break
    else:
        pytest.fail("chroma run did not start (3 attempts)")
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def cli(args, data_dir, url):
    env = {**os.environ, "NEWSQA_DATA_DIR": str(data_dir), "NEWSQA_CHROMA_URL": url, "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=300)


def test_ingest_and_ask_through_a_chroma_server(chroma_server, tmp_path):
    p = cli(["ingest", str(CORPUS)], tmp_path, chroma_server)
    assert p.returncode == 0, p.stderr
    assert "added 2" in p.stdout
    p = cli(["ingest", str(CORPUS)], tmp_path, chroma_server)
    assert "unchanged 2" in p.stdout and "0 chunks embedded" in p.stdout
    p = cli(["ask", "When did Ukraine start its cross-border operation into Kursk?", "--json"], tmp_path, chroma_server)
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert not r["abstained"] and "August 2024" in r["sources"][0]["text"]
    # Nothing went to the embedded index: the local data dir has no Chroma files.
    assert not (tmp_path / "chroma").exists()
    p = cli(["sources", "--json"], tmp_path, chroma_server)
    assert {d["doc"] for d in json.loads(p.stdout)} == {c.name for c in CORPUS.glob("*.txt")}


def test_a_second_process_sees_new_articles_by_its_next_question(chroma_server, tmp_path):
    """Host B (this process) and host A (a CLI process, its own data dir) share one Chroma server."""
    from retrieval.api import Engine
    from retrieval.config import Settings

    host_a, host_b = tmp_path / "a", tmp_path / "b"
    assert cli(["ingest", str(CORPUS)], host_a, chroma_server).returncode == 0
    b = Engine(Settings(data_dir=host_b, chroma_url=chroma_server))
    first = b.answer("When did Ukraine start its cross-border operation into Kursk?")
    assert not first.abstained
    news = tmp_path / "news"
    news.mkdir()
    (news / "lighthouse.txt").write_text(
        "The Varberg lighthouse keeper, Ingrid Solberg, counted 412 grey seals on the skerries on Tuesday.\n",
        encoding="utf-8")
    assert cli(["ingest", str(news)], host_a, chroma_server).returncode == 0
    synced_before = b.store.lexical.generation()
    r = b.answer("How many grey seals did the Varberg lighthouse keeper count?")
    assert r.sources and r.sources[0].doc == "lighthouse.txt"
    # Exactly one article was applied to B's lexical index: an incremental step, not a rebuild.
    assert b.store.lexical.generation() == synced_before + 1
    assert b.store.count() > 0 and len(b.sources()) == 3


def test_concurrent_ingests_of_one_article_never_leave_it_without_chunks(chroma_server, tmp_path):
    from retrieval.store import Store

    dirs = []
    for name, fact in (("x", "The ferry to Hiiumaa sails at 7:15 every morning in winter."),
                       ("y", "The ferry to Hiiumaa was cancelled for the week because of sea ice.")):
        src = tmp_path / f"src-{name}"
        src.mkdir()
        (src / "ferry.txt").write_text(fact + "\n", encoding="utf-8")
        dirs.append((tmp_path / f"host-{name}", src))
    for _round in range(3):
        env = {**os.environ, "NEWSQA_CHROMA_URL": chroma_server, "NO_COLOR": "1"}
        procs = [subprocess.Popen([sys.executable, "-m", "bot.cli", "ingest", str(src)], cwd=ROOT,
                                  env={**env, "NEWSQA_DATA_DIR": str(d)}, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL) for d, src in dirs]
        assert [p.wait(300) for p in procs] == [0, 0]
        store = Store(tmp_path / "checker", chroma_server)
        rec = store.lookup(["ferry.txt"])["ferry.txt"]
        got = store.chunks.get(where={"$and": [{"doc": "ferry.txt"}, {"hash": rec.hash}]}, include=[])
        assert len(got["ids"]) == rec.chunks >= 1
        # Swap the versions so that each round replaces what the last one committed.
        dirs.reverse()
