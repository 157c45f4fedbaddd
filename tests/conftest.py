"""Shared, generic test fixtures (small clips, seeded generators, the shared datasets root).

The in-process suite runs on the TensorFlow Keras backend (when TensorFlow is installed and
``KERAS_BACKEND`` is not set): the tf.distribute tests compare a ``default`` run with a
``mirrored`` one in subprocesses that inherit this environment, and ``mirrored`` exists only
under TensorFlow. The trainer's own default (torch when installed, see ``trainer.backend``) is
exercised in subprocesses by ``tests/test_trainer_backend.py``. ``KERAS_BACKEND=torch pytest``
runs the suite on torch instead (the TensorFlow-only tests then fail or skip).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

if not os.environ.get("KERAS_BACKEND") and importlib.util.find_spec("tensorflow") is not None:
    os.environ["KERAS_BACKEND"] = "tensorflow"  # before anything imports trainer or keras

import numpy as np
import pytest

# Test the source checkout even when it is not pip-installed: bare `pytest` does not put the
# repository root on sys.path (`python -m pytest` does).
_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)


def datasets_root() -> Path:
    """``../shared/datasets`` next to the repository, or ``$PSEUDOANOM_DATASETS``."""
    env = os.environ.get("PSEUDOANOM_DATASETS")
    if env:
        return Path(env)
    return Path(__file__).parents[1].parent / "shared" / "datasets"


@pytest.fixture
def shared_datasets() -> Path:
    """Root of the real datasets; skips the test when it is not there."""
    root = datasets_root()
    if not root.is_dir():
        pytest.skip(f"shared datasets not found at {root} (set PSEUDOANOM_DATASETS)")
    return root


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh seeded Generator per test."""
    return np.random.default_rng(12345)


def make_clip(
    shape: tuple[int, ...] = (8, 32, 32, 1),
    dtype: type = np.float32,
    value_range: tuple[float, float] = (-1.0, 1.0),
    seed: int = 0,
) -> np.ndarray:
    """Random clip of ``shape``: uint8 in [0, 255] or float32 in ``value_range``."""
    r = np.random.default_rng(seed)
    if np.dtype(dtype) == np.uint8:
        return r.integers(0, 256, shape, dtype=np.uint8)
    lo, hi = value_range
    return r.uniform(lo, hi, shape).astype(np.float32)


@pytest.fixture
def clip() -> np.ndarray:
    """A small float32 clip (8, 32, 32, 1) in [-1, 1]."""
    return make_clip()
