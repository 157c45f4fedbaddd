"""OpenVINO on the CPU: an OpenVINO IR (``.xml`` + ``.bin``) or an ``.onnx`` file.

Precision: OpenVINO's CPU plugin chooses its own inference precision when asked nothing:
bfloat16 on CPUs with AMX or AVX512_BF16 (recent Xeons), float16 on some ARM CPUs, float32
elsewhere. bfloat16 keeps 8 bits of mantissa, so its PSNRs differ from the exported model's by
up to a few hundredths of a dB. This engine asks for float32 (``INFERENCE_PRECISION_HINT`` =
``f32``) unless ``precision`` says otherwise: ``open_engine(path, "openvino",
precision="bf16")`` (or ``"f16"``) trades that accuracy for speed where the CPU supports it;
``describe()`` names the precision the plugin actually uses.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from trainer.engines.base import EngineError, check_windows, cpu_threads
from trainer.engines.onnx_engine import static_shape
from trainer.model_files import read_sidecar

__all__ = ["PRECISIONS", "OpenVinoEngine"]

PRECISIONS: tuple[str, ...] = ("f32", "bf16", "f16")
"""Values of ``precision`` (OpenVINO's ``INFERENCE_PRECISION_HINT``)."""


class OpenVinoEngine:
    """A model compiled for OpenVINO's CPU plugin.

    Parameters
    ----------
    path : str or os.PathLike
        An OpenVINO ``.xml`` (its ``.bin`` beside it) or an ``.onnx`` file.
    threads : int or None
        ``INFERENCE_NUM_THREADS``; ``None``: :func:`~trainer.engines.base.cpu_threads`.
    precision : str or None
        ``INFERENCE_PRECISION_HINT``: ``"f32"`` (default), ``"bf16"`` or ``"f16"``; ``None``:
        the plugin's own choice for this CPU.
    """

    name = "openvino"
    fixed_batch = False

    def __init__(
        self, path: str | os.PathLike, threads: int | None = None, precision: str | None = "f32"
    ) -> None:
        import openvino as ov

        if precision is not None and precision not in PRECISIONS:
            raise EngineError(f"precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
        self.path = Path(path)
        self.threads = int(threads) if threads else cpu_threads()
        core = ov.Core()
        config: dict[str, Any] = {
            "INFERENCE_NUM_THREADS": self.threads,
            "PERFORMANCE_HINT": "LATENCY",
        }
        if precision is not None:
            config["INFERENCE_PRECISION_HINT"] = precision
        try:
            model = core.read_model(str(self.path))
            self.compiled = core.compile_model(model, "CPU", config)
        except Exception as e:  # OpenVINO raises RuntimeError subclasses of its own
            raise EngineError(f"OpenVINO cannot load {self.path}: {e}") from None
        if len(self.compiled.inputs) != 1 or len(self.compiled.outputs) != 1:
            raise EngineError(f"{self.path}: expected one input and one output")
        dims = [d.get_length() if d.is_static else None for d in model.inputs[0].partial_shape]
        self.input_shape = static_shape(dims, str(self.path))
        self.request = self.compiled.create_infer_request()
        self.precision = self.compiled.get_property("INFERENCE_PRECISION_HINT").to_string()
        self.version = ov.get_version()
        self.sidecar = read_sidecar(self.path)

    def predict(self, windows: np.ndarray) -> np.ndarray:
        x = check_windows(windows, self.input_shape)
        result = self.request.infer({0: x})
        return np.array(result[self.compiled.outputs[0]], dtype=np.float32)

    __call__ = predict

    def info(self) -> dict[str, Any]:
        return {
            "engine": self.name,
            "version": self.version,
            "device": "cpu",
            "threads": self.threads,
            "precision": self.precision,
            "model": str(self.path),
        }

    def describe(self) -> str:
        return (
            f"engine openvino {self.version} on cpu ({self.threads} threads, {self.precision}) "
            f"running {self.path.name}"
        )
