"""Inference engines: Keras, ONNX Runtime and OpenVINO behind one small interface.

See :mod:`trainer.engines.base` for the interface and for which engine
:func:`open_engine` picks.
"""

from trainer.engines.base import ENGINES, Engine, EngineError, installed_engines, open_engine

__all__ = ["ENGINES", "Engine", "EngineError", "installed_engines", "open_engine"]
