"""Prompt templates as text files, loaded by name (shipped as package data)."""

from functools import cache
from importlib import resources


@cache
def load(name: str) -> str:
    return (resources.files(__name__) / f"{name}.txt").read_text(encoding="utf-8")
