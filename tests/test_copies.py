"""Syndicated copies: one wire story run by several outlets is answered as one source listing them all."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from retrieval import copies, web
from retrieval.api import Engine
from retrieval.config import Settings

WIRE = [
    "Flood water swept through the river town of Marlow Creek on Tuesday night, forcing 2,300 residents "
    "from their homes, the regional emergency office said.",
    "Fourteen people were treated in hospital after the Tamsin River rose 4.2 metres above its normal level "
    "in less than six hours, according to the office.",
    "Mayor Edwina Harrow said the town's two bridges had been closed and that buses would take evacuees to "
    "a sports hall in the neighbouring city of Brackley.",
    "Forecasters at the national weather service expect the rain to ease on Thursday, but warned that "
    "water levels downstream would keep rising until the weekend.",
    "The last flood of this size in Marlow Creek was recorded in 1987, when the river rose 3.9 metres and "
    "the old mill bridge was washed away.",
]
CHANGED_FIGURE = [p.replace("Fourteen people", "Forty-one people").replace("4.2 metres", "5.1 metres") for p in WIRE]
OTHER = [
    "The city council of Eastport approved a budget of 84 million dollars for the coming year on Monday, "
    "with most of the increase going to school repairs.",
    "Council member Ruth Okafor said the vote ended a dispute over library opening hours that had lasted "
    "since the spring.",
]


def article(doc, outlet, paras, *, head="", foot="", url=""):
    text = "\n\n".join(([head] if head else []) + paras + ([foot] if foot else []))
    return {"doc": doc, "title": "Floods force thousands from Marlow Creek", "outlet": outlet,
            "date": "2025-03-04", "url": url, "text": text}


def feed(tmp_path, items):
    path = tmp_path / "wire.jsonl"
    path.write_text("\n".join(json.dumps(i) for i in items) + "\n", encoding="utf-8")
    return path


def test_a_copy_with_extra_lines_is_the_same_story_but_a_changed_figure_or_name_is_not():
    text = "\n\n".join(WIRE)
    extra = "By Dana Lowe\n\n" + text + "\n\nCopyright 2025 Wire Service. All rights reserved."
    assert copies.same_story(text, extra)
    assert not copies.same_story(text, "\n\n".join(CHANGED_FIGURE))
    renamed = text.replace("Edwina Harrow", "Edwina Barrow")
    assert not copies.same_story(text, renamed)
    a, b = copies.signature(text), copies.signature(extra)
    assert a is not None and b is not None and copies.similarity(a, b) >= copies.THRESHOLD
    assert set(copies.bands(a)) & set(copies.bands(b))  # LSH puts them in a common bucket
    other = copies.signature("\n\n".join(OTHER))
    assert other is not None and copies.similarity(a, other) < 0.2
    assert copies.signature("too short") is None


def test_the_bands_are_datasketchs_optimum_for_the_threshold():
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=copies.THRESHOLD, num_perm=copies.NUM_PERM)
    assert (lsh.b, lsh.r) == (copies.BANDS, copies.ROWS)


@pytest.fixture(scope="module")
def wire_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wire")
    items = [
        article("wire-1", "Wire Service", WIRE, url="https://wire.example/marlow"),
        article("courier-1", "Daily Courier", WIRE, head="By Dana Lowe, Wire Service",
                foot="Copyright 2025 Wire Service. All rights reserved.", url="https://courier.example/floods"),
        article("herald-1", "Metro Herald", WIRE),
        article("valley-1", "Valley News", CHANGED_FIGURE),
        {"doc": "eastport-1", "title": "Eastport budget passes", "outlet": "Eastport Post", "date": "2025-03-03",
         "text": "\n\n".join(OTHER)},
    ]
    data = tmp / "data"
    Engine(Settings(data_dir=data)).ingest([feed(tmp, items)])
    return data


def outlets_of(source):
    return {source.outlet} | {c.outlet for c in source.copies}


def test_one_source_lists_every_outlet_that_ran_the_story(wire_dir):
    result = Engine(Settings(data_dir=wire_dir)).answer("How many residents were forced from their homes in Marlow Creek?")
    # Answered or not, the sources shown (cited, or the closest when abstaining) are grouped by story.
    flood = [s for s in result.sources if s.doc != "eastport-1"]
    wire = [s for s in flood if s.doc in {"wire-1", "courier-1", "herald-1"}]
    assert wire and len({s.doc for s in wire}) == 1, [s.doc for s in result.sources]  # one copy cited, not three
    for s in wire:
        assert outlets_of(s) == {"Wire Service", "Daily Courier", "Metro Herald"}  # Valley News's figures differ
    assert {c.url for c in wire[0].copies} >= {"https://courier.example/floods"} or wire[0].doc == "courier-1"


def test_search_keeps_the_copy_whose_figures_differ_as_its_own_passage(wire_dir):
    eng = Engine(Settings(data_dir=wire_dir))
    passages = eng.retrieve("How many people were treated in hospital after the Tamsin River rose?", k=8)[0]
    docs = [p.doc for p in passages]
    assert "valley-1" in docs
    texts = [p.text for p in passages]
    assert len(texts) == len(set(texts))  # each paragraph of the three copies once
    assert "herald-1" not in docs  # its text is all in the copy found first
    assert all(p.text not in "\n\n".join(WIRE) for p in passages if p.doc == "courier-1")  # only its byline
    valley = next(p for p in passages if p.doc == "valley-1")
    assert valley.copies == []


def test_copies_survive_a_rebuilt_lexical_index_and_follow_removals(wire_dir, tmp_path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(wire_dir, data)
    lexical = Engine(Settings(data_dir=data)).store.lexical_path()
    assert lexical.exists()
    for f in lexical.parent.glob(lexical.name + "*"):
        f.unlink()
    eng = Engine(Settings(data_dir=data))
    eng.store.sync()  # builds the lexical index from Chroma, copies included
    assert eng.store.lexical.count() > 0
    found = eng.store.lexical.copies_of(["herald-1"])
    assert {r.doc for r in found["herald-1"]} == {"wire-1", "courier-1"}
    eng.remove(["wire-1"])
    found = eng.store.lexical.copies_of(["herald-1"])
    assert {r.doc for r in found["herald-1"]} == {"courier-1"}
    result = eng.answer("How many residents were forced from their homes in Marlow Creek?")
    cited = [s for s in result.sources if s.doc in {"courier-1", "herald-1"}]
    assert cited and len({s.doc for s in cited}) == 1
    assert all(outlets_of(s) == {"Daily Courier", "Metro Herald"} for s in cited)


@pytest.mark.slow  # timing: a feed fetched at the default 1 s per host
def test_pages_of_one_wire_story_fetched_from_a_feed_become_one_source(tmp_path):
    def html(site, paras, extra=""):
        body = "".join(f"<p>{p}</p>" for p in paras)
        return (f'<!doctype html><html><head><title>Floods in Marlow Creek</title>'
                f'<meta property="og:site_name" content="{site}"></head><body><article><h1>Floods in Marlow '
                f"Creek</h1>{body}{extra}</article></body></html>").encode()

    pages = {
        "/a/wire.html": html("Wire Service", WIRE),
        "/b/copy.html": html("Daily Courier", WIRE, "<p>Copyright 2025 Wire Service. All rights reserved.</p>"),
        "/c/copy.html": html("Metro Herald", WIRE),
        "/d/changed.html": html("Valley News", CHANGED_FIGURE),
    }

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            base = f"http://127.0.0.1:{self.server.server_address[1]}"
            if self.path == "/feed.xml":
                items = "".join(f"<item><title>Floods</title><link>{base}{p}</link></item>" for p in pages)
                body = (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>{items}'
                        "</channel></rss>").encode()
                ctype = "application/rss+xml"
            elif self.path in pages:
                body, ctype = pages[self.path], "text/html; charset=utf-8"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        eng = Engine(Settings(data_dir=tmp_path / "data"))
        report = eng.ingest([web.argument(f"http://127.0.0.1:{server.server_address[1]}/feed.xml")])
        assert len(report.added) == 4 and not report.skipped
        result = eng.answer("How far did the Tamsin River rise above its normal level?")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    by_outlets = [outlets_of(s) for s in result.sources]
    assert {"Wire Service", "Daily Courier", "Metro Herald"} in by_outlets
    assert all(o == {"Valley News"} or "Valley News" not in o for o in by_outlets)
    wire = next(s for s in result.sources if "Metro Herald" in outlets_of(s))
    assert all(c.url.startswith("http://127.0.0.1:") for c in wire.copies)


def test_an_attributed_sentence_names_the_outlets_that_ran_the_story_and_is_still_supported():
    from retrieval.answerer import check_support, make_source, source_label
    from retrieval.types import Copy, Passage, Sentence

    text = WIRE[1]
    p = Passage(id="wire-1:x:1", doc="wire-1", text=text, start=0, end=len(text), kind="body", title="Floods",
                outlet="Wire Service", date="2025-03-04",
                copies=[Copy("courier-1", "Daily Courier"), Copy("herald-1", "Metro Herald")])
    assert source_label(p) == "Wire Service, Daily Courier and Metro Herald"
    many = Passage(**{**p.__dict__, "copies": p.copies + [Copy("x", "Coast Times"), Copy("y", "Hill Gazette")]})
    assert source_label(many) == "Wire Service, Daily Courier, Metro Herald and others"
    for passage in (p, many):
        sentence = Sentence(f"According to {source_label(passage)}, {text}", [1], False)
        check_support([sentence], [make_source(1, passage)])
        assert sentence.supported


def test_a_copy_that_changed_the_figure_is_answered_as_the_other_side(wire_dir):
    result = Engine(Settings(data_dir=wire_dir)).answer(
        "How many people were treated in hospital after the Tamsin River rose?")
    assert not result.abstained
    cited = [s for s in result.sources if f"[{s.n}]" in result.answer]
    groups = [outlets_of(s) for s in cited]
    assert {"Valley News"} in groups and {"Wire Service", "Daily Courier", "Metro Herald"} in groups
    assert "Valley News" in result.answer and "Wire Service" in result.answer  # who claims what
    assert "forty-one" in result.answer.lower() and "fourteen" in result.answer.lower()


def test_an_index_from_before_copies_files_them_at_the_next_ingest_not_at_a_question(wire_dir, tmp_path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(wire_dir, data)
    lexical = Engine(Settings(data_dir=data)).store.lexical
    with lexical.db as db:  # as an index written by the version before copies were found
        db.execute("DELETE FROM copies")
        db.execute("DELETE FROM copy_bands")
        db.execute("DELETE FROM meta WHERE key = 'copies'")
    eng = Engine(Settings(data_dir=data))
    eng.answer("How many residents were forced from their homes in Marlow Creek?")
    assert eng.store.lexical.copies_of(["herald-1"]) == {}  # a question does not pay for the backlog
    report = eng.ingest([feed(tmp_path, [article("herald-1", "Metro Herald", WIRE)])])
    assert report.unchanged == ["herald-1"]
    assert {r.doc for r in eng.store.lexical.copies_of(["herald-1"])["herald-1"]} == {"wire-1", "courier-1"}
    assert eng.store.lexical.get_meta("copies") is not None


def test_the_cli_shows_where_else_a_cited_story_ran(wire_dir):
    from typer.testing import CliRunner

    from bot.cli import app

    result = CliRunner().invoke(app, ["ask", "How far did the Tamsin River rise above its normal level?",
                                      "--data-dir", str(wire_dir)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    line = next(ln for ln in result.output.splitlines() if "also ran in:" in ln)
    named = {o for o in ("Wire Service", "Daily Courier", "Metro Herald") if o in line}
    assert len(named) == 2 and "Valley News" not in line  # the two other outlets, not the changed copy
    data = json.loads(CliRunner().invoke(app, ["ask", "How far did the Tamsin River rise above its normal level?",
                                               "--data-dir", str(wire_dir), "--json"]).output)
    assert any(len(s["copies"]) == 2 for s in data["sources"])
