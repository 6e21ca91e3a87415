"""Past Chroma's 32,766-record limit on one get(): every large read must be paged."""

import pytest

from benchmarks.synth import StandInEmbedder, article
from retrieval.api import Engine
from retrieval.config import Settings
from retrieval.ingest import ingest_articles
from retrieval.store import Store

pytestmark = pytest.mark.slow  # scale: 34,000 chunks, past Chroma's one-get limit

N_ARTICLES = 3400  # x 10 chunks = 34,000 chunks, past the wall


@pytest.fixture(scope="module")
def big_index(tmp_path_factory):
    d = tmp_path_factory.mktemp("big")
    settings = Settings(data_dir=d)
    store = Store(d)
    report = ingest_articles((article(i) for i in range(N_ARTICLES)), settings, store, StandInEmbedder(dim=16))
    assert len(report.added) == N_ARTICLES
    return d, settings, report


def test_ingest_ask_and_list_past_33000_records(big_index):
    d, settings, report = big_index
    assert report.chunks_embedded >= 33_000
    engine = Engine(settings, embedder=StandInEmbedder(dim=16))
    assert engine.store.count() == report.chunks_embedded
    r = engine.answer("What did Alvarez say about the budget vote in Lisbon?")
    assert r.retrieved and all(p.doc.startswith("gen-") for p in r.retrieved)
    assert len(engine.sources()) == N_ARTICLES
    # Re-ingest of unchanged articles: looked up in pages, nothing embedded.
    again = ingest_articles((article(i) for i in range(N_ARTICLES)), settings, engine.store, StandInEmbedder(dim=16))
    assert len(again.unchanged) == N_ARTICLES and again.chunks_embedded == 0


def test_a_new_lexical_index_is_built_from_chroma_in_pages(big_index, tmp_path):
    d, settings, report = big_index
    store = Store(d)
    lex = store.lexical_path()
    store.lexical.close()
    for suffix in ("", "-wal", "-shm"):
        (lex.parent / (lex.name + suffix)).unlink(missing_ok=True)
    fresh = Store(d)  # as another host would open a shared server's index for the first time
    assert fresh.count() == 0
    fresh.sync()
    assert fresh.count() == report.chunks_embedded
    assert len(list(fresh.lexical.records())) == N_ARTICLES
