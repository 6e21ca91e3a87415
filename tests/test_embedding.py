"""Embedding backends: the default's checksum, its geometry, and the OpenAI-compatible path."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from retrieval import embedding
from retrieval.api import Engine
from retrieval.config import Settings
from retrieval.errors import ConfigError, ModelMismatch, ModelUnavailable

from conftest import CORPUS


def test_minilm_vectors_are_normalised_and_meaningful():
    e = embedding.MiniLMOnnx()
    v = e.embed(["North Korea sent troops to Kursk", "How many North Korean soldiers were deployed?",
                 "A recipe for banana bread"])
    assert v.shape == (3, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.3
    # batching and length-sorting do not change a text's vector
    alone = e.embed(["A recipe for banana bread"])[0]
    assert float(alone @ v[2]) > 0.9999


def test_a_weight_file_failing_its_checksum_is_refused(monkeypatch):
    monkeypatch.setattr(embedding, "MINILM_ONNX_SHA256", "0" * 64)
    with pytest.raises(ModelUnavailable, match="sha256"):
        embedding.MiniLMOnnx()


class FakeOpenAIEmbeddings(BaseHTTPRequestHandler):
    """/v1/embeddings with deterministic bag-of-letters vectors."""

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        assert self.path.endswith("/embeddings")
        data = []
        for i, text in enumerate(body["input"]):
            v = [0.0] * 26
            for ch in text.lower():
                if "a" <= ch <= "z":
                    v[ord(ch) - 97] += 1.0
            data.append({"object": "embedding", "index": i, "embedding": v})
        out = json.dumps({"object": "list", "data": data, "model": body["model"],
                          "usage": {"prompt_tokens": 1, "total_tokens": 1}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


def test_openai_embeddings_backend_and_model_mismatch(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAIEmbeddings)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        s = Settings(data_dir=tmp_path, embedding="openai:letters", openai_base_url=url)
        eng = Engine(s)
        report = eng.ingest([CORPUS])
        assert len(report.added) == 2 and eng.store.model_id() == "openai:letters"
        r = eng.answer("When did Ukraine start its cross-border operation into Kursk?")
        # An abstention also carries the closest sources, so check the answer itself: it states the date
        # and cites the passage that says so, through vectors from the OpenAI-compatible backend.
        assert not r.abstained and "August 2024" in r.answer
        assert any("August 2024" in s.text and s.doc == "000_ab32f97f3e457f91.txt" for s in r.sources)
        assert any(p.dense > 0.0 for p in r.retrieved)  # dense scores came from the letter vectors
        # the same index queried with the default model: a clear error, not silent nonsense
        with pytest.raises(ModelMismatch, match="re-ingest"):
            Engine(Settings(data_dir=tmp_path)).answer("Who praised the troops?")
    finally:
        server.shutdown()


class FakeEmbedder:
    model_id = "fake:v1"
    dim = 2

    def embed(self, texts):
        return np.tile(np.array([[1.0, 0.0]], dtype=np.float32), (len(texts), 1))


class FakeEntryPoint:
    """What importlib.metadata returns for a plugin's `[project.entry-points."newsqa.embedders"]` line."""

    def __init__(self, name, factory):
        self.name, self.group, self._factory = name, embedding.ENTRY_POINT_GROUP, factory

    def load(self):
        return self._factory


def test_an_embedder_registered_as_an_entry_point_is_found(monkeypatch, tmp_path):
    import importlib.metadata

    seen = []

    def factory(arg, settings):
        seen.append(arg)
        return FakeEmbedder() if arg else None

    def entry_points(group=None, **kw):
        assert group == "newsqa.embedders"
        return [FakeEntryPoint("fake", factory)]

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    monkeypatch.setattr(embedding, "_LOADED", {})
    e = embedding.get_embedder(Settings(data_dir=tmp_path, embedding="fake:v1"))
    assert isinstance(e, FakeEmbedder) and seen == ["v1"]
    assert embedding.get_embedder(Settings(data_dir=tmp_path, embedding="fake:v1")) is e  # loaded once
    # The built-in names are still there without their entry points (a checkout not pip-installed).
    assert embedding.embedder_factory("minilm") is embedding.minilm_factory
    # A name no entry point or built-in has, or a spec its factory refuses, keeps the old message.
    for spec in ("nosuch:model", "fake", "st"):
        with pytest.raises(ConfigError, match="unknown embedding backend .*use minilm, st:<path> or openai:<model>"):
            embedding.get_embedder(Settings(data_dir=tmp_path, embedding=spec))


def test_the_packaged_entry_points_name_the_three_backends():
    import importlib.metadata

    found = {ep.name: ep.value for ep in importlib.metadata.entry_points(group=embedding.ENTRY_POINT_GROUP)}
    if not found:
        pytest.skip("package metadata not installed (pip install -e .)")
    assert found == {"minilm": "retrieval.embedding:minilm_factory", "st": "retrieval.embedding:st_factory",
                     "openai": "retrieval.embedding:openai_factory"}


def test_the_answerers_scores_do_not_depend_on_what_was_scored_before():
    # The int8 encoders quantize activations with one scale per batch: a sentence scored beside long ones
    # would get another vector, and a question another answer, depending on the session's history.
    from retrieval.answerer.scorer import default_relevance, default_scorer

    sentences = ["North Korea deployed 10,000 troops to support Russian forces in Kursk.",
                 "The General Staff denied the claim.", "Putin said the offensive had completely failed."]
    others = ["A very long sentence about something else entirely, " * 6 + "with many tokens of padding.",
              "Rain fell.", "The council confirmed that the route 14 bus will be withdrawn from April next year."]
    for scorer in (default_scorer(), default_relevance()):
        scorer.clear()
        alone = scorer.scores("How many troops did North Korea send?", sentences)
        scorer.clear()
        scorer.scores("anything", others + sentences[:1] + others)  # cached beside other sentences
        again = scorer.scores("How many troops did North Korea send?", sentences)
        assert np.array_equal(alone, again)
        # and the batch the index's embedder uses is untouched (ingest stays batched)
        assert scorer.encoder.batch_size > 1
