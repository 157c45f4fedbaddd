"""Loading a trained model and reconstructing windows with it: the inference layer.

Everything that scores frames with a saved model (``evaluate``, ``score``, ``calibrate``,
``watch``, ``python -m trainer.speed``) goes through this module and never through
:mod:`trainer.train`. A model is held by a *predictor*, an object with

* ``input_shape``: the model's input shape ``(None, T, H, W, C)``;
* ``predict(windows) -> np.ndarray``: float32 ``(B, T, H, W, C)`` clips in [-1, 1] to their
  reconstructions, same shape;
* ``fixed_batch``: whether the last batch should be padded to the full batch size (an engine
  that compiles per shape wants one shape).

:class:`KerasPredictor` is the only engine today. Another engine (ONNX Runtime, OpenVINO) is a
class with the same three members plus a branch in :func:`load_predictor` for its file type.

Keras is imported only when a model is loaded or wrapped, so importing this module stays
cheap (``calibrate`` checks its paths before the framework starts).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    import keras

__all__ = [
    "KerasPredictor",
    "ModelFileError",
    "PredictFn",
    "Predictor",
    "as_predictor",
    "fixed_batch",
    "load_model",
    "load_predictor",
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


def predict_fn(model: keras.Model) -> PredictFn:
    """``batch -> reconstruction`` of a Keras model, for :func:`trainer.evaluation.evaluate`.

    Under torch a plain inference-mode call, which costs less CPU per frame than
    ``predict_on_batch`` (docs/performance.md); elsewhere ``predict_on_batch`` (a compiled
    function under TensorFlow and JAX).
    """
    import keras

    if keras.config.backend() == "torch":
        import torch

        def run(batch: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return keras.ops.convert_to_numpy(model(batch, training=False))

        return run
    return lambda batch: np.asarray(model.predict_on_batch(batch))


def fixed_batch() -> bool:
    """Whether batches should keep one shape: JAX and ``tf.function`` compile once per shape,
    so the last batch is padded to the full size; torch runs any shape as it comes."""
    import keras

    return keras.config.backend() != "torch"


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

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """The reconstructions of ``windows``."""
        return self._predict(windows)


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


def load_predictor(path: str | os.PathLike) -> KerasPredictor:
    """The predictor of a saved model file (:func:`load_model`; the engine follows the file
    type, and ``.keras`` is the only one so far)."""
    return KerasPredictor(load_model(path))
