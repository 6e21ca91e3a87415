"""The RealTimeQA converter and runner on a tiny fake dataset, the new metrics by hand, gold validation for
outside corpora, and the bm25-sentence baseline. No real dataset and no network needed."""

import gzip
import json
import math
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

from evals.baselines import best_sentence, bm25_sentence
from evals.harness import corpus_articles, load_gold
from evals.metrics import answer_contains, evidence_doc, first_sentence_contains, score_item
from evals.realtimeqa import answer_aliases, convert, doc_id, main, outlet_of
from retrieval.errors import BadInput

from conftest import ROOT


def body(topic: str, fact: str) -> str:
    filler = (f"Officials spoke about {topic} again this week. Reporters asked many questions about {topic}. "
              f"More coverage of {topic} followed in the evening news and in several newspapers.")
    return f"{fact} {filler}"


# url -> (week, text); one article is too short, one question's only url is missing from the articles file.
ARTICLES = {
    "https://www.cnn.com/2024/01/05/drug.html": ("20240105", body("mifepristone", "The Supreme Court will decide the future of mifepristone, an abortion pill.")),
    "https://edition.cnn.com/2024/01/05/holi.html": ("20240105", body("Holi", "Holi celebrations are most popular in India, where crowds throw coloured powder.")),
    "https://www.usatoday.com/2024/01/05/shared.html": ("20240105", body("the eclipse", "The solar eclipse crossed Texas and the eclipse also crossed Mexico.")),
    "https://news.example.org/2024/01/12/squid.html": ("20240112", body("Squid Game", "Netflix renewed “Squid Game” for a second season of the show.")),
    "https://www.theweek.com/2024/01/12/ship.html": ("20240112", body("the ship", "The cargo ship Dali struck the Francis Scott Key Bridge in Baltimore.")),
    "https://www.theweek.com/2024/01/19/short.html": ("20240119", "Too short to keep."),
    "https://apnews.com/2024/01/19/tennis.html": ("20240119", body("tennis", "Jannik Sinner won the Australian Open men's title in Melbourne.")),
    "https://apnews.com/2024/01/26/lunar.html": ("20240126", body("the moon", "Japan's SLIM lander touched down on the moon upside down.")),
    "https://www.bbc.co.uk/2023/06/02/old.html": ("20230602", body("the coronation", "King Charles III was crowned at Westminster Abbey.")),
}
QUESTIONS = [
    ("20240105_0", "20240105", "The Supreme Court will soon decide the future of which medication?", "Mifepristone",
     ["https://www.cnn.com/2024/01/05/drug.html", "https://www.usatoday.com/2024/01/05/shared.html"]),
    ("20240105_1", "20240105", "Where are Holi celebrations most popular?", "India",
     ["https://edition.cnn.com/2024/01/05/holi.html", "https://www.usatoday.com/2024/01/05/shared.html"]),
    ("20240105_2", "20240105", "Which country besides the US did the eclipse cross?", "Mexico",
     ["https://www.usatoday.com/2024/01/05/shared.html"]),
    ("20240112_0", "20240112", "Which show was renewed by Netflix?", "“Squid Game”",
     ["https://news.example.org/2024/01/12/squid.html"]),
    ("20240112_1", "20240112", "Which bridge did the cargo ship Dali strike?", "The Francis Scott Key Bridge.",
     ["https://www.theweek.com/2024/01/12/ship.html"]),
    ("20240119_0", "20240119", "Who won the Australian Open men's title?", "Jannik Sinner",
     ["https://apnews.com/2024/01/19/tennis.html", "https://www.theweek.com/2024/01/19/short.html"]),
    ("20240119_1", "20240119", "Which article is only short?", "Nothing",
     ["https://www.theweek.com/2024/01/19/short.html"]),
    ("20240119_2", "20240119", "Which url is missing?", "Nobody", ["https://missing.example.com/x.html"]),
    ("20240126_0", "20240126", "Which country's lander touched down upside down?", "Japan",
     ["https://apnews.com/2024/01/26/lunar.html"]),
    ("20240126_1", "20240126", "A question without search results?", "None", []),
    ("20230602_0", "20230602", "Where was King Charles III crowned?", "Westminster Abbey",
     ["https://www.bbc.co.uk/2023/06/02/old.html"]),
]
USABLE_2024 = 7  # 2024 questions with at least one article of 200+ characters


@pytest.fixture
def dataset(tmp_path):
    d = tmp_path / "rtqa"
    d.mkdir()
    with gzip.open(d / "questions.jsonl.gz", "wt", encoding="utf-8") as f:
        for qid, week, q, gold, urls in QUESTIONS:
            f.write(json.dumps({"id": qid, "week": week, "question": q, "choices": [gold, "x", "y", "z"],
                                "answer": ["0"], "gold": [gold], "evidence": "", "gcs_urls": urls}) + "\n")
    with gzip.open(d / "articles.jsonl.gz", "wt", encoding="utf-8") as f:
        for url, (week, text) in ARTICLES.items():
            f.write(json.dumps({"url": url, "title": f"Title {url[-12:]}", "text": text, "authors": ["A. Writer"],
                                "publish_date": f"{week[:4]}/{week[4:6]}/{week[6:]}", "week": week}) + "\n")
    return d


def read(path):
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def converted(dataset, out, **kw):
    kw.setdefault("years", ["2024"])
    logs = []
    split = convert(dataset, out, log=logs.append, **kw)
    return split, read(out / "gold.jsonl"), {a["id"]: a for a in read(out / "articles.jsonl")}, logs


# --- converter ------------------------------------------------------------------------------------
def test_convert_corpus_gold_and_counts(dataset, tmp_path):
    split, gold, arts, logs = converted(dataset, tmp_path / "o", holdout_frac=0.25, seed=3)
    held = [g for g in gold if g["type"] == "unanswerable"]
    answerable = [g for g in gold if g["type"] == "factoid"]
    assert held and answerable, "this seed holds out at least one question"
    for g in held:  # the abstention set: its own articles are gone
        assert g["docs"] and not any(d in arts for d in g["docs"]) and g["evidence"] == []
    for g in answerable:  # answerable: every listed doc is in the corpus, and evidence points at it
        assert g["docs"] and all(d in arts for d in g["docs"])
        assert [e["doc"] for e in g["evidence"]] == g["docs"] and all(e["quote"] == "" for e in g["evidence"])
    # only 2024, only usable articles, the short article skipped, the question with no usable article left out
    assert all(g["week"].startswith("2024") for g in gold)
    ids = {g["id"] for g in gold}
    assert "rtqa-20240119_1" not in ids and "rtqa-20240119_2" not in ids and "rtqa-20240126_1" not in ids
    assert doc_id("https://www.theweek.com/2024/01/19/short.html") not in arts
    assert doc_id("https://www.bbc.co.uk/2023/06/02/old.html") not in arts
    c = split["counts"]
    assert c["questions"] == len(gold) == USABLE_2024 - c["held_out_dropped"]
    assert c["held_out"] == len(held) and c["answerable"] == len(answerable)
    assert c["articles"] == len(arts) and c["articles_skipped_short"] == 1
    assert c["questions_without_articles"] == 2  # the short-only one and the missing-url one
    assert c["estimated_chunks"] == sum(math.ceil(len(a["text"]) / 4.2 / 160) for a in arts.values())
    assert split["split"] == "report" and split["weeks"] == ["20240105", "20240112", "20240119", "20240126"]
    assert any("REPORT" in line for line in logs)
    # article fields: ingestible, with outlet from the host and an ISO date
    a = arts[doc_id("https://www.cnn.com/2024/01/05/drug.html")] if doc_id("https://www.cnn.com/2024/01/05/drug.html") in arts \
        else next(iter(arts.values()))
    assert set(a) == {"id", "text", "title", "outlet", "date", "url", "author"}
    assert a["outlet"] == outlet_of(a["url"]) and len(a["date"]) == 10 and a["date"][4] == "-"
    assert a["text"] == ARTICLES[a["url"]][1] and a["author"] == "A. Writer"


def test_outlet_ids_and_aliases():
    assert outlet_of("https://www.cnn.com/x") == "cnn.com"
    assert outlet_of("https://edition.cnn.com/x") == "edition.cnn.com"
    assert outlet_of("https://apnews.com/a") == "apnews.com"
    assert outlet_of("https://www.bbc.co.uk/a") == "bbc.co.uk"
    assert doc_id("https://a.com/x") == doc_id("https://a.com/x") != doc_id("https://a.com/y")
    assert len(doc_id("https://a.com/x")) <= 20
    assert answer_aliases("“Squid Game”") == ['"Squid Game"', "Squid Game"]
    assert answer_aliases("The Francis Scott Key Bridge.") == ["The Francis Scott Key Bridge.", "The Francis Scott Key Bridge"]
    assert answer_aliases("Mifepristone") == ["Mifepristone"]


def test_convert_is_stable_and_week_sampling_is_seeded(dataset, tmp_path):
    s1, _, _, _ = converted(dataset, tmp_path / "a", weeks=2, seed=7, holdout_frac=0.25)
    s2, _, _, _ = converted(dataset, tmp_path / "b", weeks=2, seed=7, holdout_frac=0.25)
    for name in ("articles.jsonl", "gold.jsonl", "split.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert len(s1["weeks"]) == 2 and s1["weeks"] == s2["weeks"]
    week_sets = {tuple(converted(dataset, tmp_path / f"s{seed}", weeks=2, seed=seed)[0]["weeks"]) for seed in range(8)}
    assert len(week_sets) > 1  # the seed matters
    # gold of the chosen weeks only
    gold = read(tmp_path / "a" / "gold.jsonl")
    assert {g["week"] for g in gold} <= set(s1["weeks"])


def test_max_chunks_caps_the_estimate(dataset, tmp_path):
    one_week = converted(dataset, tmp_path / "one", weeks=1, seed=0, holdout_frac=0)[0]["counts"]["estimated_chunks"]
    split = converted(dataset, tmp_path / "cap", max_chunks=one_week, seed=0, holdout_frac=0)[0]
    assert split["counts"]["estimated_chunks"] <= one_week
    assert split["counts"]["held_out"] == 0


def test_shared_article_keeps_its_held_out_question_out(dataset, tmp_path):
    # The usatoday article is listed by three 20240105 questions: find a seed that holds out some but not all.
    shared = doc_id("https://www.usatoday.com/2024/01/05/shared.html")
    for seed in range(60):
        split, gold, arts, _ = converted(dataset, tmp_path / f"h{seed}", weeks=None, seed=seed, holdout_frac=0.5)
        ids = {g["id"] for g in gold}
        sharing = {"rtqa-20240105_0", "rtqa-20240105_1", "rtqa-20240105_2"}
        if split["counts"]["held_out_dropped"] and not sharing <= ids:
            break
    else:
        pytest.fail("no seed split the questions sharing an article")
    assert shared in arts  # a kept question lists it, so it stays
    for g in gold:
        if shared in g["docs"]:
            assert g["type"] == "factoid"  # no held-out question can list an article still in the corpus


def test_years_2022_2023_make_a_tuning_set(dataset, tmp_path):
    split, gold, _, logs = converted(dataset, tmp_path / "t", years=["2022", "2023"], holdout_frac=0)
    assert split["split"] == "tuning" and [g["id"] for g in gold] == ["rtqa-20230602_0"]
    assert any("TUNING" in line for line in logs)


def test_dataset_path_from_env(dataset, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NEWSQA_REALTIMEQA", str(dataset))
    assert main(["convert", "--years", "2024", "--weeks", "1", "--out", str(tmp_path / "e")]) == 0
    assert (tmp_path / "e" / "gold.jsonl").is_file() and "REPORT" in capsys.readouterr().err
    monkeypatch.setenv("NEWSQA_REALTIMEQA", str(tmp_path / "nowhere"))
    with pytest.raises(SystemExit, match="NEWSQA_REALTIMEQA"):
        main(["convert", "--years", "2024", "--out", str(tmp_path / "f")])


# --- metrics ---------------------------------------------------------------------------------------
def test_first_sentence_contains_by_hand():
    assert first_sentence_contains("Mifepristone is at stake [1]. The court sits in June [2].", ["Mifepristone"]) == 1.0
    late = "The court will decide soon [1]. The case concerns mifepristone [2]."
    assert first_sentence_contains(late, ["Mifepristone"]) == 0.0 and answer_contains(late, ["Mifepristone"]) == 1.0
    assert first_sentence_contains("Netflix renewed “Squid Game” [1].", ['"Squid Game"', "Squid Game"]) == 1.0
    assert first_sentence_contains("", ["x"]) == 0.0


def test_answer_contains_folds_typographic_quotes_and_case():
    assert answer_contains("netflix renewed \"squid game\" for season two", ["“Squid Game”"]) == 1.0
    assert answer_contains("Netflix renewed “SQUID GAME”.", ["Squid Game"]) == 1.0
    assert answer_contains("Netflix renewed Squid Games", ["“Squid Game”"]) == 0.0
    assert answer_contains("„Squid Game“ returns", ["Squid Game"]) == 1.0
    assert answer_contains("Ｓｑｕｉｄ\u00a0Game returns", ["squid game"]) == 1.0  # full-width letters, no-break space


def test_evidence_doc_by_hand():
    assert evidence_doc([{"doc": "a"}, {"doc": "z"}], ["z", "y"]) == 1.0
    assert evidence_doc([{"doc": "a"}], ["z"]) == 0.0 and evidence_doc([], ["z"]) == 0.0
    g = {"type": "factoid", "answers": ["India"], "evidence": [{"doc": "own", "quote": ""}], "docs": ["own"]}
    own = {"doc": "own", "text": "Holi is most popular in India."}
    other = {"doc": "other", "text": "Holi is most popular in India."}
    s = score_item(g, "Holi is most popular in India [2].", False, [dict(other, n=1), dict(own, n=2)], None, {}, 5)
    assert s["evidence_doc"] == 1.0 and s["first_sentence_contains"] == 1.0
    s = score_item(g, "Holi is most popular in India [1].", False, [dict(other, n=1), dict(own, n=2)], None, {}, 5)
    assert s["evidence_doc"] == 0.0  # cited only the other doc, though it listed its own
    s = score_item(g, "Holi is most popular in India.", False, [dict(own, n=1)], None, {}, 5)
    assert s["evidence_doc"] == 1.0  # no markers at all: the listed sources count as cited
    assert score_item(g, "I don't know.", True, [], None, {}, 5)["evidence_doc"] == 0.0
    assert "evidence_doc" not in score_item(dict(g, docs=None), "India [1].", False, [dict(own, n=1)], None, {}, 5)
    un = {"type": "unanswerable", "answers": [], "evidence": [], "docs": ["gone"]}
    assert "evidence_doc" not in score_item(un, "I don't know.", True, [], None, {}, 5)


# --- gold validation ----------------------------------------------------------------------------------
def test_gold_validation_for_outside_corpora(tmp_path):
    f = tmp_path / "g.jsonl"

    def write(evidence, **extra):
        f.write_text(json.dumps({"id": "a", "question": "q?", "answers": ["x"], "evidence": evidence,
                                 "type": "factoid", **extra}) + "\n", encoding="utf-8")

    arts = {"d1": "The quote is here."}
    write([{"doc": "d1", "quote": ""}], docs=["d1"])
    assert load_gold([f], arts, strict_docs=False)[0]["docs"] == ["d1"]  # empty quote: any passage of d1
    write([{"doc": "d1", "quote": "The quote"}])
    assert load_gold([f], arts, strict_docs=False)
    write([{"doc": "d1", "quote": "not there"}])
    with pytest.raises(BadInput, match="exact substring"):
        load_gold([f], arts, strict_docs=False)
    write([{"doc": "gone", "quote": ""}])
    assert load_gold([f], arts, strict_docs=False)  # a doc held out of the corpus is fine there
    with pytest.raises(BadInput, match="not in the corpus"):
        load_gold([f], corpus_articles())  # but not for the bundled corpus
    write([], docs="d1")
    with pytest.raises(BadInput, match="docs"):
        load_gold([f], arts, strict_docs=False)


def test_corpus_articles_reads_a_jsonl_corpus(dataset, tmp_path):
    converted(dataset, tmp_path / "o", holdout_frac=0)
    arts = corpus_articles([tmp_path / "o" / "articles.jsonl"])
    assert arts[doc_id("https://apnews.com/2024/01/26/lunar.html")] == ARTICLES["https://apnews.com/2024/01/26/lunar.html"][1]
    with pytest.raises(BadInput, match="corpus not found"):
        corpus_articles([tmp_path / "missing.jsonl"])


# --- baseline ------------------------------------------------------------------------------------------
def P(doc, text, rank):
    return SimpleNamespace(id=f"{doc}#{rank}", doc=doc, text=text, start=0, end=len(text), title="t", outlet="o",
                           date="2024-01-01", url="u", rank=rank)


def test_best_sentence_picks_the_bm25_top_sentence():
    ps = [P("a", "The weather was fine. Markets rose slightly.", 1),
          P("b", "Crowds gathered. Holi celebrations are most popular in India. Colours flew.", 2)]
    i, s, e = best_sentence("Where are Holi celebrations most popular?", ps)
    assert (i, ps[i].text[s:e]) == (1, "Holi celebrations are most popular in India.")
    assert best_sentence("anything", []) is None
    i, s, e = best_sentence("zzz qqq", ps)  # no shared term: the top passage's first sentence
    assert (i, ps[i].text[s:e]) == (0, "The weather was fine.")


def test_bm25_sentence_predictions_have_the_eval_shape():
    ps = [P("a", "Unrelated words here. Jannik Sinner won the Australian Open.", 1)]

    class FakeEngine:
        def retrieve(self, question, k=None):
            return ps, None, None

    (pred,) = bm25_sentence(FakeEngine(), [{"id": "x", "question": "Who won the Australian Open?"}], k=3)
    assert pred["answer"] == "Jannik Sinner won the Australian Open. [1]" and pred["abstained"] is False
    src = pred["sources"][0]
    assert src["doc"] == "a" and src["n"] == 1 and src["text"] == ps[0].text
    g = {"type": "factoid", "answers": ["Jannik Sinner"], "evidence": [{"doc": "a", "quote": ""}], "docs": ["a"]}
    s = score_item(g, pred["answer"], False, pred["sources"], None, {"a": ps[0].text}, 3)
    assert s["answer_contains"] == 1.0 and s["evidence_doc"] == 1.0 and s["citation_recall"] == 1.0


# --- end to end: newsqa eval --corpus, and the runner -------------------------------------------------------
def cli(args, tmp_path):
    env = {**os.environ, "NO_COLOR": "1", "NEWSQA_DATA_DIR": str(tmp_path / "index")}
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=300)


def test_eval_scores_predictions_against_an_outside_corpus(dataset, tmp_path):
    converted(dataset, tmp_path / "o", holdout_frac=0.25, seed=3)
    gold = read(tmp_path / "o" / "gold.jsonl")
    preds = tmp_path / "p.jsonl"
    preds.write_text("".join(json.dumps({"id": g["id"], "answer": f"{g['answers'][-1]} [1].",
                                         "sources": [{"doc": (g["docs"])[0], "text": g["answers"][-1]}],
                                         "abstained": g["type"] == "unanswerable"}) + "\n" for g in gold), encoding="utf-8")
    p = cli(["eval", "--gold", str(tmp_path / "o" / "gold.jsonl"), "--corpus", str(tmp_path / "o" / "articles.jsonl"),
             "--predictions", str(preds), "--json", "--out", str(tmp_path / "run")], tmp_path)
    assert p.returncode == 0, p.stderr
    m = json.loads(p.stdout)["metrics"]
    assert m["answer_contains"] == 1.0 and m["first_sentence_contains"] == 1.0 and m["evidence_doc"] == 1.0
    assert m["abstain_accuracy"] == 1.0 and m["items"] == len(gold)
    assert "first_sentence_contains" in (tmp_path / "run" / "report.md").read_text()
    # without --corpus the bundled corpus is the reference, and these docs are unknown to it
    p = cli(["eval", "--gold", str(tmp_path / "o" / "gold.jsonl"), "--predictions", str(preds)], tmp_path)
    assert p.returncode == 2 and "not in the corpus" in p.stderr


@pytest.mark.slow  # e2e: convert, ingest and two scored runs
def test_runner_end_to_end(dataset, tmp_path, capsys):
    from evals.realtimeqa import run

    converted(dataset, tmp_path / "o", holdout_frac=0.25, seed=3)
    extra = tmp_path / "extra.jsonl"
    extra.write_text("".join(json.dumps({"id": g["id"], "answer": "", "abstained": True}) + "\n"
                             for g in read(tmp_path / "o" / "gold.jsonl")), encoding="utf-8")
    summary = run(tmp_path / "o", tmp_path / "index", limit=6, k=3, extra=[f"abstainer={extra}"], log=lambda m: None)
    assert summary["questions"] == 6 and set(summary["systems"]) == {"newsqa", "bm25-sentence", "zero-shot-cosine", "logistic-2025", "abstainer"}
    bm = summary["systems"]["bm25-sentence"]
    assert bm["answered"] == 1.0  # the baseline never abstains
    ab = summary["systems"]["abstainer"]
    assert ab["answered"] == 0.0 and ab["answer_contains"] == 0.0
    assert summary["held_out"] == 0 or ab["abstain_accuracy_unanswerable"] == 1.0
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["systems"]["newsqa"]["items"] == 6
    assert (tmp_path / "o" / "runs" / "bm25-sentence" / "predictions.jsonl").is_file()
    table = capsys.readouterr().out
    assert "bm25-sentence" in table and "first-sent acc" in table and "CRAG" in table


@pytest.mark.slow  # e2e: an ingest and an eval run in newsqa processes
def test_eval_ingests_the_corpus_and_answers_from_it(dataset, tmp_path):
    converted(dataset, tmp_path / "o", holdout_frac=0)
    gold = tmp_path / "two.jsonl"
    items = [g for g in read(tmp_path / "o" / "gold.jsonl") if g["id"] in ("rtqa-20240105_1", "rtqa-20240126_0")]
    gold.write_text("".join(json.dumps(g) + "\n" for g in items), encoding="utf-8")
    p = cli(["eval", "--gold", str(gold), "--corpus", str(tmp_path / "o" / "articles.jsonl"), "--json",
             "--out", str(tmp_path / "run")], tmp_path)
    assert p.returncode == 0, p.stderr
    assert "added 7" in p.stderr  # the seven usable 2024 articles went into the (empty) index
    res = json.loads(p.stdout)
    cited = {s["doc"] for it in res["items"] for s in it["sources"]}
    assert cited and all(d.startswith("rtqa-") for d in cited)  # not the bundled corpus
    assert res["metrics"]["items"] == 2 and "evidence_doc" in res["metrics"] and "recall_at_k" in res["metrics"]
    p = cli(["eval", "--gold", str(gold), "--corpus", str(tmp_path / "o" / "articles.jsonl"), "--json",
             "--out", str(tmp_path / "run2")], tmp_path)
    assert p.returncode == 0 and "added 0, unchanged 7" in p.stderr
