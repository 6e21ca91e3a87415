"""Every supported format loads; every unusable file is skipped with its reason."""

import json

from retrieval.loading import load_paths
from conftest import CORPUS


def test_seed_corpus_metadata_from_manifest():
    arts, skipped = load_paths([CORPUS])
    assert not skipped
    by = {a.doc: a for a in arts}
    assert set(by) == {"000_ab32f97f3e457f91.txt", "003_c7d2b25bb0186fa3.txt"}
    a = by["000_ab32f97f3e457f91.txt"]
    assert (a.outlet, a.author, a.date) == ("Euromaidan Press", "Maria Tril", "2025-04-26")
    b = by["003_c7d2b25bb0186fa3.txt"]
    assert b.outlet == "" and b.title == "" and b.date == "2025-04-26"  # empty rather than guessed


def test_formats_and_skips(tmp_path):
    (tmp_path / "a.md").write_text("# Harbour fire\n\nThe fire started at dawn in the harbour.\n", encoding="utf-8")
    (tmp_path / "b.html").write_text(
        "<html><head><title>Bridge closed</title></head><body><nav>Home | News</nav><article><h1>Bridge closed</h1>"
        "<p>The city closed the old bridge on Monday after engineers found cracks in two of its pillars.</p>"
        "<p>Repairs are expected to take three months, the transport department said in a statement.</p>"
        "</article><footer>Subscribe now</footer></body></html>", encoding="utf-8")
    (tmp_path / "c.jsonl").write_text(
        json.dumps({"id": "c1", "text": "Rain flooded the market square.", "outlet": "Daily"}) + "\n" +
        json.dumps({"id": "c2", "text": "The market reopened on Friday.", "date": "2024-05-03"}) + "\n", encoding="utf-8")
    (tmp_path / "empty.txt").write_text("   \n", encoding="utf-8")
    (tmp_path / "bin.txt").write_bytes(b"\x00\x01\x02binary")
    (tmp_path / "latin.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    arts, skipped = load_paths([tmp_path])
    docs = {a.doc: a for a in arts}
    assert {"a.md", "b.html", "c1", "c2"} <= set(docs)
    assert "engineers found cracks" in docs["b.html"].text and "Subscribe" not in docs["b.html"].text
    assert docs["c1"].outlet == "Daily" and docs["c2"].date == "2024-05-03"
    reasons = {s.path.rsplit("/", 1)[-1]: s.reason for s in skipped}
    assert reasons["empty.txt"] == "empty file"
    assert reasons["bin.txt"] == "binary file"
    assert "UTF-8" in reasons["latin.txt"]
    assert "invalid JSON" in reasons["bad.json"]
