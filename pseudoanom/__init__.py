"""pseudoanom: clip-level pseudo anomalies for video anomaly detection.

Implements the pseudo anomalies of "Learning Not to Reconstruct Anomalies" (Astrid, Zaheer,
Lee and Lee, BMVC 2021) as framework-agnostic NumPy transforms. Importing this package never
imports tensorflow, keras, torch or scikit-learn.

Examples
--------
>>> import numpy as np, pseudoanom
>>> t = pseudoanom.create("smoothmix_s", alpha=0.5, beta=10.0)
>>> clip = np.zeros((16, 64, 64, 1), np.uint8)
>>> res = t(clip, rng=0)
>>> res.clip.shape, res.mask.shape, res.label
((16, 64, 64, 1), (16, 64, 64), 1)
"""

from __future__ import annotations

from . import intruders, masks
from .errors import (
    IntruderNotFoundError,
    IntruderSourceError,
    InvalidClipError,
    InvalidParameterError,
    PseudoAnomError,
    UnknownTransformError,
    ValueRangeWarning,
)
from .intruders import (
    Cifar100Source,
    EmbeddedSource,
    ImageFolderSource,
    IntruderSource,
    VideoFramesSource,
)
from .pipeline import Pipeline
from .registry import available, create, from_dict, register
from .result import PseudoAnomaly
from .transforms import (
    CutMix,
    Freeze,
    MixUpPatch,
    NoisePatch,
    PatchTransform,
    Reverse,
    SkipFrame,
    SmoothMixC,
    SmoothMixS,
    Transform,
)

__version__ = "0.1.0"

__all__ = [
    "available",
    "create",
    "from_dict",
    "register",
    "Pipeline",
    "PseudoAnomaly",
    "Transform",
    "PatchTransform",
    "SmoothMixS",
    "SmoothMixC",
    "CutMix",
    "MixUpPatch",
    "SkipFrame",
    "Reverse",
    "Freeze",
    "NoisePatch",
    "IntruderSource",
    "ImageFolderSource",
    "Cifar100Source",
    "VideoFramesSource",
    "EmbeddedSource",
    "PseudoAnomError",
    "InvalidParameterError",
    "InvalidClipError",
    "UnknownTransformError",
    "IntruderSourceError",
    "IntruderNotFoundError",
    "ValueRangeWarning",
    "intruders",
    "masks",
]
