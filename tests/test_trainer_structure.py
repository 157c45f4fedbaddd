"""The shape of the ``trainer`` package, read from its source with ``ast`` (as
tests/test_pseudoanom_structure.py reads ``pseudoanom``).

* **No import cycle**, deferred (function-level) imports included; ``if TYPE_CHECKING:``
  imports (annotations only) do not count.
* **Training stays behind its command**: only ``trainer.commands.train`` imports
  ``trainer.train`` (and ``trainer.demo``, itself a program that trains two runs). Scoring,
  calibrating, watching and benchmarking go through :mod:`trainer.inference`.
* **Small functions**: no function has more than 80 lines of code (its docstring not counted).
* **One module per command**: every module of ``trainer/commands/`` but ``common`` is
  registered in :data:`trainer.cli.COMMANDS` with the members the CLI uses.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from test_pseudoanom_structure import find_cycle, imports, modules

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "trainer"
MAX_LINES = 80
TRAINS = {"trainer.commands.train", "trainer.demo"}
"""The modules that may import :mod:`trainer.train`."""


def code_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines of a function's definition, its docstring left out."""
    lines = node.end_lineno - node.lineno + 1
    first = node.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
        if isinstance(first.value.value, str):
            lines -= first.end_lineno - first.lineno + 1
    return lines


def long_functions(root: Path = ROOT, package: Path = PACKAGE) -> list[str]:
    """``file: name (lines)`` for each function over :data:`MAX_LINES` lines of code."""
    hits = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = code_lines(node)
                if n > MAX_LINES:
                    hits.append(f"{rel}: {node.name} ({n} lines)")
    return hits


def test_the_import_graph_has_no_cycle():
    mods = modules(PACKAGE)
    assert {"trainer.train", "trainer.calibration", "trainer.commands.score"} <= set(mods)
    graph = {name: imports(name, mods) for name in mods}
    assert "trainer.engines" in graph["trainer.inference"]  # deferred imports are seen
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_only_the_train_command_imports_train():
    mods = modules(PACKAGE)
    importers = {name for name in mods if "trainer.train" in imports(name, mods)}
    assert "trainer.commands.train" in importers
    assert importers <= TRAINS, f"{sorted(importers - TRAINS)} import trainer.train"


def test_no_function_is_over_80_lines():
    assert not long_functions(), "\n".join(long_functions())


def test_the_length_check_counts_code_not_docstrings(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES))
    doc = '    """' + "\n".join(["Doc."] * 30) + '"""\n'
    (pkg / "a.py").write_text(f"def short():\n{doc}{body[: body.rindex(chr(10))]}\n")
    (pkg / "b.py").write_text(f"def long():\n{body}\n    return 0\n")
    assert long_functions(tmp_path, pkg) == [f"pkg/b.py: long ({MAX_LINES + 2} lines)"]


@pytest.mark.parametrize("path", sorted((PACKAGE / "commands").glob("*.py")), ids=str)
def test_each_command_module_is_registered(path):
    if path.stem in ("__init__", "common"):
        return
    import importlib

    from trainer.cli import COMMANDS

    module = importlib.import_module(f"trainer.commands.{path.stem}")
    assert module in COMMANDS, f"{path.name} is not in trainer.cli.COMMANDS"
    for member in ("NAME", "HELP", "DESCRIPTION", "add_arguments", "run"):
        assert hasattr(module, member), f"{path.name} has no {member}"
    assert module.NAME == path.stem.replace("_", "-")
