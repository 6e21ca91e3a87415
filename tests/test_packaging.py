"""Packaging: the licence in the form setuptools no longer warns about, and an `.[local]` extra that installs a
llama.cpp server known to work here."""

from __future__ import annotations

import re

import pytest

from conftest import ROOT

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli", reason="reading pyproject.toml on Python 3.10 needs tomli")


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_licence_is_an_spdx_string_with_its_text_in_license():
    data = project()
    assert data["project"]["license"] == "Apache-2.0"  # a table ({text = …}) is deprecated in setuptools
    assert data["project"]["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text and "END OF TERMS AND CONDITIONS" in text
    requires = data["build-system"]["requires"]
    assert any(re.fullmatch(r"setuptools>=(\d+)", r) and int(r.split(">=")[1]) >= 77 for r in requires), requires


def test_local_extra_pins_a_working_llama_cpp_server():
    local = project()["project"]["optional-dependencies"]["local"]
    pinned = [r for r in local if r.startswith("llama-cpp-python")]
    assert pinned == ["llama-cpp-python[server]==0.3.16"], pinned  # 0.3.36 crashed on the first request


def test_extras_by_use_and_the_readme_install_takes_them_all():
    data = project()["project"]
    base = data["dependencies"]
    for heavy in ("openai", "discord.py", "matplotlib", "langchain>="):  # a CLI that may never use them
        assert not any(d.startswith(heavy) for d in base), heavy
    assert any(d.startswith("langchain-core") for d in base)  # what retrieval/langchain_retriever.py imports
    extras = data["optional-dependencies"]
    assert {"llm", "discord", "report", "local", "st", "train", "dev"} <= set(extras)
    assert any(d.startswith("openai") for d in extras["llm"]) and any(d.startswith("discord.py") for d in extras["discord"])
    # `pip install -e ".[dev]"` (the README) gives a newcomer everything the quick start and the tests use.
    assert "newsqa[llm,discord,report]" in extras["dev"]
    assert "newsqa[llm]" in extras["local"]


def test_the_library_is_typed_and_ships_its_prompts_and_corpus():
    assert (ROOT / "retrieval" / "py.typed").is_file()
    tool = project()["tool"]["setuptools"]
    assert tool["packages"]["find"]["include"] == ["retrieval*", "bot*", "evals*"]  # three top-level packages
    data = tool["package-data"]
    assert "py.typed" in data["retrieval"] and data["retrieval.prompts"] == ["*.txt"]
    assert (ROOT / "retrieval" / "prompts" / "abstain.txt").is_file()
    assert (ROOT / "retrieval" / "corpus" / "articles" / "manifest.json").is_file()
