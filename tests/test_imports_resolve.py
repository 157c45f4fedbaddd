"""Every ``from trainer... import name`` / ``from pseudoanom... import name`` in the repository
names something that exists, deferred (function-level) imports and benchmark scripts included,
so a moved or renamed name cannot leave a script that fails only when it is run."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

pytest.importorskip("keras")

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("pseudoanom", "trainer", "benchmarks", "examples", "tests", "docs")


def imported_names() -> list[tuple[str, int, str, str]]:
    """``(file, line, module, name)`` of every absolute import from the two packages."""
    out = []
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
                    continue
                if node.module.split(".")[0] not in ("trainer", "pseudoanom"):
                    continue
                rel = path.relative_to(ROOT).as_posix()
                out += [(rel, node.lineno, node.module, a.name) for a in node.names]
    return out


def test_every_imported_name_exists():
    missing = []
    for file, line, module, name in imported_names():
        if name == "*":
            continue
        mod = importlib.import_module(module)
        if hasattr(mod, name):
            continue
        try:
            importlib.import_module(f"{module}.{name}")
        except ImportError:
            missing.append(f"{file}:{line}: from {module} import {name}")
    assert not missing, "names that do not exist:\n" + "\n".join(missing)
