"""Re-ingest is free when nothing changed; replacement and interruption never lose the index."""

import pytest

from retrieval.api import Engine
from retrieval.config import Settings
from retrieval.store import Store


class CountingEmbedder:
    def __init__(self, inner):
        self.inner, self.model_id, self.dim, self.calls = inner, inner.model_id, inner.dim, 0

    def embed(self, texts):
        self.calls += len(texts)
        return self.inner.embed(texts)


def engine_for(d, embedder=None):
    return Engine(Settings(data_dir=d), embedder=embedder)


def ingest(e, paths, embedder):
    from retrieval.ingest import ingest as run

    return run(paths, e.settings, e.store, embedder)


def test_unchanged_changed_and_interrupted(tmp_path):
    from retrieval.embedding import get_embedder

    d = tmp_path / "data"
    src = tmp_path / "src"
    src.mkdir()
    f = src / "story.txt"
    f.write_text("The bridge closed on Monday after cracks were found.\n\nRepairs will take three months.\n",
                 encoding="utf-8")
    emb = CountingEmbedder(get_embedder(Settings()))
    e = engine_for(d)
    r = ingest(e, [src], emb)
    assert r.added == ["story.txt"] and emb.calls > 0
    emb.calls = 0
    r = ingest(e, [src], emb)
    assert r.unchanged == ["story.txt"] and emb.calls == 0

    # A changed file: its new chunks replace the old ones.
    f.write_text("The bridge reopened on Friday after repairs.\n", encoding="utf-8")
    r = ingest(e, [src], emb)
    assert r.replaced == ["story.txt"]
    texts = [p.text for p in e.store.all_passages()]
    assert texts == ["The bridge reopened on Friday after repairs."]

    # Interrupted between storing new chunks and committing the record: the old version stays visible.
    f.write_text("The bridge closed again on Sunday because of floods.\n", encoding="utf-8")
    store = e.store
    real_commit = store.commit_docs
    store.commit_docs = lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        ingest(e, [src], emb)
    fresh = Store(d)
    assert [p.text for p in fresh.all_passages()] == ["The bridge reopened on Friday after repairs."]
    # The next run completes it without embedding the already-stored chunks again.
    store.commit_docs = real_commit
    emb.calls = 0
    r = ingest(engine_for(d), [src], emb)
    assert r.replaced == ["story.txt"] and emb.calls == 0
    assert [p.text for p in Store(d).all_passages()] == ["The bridge closed again on Sunday because of floods."]


def test_query_with_another_model_is_a_clear_error(data_copy):
    from retrieval.errors import ModelMismatch

    class Other:
        model_id, dim = "other-model", 384

        def embed(self, texts):
            import numpy as np
            return np.ones((len(texts), 384), dtype="float32") / 384 ** 0.5

    e = engine_for(data_copy, Other())
    with pytest.raises(ModelMismatch, match="re-ingest"):
        e.answer("Who praised the troops?")
