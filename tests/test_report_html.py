"""report.html: a self-contained page whose plots are real PNGs, and a history that grows per run."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from evals.report_html import HISTORY, write_report_html

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def item(i, kind, crag, abstained, confidence=None):
    it = {"id": f"q{i}", "type": kind, "question": f"question {i}?", "answer": "" if abstained else "An answer [1].",
          "abstained": abstained, "gold_answers": ["x"], "error": None,
          "scores": {"crag": crag, "abstain_accuracy": 1.0 if crag > 0 else 0.0, "answer_contains": max(crag, 0.0)}}
    if confidence is not None:
        it["confidence"] = confidence
    return it


def results(with_confidence=False, crag=0.5, when="2025-04-26T10:00:00"):
    items = [item(1, "factoid", 1.0, False), item(2, "factoid", -1.0, False), item(3, "numeric", 0.0, True),
             item(4, "unanswerable", 1.0, True), item(5, "unanswerable", -1.0, False)]
    if with_confidence:
        for it, c in zip(items, (0.9, 0.8, 0.2, 0.6, 0.55)):
            it["confidence"] = c
    by_type = {
        "factoid": {"items": 2, "answer_contains": 0.5, "crag": 0.0, "abstain_accuracy": 0.5, "citation_recall": 1.0},
        "numeric": {"items": 1, "answer_contains": 0.0, "crag": 0.0, "abstain_accuracy": 0.0, "citation_recall": 0.0},
        "unanswerable": {"items": 2, "crag": 0.0, "abstain_accuracy": 0.5},
    }
    metrics = {"items": 5, "answer_contains": 1 / 3, "crag": crag, "abstain_accuracy": 0.4, "citation_recall": 0.67,
               "latency_p50": 0.012, "latency_p95": 0.03}
    return {"metrics": metrics, "by_type": by_type, "items": items,
            "config": {"mode": "extractive", "k": 8, "gold_items": 5, "when": when, "judge": None}}


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.imgs, self.h2, self._in_h2, self.text = [], [], False, []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.imgs.append(dict(attrs))
        self._in_h2 = tag == "h2"

    def handle_endtag(self, tag):
        self._in_h2 = False

    def handle_data(self, data):
        self.text.append(data)
        if self._in_h2:
            self.h2.append(data)


def parse(path) -> Page:
    p = Page()
    p.feed(path.read_text(encoding="utf-8"))
    p.close()
    return p


def decode_png(src: str):
    import matplotlib.image

    prefix = "data:image/png;base64,"
    assert src.startswith(prefix)
    raw = base64.b64decode(src[len(prefix):], validate=True)
    assert raw.startswith(PNG_SIGNATURE)
    pixels = matplotlib.image.imread(io.BytesIO(raw), format="png")
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert pixels.std() > 0  # something was drawn
    return pixels


def test_one_run_gets_metric_and_abstention_plots_and_says_why_there_is_no_calibration(tmp_path):
    page_path = write_report_html(tmp_path, results())
    assert page_path == tmp_path / "report.html"
    page = parse(page_path)
    assert len(page.imgs) == 2
    for img in page.imgs:
        decode_png(img["src"])
    assert page.h2 == ["Setup", "Metrics by type", "Key metrics by question type",
                       "Answered and abstained, by question type", "History", "Every question"]
    text = " ".join(page.text)
    assert "carry no numeric confidence" in text and "not a calibration plot" in text
    assert "appears from the second run recorded there" in text
    assert "latency p50 12 ms, p95 30 ms" in text
    assert "http" not in page_path.read_text().replace("http-equiv", "")  # nothing loads from elsewhere


def test_items_with_confidence_get_a_calibration_plot(tmp_path):
    page = parse(write_report_html(tmp_path, results(with_confidence=True)))
    assert len(page.imgs) == 2
    assert "Calibration of confidence" in page.h2
    assert [decode_png(i["src"]).shape[2] for i in page.imgs] == [4, 4]


def test_history_grows_per_run_and_its_plot_appears_from_the_second(tmp_path):
    write_report_html(tmp_path, results(crag=0.2, when="2025-04-26T10:00:00"))
    assert len((tmp_path / HISTORY).read_text().splitlines()) == 1
    page = parse(write_report_html(tmp_path, results(crag=0.4, when="2025-04-27T10:00:00")))
    lines = [json.loads(x) for x in (tmp_path / HISTORY).read_text().splitlines()]
    assert [x["metrics"]["crag"] for x in lines] == [0.2, 0.4]
    assert lines[1]["mode"] == "extractive" and lines[1]["time"] == "2025-04-27T10:00:00"
    assert len(page.imgs) == 3 and f"The last 2 runs recorded in {HISTORY}" in page.h2
    for img in page.imgs:
        decode_png(img["src"])
    earlier = "".join(json.dumps({"time": f"2025-05-{d:02d}T10:00:00", "mode": "llm", "metrics": {"crag": d / 30}}) + "\n"
                      for d in range(1, 23))
    (tmp_path / HISTORY).write_text((tmp_path / HISTORY).read_text() + earlier + "{torn line\n")
    page = parse(write_report_html(tmp_path, results(crag=0.9)))
    assert len((tmp_path / HISTORY).read_text().splitlines()) == 26  # 25 runs and the torn line, all kept
    assert f"The last 20 runs recorded in {HISTORY}" in page.h2 and len(page.imgs) == 3


@pytest.mark.parametrize("bad", [{}, {"metrics": {}, "by_type": {}, "items": []}])
def test_empty_results_still_write_a_page(tmp_path, bad):
    page = parse(write_report_html(tmp_path, bad))
    assert page.imgs == [] and "Metrics by type" in page.h2


def test_newsqa_eval_writes_report_html_beside_report_md(tmp_path):
    from rich.console import Console

    from evals.harness import run_cli

    preds = tmp_path / "preds.jsonl"
    preds.write_text(json.dumps({"id": "q001", "answer": "Valery Gerasimov briefed Putin [1].", "sources": []}) + "\n")
    out = tmp_path / "run"
    for _ in range(2):
        code = run_cli(gold=None, modes=[None], k=None, out_dir=out, json_out=False, baseline=None, fail_under=[],
                       predictions=preds, make_engine=None, out=Console(file=io.StringIO()), err=Console(file=io.StringIO()))
        assert code == 0
    assert {"results.json", "report.md", "report.html", HISTORY} <= {p.name for p in out.iterdir()}
    page = parse(out / "report.html")
    assert len(page.imgs) == 3  # metrics by type, answered/abstained, and the history of the two runs
    assert len((out / HISTORY).read_text().splitlines()) == 2


def test_the_page_lists_every_question_with_its_verdict_and_cited_passages(tmp_path):
    res = results()
    res["items"][0]["sources"] = [{"n": 1, "doc": "a.txt", "outlet": "Wire", "text": "The cited sentence."},
                                  {"n": 2, "doc": "b.txt", "outlet": "Other", "text": "Not cited."}]
    res["config"]["setup"] = {"gold": ["evals/gold/seed.jsonl"], "corpus": "corpus/articles", "commit": "abc123def456",
                              "embedder": "minilm", "scorer": "lexical support rule"}
    text = write_report_html(tmp_path, res).read_text()
    for it in res["items"]:
        assert f'id="item-{it["id"]}"' in text
    assert "The cited sentence." in text and "Not cited." not in text  # only what the answer cites ([1])
    assert 'data-verdict="abstained, as due"' in text and 'data-verdict="answered, should abstain"' in text
    for shown in ("evals/gold/seed.jsonl", "corpus/articles", "abc123def456", "minilm", "lexical support rule"):
        assert shown in text


def test_the_baseline_comparison_is_on_the_page(tmp_path):
    from evals.harness import compare

    old, new = results(crag=0.1), results(crag=0.5)
    new["items"][0]["scores"]["crag"] = -1.0  # q1 got worse
    new["comparison"] = compare(new, old, "runs/old/results.json")
    page = parse(write_report_html(tmp_path, new))
    assert "Compared with the baseline" in page.h2
    text = (tmp_path / "report.html").read_text()
    assert "runs/old/results.json" in text and "+0.400" in text and 'href="#item-q1"' in text
    assert '<td class=worse data-sort="-2.0">worse</td>' in text


CHROMIUM = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)


def _browser(url: str, profile) -> dict[str, str]:
    """The <body> attributes the page's script sets, after loading `url` in headless Chromium at 1280x900."""
    p = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                        "--disable-component-update", "--no-first-run", "--disable-extensions",
                        f"--user-data-dir={profile}", "--window-size=1280,900", "--dump-dom", url],
                       capture_output=True, text=True, timeout=180)
    m = re.search(r"<body([^>]*)>", p.stdout)
    assert m, p.stdout[-2000:] + p.stderr[-2000:]
    return dict(re.findall(r'([\w-]+)="([^"]*)"', m.group(1)))


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium to render the page (Debian: apt-get install chromium; "
                                             ".ci/run installs it)")
@pytest.mark.slow  # server: a real headless browser
def test_report_in_a_real_browser_fits_1280_px_and_sorts_and_filters(tmp_path):
    res = results(with_confidence=True)
    for i in range(6, 40):  # a real run's worth of rows, with long unbroken text that could push the page wide
        it = item(i, ("factoid", "numeric", "date")[i % 3], 1.0 if i % 2 else -1.0, False, confidence=(i * 7 % 100) / 100)
        it["answer"] = "A long answer sentence that goes on for a while [1]. " * 4 + "x" * 150
        it["sources"] = [{"n": 1, "doc": "very-long-folder-name/" + "y" * 120 + ".txt", "text": "z" * 300}]
        res["items"].append(it)
    for t in ("date", "attribution", "cross_document", "contested", "false_premise"):
        res["by_type"][t] = {"items": 3, **{m: 0.5 for m in ("answer_contains", "first_sentence_contains", "f1",
                                                              "exact_match", "recall_at_k", "mrr", "citation_recall",
                                                              "citation_precision", "evidence_cited", "crag")}}
    res["comparison"] = {"deltas": {"crag": 0.1}, "worse": ["q2"], "baseline": {"metrics": {"crag": 0.4}},
                         "before": {"q1": {"crag": 1.0}}}
    page = write_report_html(tmp_path / "out", res)
    attrs = _browser(page.as_uri(), tmp_path / "profile")
    assert int(attrs["data-viewport"]) == 1280
    assert int(attrs["data-scroll-width"]) <= 1280, attrs  # no horizontal scrollbar at 1,280 px
    assert attrs["data-rows-shown"] == str(len(res["items"]))

    attrs = _browser(page.as_uri() + "#type=numeric&sort=confidence&desc=1", tmp_path / "profile")
    numeric = sorted((it for it in res["items"] if it["type"] == "numeric"), key=lambda it: -it["confidence"])
    assert attrs["data-rows-shown"] == str(len(numeric))  # filtered by type in the browser's JS
    assert attrs["data-order"].split() == [it["id"] for it in numeric]  # and sorted by confidence, descending
    attrs = _browser(page.as_uri() + "#verdict=wrong&sort=id", tmp_path / "profile")
    wrong = sorted(it["id"] for it in res["items"] if it["scores"]["crag"] < 0 and not it["abstained"]
                   and it["type"] not in ("unanswerable", "false_premise"))
    assert attrs["data-order"].split() == wrong
