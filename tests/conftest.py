"""Shared fixtures: a temporary index with the bundled corpus, built once per session."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus" / "articles"


@pytest.fixture(scope="session")
def seeded_dir(tmp_path_factory) -> Path:
    """A data dir with the bundled corpus ingested (copied per test that writes)."""
    from retrieval.api import Engine
    from retrieval.config import Settings

    d = tmp_path_factory.mktemp("seeded")
    Engine(Settings(data_dir=d)).ingest([CORPUS])
    return d


@pytest.fixture
def engine(seeded_dir):
    from retrieval.api import Engine
    from retrieval.config import Settings

    return Engine(Settings(data_dir=seeded_dir))


@pytest.fixture(scope="session")
def shared_engine(seeded_dir):
    from retrieval.api import Engine
    from retrieval.config import Settings

    return Engine(Settings(data_dir=seeded_dir))


@pytest.fixture
def data_copy(seeded_dir, tmp_path) -> Path:
    dst = tmp_path / "data"
    shutil.copytree(seeded_dir, dst)
    return dst


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
