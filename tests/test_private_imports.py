"""No module of ``trainer/`` or ``benchmarks/`` uses another module's private names.

A name with a leading underscore is its module's own business: it may change without notice.
Code in another module that needs it should get a public name (with a docstring) instead. The
scan reads the source with ``ast``; it flags, in every ``trainer/*.py`` and
``benchmarks/*.py``:

* ``from trainer.x import _name`` (and the same from ``pseudoanom`` or ``benchmarks``);
* ``import trainer._x`` / ``from trainer._x import name`` (a private module);
* ``x._name`` where ``x`` was bound by importing a module of this repository (reads and
  monkeypatches alike).

A module may use its own private names, and dunder names (``__version__``) are public.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("trainer", "pseudoanom", "benchmarks")
SCANNED = ("trainer", "benchmarks")


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _module_name(path: Path, root: Path) -> str:
    return ".".join(path.relative_to(root).with_suffix("").parts)


def _ours(module: str | None) -> bool:
    return module is not None and module.split(".")[0] in PACKAGES


def _private_module(module: str) -> bool:
    return any(_private(part) for part in module.split("."))


def private_uses(path: Path, root: Path = REPO) -> list[str]:
    """``path:line: what`` for every private name of another repo module that ``path`` (a file
    under ``root``) uses."""
    own = _module_name(path, root)
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    modules: dict[str, str] = {}  # local name -> repo module it is bound to
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if not _ours(alias.name) or alias.name == own:
                    continue
                if _private_module(alias.name):
                    found.append((node.lineno, f"import {alias.name}"))
                # `import a.b` binds `a`; `import a.b as c` binds `c` to `a.b`.
                local = alias.asname or alias.name.split(".")[0]
                modules[local] = alias.name if alias.asname else local
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and _ours(node.module):
            if node.module == own:
                continue
            if _private_module(node.module):
                found.append((node.lineno, f"from {node.module} import ..."))
            for alias in node.names:
                if _private(alias.name):
                    found.append((node.lineno, f"from {node.module} import {alias.name}"))
                else:  # may be a submodule (`from trainer import model`)
                    modules[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            base = ast.unparse(node.value)
            target = modules.get(base.split(".")[0])
            if target is not None and target != own and not base.startswith("self"):
                found.append((node.lineno, f"{base}.{node.attr}"))
    return [f"{path.relative_to(root)}:{line}: {what}" for line, what in sorted(set(found))]


def scanned_files() -> list[Path]:
    return sorted(p for folder in SCANNED for p in (REPO / folder).rglob("*.py"))


def test_no_private_name_of_another_module_is_used():
    assert len(scanned_files()) > 10
    hits = [hit for path in scanned_files() for hit in private_uses(path)]
    assert not hits, "private names used across modules:\n" + "\n".join(hits)


def test_the_scan_finds_each_kind_of_private_use(tmp_path):
    src = tmp_path / "benchmarks" / "example.py"
    src.parent.mkdir()
    src.write_text(
        "import trainer.model\n"
        "import trainer._hidden\n"
        "from trainer import cli\n"
        "from trainer.train import _build_model, train\n"
        "from benchmarks.example import _own\n"
        "from benchmarks import example\n"
        "import numpy as np\n"
        "trainer.model._torch_kernels = None\n"
        "cli._load_model('x')\n"
        "np._private\n"
        "train.__doc__\n"
        "example._own\n"
    )
    assert private_uses(src, tmp_path) == [
        "benchmarks/example.py:2: import trainer._hidden",
        "benchmarks/example.py:4: from trainer.train import _build_model",
        "benchmarks/example.py:8: trainer.model._torch_kernels",
        "benchmarks/example.py:9: cli._load_model",
    ]
