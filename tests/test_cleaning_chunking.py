"""Cleaning keeps the article and drops page furniture; chunks point at exact offsets."""

from retrieval.chunking import chunk_article, content_hash, count_tokens
from retrieval.cleaning import classify
from retrieval.loading import load_file
from retrieval.sentences import split_spans
from retrieval.types import Article

from conftest import CORPUS

PAGE = """ date 2024-01-02 Support us on Patreon
Eng
A headline about the harbour fire in the old town
byJane Doe
02/01/2024
4 minute read
Firefighters at the harbour
Firefighters at the harbour. Credit: City Council
The fire started at 3 a.m. in a warehouse. Two people were hurt.

The mayor said the harbour will reopen on Monday.

Read also:

Help us produce more reporting like this. Become a patron!
To suggest a correction or clarification, write to us here
Related Posts
"""


def kinds(text):
    blocks, info = classify(text)
    return {text[b.start:b.end]: b.kind for b in blocks}, info


def test_boilerplate_removed_by_general_rules():
    k, info = kinds(PAGE)
    assert k["Support us on Patreon"] == "boilerplate"
    assert k["Eng"] == "boilerplate"
    assert k["Read also:"] == "boilerplate"
    assert k["Help us produce more reporting like this. Become a patron!"] == "boilerplate"
    assert k["To suggest a correction or clarification, write to us here"] == "boilerplate"
    assert k["Related Posts"] == "boilerplate"
    assert k["The mayor said the harbour will reopen on Monday."] == "body"
    assert info.date == "2024-01-02" and info.author == "Jane Doe"
    assert info.title == "A headline about the harbour fire in the old town"


def test_captions_are_kept_and_marked():
    k, _ = kinds(PAGE)
    assert k["Firefighters at the harbour. Credit: City Council"] == "caption"
    assert k["Firefighters at the harbour"] == "duplicate"  # the image's alt text, repeated by the caption


def test_wire_caption_pattern_is_a_caption():
    text = ("Soldiers walk past a school in the town of Sumy, Ukraine, on April 17, 2025.\n\n"
            "The army said the town was shelled overnight.\n")
    k, _ = kinds(text)
    assert k["Soldiers walk past a school in the town of Sumy, Ukraine, on April 17, 2025."] == "caption"
    assert k["The army said the town was shelled overnight."] == "body"


def test_chunks_point_at_exact_offsets_in_the_original_text():
    for path in CORPUS.glob("*.txt"):
        (article,) = load_file(path)
        original = path.read_text(encoding="utf-8")
        assert article.text == original
        chunks = chunk_article(article, 160)
        assert chunks
        for c in chunks:
            assert original[c.start:c.end] == c.text
            assert count_tokens(c.text) <= 160
        body = " ".join(c.text for c in chunks)
        assert "Patreon" not in body and "ad blocker" not in body and "Related Posts" not in body


def test_long_paragraphs_split_on_sentence_boundaries():
    sentences = [f"Sentence number {i} talks about the harbour and the fire crews at length." for i in range(40)]
    art = Article(doc="long.txt", text=" ".join(sentences) + "\n")
    chunks = chunk_article(art, 64)
    assert len(chunks) > 3
    for c in chunks:
        assert count_tokens(c.text) <= 64
        assert c.text.startswith("Sentence number") and c.text.endswith(".")


def test_chunk_ids_depend_on_doc_and_content_only():
    art = Article(doc="a.txt", text="The fire started at dawn in the harbour warehouse district.\n")
    again = Article(doc="a.txt", text=art.text, path="/elsewhere/a.txt")
    changed = Article(doc="a.txt", text=art.text.replace("dawn", "dusk"))
    ids = [c.id for c in chunk_article(art)]
    assert ids == [c.id for c in chunk_article(again)]
    assert ids != [c.id for c in chunk_article(changed)]
    assert content_hash(art, 160) != content_hash(art, 100)


def test_sentence_spans_handle_abbreviations_and_quotes():
    text = 'Gen. Valery Gerasimov met Mr. Putin at 3:00 p.m. on Saturday. He said "it failed." Then he left.'
    got = [text[s:e] for s, e in split_spans(text)]
    assert got == ["Gen. Valery Gerasimov met Mr. Putin at 3:00 p.m. on Saturday.", 'He said "it failed."', "Then he left."]
