"""The inference interface: one small class per engine, and :func:`open_engine` to pick one.

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

import hashlib
import importlib.util
import json
import os
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = [
    "ENGINES",
    "Engine",
    "EngineError",
    "check_windows",
    "cpu_threads",
    "exported_twin",
    "installed_engines",
    "open_engine",
    "read_sidecar",
    "require_runtime",
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

SIDECAR_FORMAT = "pseudoanom-export"
"""The ``format`` field of an export's sidecar JSON."""


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


def sidecar_path(artifact: str | os.PathLike) -> Path:
    """The JSON that describes an exported model: ``<artifact>.json`` (``model.onnx.json``)."""
    return Path(str(artifact) + ".json")


def read_sidecar(artifact: str | os.PathLike) -> dict[str, Any] | None:
    """The sidecar of ``artifact``, or ``None`` when it has none.

    Raises
    ------
    EngineError
        A sidecar that is not an export description.
    """
    path = sidecar_path(artifact)
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise EngineError(f"export sidecar {path}: not JSON ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != SIDECAR_FORMAT:
        raise EngineError(f"{path} is not an export sidecar (no format {SIDECAR_FORMAT!r})")
    return meta


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


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


def source_model_sha256(path: str | os.PathLike) -> str | None:
    """SHA-256 of the ``.keras`` model a file stands for: the file's own for a ``.keras``,
    its sidecar's ``source_model_sha256`` for an export, ``None`` for an export without one.

    A calibration records the SHA-256 of the ``.keras`` file it was made with; compare it
    with this to know whether it fits an exported model.
    """
    path = Path(path)
    if path.suffix.lower() == ".keras":
        return file_sha256(path)
    meta = read_sidecar(path)
    return None if meta is None else meta.get("source_model_sha256")


def _resolve(path: Path, engine: str) -> tuple[str, Path | None]:
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


def open_engine(
    path: str | os.PathLike,
    engine: str = "auto",
    *,
    threads: int | None = None,
    precision: str | None = "f32",
) -> Engine:
    """Open a model file with an engine (see the module docstring for which one ``auto`` picks).

    Parameters
    ----------
    path : str or os.PathLike
        A ``.keras`` model, an exported ``.onnx`` file or an OpenVINO ``.xml``.
    engine : str
        ``"auto"``, ``"keras"``, ``"onnxruntime"`` or ``"openvino"``.
    threads : int or None
        CPU threads of ONNX Runtime and OpenVINO; ``None``: every core this process may use.
    precision : str or None
        OpenVINO's CPU inference precision: ``"f32"`` (default, the exported numbers), the
        reduced ``"bf16"``/``"f16"``, or ``None`` for the plugin's own choice (see
        :mod:`trainer.engines.openvino_engine`).

    Raises
    ------
    FileNotFoundError
        No such file.
    EngineError
        No engine reads the file, the engine asked for cannot, or its runtime is missing.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file {path} does not exist")
    name, target = _resolve(path, engine)
    require_runtime(name)
    if target is None:  # an explicit fast engine on a .keras model with no export beside it
        from trainer.export import export_to_temp

        target = export_to_temp(path, "onnx" if name == "onnxruntime" else "openvino")
    if name == "keras":
        from trainer.engines.keras_engine import KerasEngine

        return KerasEngine.load(target)
    if name == "onnxruntime":
        from trainer.engines.onnx_engine import OnnxEngine

        return OnnxEngine(target, threads=threads)
    from trainer.engines.openvino_engine import OpenVinoEngine

    return OpenVinoEngine(target, threads=threads, precision=precision)
