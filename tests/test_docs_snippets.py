"""Every code block of README.md and docs/*.md runs as written from the repository root.

Each page is checked in order, in a scratch folder that stands for the repository root (its
top-level files and folders are linked there, and ``../shared`` next to it is the real
``../shared`` when that exists), so a snippet that writes a file leaves nothing in the checkout:

* ``python`` blocks are executed, one namespace per page (a later block may use what an earlier
  one defined, as a reader running them in order would);
* ``bash``/``sh``/``shell`` blocks, and the ``$ ...`` lines of ``console`` blocks, are split into
  commands; a line of ``VAR=value`` assignments sets ``$VAR`` for the later ones.
  ``python -m trainer ...`` and ``pseudoanom ...`` are parsed with the CLI's own argparse
  parser; ``python -m MODULE`` must name an importable module, ``python SCRIPT`` an existing
  file, ``pip install .[EXTRAS]`` extras of ``pyproject.toml``. Nothing is trained. Paths the
  commands read (option values and arguments that look like paths, except the outputs of
  ``--out`` and the like) must exist, or lie under an output of an earlier command of the page;
  absolute input paths are refused (use ``../shared/datasets/...``). Paths under ``../shared``
  are not checked when it is absent;
* ``yaml`` blocks must parse; one whose first line is ``# NAME.yaml`` is written to that file
  (later commands of the page may read it), and one made only of config keys must load as a
  ``TrainConfig``.

Other languages (``text``, ``toml``, ``math``) are not code to run. A block may be left out
with ``<!-- snippet: skip (REASON) -->`` on the line before it; the reason is required.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"

PAGES = [
    p.relative_to(ROOT).as_posix()
    for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
]

SHELL_LANGUAGES = {"bash", "sh", "shell", "console"}
NOT_CODE = {"", "text", "toml", "math", "ini", "json", "csv"}
# Options whose value is written, not read.
OUTPUT_OPTIONS = {"--out", "--dst", "--report", "--runs", "-d", "-o", "--site-dir"}
# Commands whose arguments are not checked beyond the paths they name.
PLAIN_COMMANDS = {"mkdocs", "tensorboard", "nvidia-smi", "ls", "cat", "echo"}
PATH_SUFFIXES = (".py", ".yaml", ".yml", ".avi", ".mp4", ".keras", ".npy", ".png", ".json")
SKIP_MARK = re.compile(r"<!--\s*snippet:\s*skip\s*\((?P<why>[^)]+)\)\s*-->\s*$")
FENCE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<lang>[^\n`]*)\n"
    r"(?P<body>.*?)^(?P=indent)(?P=fence)[ \t]*$",
    re.S | re.M,
)


@dataclass
class Block:
    lang: str
    code: str
    line: int
    skip: str | None = None


def blocks(text: str) -> list[Block]:
    """The fenced code blocks of a Markdown page, dedented, with their skip reason if any."""
    out = []
    for m in FENCE.finditer(text):
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        skip = SKIP_MARK.search(before)
        body = textwrap.dedent(m.group("body"))
        lang = m.group("lang").strip().split(" ")[0].lower()
        line = text.count("\n", 0, m.start()) + 1
        out.append(Block(lang, body, line, skip.group("why") if skip else None))
    return out


def commands(line: str) -> list[list[str]]:
    """The commands of one logical shell line as argument lists (``&&``, ``;``, ``|`` split)."""
    lexer = shlex.shlex(line.replace("\\\n", " "), posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    out: list[list[str]] = [[]]
    for token in lexer:
        if set(token) <= set(";&|"):
            out.append([])
        else:
            out[-1].append(token)
    return [c for c in out if c]


def shell_lines(block: Block) -> list[str]:
    """The logical command lines of a shell block (``$ `` lines of a console block): physical
    lines joined while they end in a backslash or leave a quote open."""
    raw = block.code.splitlines()
    if block.lang == "console":
        raw = [line[2:] for line in raw if line.startswith("$ ")]
    out, buffer = [], ""
    for line in raw:
        buffer = f"{buffer}\n{line}" if buffer else line
        if buffer.endswith("\\"):
            continue
        try:
            shlex.split(buffer, comments=True)
        except ValueError:  # an open quote: the command goes on
            continue
        if buffer.strip():
            out.append(buffer)
        buffer = ""
    if buffer.strip():
        out.append(buffer)
    return out


@dataclass
class Page:
    """What the commands of one page have produced so far, and where they run."""

    name: str
    cwd: Path
    outputs: list[str] = field(default_factory=list)
    namespace: dict = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def fail(self, block: Block, message: str) -> None:
        self.problems.append(f"{self.name}:{block.line}: {message}")


def looks_like_path(token: str) -> bool:
    if token.startswith("-") or "://" in token or token.startswith("$"):
        return False
    if "=" in token or ":" in token.split("/")[0]:
        return False
    return "/" in token or token.endswith(PATH_SUFFIXES)


def check_path(page: Page, block: Block, token: str) -> None:
    token = token.rstrip("/")
    if token.startswith("/"):
        page.fail(block, f"absolute input path {token}: use a path relative to the repository")
        return
    if token.startswith("../shared/") and not SHARED.is_dir():
        return
    if (page.cwd / token).exists():
        return
    if any(token == out or token.startswith(out.rstrip("/") + "/") for out in page.outputs):
        return
    page.fail(block, f"{token} does not exist (relative to the repository root)")


def check_paths(page: Page, block: Block, args: list[str]) -> None:
    """Input paths among ``args`` exist; record the values of output options."""
    skip_next = False
    for i, token in enumerate(args):
        if skip_next:
            skip_next = False
            continue
        if token in OUTPUT_OPTIONS and i + 1 < len(args):
            page.outputs.append(args[i + 1].rstrip("/"))
            skip_next = True
            continue
        if token.startswith("--") and "=" in token:
            key, value = token.split("=", 1)
            if key in OUTPUT_OPTIONS:
                page.outputs.append(value)
                continue
            token = value
        elif "=" in token and not token.startswith("-"):  # --set key=value
            key, value = token.split("=", 1)
            if key in ("data", "intruders", "config"):
                token = value.removeprefix("cifar100:")
            else:
                continue
        if looks_like_path(token):
            check_path(page, block, token)


def parse_with(page: Page, block: Block, parser, args: list[str], known: bool = False) -> None:
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            if known:
                parser.parse_known_args(args)
            else:
                parser.parse_args(args)
    except SystemExit:
        page.fail(block, f"{shlex.join(args)}: {err.getvalue().strip().splitlines()[-1]}")


def extras_of_pyproject() -> set[str]:
    """The names of ``[project.optional-dependencies]`` (no tomllib on Python 3.10)."""
    text = (ROOT / "pyproject.toml").read_text()
    section = text.split("[project.optional-dependencies]", 1)[1].split("\n[", 1)[0]
    return set(re.findall(r"^([A-Za-z0-9_-]+)\s*=", section, re.M))


def check_pip(page: Page, block: Block, args: list[str]) -> None:
    extras = extras_of_pyproject()
    for token in args[1:]:
        m = re.fullmatch(r"\.\[(.*)\]", token)
        if m:
            unknown = [e for e in m.group(1).split(",") if e not in extras]
            if unknown:
                page.fail(block, f"pip install {token}: no extra {unknown} in pyproject.toml")


def _expand(page: Page, arg: str) -> list[str]:
    """``$VAR`` set by an earlier line of the page: its words; any other argument as is."""
    m = re.fullmatch(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", arg)
    if m and m.group(1) in page.variables:
        return shlex.split(page.variables[m.group(1)])
    return [arg]


def check_command(page: Page, block: Block, args: list[str]) -> None:
    from pseudoanom.__main__ import build_parser as pseudoanom_parser
    from trainer.cli import build_parser as trainer_parser

    assignments = []
    while args and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", args[0]):  # VAR=value prefixes
        assignments.append(args[0].split("=", 1))
        args = args[1:]
    if not args:  # a line of assignments only: later commands may use $VAR
        page.variables.update(dict(assignments))
        return
    args = [a for arg in args for a in _expand(page, arg)]
    word, rest = args[0], args[1:]
    if word in ("python", "python3") and rest[:1] == ["-m"] and len(rest) > 1:
        module, rest = rest[1], rest[2:]
        if module == "trainer":
            parse_with(page, block, trainer_parser(), rest)
        elif module == "pseudoanom":
            parse_with(page, block, pseudoanom_parser(), rest, known=True)
        elif module == "pip":
            check_pip(page, block, rest)
            return
        else:
            import importlib.util

            if importlib.util.find_spec(module) is None:
                page.fail(block, f"python -m {module}: no such module")
        check_paths(page, block, rest)
    elif word in ("python", "python3"):
        if not rest or not (page.cwd / rest[0]).is_file():
            page.fail(block, f"{shlex.join(args)}: no such script")
        check_paths(page, block, rest[1:])
    elif word == "pseudoanom-train":
        parse_with(page, block, trainer_parser(), rest)
        check_paths(page, block, rest)
    elif word == "pseudoanom":
        parse_with(page, block, pseudoanom_parser(), rest, known=True)
        check_paths(page, block, rest)
    elif word == "pip":
        check_pip(page, block, args)
    elif word in PLAIN_COMMANDS:
        check_paths(page, block, rest)
    else:
        page.fail(block, f"unknown command {word!r}: teach tests/test_docs_snippets.py about it")


def check_yaml(page: Page, block: Block) -> None:
    from trainer.config import load_config, valid_keys

    try:
        data = yaml.safe_load(block.code)
    except yaml.YAMLError as e:
        page.fail(block, f"invalid YAML: {e}")
        return
    first = block.code.splitlines()[0] if block.code.strip() else ""
    m = re.fullmatch(r"#\s*(\S+\.ya?ml)\s*", first)
    path = page.cwd / m.group(1) if m else page.cwd / f".snippet-{block.line}.yaml"
    if m:
        path.write_text(block.code)
    if isinstance(data, dict) and set(data) <= {*valid_keys(), "preset"}:
        path.write_text(block.code)
        try:
            load_config(yaml_path=path)
        except ValueError as e:
            page.fail(block, f"not a valid trainer config: {e}")
        for key in ("data", "intruders"):
            if isinstance(data.get(key), str) and data[key] != "embedded":
                check_path(page, block, data[key].removeprefix("cifar100:"))


def run_python(page: Page, block: Block) -> None:
    if "../shared" in block.code and not SHARED.is_dir():
        pytest.skip(f"{page.name}:{block.line} reads ../shared, which is absent")
    try:
        exec(compile(block.code, f"{page.name}:{block.line}", "exec"), page.namespace)
    except Exception as e:  # noqa: BLE001  (report every failing snippet, not the first)
        page.fail(block, f"python block raised {type(e).__name__}: {e}")


def check_page(name: str, cwd: Path) -> list[str]:
    page = Page(name, cwd)
    for block in blocks((ROOT / name).read_text(encoding="utf-8")):
        if block.skip is not None:
            if not block.skip.strip():
                page.fail(block, "a skipped snippet needs a reason")
            continue
        if block.lang == "python":
            run_python(page, block)
        elif block.lang in SHELL_LANGUAGES:
            for line in shell_lines(block):
                for args in commands(line):
                    check_command(page, block, args)
        elif block.lang in ("yaml", "yml"):
            check_yaml(page, block)
        elif block.lang not in NOT_CODE:
            page.fail(block, f"code block in {block.lang!r}: run it here or mark it skipped")
    return page.problems


@pytest.fixture
def repo_root(tmp_path, monkeypatch) -> Path:
    """A scratch folder laid out like the repository root, with ``../shared`` beside it."""
    root = tmp_path / "repo"
    root.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in {".git", ".venv", "runs", ".cache", "site"}:
            (root / entry.name).symlink_to(entry)
    if SHARED.is_dir():
        (tmp_path / "shared").symlink_to(SHARED)
    monkeypatch.chdir(root)
    from pseudoanom import registry

    # Snippets may register transforms; keep them out of the other tests.
    monkeypatch.setattr(registry, "_registry", dict(registry._registry))
    return root


@pytest.mark.parametrize("name", PAGES)
def test_snippets_run_as_written(name, repo_root):
    problems = check_page(name, repo_root)
    assert not problems, "\n".join(problems)


def test_checker_catches_what_it_should(repo_root):
    page = Page("x.md", repo_root)
    bad = Block("bash", "", 1)
    check_command(page, bad, ["python", "-m", "trainer", "train", "--bogus"])
    check_command(page, bad, ["python", "-m", "trainer", "score", "no/such.avi", "--model", "m"])
    check_command(page, bad, ["pseudoanom", "preview", "--frames", "/abs/path", "--out", "p.png"])
    check_command(page, bad, ["pip", "install", ".[nope]"])
    check_command(page, bad, ["rm", "-rf", "x"])
    assert len(page.problems) == 5, page.problems
    good = Page("y.md", repo_root)
    check_command(
        good, bad, ["python", "-m", "trainer", "train", "--preset", "smoke", "--out", "r"]
    )
    check_command(good, bad, ["python", "-m", "trainer", "score", "README.md", "--model", "r/a"])
    assert not good.problems, good.problems
    assert [b.lang for b in blocks("<!-- snippet: skip (x) -->\n```python\n1/0\n```\n")] == [
        "python"
    ]
