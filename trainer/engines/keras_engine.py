"""The reference engine: the Keras model itself, as training left it.

``predict`` is the trainer's own prediction path: under torch a plain inference-mode call,
elsewhere ``predict_on_batch`` (a compiled function under TensorFlow and JAX), which wants one
batch shape (``fixed_batch``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import keras
import numpy as np

from trainer.engines.base import check_windows

__all__ = ["KerasEngine"]


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
        self.fixed_batch = keras.config.backend() != "torch"
        self._run = self._torch_call if keras.config.backend() == "torch" else self._on_batch

    @classmethod
    def load(cls, path: str | os.PathLike) -> KerasEngine:
        """A run's ``model.keras`` (or a checkpoint) through
        :func:`trainer.checkpoint.load_model`."""
        from trainer.checkpoint import load_model

        return cls(load_model(path), path)

    def _torch_call(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return keras.ops.convert_to_numpy(self.model(batch, training=False))

    def _on_batch(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict_on_batch(batch))

    def predict(self, windows: np.ndarray) -> np.ndarray:
        return self._run(check_windows(windows, self.input_shape))

    __call__ = predict

    def info(self) -> dict[str, Any]:
        from trainer import backend

        return {"engine": self.name, "model": str(self.path), "backend": backend.info()}

    def describe(self) -> str:
        from trainer import backend

        return f"engine keras on {self.path.name}: {backend.describe()}"
