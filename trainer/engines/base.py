"""The inference interface: what an engine is, and the helpers the engines share.

An engine reconstructs batches of clips: ``predict(windows)`` takes ``float32``
``(B, T, H, W, C)`` in [-1, 1] and returns the reconstructions, same shape and dtype. Calling
the engine is the same as ``predict``, so an engine is a ``predict_fn`` for
:func:`trainer.evaluation.evaluate`, :func:`trainer.calibration.calibrate` and
:func:`trainer.stream.watch`; the code that scores frames never knows which engine runs.

Which engine runs a model file (``engine="auto"``):

* ``model.onnx``: ONNX Runtime, else OpenVINO (which reads ONNX too), whichever is installed
  first in that order.
* ``model.xml`` (OpenVINO IR, with its ``.bin``): OpenVINO.
* ``model.keras``: Keras, the reference. No engine is the fastest for every model, task and
  CPU (``benchmarks/inference_speed.py``, figures in docs/deploying.md), so a faster one is
  chosen by giving its file or an explicit ``engine``.

An explicit ``engine`` is obeyed or refused: ``"keras"`` needs a ``.keras`` file;
``"onnxruntime"`` or ``"openvino"`` on a ``.keras`` file use its exported twin beside it when
that is up to date (``model.onnx`` or ``model.xml`` whose sidecar JSON names this file's
SHA-256, made by ``python -m trainer export``), or else export it into a temporary folder first
(seconds; removed at exit). Nothing is written next to the model.

This module imports no framework: each engine imports its runtime when it is opened.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from trainer.model_files import file_sha256, read_sidecar, sidecar_path, source_model_sha256

__all__ = [
    "ENGINES",
    "Engine",
    "EngineError",
    "check_windows",
    "cpu_threads",
    "exported_twin",
    "installed_engines",
    "read_sidecar",
    "require_runtime",
    "resolve_engine",
    "sidecar_path",
    "source_model_sha256",
]

ENGINES: tuple[str, ...] = ("keras", "onnxruntime", "openvino")
"""Engine names, as ``--engine`` takes them (besides ``auto``)."""

# engine -> (module to import, pip extra that installs it)
_RUNTIMES: dict[str, tuple[str, str]] = {
    "keras": ("keras", "trainer"),
    "onnxruntime": ("onnxruntime", "onnx"),
    "openvino": ("openvino", "openvino"),
}

# file suffix -> engines that read it, in the order `auto` tries them
_READERS: dict[str, tuple[str, ...]] = {
    ".keras": ("keras",),
    ".onnx": ("onnxruntime", "openvino"),
    ".xml": ("openvino",),
}


class EngineError(ValueError):
    """A model file no engine reads, an engine that cannot read it, or a missing runtime."""


@runtime_checkable
class Engine(Protocol):
    """What every engine offers.

    Attributes
    ----------
    name : str
        ``"keras"``, ``"onnxruntime"`` or ``"openvino"``.
    input_shape : tuple of int
        The model's ``(T, H, W, C)`` (no batch axis).
    fixed_batch : bool
        True when the engine runs fastest with one batch shape (a compiled Keras function):
        callers then fill the last, partial batch up to the full size.
    path : pathlib.Path
        The file the engine runs.
    """

    name: str
    input_shape: tuple[int, int, int, int]
    fixed_batch: bool
    path: Path

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """Reconstructions of ``float32`` ``(B, T, H, W, C)`` clips in [-1, 1]."""
        ...

    def __call__(self, windows: np.ndarray) -> np.ndarray: ...

    def describe(self) -> str:
        """The startup line, e.g. ``engine onnxruntime 1.22.0 (CPU, 2 threads) on m.onnx``."""
        ...

    def info(self) -> dict[str, Any]:
        """The same as a dict, for a ``summary.json``."""
        ...


def check_windows(windows: np.ndarray, input_shape: tuple[int, ...]) -> np.ndarray:
    """``windows`` as C-contiguous ``float32`` ``(B, *input_shape)``, or a clear error."""
    x = np.asarray(windows)
    if x.ndim != len(input_shape) + 1 or tuple(x.shape[1:]) != tuple(input_shape):
        raise EngineError(
            f"windows of shape {tuple(x.shape)} do not fit the model: expected "
            f"(B, {', '.join(str(v) for v in input_shape)}) (B, T, H, W, C)"
        )
    return np.ascontiguousarray(x, dtype=np.float32)


def cpu_threads() -> int:
    """CPU cores this process may run on (its affinity mask, else ``os.cpu_count()``)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def installed_engines() -> list[str]:
    """The engines whose runtime can be imported here, in :data:`ENGINES` order."""
    return [e for e in ENGINES if importlib.util.find_spec(_RUNTIMES[e][0]) is not None]


def require_runtime(engine: str) -> None:
    """Raise :class:`EngineError` naming the extra to install when ``engine``'s runtime is
    missing."""
    module, extra = _RUNTIMES[engine]
    if importlib.util.find_spec(module) is None:
        raise EngineError(
            f"engine {engine!r} needs the {module!r} package, which is not installed: "
            f'pip install "pseudoanom[{extra}]"'
        )


def exported_twin(keras_path: str | os.PathLike, engine: str) -> Path | None:
    """An up-to-date export of ``keras_path`` beside it that ``engine`` reads, else ``None``.

    Up to date: its sidecar's ``source_model_sha256`` is the ``.keras`` file's SHA-256 (a
    model retrained in place makes its old exports stale, and they are ignored).
    """
    keras_path = Path(keras_path)
    suffixes = [s for s, readers in _READERS.items() if engine in readers and s != ".keras"]
    digest = None
    for suffix in suffixes:
        candidate = keras_path.with_suffix(suffix)
        if not candidate.is_file():
            continue
        meta = read_sidecar(candidate)
        digest = digest or file_sha256(keras_path)
        if meta is not None and meta.get("source_model_sha256") == digest:
            return candidate
    return None


def resolve_engine(path: Path, engine: str) -> tuple[str, Path | None]:
    """``(engine, file it runs)``; the file is ``None`` for an export still to be made."""
    suffix = path.suffix.lower()
    if suffix not in _READERS:
        raise EngineError(
            f"{path}: no engine reads {suffix or 'a file without suffix'!r} files; give a "
            f".keras model, an exported .onnx file or an OpenVINO .xml"
        )
    if engine == "auto":
        for candidate in _READERS[suffix]:
            if candidate in installed_engines():
                return candidate, path
        require_runtime(_READERS[suffix][0])  # raises, naming the extra
    if engine not in ENGINES:
        raise EngineError(f"unknown engine {engine!r}; choose auto or one of {', '.join(ENGINES)}")
    if suffix == ".keras" and engine != "keras":
        return engine, exported_twin(path, engine)
    if engine not in _READERS[suffix]:
        raise EngineError(
            f"engine {engine!r} cannot run {path.name}; it reads "
            f"{', '.join(s for s, r in _READERS.items() if engine in r)} files"
        )
    return engine, path
