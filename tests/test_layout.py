"""The package's import graph: every module imports, and no two maskdet modules need each other.

Read with `ast`, not by importing: an edge is any `import maskdet.x` / `from maskdet.x import ...` /
relative import in a maskdet module, at the top or inside a function (a deferred import is still a
dependency, it only hides the cycle until that function runs). The layers (docs/architecture.md): a module
imports only modules of its own layer or below.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

PACKAGE = ROOT / "maskdet"
FACADE = "maskdet"  # __init__.py: lazy names and typing-only imports for the public API, not a layer

# Edges that close a cycle, allowed while a re-layout removes them (none left since issue 18). Any other
# cycle fails; an entry that no longer exists fails too (remove it then), so the list only shrinks.
KNOWN_CYCLES: set[tuple[str, str]] = set()

# module or subpackage (under maskdet) -> layer, low to high; the longest matching name wins. A module
# imports only its own layer or lower ones, at the top, in a function or under TYPE_CHECKING alike.
LAYERS = {
    # 0: plain values and helpers, no models
    **dict.fromkeys(["_env", "_errors", "assets", "results", "presets", "boxes", "calibration"], 0),
    # 1: files, runtimes, the model resolver; train.card too: MaskClassifier.save_pretrained writes its card
    **dict.fromkeys(["io", "ort", "backbones", "hub", "train.card"], 1),
    **dict.fromkeys(["detector", "classifier"], 2),  # 2: the two models
    **dict.fromkeys(["pipeline", "annotate", "tracking", "data"], 3),  # 3: what takes both models' results
    **dict.fromkeys(["video", "batch", "eval", "train"], 4),  # 4: whole jobs over many frames or images
    **dict.fromkeys(["app", "cli", "video_cli", "__main__", ""], 5),  # 5: the edges; "" is the facade, maskdet
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _facade_names() -> dict[str, str]:
    """maskdet/__init__.py's lazy names -> their modules: `from maskdet import Pipeline` imports maskdet.pipeline."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    lazy = next(n.value for n in tree.body if isinstance(n, ast.Assign) and ast.unparse(n.targets[0]) == "_LAZY")
    return ast.literal_eval(lazy)


FACADE_NAMES = _facade_names()


def imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """The maskdet modules one import statement names (`from pkg import mod` names pkg.mod)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        if node.level:  # relative: from the module's package, one level up per extra dot
            base = module.split(".") if is_package else module.split(".")[:-1]
            base = base[: len(base) - node.level + 1]
            prefix = ".".join([*base, node.module] if node.module else base)
        else:
            prefix = node.module or ""
        names = [f"{prefix}.{a.name}" for a in node.names if f"{prefix}.{a.name}" in MODULES]
        if prefix == FACADE:
            names += [FACADE_NAMES[a.name] for a in node.names if a.name in FACADE_NAMES]
        names = names or [prefix]
    return [name for name in names if name in MODULES and name != module]


def import_graph(top_level_only: bool) -> dict[str, set[str]]:
    """module -> the maskdet modules it imports (the facade left out).

    top_level_only: only what runs on import (module body, not functions, not `if TYPE_CHECKING:`).
    """
    graph = {}
    for module, path in MODULES.items():
        if module == FACADE:
            continue
        tree = ast.parse(path.read_text(), str(path))
        nodes = list(ast.walk(tree)) if not top_level_only else list(_executed_on_import(tree.body))
        graph[module] = {
            target
            for node in nodes
            if isinstance(node, (ast.Import, ast.ImportFrom))
            for target in imported(node, module, path.name == "__init__.py")
            if target != FACADE
        }
    return graph


def _executed_on_import(body: list[ast.stmt]):
    for node in body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from _executed_on_import(node.orelse)
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            for block in (node.body, getattr(node, "orelse", []), getattr(node, "finalbody", [])):
                yield from _executed_on_import(block)
            for handler in getattr(node, "handlers", []):
                yield from _executed_on_import(handler.body)
        else:
            yield node


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while group[-1:] != [v]:
                group.append(stack.pop())
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def layer(module: str) -> int:
    """The layer of a maskdet module: its longest named prefix in LAYERS (maskdet itself is "")."""
    parts = module.split(".")[1:]
    for end in range(len(parts), -1, -1):
        name = ".".join(parts[:end])
        if name in LAYERS and (name or module == FACADE):
            return LAYERS[name]
    raise KeyError(f"{module} has no layer: add it (or its subpackage) to LAYERS in tests/test_layout.py")


def upward(graph: dict[str, set[str]], layer_of=layer) -> list[str]:
    """Every import of a higher layer, as "a (layer) -> b (layer)"."""
    return [
        f"{a} ({layer_of(a)}) -> {b} ({layer_of(b)})"
        for a in sorted(graph)
        for b in sorted(graph[a])
        if layer_of(b) > layer_of(a)
    ]


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ],
)
def test_cycles_finds_exactly_the_cycles(graph, expected):
    assert cycles(graph) == expected


def test_the_graph_sees_absolute_relative_and_deferred_imports():
    graph = import_graph(top_level_only=False)
    assert "maskdet.results" in graph["maskdet.pipeline"]  # from maskdet.results import Faces
    assert "maskdet.ort" in graph["maskdet.classifier"]  # from maskdet import ort
    assert "maskdet.train.card" in graph["maskdet.classifier"]  # inside save_pretrained
    assert "maskdet.train.card" not in import_graph(top_level_only=True)["maskdet.classifier"]
    assert "maskdet.__main__" in MODULES and len(MODULES) > 20


def test_no_import_cycle_runs_on_import():
    """What runs on `import` has no cycle at all: no module ever sees another half-initialised."""
    assert cycles(import_graph(top_level_only=True)) == []


def test_no_new_import_cycle():
    graph = import_graph(top_level_only=False)
    stale = sorted(edge for edge in KNOWN_CYCLES if edge[1] not in graph.get(edge[0], set()))
    assert not stale, f"{stale} no longer import each other: remove them from KNOWN_CYCLES"
    for a, b in KNOWN_CYCLES:
        graph[a] = graph[a] - {b}
    found = cycles(graph)
    assert not found, f"import cycle among {found}: move the shared code down a layer (KNOWN_CYCLES is for issue 18)"


def test_every_module_has_a_layer():
    assert layer("maskdet.train.card") == 1 and layer("maskdet.train.release") == 4 and layer("maskdet") == 5
    assert layer("maskdet.io") == layer("maskdet.io.video") == 1
    with pytest.raises(KeyError, match=r"maskdet\.nowhere has no layer"):
        layer("maskdet.nowhere")
    for module in MODULES:
        layer(module)  # raises naming the module


def test_upward_finds_exactly_the_imports_of_a_higher_layer():
    graph = {"low": {"mid"}, "mid": {"low"}, "high": {"low", "mid"}}
    assert upward(graph, {"low": 0, "mid": 1, "high": 2}.get) == ["low (0) -> mid (1)"]


def test_the_graph_sees_the_facade_names():
    tree = ast.parse("from maskdet import Pipeline, hub\nfrom maskdet import __version__")
    found = [imported(node, "maskdet.boxes", False) for node in tree.body]
    assert found == [["maskdet.hub", "maskdet.pipeline"], ["maskdet"]]


def test_no_upward_import():
    """Module-level, deferred and typing-only imports alike: a lower layer never needs a higher one."""
    graph = import_graph(top_level_only=False)
    graph[FACADE] = _facade_imports()
    found = upward(graph)
    assert not found, f"upward imports {found}: move the code that needs the higher module up (or down), see LAYERS"


def _facade_imports() -> set[str]:
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    return {t for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for t in imported(node, FACADE, True)}


def test_every_module_imports():
    """In a fresh interpreter, so that what a module does on import (TMPDIR, threads) stays out of this one."""
    names = sorted(name for name in MODULES if not name.endswith("__main__"))  # __main__ runs the CLI
    code = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    answer = subprocess.run([sys.executable, "-c", code, *names], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert answer.returncode == 0, answer.stderr[-3000:]
