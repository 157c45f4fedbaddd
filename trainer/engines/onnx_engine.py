"""ONNX Runtime on the CPU: an exported ``.onnx`` model (``python -m trainer export``).

The session runs on ``CPUExecutionProvider`` with one intra-op thread per core this process
may use (or ``threads``), every graph optimisation on and no spin-waiting threads. It computes
in float32, so its reconstructions equal Keras' to about 1e-6 (tests/test_export.py).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from trainer.engines.base import EngineError, check_windows, cpu_threads
from trainer.model_files import read_sidecar

__all__ = ["OnnxEngine"]


def static_shape(dims: list[Any], where: str) -> tuple[int, int, int, int]:
    """``(T, H, W, C)`` from a model input's dims ``[batch, T, H, W, C]``."""
    rest = list(dims[1:])
    if len(dims) != 5 or not all(isinstance(v, int) and v > 0 for v in rest):
        raise EngineError(
            f"{where}: input shape {dims} is not (batch, T, H, W, C) with fixed T, H, W, C"
        )
    return tuple(rest)  # type: ignore[return-value]


class OnnxEngine:
    """An ``.onnx`` file in an ``onnxruntime.InferenceSession``.

    Parameters
    ----------
    path : str or os.PathLike
        The model file.
    threads : int or None
        Intra-op threads; ``None``: :func:`~trainer.engines.base.cpu_threads`.
    """

    name = "onnxruntime"
    fixed_batch = False  # no compilation per shape

    def __init__(self, path: str | os.PathLike, threads: int | None = None) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        self.threads = int(threads) if threads else cpu_threads()
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle threads sleep instead of spinning: on a CPU shared with other work (a camera
        # box, a CI runner) spinning threads wait on descheduled ones, which halved the
        # throughput at batch 1 on 2 busy cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(
                str(self.path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as e:  # onnxruntime raises its own exception types
            raise EngineError(f"ONNX Runtime cannot load {self.path}: {e}") from None
        inputs = self.session.get_inputs()
        if len(inputs) != 1 or len(self.session.get_outputs()) != 1:
            raise EngineError(f"{self.path}: expected one input and one output")
        self.input_name = inputs[0].name
        self.input_shape = static_shape(inputs[0].shape, str(self.path))
        self.version = ort.__version__
        self.sidecar = read_sidecar(self.path)

    def predict(self, windows: np.ndarray) -> np.ndarray:
        x = check_windows(windows, self.input_shape)
        return self.session.run(None, {self.input_name: x})[0]

    __call__ = predict

    def info(self) -> dict[str, Any]:
        return {
            "engine": self.name,
            "version": self.version,
            "device": "cpu",
            "threads": self.threads,
            "precision": "f32",
            "model": str(self.path),
        }

    def describe(self) -> str:
        return (
            f"engine onnxruntime {self.version} on cpu ({self.threads} threads, float32) "
            f"running {self.path.name}"
        )
