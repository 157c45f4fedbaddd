"""Loading a trained model and reconstructing windows with it: the inference layer.

Everything that scores frames with a saved model (``evaluate``, ``score``, ``calibrate``,
``watch``, ``python -m trainer.speed``) goes through this module and never through
:mod:`trainer.train`. A model is held by a *predictor*, an object with

* ``input_shape``: the model's input shape ``(None, T, H, W, C)``;
* ``predict(windows) -> np.ndarray``: float32 ``(B, T, H, W, C)`` clips in [-1, 1] to their
  reconstructions, same shape;
* ``fixed_batch``: whether the last batch should be padded to the full batch size (an engine
  that compiles per shape wants one shape).

:class:`KerasPredictor` runs a ``.keras`` file (the reference path); :class:`EnginePredictor`
runs an exported model in ONNX Runtime or OpenVINO (:mod:`trainer.engines`). A new engine is a
module in :mod:`trainer.engines` and a file type in its ``open_engine``; the commands only see a
predictor.

Keras is imported only when a model is loaded or wrapped, so importing this module stays
cheap (``calibrate`` checks its paths before the framework starts).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from trainer.engines.base import Engine, require_runtime, resolve_engine
from trainer.engines.keras_engine import fixed_batch, predict_fn

if TYPE_CHECKING:
    import keras

__all__ = [
    "ENGINES",
    "EnginePredictor",
    "KerasPredictor",
    "ModelFileError",
    "PredictFn",
    "Predictor",
    "as_predictor",
    "fixed_batch",
    "load_model",
    "load_predictor",
    "open_engine",
    "predict_fn",
]

PredictFn = Callable[[np.ndarray], np.ndarray]
"""``windows (B, T, H, W, C) -> reconstructions`` of the same shape."""


class ModelFileError(ValueError):
    """A model path that is not a model file this package can load."""


class Predictor(Protocol):
    """What the scoring code needs of a model (see the module docstring)."""

    input_shape: tuple[Any, ...]
    fixed_batch: bool

    def predict(self, windows: np.ndarray) -> np.ndarray: ...


class KerasPredictor:
    """A Keras model as a predictor.

    Parameters
    ----------
    model : keras.Model
        Reconstructs float32 ``(B, T, H, W, C)`` clips in [-1, 1].
    """

    def __init__(self, model: keras.Model) -> None:
        self.model = model
        self.input_shape = tuple(model.input_shape)
        self.fixed_batch = fixed_batch()
        self._predict = predict_fn(model)

    name = "keras"

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """The reconstructions of ``windows``."""
        return self._predict(windows)

    def describe(self) -> str:
        """The startup line: the engine and the Keras backend."""
        from trainer import backend

        return f"engine keras: {backend.describe()}"


class EnginePredictor:
    """An exported model run by ONNX Runtime or OpenVINO (:mod:`trainer.engines`) as a
    predictor: the same members as :class:`KerasPredictor`."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.name = engine.name
        self.input_shape = (None, *engine.input_shape)
        self.fixed_batch = engine.fixed_batch

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """The reconstructions of ``windows``."""
        return self.engine.predict(windows)

    def describe(self) -> str:
        """The startup line: which engine runs which file."""
        return self.engine.describe()


def as_predictor(model: keras.Model | Predictor) -> Predictor:
    """``model`` itself when it is a predictor already, else a :class:`KerasPredictor` of it."""
    if hasattr(model, "fixed_batch") and hasattr(model, "predict"):
        return model
    return KerasPredictor(model)


def load_model(path: str | os.PathLike) -> keras.Model:
    """The model of a ``.keras`` file saved by ``train`` (what ``evaluate`` and ``score`` load).

    Parameters
    ----------
    path : str or os.PathLike
        A run's ``model.keras`` (or a checkpoint's ``epoch-NNNN.keras``).

    Returns
    -------
    keras.Model
        See :func:`trainer.checkpoint.load_model`: the network with this package's layers.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ModelFileError
        ``path`` does not end in ``.keras``.
    """
    from trainer import checkpoint

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"model file {p} does not exist")
    if p.suffix != ".keras":
        raise ModelFileError(f"--model {p}: expected a .keras file saved by `train`")
    return checkpoint.load_model(p)


ENGINES = ("auto", "keras", "onnxruntime", "openvino")
"""What ``--engine`` takes: ``auto`` runs a ``.keras`` file in Keras (the reference path), an
``.onnx`` file in ONNX Runtime (else OpenVINO) and an OpenVINO ``.xml`` in OpenVINO."""


def load_predictor(path: str | os.PathLike, engine: str = "auto") -> Predictor:
    """The predictor of a saved model file: ``.keras`` in Keras (:func:`load_model`), an
    exported ``.onnx``/``.xml`` (``python -m trainer export``) in its runtime, or the engine
    ``engine`` names (:func:`open_engine`)."""
    if engine not in ENGINES:
        raise ValueError(f"--engine {engine!r}: expected one of {', '.join(ENGINES)}")
    if Path(path).suffix == ".keras" and engine in ("auto", "keras"):
        return KerasPredictor(load_model(path))
    return EnginePredictor(open_engine(path, engine))


def open_engine(
    path: str | os.PathLike,
    engine: str = "auto",
    *,
    threads: int | None = None,
    precision: str | None = "f32",
) -> Engine:
    """Open a model file with an engine (:mod:`trainer.engines.base` says which one ``auto`` picks).

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
    name, target = resolve_engine(path, engine)
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
