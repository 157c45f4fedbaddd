"""Generate the trainer's config and command-line reference from the code.

Used two ways:

* as an mkdocs hook (``hooks:`` in ``mkdocs.yml``): every page that contains one of the markers
  ``<!-- gen:config-reference -->``, ``<!-- gen:presets -->`` or ``<!-- gen:cli-reference -->``
  gets it replaced by the generated Markdown, so the site always matches the code;
* as a script, to read the generated Markdown: ``python docs/gen_config_reference.py``.

The config tables introspect :class:`trainer.config.TrainConfig` (its dataclass fields, type
annotations, defaults and the ``Attributes`` section of its docstring) and
:data:`trainer.config.PRESETS`; the CLI reference is the ``--help`` text of each argparse
parser (``trainer.cli.build_parser()``, ``pseudoanom``'s ``main``). None of this imports
TensorFlow.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import io
import os
import re
import sys
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MARKERS = {
    "<!-- gen:config-reference -->": "config_reference",
    "<!-- gen:presets -->": "presets_reference",
    "<!-- gen:cli-reference -->": "cli_reference",
}
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


def _help_text(parser_or_main: Any, argv: Sequence[str] = ()) -> str:
    """The ``--help`` output of an argparse parser, or of a ``main(argv)`` that builds one."""
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = HELP_COLUMNS  # argparse wraps to the terminal width: fix it
    try:
        if hasattr(parser_or_main, "format_help"):
            return parser_or_main.format_help()
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf), contextlib.suppress(SystemExit):
            parser_or_main([*argv, "--help"])
        return buf.getvalue()
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
    from pseudoanom.__main__ import main as pseudoanom_main
    from trainer.cli import build_parser

    parser = build_parser()
    parts = [_block("python -m trainer", _help_text(parser))]
    for name, sub in _subparsers(parser).items():
        parts.append(_block(f"python -m trainer {name}", _help_text(sub)))
    parts.append(_block("pseudoanom", _help_text(pseudoanom_main)))
    for name in ("preview", "list"):
        parts.append(_block(f"pseudoanom {name}", _help_text(pseudoanom_main, [name])))
    return "\n".join(parts)


GENERATORS: dict[str, Callable[[], str]] = {
    "config_reference": config_reference,
    "presets_reference": presets_reference,
    "cli_reference": cli_reference,
}


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """mkdocs hook: replace the ``<!-- gen:... -->`` markers of a page."""
    for marker, name in MARKERS.items():
        if marker in markdown:
            markdown = markdown.replace(marker, GENERATORS[name]())
    return markdown


if __name__ == "__main__":
    for name, fn in GENERATORS.items():
        print(f"<!-- {name} -->\n{fn()}")
