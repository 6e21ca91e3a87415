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


def test_a_late_delete_by_another_writer_is_repaired(tmp_path):
    """Chroma has no transactions: another process replacing the same article can delete the chunks of the
    version this ingest just made current (its check came before this commit, its delete after). The
    ingest finds the article without its chunks and stores its version again, embedding only what went."""
    from retrieval.embedding import get_embedder

    d = tmp_path / "data"
    src = tmp_path / "src"
    src.mkdir()
    f = src / "ferry.txt"
    f.write_text("The ferry to Hiiumaa sails at 7:15 every morning in winter.\n", encoding="utf-8")
    emb = CountingEmbedder(get_embedder(Settings()))
    e = engine_for(d)
    ingest(e, [src], emb)
    f.write_text("The ferry to Hiiumaa was cancelled for the week because of sea ice.\n", encoding="utf-8")
    store = e.store
    real_commit = store.commit_docs
    late = []

    def commit_then_other_writer_deletes(items):
        real_commit(items)
        if not late:  # once: the other writer's delete of "every hash but mine" lands after this commit
            late.append(1)
            for art, digest, *_ in items:
                store.chunks.delete(where={"$and": [{"doc": art.doc}, {"hash": digest}]})
            assert store.incomplete(["ferry.txt"]) == ["ferry.txt"]

    store.commit_docs = commit_then_other_writer_deletes
    emb.calls = 0
    r = ingest(e, [src], emb)
    # Only the lost chunks are embedded again.
    assert r.replaced == ["ferry.txt"] and late and emb.calls == 2 * r.chunks_embedded > 0
    fresh = Store(d)
    assert fresh.incomplete(["ferry.txt"]) == []
    assert [p.text for p in fresh.all_passages()] == [
        "The ferry to Hiiumaa was cancelled for the week because of sea ice."]
