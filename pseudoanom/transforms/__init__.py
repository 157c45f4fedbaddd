"""Pseudo-anomaly transforms: the :class:`Transform` base and the paper's five techniques.

Registered names: ``smoothmix_s``, ``smoothmix_c``, ``cutmix``, ``mixup_patch`` (patch
pseudo anomalies, Sec. 3.2 of Astrid et al., BMVC 2021) and ``skip_frame`` (Sec. 3.3); beyond
the paper: ``reverse`` and ``freeze`` (temporal) and ``noise_patch`` (a patch of smooth noise).

The classes live in three modules, the array work in a fourth:

- :mod:`pseudoanom.transforms.base`: :class:`Transform`, what every transform shares
  (seeding, batches, ``from_video``, ``to_dict``);
- :mod:`pseudoanom.transforms.patches`: :class:`PatchTransform` and the four patch classes;
- :mod:`pseudoanom.transforms.temporal`: :class:`SkipFrame`, :class:`Reverse`, :class:`Freeze`;
- :mod:`pseudoanom.transforms.functional`: pure kernels (random walk, footprint geometry,
  the cache-tuned exact blends) on plain arrays.

Everything public is importable from here (``from pseudoanom.transforms import SmoothMixS``).
"""

from __future__ import annotations

from .base import Transform
from .patches import (
    PATCH_CONTENTS,
    CutMix,
    MixUpPatch,
    NoisePatch,
    PatchTransform,
    SmoothMixC,
    SmoothMixS,
)
from .temporal import Freeze, Reverse, SkipFrame

__all__ = [
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
    "PATCH_CONTENTS",
    "BUILTINS",
]

# The built-in transforms; :mod:`pseudoanom.registry` registers each under its ``name``.
BUILTINS: tuple[type[Transform], ...] = (
    SmoothMixS,
    SmoothMixC,
    CutMix,
    MixUpPatch,
    SkipFrame,
    Reverse,
    Freeze,
    NoisePatch,
)
