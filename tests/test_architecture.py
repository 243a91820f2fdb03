"""Issue 10's structural rules, checked on the source (ast), not by convention:
no import cycle inside tfau, serving never imports training, backbones know no paper, and
generic code holds no table or branch per paper."""
from __future__ import annotations

import ast
import os
import re

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAPERS = re.compile(r"scc_heatmap|g2rl|roi_gcn|re_net|resnet_deconv")


def _modules():
    mods = {}
    for dp, _, files in os.walk(os.path.join(REPO, "tfau")):
        for f in files:
            if f.endswith(".py") and not f.endswith("_test.py"):
                path = os.path.join(dp, f)
                name = os.path.relpath(path, REPO)[:-3].replace(os.sep, ".")
                mods[name[:-9] if name.endswith(".__init__") else name] = path
    return mods


def _lazy_attribute_nodes(tree):
    """Nodes inside a module-level ``__getattr__`` (PEP 562 lazy re-exports such as
    ``tfau.Detector``): they run on attribute access, after every import has finished, so they
    cannot close an import cycle."""
    skip = set()
    for top in tree.body:
        if isinstance(top, ast.FunctionDef) and top.name == "__getattr__":
            skip.update(id(n) for n in ast.walk(top))
    return skip


def _imports(path, mods, name):
    """tfau modules ``path`` imports, at any depth (function-level imports count; a module
    ``__getattr__``'s lazy re-exports do not)."""
    out = set()
    tree = ast.parse(open(path, encoding="utf-8").read())
    lazy = _lazy_attribute_nodes(tree)
    for node in ast.walk(tree):
        if id(node) in lazy:
            continue
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name in mods)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = [f"{node.module}.{a.name}" for a in node.names
                    if f"{node.module}.{a.name}" in mods]
            out.update(subs)
            if len(subs) < len(node.names) and node.module in mods:
                out.add(node.module)
    out.discard(name)
    return out


@pytest.fixture(scope="module")
def graph():
    mods = _modules()
    return {m: _imports(p, mods, m) for m, p in mods.items()}


def _reach(graph, start):
    seen, todo = set(), [start]
    while todo:
        for dep in graph.get(todo.pop(), ()):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def test_no_import_cycle(graph):
    cycles = sorted(m for m in graph if m in _reach(graph, m))
    assert not cycles, f"modules on an import cycle: {cycles}"


def test_graph_finds_imports(graph):
    # the checker itself sees both top-level and function-level imports
    assert "tfau.runs" in graph["tfau.training.trainer"]
    assert "tfau.export" in graph["tfau.training.exporting"]


def test_lazy_reexports_are_not_edges(tmp_path):
    # `def __getattr__(name): from pkg import sub` runs after import: not a dependency edge
    path = tmp_path / "mod.py"
    path.write_text("from tfau import aus\n"
                    "def __getattr__(name):\n    from tfau import detector\n    return 1\n"
                    "def helper():\n    from tfau import export\n")
    mods = {"tfau.aus": "", "tfau.detector": "", "tfau.export": ""}
    assert _imports(str(path), mods, "mod") == {"tfau.aus", "tfau.export"}


def test_serving_does_not_depend_on_training(graph):
    bad = sorted(d for d in _reach(graph, "tfau.export") if d.startswith("tfau.training"))
    assert not bad, f"tfau.export reaches {bad}"


def test_cli_and_studies_use_only_the_public_trainer(graph):
    # `tfau reproduce` trains, through ``tfau.training.main``; no module outside tfau/training
    # imports the trainer's internals
    for module, deps in graph.items():
        if not module.startswith("tfau.training"):
            bad = sorted(d for d in deps if d.startswith("tfau.training.")
                         and d != "tfau.training.optim")
            assert not bad, f"{module} imports {bad}"


def test_backbones_know_no_paper(graph):
    for module in (m for m in graph if m.startswith("tfau.backbones")):
        bad = sorted(d for d in graph[module] if d.startswith(("tfau.layers", "tfau.models",
                                                               "tfau.training", "tfau.recipes")))
        assert not bad, f"{module} imports {bad}"


def _code_without_docs(path):
    """Source with docstrings, comments and help strings removed."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    strings = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                strings.append(doc)
        if isinstance(node, ast.keyword) and node.arg in ("help", "description"):
            for sub in ast.walk(node.value):
                if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                    strings.append(sub.value)
    text = "\n".join(line.split("#", 1)[0] for line in open(path, encoding="utf-8"))
    for s in strings:
        for part in s.splitlines():
            if part.strip():
                text = text.replace(part, "")
    return text


def test_generic_code_names_no_paper():
    roots = ["tfau/data", "tfau/training", "tfau/backbones", "benchmarks", "tfau/cli.py"]
    offenders = []
    for root in roots:
        root = os.path.join(REPO, root)
        paths = [root] if root.endswith(".py") else [
            os.path.join(dp, f) for dp, _, fs in os.walk(root) for f in fs
            if f.endswith(".py") and not f.endswith("_test.py") and not f.startswith("test_")]
        for path in paths:
            if not os.path.exists(path):
                continue
            for i, line in enumerate(_code_without_docs(path).splitlines(), 1):
                if PAPERS.search(line):
                    offenders.append(f"{os.path.relpath(path, REPO)}: {line.strip()}")
    assert not offenders, "paper names in generic code:\n" + "\n".join(offenders)


def test_trainer_is_small():
    with open(os.path.join(REPO, "tfau", "training", "trainer.py"), encoding="utf-8") as f:
        assert sum(1 for _ in f) < 400
