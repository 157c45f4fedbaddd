"""Keep TensorFlow's C++ log lines off the terminal unless the user asks for them.

TensorFlow logs from C++, past Python's ``logging``, in two ways:

* at import, before its logging is set up, absl writes every message to stderr whatever the
  level: ``WARNING: All log messages before absl::InitializeLog() is called are written to
  STDERR`` and ``I0000 ... port.cc] oneDNN custom operations are on ...`` (information, not a
  problem; the oneDNN kernels themselves stay on);
* later, at the level ``TF_CPP_MIN_LOG_LEVEL`` sets (0 all, 1 no INFO, 2 no WARNING, 3 no
  ERROR). The one line training prints is ``E0000 ... meta_optimizer.cc] remapper failed:
  INVALID_ARGUMENT``: grappler's remapper tries to fold a ``Pad`` into the convolution beside it
  (the torch padding alignment of :mod:`trainer.model`, and the gradient of its transposed
  convolution's crop), finds the gradient still reading the padded tensor, and leaves the graph
  as built. Nothing fails: the step runs as with the remapper off, and no slower
  (``benchmarks/remapper_pad.py``, ``results/perf/remapper_pad.txt``).

So, imported first by :mod:`trainer` (before anything imports TensorFlow), this module sets
``TF_CPP_MIN_LOG_LEVEL=3`` unless the user set it, and, when that level hides INFO lines (1 or
more), drops the import-time INFO lines and absl's banner from what TensorFlow's import writes to
stderr (everything else is passed through). ``TF_CPP_MIN_LOG_LEVEL=0`` shows them all.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import re
import sys
import tempfile
from collections.abc import Callable
from types import ModuleType

__all__ = ["ENV_VAR", "DEFAULT_LEVEL", "drop_info_lines", "install"]

ENV_VAR = "TF_CPP_MIN_LOG_LEVEL"
DEFAULT_LEVEL = "3"

_ABSL_BANNER = "WARNING: All log messages before absl::InitializeLog() is called"
_LOG_LINE = re.compile(r"^[IWEF]\d{4} ")


def drop_info_lines(text: str) -> str:
    """``text`` without absl's banner, INFO lines (``I0000 ...``) and their continuation lines."""
    kept, in_info = [], False
    for line in text.splitlines(keepends=True):
        if line.startswith(_ABSL_BANNER):
            in_info = False
            continue
        if _LOG_LINE.match(line):
            in_info = line.startswith("I")
        if not in_info:
            kept.append(line)
    return "".join(kept)


def _hides_info() -> bool:
    try:
        return int(os.environ.get(ENV_VAR, "0")) >= 1
    except ValueError:
        return False


def _filtered(exec_module: Callable[[ModuleType], None]) -> Callable[[ModuleType], None]:
    """``exec_module`` with file descriptor 2 captured and passed on through the filter."""

    def run(module: ModuleType) -> None:
        sys.stderr.flush()
        saved = os.dup(2)
        with tempfile.TemporaryFile() as captured:
            os.dup2(captured.fileno(), 2)
            try:
                exec_module(module)
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
                captured.seek(0)
                rest = drop_info_lines(captured.read().decode(errors="replace"))
                if rest:
                    sys.stderr.write(rest)
                    sys.stderr.flush()

    return run


class _TensorFlowImport(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` as usual, and runs its import through :func:`_filtered`."""

    def find_spec(self, name, path, target=None):
        if name != "tensorflow" or not _hides_info():
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader.exec_module = _filtered(spec.loader.exec_module)
        return spec


def install() -> None:
    """Set the default level and filter TensorFlow's import (once; no-op once it is imported)."""
    os.environ.setdefault(ENV_VAR, DEFAULT_LEVEL)
    if "tensorflow" in sys.modules:
        return
    if not any(isinstance(f, _TensorFlowImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _TensorFlowImport())


install()
