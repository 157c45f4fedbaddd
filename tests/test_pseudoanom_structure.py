"""The shape of the ``pseudoanom`` package, read from its source with ``ast``.

* **No import cycle** among its modules, counting every import: at module level and inside
  functions (a deferred import still ties two modules together), but not the ones under
  ``if TYPE_CHECKING:`` (annotations only). Importing ``pseudoanom.a.b`` also imports the
  package ``pseudoanom.a``, so that counts as an edge too (``pseudoanom`` itself, the root
  every module is in, does not, unless a module imports it by name).
* **No private name crosses a module boundary**: no ``from .x import _name``, and no
  ``obj._name`` on anything but ``self`` / ``cls`` (a module or an object of another class).
  A name another module needs gets a public name in the module that owns it.
* **No framework import**: tensorflow, keras, torch, jax are never imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "pseudoanom"
FRAMEWORKS = {"tensorflow", "keras", "torch", "jax"}


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def modules(package: Path = PACKAGE) -> dict[str, Path]:
    """Dotted name -> file of every module of ``package`` (``__init__`` for packages)."""
    out = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _is_package(name: str, mods: dict[str, Path]) -> bool:
    return mods[name].name == "__init__.py"


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the nodes under ``if TYPE_CHECKING:`` blocks."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            for child in node.body:
                skip.update(id(n) for n in ast.walk(child))
    return skip


def _targets(node: ast.Import | ast.ImportFrom, here: str, mods: dict[str, Path]) -> list[str]:
    """Dotted names of what one import statement imports (``here``: the importer's package)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if node.level:  # relative: level 1 is `here`, level 2 its parent...
        parts = here.split(".")
        module = ".".join(parts[: len(parts) - node.level + 1] + [node.module or ""]).strip(".")
    else:
        module = node.module or ""
    # `from pkg import sub` imports the submodule pkg.sub when there is one.
    subs = [f"{module}.{a.name}" for a in node.names if f"{module}.{a.name}" in mods]
    return subs + ([module] if len(subs) < len(node.names) else [])


def imports(name: str, mods: dict[str, Path]) -> set[str]:
    """The package's modules that module ``name`` imports (anywhere but TYPE_CHECKING)."""
    tree = ast.parse(mods[name].read_text(), filename=str(mods[name]))
    skip = _type_checking_nodes(tree)
    here = name if _is_package(name, mods) else name.rpartition(".")[0]
    own = name.split(".")
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip or not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        for target in _targets(node, here, mods):
            found.add(target)
            # Importing a.b.c first imports the packages a.b (a, the root, is always there
            # already); the importer's own packages are already being imported.
            parts = target.split(".")
            found.update(".".join(parts[:i]) for i in range(2, len(parts)) if parts[:i] != own[:i])
    return {m for m in found if m in mods and m != name}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of nodes (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def private_uses(path: Path, root: Path = ROOT) -> list[str]:
    """``file:line: what`` for each private name used across a module boundary."""
    tree = ast.parse(path.read_text(), filename=str(path))
    rel = path.relative_to(root)
    hits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module != "__future__":
            hits += [
                f"{rel}:{node.lineno}: from {'.' * node.level}{node.module or ''} import {a.name}"
                for a in node.names
                if _private(a.name)
            ]
        elif isinstance(node, ast.Attribute) and _private(node.attr):
            base = ast.unparse(node.value)
            if base not in ("self", "cls"):
                hits.append(f"{rel}:{node.lineno}: {base}.{node.attr}")
    return hits


def test_the_import_graph_has_no_cycle():
    mods = modules()
    assert {"pseudoanom.registry", "pseudoanom.transforms.patches"} <= set(mods)
    graph = {name: imports(name, mods) for name in mods}
    # the edges that used to close the cycle transforms -> registry -> pipeline -> transforms
    assert "pseudoanom.transforms" in graph["pseudoanom.registry"]
    assert "pseudoanom.registry" in graph["pseudoanom.pipeline"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_sees_deferred_imports_and_packages(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from . import a\n")
    (pkg / "a.py").write_text("from .sub.c import f\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "c.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from .. import a\n"
        "def f():\n    from .. import b\n"
    )
    (pkg / "b.py").write_text("import pkg.a\n")
    mods = modules(pkg)
    graph = {name: imports(name, mods) for name in mods}
    assert graph == {
        "pkg": {"pkg.a"},
        "pkg.a": {"pkg.sub", "pkg.sub.c"},
        "pkg.sub": set(),
        "pkg.sub.c": {"pkg.b"},
        "pkg.b": {"pkg.a"},
    }
    assert find_cycle(graph) == ["pkg.a", "pkg.sub.c", "pkg.b", "pkg.a"]
    (pkg / "b.py").write_text("import pkg\n")
    graph = {name: imports(name, mods) for name in mods}
    assert graph["pkg.b"] == {"pkg"}
    assert find_cycle(graph) == ["pkg", "pkg.a", "pkg.sub.c", "pkg.b", "pkg"]
    (pkg / "b.py").write_text("")
    assert find_cycle({name: imports(name, mods) for name in mods}) is None


def test_no_private_name_crosses_a_module_boundary():
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 12
    hits = [hit for path in files for hit in private_uses(path)]
    assert not hits, "private names used across modules:\n" + "\n".join(hits)


def test_the_private_scan_finds_each_kind(tmp_path):
    src = tmp_path / "example.py"
    src.write_text(
        "from .validation import _CHUNK_BYTES, check_clip\n"
        "from . import registry\n"
        "registry._registry\n"
        "t._apply_lazy(clip, params)\n"
        "self._local\n"
        "x.__dict__\n"
    )
    assert sorted(private_uses(src, tmp_path)) == [
        "example.py:1: from .validation import _CHUNK_BYTES",
        "example.py:3: registry._registry",
        "example.py:4: t._apply_lazy",
    ]


def test_no_framework_is_imported():
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            else:
                continue
            bad = [n for n in names if n.split(".")[0] in FRAMEWORKS]
            assert not bad, f"{path.relative_to(ROOT)}:{node.lineno} imports {bad}"
