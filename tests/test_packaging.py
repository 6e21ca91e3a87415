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
