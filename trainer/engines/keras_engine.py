"""The reference engine: the Keras model itself, as training left it.

``predict`` is the trainer's own prediction path: under torch a plain inference-mode call,
elsewhere ``predict_on_batch`` (a compiled function under TensorFlow and JAX), which wants one
batch shape (``fixed_batch``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from trainer.engines.base import check_windows

if TYPE_CHECKING:
    import keras

__all__ = ["KerasEngine", "fixed_batch", "predict_fn"]


def predict_fn(model: keras.Model) -> Callable[[np.ndarray], np.ndarray]:
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


class KerasEngine:
    """A Keras model as an :class:`~trainer.engines.base.Engine`.

    Parameters
    ----------
    model : keras.Model
        Reconstructs ``(B, T, H, W, C)`` clips.
    path : str, os.PathLike or None
        The file it was loaded from (for the startup line).
    """

    name = "keras"

    def __init__(self, model: keras.Model, path: str | os.PathLike | None = None) -> None:
        self.model = model
        self.path = Path(path) if path is not None else Path(f"<{model.name}>")
        self.input_shape = tuple(int(v) for v in model.input_shape[1:])
        self.fixed_batch = fixed_batch()
        self._run = predict_fn(model)

    @classmethod
    def load(cls, path: str | os.PathLike) -> KerasEngine:
        """A run's ``model.keras`` (or a checkpoint) through
        :func:`trainer.checkpoint.load_model`."""
        from trainer.checkpoint import load_model

        return cls(load_model(path), path)

    def predict(self, windows: np.ndarray) -> np.ndarray:
        return self._run(check_windows(windows, self.input_shape))

    __call__ = predict

    def info(self) -> dict[str, Any]:
        from trainer import backend

        return {"engine": self.name, "model": str(self.path), "backend": backend.info()}

    def describe(self) -> str:
        from trainer import backend

        return f"engine keras on {self.path.name}: {backend.describe()}"
