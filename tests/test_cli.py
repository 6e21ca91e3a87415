"""End to end through the `newsqa` command on a temporary data dir, as a user runs it.

Most tests call the typer app in this process (`invoke`, through typer's CliRunner); the ones about
start-up, exit codes of a real process, signals and a fresh process's view of a damaged index run
`python -m bot.cli` (`run`).
"""

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from conftest import CORPUS, ROOT, default_sigint

EURO = "000_ab32f97f3e457f91.txt"
AP = "003_c7d2b25bb0186fa3.txt"


def run(args, data_dir, input=None, env_extra=None):
    env = {**os.environ, "NEWSQA_DATA_DIR": str(data_dir), "NO_COLOR": "1", **(env_extra or {})}
    env.pop("NEWSQA_CHROMA_URL", None)
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, input=input, timeout=300)


class Result:
    """A CliRunner result under the names of subprocess.CompletedProcess, so both kinds read alike."""

    def __init__(self, result):
        self.returncode = result.exit_code
        self.stdout = result.stdout
        self.stderr = result.stderr
        self.exception = result.exception


def invoke(args, data_dir, input=None, env_extra=None):
    from bot.cli import app

    env = {"NEWSQA_DATA_DIR": str(data_dir), "NO_COLOR": "1", "NEWSQA_CHROMA_URL": None, **(env_extra or {})}
    return Result(CliRunner().invoke(app, list(args), input=input, env=env))


def ask_json(question, data_dir, *extra, call=invoke):
    p = call(["ask", question, "--json", *extra], data_dir)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


@pytest.mark.parametrize("question, doc, needle", [
    ("When did Ukraine start its cross-border operation into Kursk?", EURO, "August 2024"),
    ("Who did Gerasimov say lost 76,000 military personnel?", EURO, "76,000"),
    ("Who said Russia will never forget Korean friends?", EURO, "Zakharova"),
    ("what day of the week did Putin put out his video statement on Kursk", AP, "Saturday"),
])
def test_ask_cites_the_right_article_and_passage(data_copy, question, doc, needle):
    r = ask_json(question, data_copy)
    assert r["mode"] == "extractive" and r["abstained"] is False
    cited = [s for s in r["sources"] if s["doc"] == doc and needle in s["text"]]
    assert cited, r
    for s in r["sources"]:
        assert set(s) >= {"doc", "title", "outlet", "date", "text", "start", "end"}
        original = (CORPUS / s["doc"]).read_text(encoding="utf-8")  # every source, in its own article
        assert original[s["start"]:s["end"]] == s["text"]
    assert f"[{r['sources'].index(cited[0]) + 1}]" in r["answer"]
    assert set(r["timings"]) >= {"embed", "search", "answer", "total"}


def test_off_topic_question_abstains(data_copy):
    r = ask_json("What is the capital of Australia?", data_copy)
    assert r["abstained"] is True and "[1]" not in r["answer"]


def test_first_ask_ingests_the_bundled_corpus(tmp_path):
    p = run(["ask", "Who praised the North Korean troops?", "--json"], tmp_path / "fresh")  # start-up: a process
    assert p.returncode == 0, p.stderr
    assert "ingested the bundled corpus" in p.stderr
    assert json.loads(p.stdout)["sources"]


@pytest.mark.parametrize("question", ["", "   ", "y" * 2001])
def test_bad_question_exit_2_one_line(tmp_path, question):
    p = run(["ask", question], tmp_path / "d")
    assert p.returncode == 2
    assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr


def test_missing_path_is_one_line_error(tmp_path):
    p = invoke(["ingest", str(tmp_path / "nope")], tmp_path / "d")
    assert p.returncode == 2 and "no such file" in p.stderr and "Traceback" not in p.stderr


def test_unreachable_chroma_server_names_the_fix(tmp_path):
    from conftest import free_port

    p = run(["ask", "anything at all", "--chroma-url", f"http://127.0.0.1:{free_port()}"], tmp_path / "d")
    assert p.returncode == 3, p.stderr
    assert "Chroma server" in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


@pytest.mark.slow  # e2e: a chain of newsqa processes
def test_corrupt_index_names_the_fix(tmp_path):
    d = tmp_path / "d"
    (d / "chroma").mkdir(parents=True)
    (d / "chroma" / "chroma.sqlite3").write_bytes(b"this is not a database" * 100)
    p = run(["ask", "Who praised the troops?"], d)
    assert p.returncode == 4, p.stderr
    assert "newsqa reset" in p.stderr and "Traceback" not in p.stderr
    p = run(["reset", "--yes"], d)
    assert p.returncode == 0
    assert run(["ask", "Who praised the North Korean troops?", "--json"], d).returncode == 0


def test_ingest_summary_skips_and_exit_codes(tmp_path, data_copy):
    good = tmp_path / "in"
    good.mkdir()
    (good / "fire.txt").write_text("The harbour fire started at dawn and burned for six hours.\n", encoding="utf-8")
    (good / "empty.txt").write_text("", encoding="utf-8")
    p = invoke(["ingest", str(good)], data_copy)
    assert p.returncode == 1
    assert "added 1" in p.stdout and "skipped 1" in p.stdout and "empty file" in p.stdout
    p = invoke(["ingest", str(good / "fire.txt"), str(CORPUS)], data_copy)
    assert p.returncode == 0 and "added 0, unchanged 3" in p.stdout and "0 chunks embedded" in p.stdout
    p = invoke(["sources", "--json"], data_copy)
    docs = {r["doc"]: r for r in json.loads(p.stdout)}
    assert docs["fire.txt"]["chunks"] == 1 and docs[EURO]["outlet"] == "Euromaidan Press"


def test_chat_answers_several_questions(data_copy):
    p = invoke(["chat"], data_copy, input="When did Ukraine start its cross-border operation into Kursk?\nWhat is the capital of Peru?\n\n")
    assert p.returncode == 0, p.stderr
    assert "August 2024" in p.stdout and "don't say" in p.stdout


@pytest.mark.slow  # signals: real ingests killed midway
@pytest.mark.parametrize("sig", ["SIGINT", "SIGKILL"])
def test_an_interrupted_ingest_loses_nothing_and_the_next_run_completes_it(tmp_path, data_copy, sig):
    import signal
    import time

    many = tmp_path / "many"
    many.mkdir()
    for i in range(1200):  # ingest is batched across articles: enough work to still be running after 4 s
        (many / f"s{i:04d}.txt").write_text(
            f"Council meeting {i} approved budget line {i} for the harbour district.\n\n"
            f"The vote on item {i} was {i % 7 + 3} to {i % 5}, the clerk said.\n\n"
            f"Residents asked about road {i} and bridge {i} repairs before winter.\n", encoding="utf-8")
    env = {**os.environ, "NEWSQA_DATA_DIR": str(data_copy), "NO_COLOR": "1"}
    env.pop("NEWSQA_CHROMA_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "ingest", str(many)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    time.sleep(4)  # past start-up and into embedding and storing; the whole folder takes ~25 s here
    proc.send_signal(getattr(signal, sig))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode != 0, "the ingest finished before it could be interrupted"
    assert "Traceback" not in err
    if sig == "SIGINT":
        # 130 from newsqa's own handler, or death by SIGINT itself (-2) when the signal lands before that handler
        # runs (seen once in a loaded CI run): a shell reports both as exit status 130.
        assert proc.returncode in (130, -signal.SIGINT)
    # The index is still usable and still holds the seed articles.
    r = ask_json("When did Ukraine start its cross-border operation into Kursk?", data_copy, call=run)
    assert not r["abstained"] and r["sources"][0]["doc"] == EURO
    # The next run completes the job: every file is in, each once.
    p = run(["ingest", str(many)], data_copy)
    assert p.returncode == 0, p.stderr
    docs = {row["doc"]: row for row in json.loads(run(["sources", "--json"], data_copy).stdout)}
    assert {f"s{i:04d}.txt" for i in range(1200)} <= set(docs) and EURO in docs
    assert all(docs[f"s{i:04d}.txt"]["chunks"] >= 1 for i in range(1200))


@pytest.mark.slow  # e2e: a chain of newsqa processes
def test_remove_and_prune_make_the_index_match_the_folder(tmp_path):
    d = tmp_path / "data"
    src = tmp_path / "src"
    src.mkdir()
    (src / "ferry.txt").write_text("The Hiiumaa ferry sails at 7:15 every winter morning.\n", encoding="utf-8")
    (src / "bridge.txt").write_text("The Narva bridge closed on Monday for repairs.\n", encoding="utf-8")
    (src / "dam.txt").write_text("The Kegums dam opened its spillway on Friday.\n", encoding="utf-8")
    assert run(["ingest", str(src)], d).returncode == 0
    p = run(["remove", "dam.txt", "nosuch.txt"], d)
    assert p.returncode == 2 and "removed 1" in p.stdout and "nosuch.txt" in p.stderr
    (src / "bridge.txt").unlink()
    p = run(["ingest", str(src), "--prune"], d)
    assert p.returncode == 0 and "pruned 1" in p.stdout and "bridge.txt" in p.stdout
    docs = {r["doc"] for r in json.loads(run(["sources", "--json"], d).stdout)}
    # dam.txt came back with the re-ingest (its file is still there); bridge.txt is gone for good
    assert docs == {"ferry.txt", "dam.txt"}
    r = ask_json("When did the Narva bridge close?", d)
    assert all(s["doc"] != "bridge.txt" for s in r["sources"]) and all(p["doc"] != "bridge.txt" for p in r.get("retrieved", []))
