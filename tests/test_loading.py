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


# -- one bad item skips only that item, with its line --------------------------------------------------

def _jsonl(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GOOD = "Rain flooded the market square on Tuesday."


def test_a_malformed_jsonl_line_skips_only_that_line_with_its_number(tmp_path):
    feed = _jsonl(tmp_path / "feed.jsonl", [
        json.dumps({"id": "a", "text": GOOD}),
        '{"id": "b", "text": "broken',                                   # line 2: malformed
        "",                                                              # blank lines keep the numbering
        json.dumps({"id": "c", "text": "The market reopened on Friday."}),
        json.dumps(["not", "an", "object"]),                             # line 5
        json.dumps({"id": "e", "title": "no text"}),                     # line 6
    ])
    arts, skipped = load_paths([feed])
    assert [a.doc for a in arts] == ["a", "c"]
    assert [(s.line, str(s).split(": ", 1)[0]) for s in skipped] == [
        (2, f"{feed}:2"), (5, f"{feed}:5"), (6, f"{feed}:6")]
    assert "invalid JSON" in skipped[0].reason and "not a JSON object" in skipped[1].reason
    assert "no 'text'" in skipped[2].reason


def test_an_item_that_fails_cleaning_skips_only_that_item(tmp_path):
    feed = _jsonl(tmp_path / "feed.jsonl", [
        json.dumps({"id": "heading-only", "text": "Rain flooded the market square"}),  # no full stop: a heading
        json.dumps({"id": "ok", "text": GOOD}),
    ])
    arts, skipped = load_paths([feed])
    assert [a.doc for a in arts] == ["ok"]
    assert len(skipped) == 1 and skipped[0].line == 1 and "heading" in skipped[0].reason


def test_a_large_jsonl_feed_is_streamed_not_skipped(tmp_path, monkeypatch):
    import retrieval.loading as loading

    monkeypatch.setattr(loading, "MAX_BYTES", 4096)  # the per-file limit, scaled down
    feed = tmp_path / "big.jsonl"
    with feed.open("w", encoding="utf-8") as fh:
        for i in range(200):  # ~20 KB, five times the limit
            fh.write(json.dumps({"id": f"n{i}", "text": f"Item {i} reports that the harbour reopened."}) + "\n")
        fh.write(json.dumps({"id": "huge", "text": "x. " * 3000}) + "\n")  # one line over the limit
        fh.write(json.dumps({"id": "last", "text": GOOD}) + "\n")
    arts, skipped = load_paths([feed])
    assert len(arts) == 201 and arts[-1].doc == "last"
    assert [(s.line, "longer than" in s.reason) for s in skipped] == [(201, True)]
    big_txt = tmp_path / "big.txt"
    big_txt.write_text("A sentence. " * 1000, encoding="utf-8")
    _, skipped = load_paths([big_txt])
    assert "too large" in skipped[0].reason  # other formats keep the per-file limit


def test_skipped_stays_backwards_compatible():
    from retrieval.loading import Skipped

    s = Skipped("a.txt", "empty file")
    assert (s.path, s.reason, s.line, str(s)) == ("a.txt", "empty file", None, "a.txt: empty file")
    assert str(Skipped("f.jsonl", "invalid JSON", 2)) == "f.jsonl:2: invalid JSON"


# -- unique document ids -----------------------------------------------------------------------------

def test_same_name_in_two_folders_gets_two_ids(tmp_path):
    for sub, text in (("a", "The bridge in town A closed on Monday."), ("b", "The school in town B opened today.")):
        (tmp_path / "root" / sub).mkdir(parents=True)
        (tmp_path / "root" / sub / "news.txt").write_text(text + "\n", encoding="utf-8")
    arts, skipped = load_paths([tmp_path / "root"])
    assert not skipped and sorted(a.doc for a in arts) == ["a/news.txt", "b/news.txt"]
    # two named folders holding the same relative path: the second is reported, not overwritten
    arts, skipped = load_paths([tmp_path / "root" / "a", tmp_path / "root" / "b"])
    assert [a.doc for a in arts] == ["news.txt"] and "bridge" in arts[0].text
    assert len(skipped) == 1 and "duplicate document id 'news.txt'" in skipped[0].reason
    assert skipped[0].path.endswith("b/news.txt")


def test_bundled_corpus_ids_are_unchanged():
    arts, _ = load_paths([CORPUS])
    assert sorted(a.doc for a in arts) == ["000_ab32f97f3e457f91.txt", "003_c7d2b25bb0186fa3.txt"]


def test_the_same_explicit_id_in_two_feeds_is_a_skipped_collision(tmp_path):
    one = _jsonl(tmp_path / "one.jsonl", [json.dumps({"id": "x1", "text": GOOD})])
    two = _jsonl(tmp_path / "two.jsonl", [json.dumps({"id": "y", "text": "The ferry sailed at noon."}),
                                          json.dumps({"id": "x1", "text": "A different story entirely."})])
    arts, skipped = load_paths([tmp_path])
    assert sorted(a.doc for a in arts) == ["x1", "y"]
    assert next(a for a in arts if a.doc == "x1").text.startswith("Rain")  # the first one kept
    assert len(skipped) == 1 and skipped[0].line == 2 and skipped[0].path == str(two)
    assert f"already used by {one}:1" in skipped[0].reason


def test_id_less_feed_items_are_numbered_by_line(tmp_path):
    only = _jsonl(tmp_path / "only.jsonl", [json.dumps({"text": GOOD})])
    many = _jsonl(tmp_path / "many.jsonl", [json.dumps({"text": GOOD}), "",
                                            json.dumps({"text": "The ferry sailed at noon."})])
    arts, skipped = load_paths([only, many])
    assert not skipped and [a.doc for a in arts] == ["only.jsonl", "many.jsonl#1", "many.jsonl#3"]


# -- symbolic links ----------------------------------------------------------------------------------

def test_links_outside_the_folder_are_not_followed_unless_asked(tmp_path):
    secret = tmp_path / "elsewhere"
    secret.mkdir()
    (secret / "private.txt").write_text("The private diary says the vault code is 1234.\n", encoding="utf-8")
    root = tmp_path / "articles"
    root.mkdir()
    (root / "real.txt").write_text("The harbour fire started at dawn.\n", encoding="utf-8")
    (root / "leak.txt").symlink_to(secret / "private.txt")
    (root / "leakdir").symlink_to(secret, target_is_directory=True)
    (root / "alias.txt").symlink_to(root / "real.txt")  # inside: its target is ingested once
    arts, skipped = load_paths([root])
    assert [a.doc for a in arts] == ["real.txt"]
    reasons = {s.path.rsplit("/", 1)[-1]: s.reason for s in skipped}
    assert set(reasons) == {"leak.txt", "leakdir"}
    assert all("outside" in r and "--follow-links" in r for r in reasons.values())
    arts, skipped = load_paths([root], follow_links=True)
    assert sorted(a.doc for a in arts) == ["leak.txt", "leakdir/private.txt", "real.txt"] and not skipped
