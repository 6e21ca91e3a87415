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

CHROMA = Path(sys.executable).parent / "chroma"


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    exe = str(CHROMA) if CHROMA.exists() else shutil.which("chroma")
    if not exe:
        pytest.skip("the chroma command is not installed")
    port = free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    proc = subprocess.Popen([exe, "run", "--host", "127.0.0.1", "--port", str(port), "--path", str(path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1)
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail("chroma run exited early")
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("chroma run did not start within 60 s")
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
    p = cli(["ask", "Who said Russia will never forget Korean friends?", "--json"], tmp_path, chroma_server)
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert not r["abstained"] and "Zakharova" in r["sources"][0]["text"]
    # Nothing went to the embedded index: the local data dir has no Chroma files.
    assert not (tmp_path / "chroma").exists()
    p = cli(["sources", "--json"], tmp_path, chroma_server)
    assert {d["doc"] for d in json.loads(p.stdout)} == {c.name for c in CORPUS.glob("*.txt")}
