"""report.html: a self-contained page whose plots are real PNGs, and a history that grows per run."""

from __future__ import annotations

import base64
import io
import json
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
    assert page.h2[1:] == ["Key metrics by question type", "Answered and abstained, by question type", "History"]
    text = " ".join(page.text)
    assert "carry no numeric confidence" in text and "not a calibration plot" in text
    assert "appears from the second run" in text
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
    assert len(page.imgs) == 3 and "The last 2 runs in this folder" in page.h2
    for img in page.imgs:
        decode_png(img["src"])
    earlier = "".join(json.dumps({"time": f"2025-05-{d:02d}T10:00:00", "mode": "llm", "metrics": {"crag": d / 30}}) + "\n"
                      for d in range(1, 23))
    (tmp_path / HISTORY).write_text((tmp_path / HISTORY).read_text() + earlier + "{torn line\n")
    page = parse(write_report_html(tmp_path, results(crag=0.9)))
    assert len((tmp_path / HISTORY).read_text().splitlines()) == 26  # 25 runs and the torn line, all kept
    assert "The last 20 runs in this folder" in page.h2 and len(page.imgs) == 3


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
