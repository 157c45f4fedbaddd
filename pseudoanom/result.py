"""The result every transform and the pipeline returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["PseudoAnomaly"]


@dataclass(frozen=True)
class PseudoAnomaly:
    """One (possibly pseudo-anomalous) clip and what the model must reconstruct from it.

    Attributes
    ----------
    clip : numpy.ndarray
        What the model sees: ``(T, H, W, C)`` or a batch ``(B, T, H, W, C)``, same dtype and
        value range as the input.
    target : numpy.ndarray
        The untouched normal clip, same shape and dtype as ``clip``. For a plain call this is
        the input array itself (not a copy); for ``from_video`` it is a view of the video.
    mask : numpy.ndarray
        float32 ``(T, H, W)`` or ``(B, T, H, W)`` in [0, 1]: the blend weight of the pseudo
        anomaly at each pixel, 0 where ``clip`` equals ``target``. For a normal clip drawn by
        a ``Pipeline`` it is a read-only zero view (``np.broadcast_to``); copy it to write.
    label : int or numpy.ndarray
        1 for a pseudo anomaly, 0 for a normal clip; an int8 ``(B,)`` array for a batch.
    params : dict or list of dict
        The drawn parameters (one dict per batch item), enough to replay the result with
        ``transform.apply(...)``.
    """

    clip: np.ndarray
    target: np.ndarray
    mask: np.ndarray
    label: int | np.ndarray
    params: dict[str, Any] | list[dict[str, Any]]

    @property
    def is_batch(self) -> bool:
        """True if this result holds a batch ``(B, T, H, W, C)``."""
        return self.clip.ndim == 5


def stack_results(results: list[PseudoAnomaly], target: np.ndarray | None = None) -> PseudoAnomaly:
    """Stack per-item results into one batch result (labels become an int8 ``(B,)`` array).

    ``target`` is the already-stacked batch of targets (the input batch), saving a copy.
    """
    return PseudoAnomaly(
        clip=np.stack([r.clip for r in results]),
        target=np.stack([r.target for r in results]) if target is None else target,
        mask=np.stack([r.mask for r in results]),
        label=np.asarray([r.label for r in results], dtype=np.int8),
        params=[r.params for r in results],  # type: ignore[misc]
    )
