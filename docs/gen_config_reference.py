"""Generate the trainer's config and command-line reference from the code.

The generated Markdown is committed in ``docs/trainer.md`` between marker pairs such as
``<!-- gen:config-reference -->`` ... ``<!-- /gen:config-reference -->`` (also
``gen:presets`` and ``gen:cli-reference``), so the page reads the same on GitHub as on the
site. Used three ways:

* ``python docs/gen_config_reference.py --write`` regenerates the tables in ``docs/trainer.md``
  (run it after changing ``TrainConfig``, ``PRESETS`` or a parser); ``--check`` exits with 1
  when they are out of date (``tests/test_docs_markdown.py`` checks the same);
* as an mkdocs hook (``hooks:`` in ``mkdocs.yml``): every page gets the text between each marker
  pair regenerated and the markers removed, so the site always matches the code;
* with no argument it prints the generated Markdown.

The config tables introspect :class:`trainer.config.TrainConfig` (its dataclass fields, type
annotations, defaults and the ``Attributes`` section of its docstring) and
:data:`trainer.config.PRESETS`; the CLI reference is the ``--help`` text of each argparse
parser (``trainer.cli.build_parser()``, ``pseudoanom.__main__.build_parser()``), at a fixed
width of 100 columns. None of this imports TensorFlow.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import re
import sys
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MARKERS = {
    "config-reference": "config_reference",
    "presets": "presets_reference",
    "cli-reference": "cli_reference",
}
"""Marker name (``<!-- gen:NAME -->`` ... ``<!-- /gen:NAME -->``) -> generator."""
PAGES = [ROOT / "docs" / "trainer.md"]
"""The pages whose generated sections ``--write`` and ``--check`` maintain."""
HELP_COLUMNS = "100"


def _import_path() -> None:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


def _attribute_docs(cls: type) -> dict[str, str]:
    """``{name: description}`` from the numpy-style ``Attributes`` section of ``cls``."""
    doc = inspect.getdoc(cls) or ""
    m = re.search(r"^Attributes\n-+\n(.*?)(?:\n\S[^\n]*\n-+\n|\Z)", doc, re.S | re.M)
    out: dict[str, str] = {}
    if not m:
        return out
    names: list[str] = []
    for line in m.group(1).splitlines():
        if line and not line.startswith(" "):
            names = [n.strip() for n in line.split(":")[0].split(",")]
            # "batch_size, epochs : int" documents both keys at once, respectively
            prefix = f"*{', '.join(names)}:*" if len(names) > 1 else ""
            for n in names:
                out[n] = prefix
        elif line.strip():
            for n in names:
                out[n] = (out[n] + " " + _rst_to_md(line.strip())).strip()
    return out


def _rst_to_md(text: str) -> str:
    """numpydoc/reST inline markup to Markdown: roles and double backticks to code spans."""
    text = re.sub(r":\w+:`~?([^`]+)`", r"`\1`", text)
    return text.replace("``", "`")


def _type_text(tp: Any) -> str:
    text = tp.__name__ if isinstance(tp, type) else str(tp)
    return text.replace("typing.", "").replace("NoneType", "None")


def _value_text(value: Any) -> str:
    if isinstance(value, tuple):
        value = list(value)
    return f"`{value!r}`".replace("|", "\\|")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def config_reference() -> str:
    """Markdown table of every ``TrainConfig`` key: type, default (paper), description."""
    _import_path()
    from trainer.config import RESUME_MUTABLE_KEYS, TrainConfig

    hints = typing.get_type_hints(TrainConfig)
    docs = _attribute_docs(TrainConfig)
    default = TrainConfig()
    rows = [
        "| key | type | default | description |",
        "| --- | --- | --- | --- |",
    ]
    for f in dataclasses.fields(TrainConfig):
        value = getattr(default, f.name)
        note = " *May change on `--resume`.*" if f.name in RESUME_MUTABLE_KEYS else ""
        rows.append(
            f"| `{f.name}` | `{_cell(_type_text(hints[f.name]))}` | {_value_text(value)} | "
            f"{_cell(docs.get(f.name, ''))}{note} |"
        )
    return "\n".join(rows) + "\n"


def presets_reference() -> str:
    """Markdown table: the keys each preset changes relative to the defaults."""
    _import_path()
    from trainer.config import PRESETS, TrainConfig, preset

    default = TrainConfig().to_dict()
    names = list(PRESETS)
    resolved = {n: preset(n).to_dict() for n in names}
    keys = [k for k in default if any(resolved[n][k] != default[k] for n in names)]
    rows = [
        "| key | " + " | ".join(f"`{n}`" for n in names) + " |",
        "| --- |" + " --- |" * len(names),
    ]
    for k in keys:
        rows.append(f"| `{k}` | " + " | ".join(_value_text(resolved[n][k]) for n in names) + " |")
    return "\n".join(rows) + "\n"


def _help_text(parser: Any) -> str:
    """The ``--help`` output of an argparse parser, at :data:`HELP_COLUMNS` columns."""
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = HELP_COLUMNS  # argparse wraps to the terminal width: fix it
    try:
        return parser.format_help()
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old


def _subparsers(parser: Any) -> dict[str, Any]:
    import argparse

    for action in parser._actions:  # argparse has no public accessor for subparsers
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _block(title: str, text: str, level: str = "###") -> str:
    return f"{level} `{title}`\n\n```text\n{text.rstrip()}\n```\n"


def cli_reference() -> str:
    """``--help`` of ``python -m trainer`` and each subcommand, and of ``pseudoanom``."""
    _import_path()
    from pseudoanom.__main__ import build_parser as pseudoanom_parser
    from trainer.cli import build_parser

    parts = []
    for prog, parser in (
        ("python -m trainer", build_parser()),
        ("pseudoanom", pseudoanom_parser()),
    ):
        parts.append(_block(prog, _help_text(parser)))
        for name, sub in _subparsers(parser).items():
            parts.append(_block(f"{prog} {name}", _help_text(sub)))
    return "\n".join(parts)


GENERATORS: dict[str, Callable[[], str]] = {
    "config_reference": config_reference,
    "presets_reference": presets_reference,
    "cli_reference": cli_reference,
}


def _section(name: str) -> re.Pattern[str]:
    """``<!-- gen:NAME -->``, anything, ``<!-- /gen:NAME -->`` (the end marker is optional)."""
    start, end = re.escape(f"<!-- gen:{name} -->"), re.escape(f"<!-- /gen:{name} -->")
    return re.compile(rf"{start}\n(?:.*?\n{end}|(?!.*?{end}))", re.S)


def render(markdown: str, keep_markers: bool = True) -> str:
    """``markdown`` with every generated section regenerated.

    Parameters
    ----------
    markdown : str
        A page's text.
    keep_markers : bool
        Keep the ``<!-- gen:NAME -->`` / ``<!-- /gen:NAME -->`` pair around each section (the
        committed page) or drop it (the site).
    """
    for name, generator in MARKERS.items():
        pattern = _section(name)
        if not pattern.search(markdown):
            continue
        body = GENERATORS[generator]().rstrip("\n") + "\n"
        if keep_markers:
            body = f"<!-- gen:{name} -->\n\n{body}\n<!-- /gen:{name} -->"
        markdown = pattern.sub(lambda _m, body=body: body, markdown)
    return markdown


def stale_pages() -> list[Path]:
    """The pages of :data:`PAGES` whose committed sections differ from freshly generated ones."""
    return [p for p in PAGES if render(p.read_text(encoding="utf-8")) != p.read_text("utf-8")]


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """mkdocs hook: regenerate the sections of a page and drop their markers."""
    return render(markdown, keep_markers=False)


def main(argv: Sequence[str] | None = None) -> int:
    """``--write``: update :data:`PAGES`; ``--check``: exit 1 if one is stale; else print."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--write"]:
        for page in PAGES:
            text = page.read_text(encoding="utf-8")
            if render(text) != text:
                page.write_text(render(text), encoding="utf-8")
                print(f"updated {page.relative_to(ROOT)}")
        return 0
    if args == ["--check"]:
        stale = stale_pages()
        for page in stale:
            print(f"{page.relative_to(ROOT)} is out of date: python docs/gen_config_reference.py "
                  f"--write")  # fmt: skip
        return 1 if stale else 0
    if args:
        print("usage: python docs/gen_config_reference.py [--write | --check]", file=sys.stderr)
        return 2
    for name, fn in GENERATORS.items():
        print(f"<!-- {name} -->\n{fn()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
