"""Imports inside `retrieval/` run one way: down the layers below, never up, and never in a cycle.

Every `import` and `from … import` counts, wherever it is: at module level, inside a function (a lazy import is
still a dependency), and under `if TYPE_CHECKING:` (an annotation that needs an upper layer is a sign the code
is in the wrong place). A module of `retrieval/` that is not in the map fails the test, so a new module is
placed on purpose.

The layers, lowest first (a module may import its own layer and the ones below it):

0. values, failures, settings and packaged data: types, errors, config, prompts, corpus
1. text: what an article and a sentence are, cleaning, chunking, citations, the injection rule, copies
2. storage, search and loading: the locks, the lexical index, the store, search, embedding, files, the web, ingest
3. the extractive answerer: retrieval/answerer/ and follow-ups
4. the LLM mode: retrieval/llm/
5. the engine: Index (retrieval/index.py) and Engine (retrieval/api.py)
6. clients inside the library: the LangChain retriever and the package's own `__init__` (which re-exports Engine)

The clients outside it (bot/, evals/, benchmarks/) sit above all of these and are not checked here.
"""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

PACKAGE = "retrieval"

LAYERS: list[tuple[str, set[str]]] = [
    ("values, failures, settings, data", {"types", "errors", "config", "prompts", "corpus"}),
    ("text", {"text", "sentences", "cleaning", "articles", "chunking", "citations", "injection", "copies"}),
    ("storage, search, loading", {"lock", "dblock", "lexical", "store", "search", "embedding", "web", "loading",
                                  "ingest"}),
    ("answerer", {"answerer", "followup"}),
    ("llm", {"llm"}),
    ("engine", {"index", "api"}),
    ("clients", {"langchain_retriever", ""}),  # "": retrieval/__init__.py
]


def modules() -> dict[str, tuple[Path, bool]]:
    """Every module of the package: dotted name -> (file, is a package's __init__)."""
    out = {}
    for f in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = list(f.relative_to(ROOT).with_suffix("").parts)
        init = parts[-1] == "__init__"
        if init:
            parts = parts[:-1]
        out[".".join(parts)] = (f, init)
    return out


def imports(name: str, path: Path, is_init: bool, known: set[str]) -> set[str]:
    """The package's modules that `name` imports, anywhere in its file."""
    found: set[str] = set()
    here = name.split(".") if is_init else name.split(".")[:-1]  # the package relative imports start from
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            # `from .x import y`: y is a submodule when one of that name exists, else a name in x.
            targets = [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in known else prefix for a in node.names]
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and (t == PACKAGE or t.startswith(PACKAGE + ".")) and t != name:
                found.add(t)
    return found


def layer_of(module: str) -> int | None:
    rel = module.removeprefix(PACKAGE).removeprefix(".")
    top = rel.split(".")[0]
    for i, (_, names) in enumerate(LAYERS):
        if top in names:
            return i
    return None


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {m: imports(m, f, init, known) for m, (f, init) in mods.items()}


def test_every_module_has_a_layer():
    unplaced = sorted(m for m in modules() if layer_of(m) is None)
    assert unplaced == [], f"put these in a layer of LAYERS (tests/test_layers.py): {unplaced}"


def test_imports_only_go_down_the_layers():
    upward = []
    for module, targets in graph().items():
        mine = layer_of(module)
        for t in sorted(targets):
            theirs = layer_of(t)
            if mine is not None and theirs is not None and theirs > mine:
                upward.append(f"{module} ({LAYERS[mine][0]}) imports {t} ({LAYERS[theirs][0]})")
    assert upward == [], "imports that go up a layer:\n" + "\n".join(upward)


def test_no_import_cycles():
    g = graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        path.append(m)
        for t in sorted(g.get(m, ())):
            # A package's __init__ importing its own submodules (and them importing each other) is not a cycle
            # through the package: `from .x import y` in a submodule reaches x, not the __init__.
            if state.get(t) == 1:
                cycles.append(path[path.index(t):] + [t])
            elif t not in state:
                visit(t)
        path.pop()
        state[m] = 2

    for m in sorted(g):
        if m not in state:
            visit(m)
    assert cycles == [], "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_checker_sees_lazy_type_checking_and_relative_imports(tmp_path):
    """The parser itself: a cycle made only of a function-level import and a TYPE_CHECKING one is found."""
    pkg = tmp_path / PACKAGE
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from .b import thing\n")
    (pkg / "a.py").write_text("def f():\n    from .sub import b\n")
    (pkg / "sub" / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..a import f\n"
                                      "thing = 1\n")
    known = {"retrieval", "retrieval.a", "retrieval.sub", "retrieval.sub.b"}
    assert imports("retrieval.a", pkg / "a.py", False, known) == {"retrieval.sub.b"}
    assert imports("retrieval.sub.b", pkg / "sub" / "b.py", False, known) == {"retrieval.a"}
    assert imports("retrieval.sub", pkg / "sub" / "__init__.py", True, known) == {"retrieval.sub.b"}
