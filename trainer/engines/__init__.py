"""Inference engines: Keras, ONNX Runtime and OpenVINO behind one small interface.

:mod:`trainer.engines.base` describes the interface; each engine is a module of its own
(``keras_engine``, ``onnx_engine``, ``openvino_engine``), imported only when a model is opened
with it by :func:`trainer.inference.open_engine`.
"""

from trainer.engines.base import ENGINES, Engine, EngineError, installed_engines

__all__ = ["ENGINES", "Engine", "EngineError", "installed_engines"]
