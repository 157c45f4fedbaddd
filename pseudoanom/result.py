"""The result every transform and the pipeline returns, and its lazily built mask."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["PseudoAnomaly", "LazyMask"]


class LazyMask:
    """A float32 mask described by a few pieces, built only when it is read.

    A patch changes a small window of each frame, so its full ``(T, H, W)`` mask is mostly
    zeros: writing those 4 MiB (for a 16x256x256 clip) on every call cost about a fifth of a
    transform call, for a mask that a training loop never reads. Transforms return this
    description instead and :class:`PseudoAnomaly` builds the array on the first read of
    ``.mask`` (then keeps it).

    Parameters
    ----------
    shape : tuple of int
        Shape of the mask, e.g. ``(T, H, W)`` or ``(B, T, H, W)``.
    fill : float or None
        Value of every element not covered by a piece; None if the pieces cover the whole mask.
    pieces : list of (index, value)
        Written in order as ``mask[index] = value``; a value may be an array (a float32 view,
        kept alive by this object), a Python float, or another :class:`LazyMask` whose shape
        is that of ``mask[index]`` (batches).
    """

    __slots__ = ("shape", "fill", "pieces")

    def __init__(
        self,
        shape: tuple[int, ...],
        fill: float | None,
        pieces: list[tuple[Any, Any]],
    ) -> None:
        self.shape = tuple(shape)
        self.fill = fill
        self.pieces = pieces

    def build(self) -> np.ndarray:
        """A new float32 array of :attr:`shape` holding the mask."""
        out = np.empty(self.shape, np.float32)
        self.write_into(out)
        return out

    def write_into(self, out: np.ndarray) -> None:
        """Write the mask into ``out`` (float32, :attr:`shape`; may be a view)."""
        if self.fill is not None:
            out.fill(self.fill)
        for index, value in self.pieces:
            if isinstance(value, LazyMask):
                value.write_into(out[index])
            else:
                out[index] = value

    def __getstate__(self) -> tuple[Any, ...]:
        return self.shape, self.fill, self.pieces

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self.shape, self.fill, self.pieces = state

    def __repr__(self) -> str:
        return f"LazyMask(shape={self.shape}, fill={self.fill}, pieces={len(self.pieces)})"


class _MaskField:
    """The ``mask`` field of :class:`PseudoAnomaly`: stores an array or a :class:`LazyMask`
    and hands out the array, building (and keeping) it on the first read.

    A data descriptor used as a dataclass field: the generated ``__init__`` (and pickling,
    which restores ``__dict__``) go through ``__set__`` / ``_mask``, so the dataclass keeps
    its signature, ``repr``, ``==`` and ``dataclasses.replace``.
    """

    def __get__(self, obj: Any, owner: Any = None) -> np.ndarray:
        if obj is None:  # class access: no default value for the dataclass field
            raise AttributeError("mask")
        value = obj.__dict__["_mask"]
        if isinstance(value, LazyMask):
            value = value.build()
            obj.__dict__["_mask"] = value
        return value

    def __set__(self, obj: Any, value: Any) -> None:
        # Reached only from the generated __init__: the frozen __setattr__ refuses the rest.
        obj.__dict__["_mask"] = value


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
        anomaly at each pixel, 0 where ``clip`` equals ``target``. Transforms hand over a
        compact :class:`LazyMask`; the array is built on the first read of ``mask`` and kept
        (a caller that never reads it never pays for it). For a normal clip drawn by a
        ``Pipeline`` it is a read-only zero view (``np.broadcast_to``); copy it to write.
    label : int or numpy.ndarray
        1 for a pseudo anomaly, 0 for a normal clip; an int8 ``(B,)`` array for a batch.
    params : dict or list of dict
        The drawn parameters (one dict per batch item), enough to replay the result with
        ``transform.apply(...)``.
    """

    clip: np.ndarray
    target: np.ndarray
    mask: np.ndarray = _MaskField()  # type: ignore[assignment]  # no default, see _MaskField
    label: int | np.ndarray
    params: dict[str, Any] | list[dict[str, Any]]

    @property
    def is_batch(self) -> bool:
        """True if this result holds a batch ``(B, T, H, W, C)``."""
        return self.clip.ndim == 5


def mask_source(result: PseudoAnomaly) -> np.ndarray | LazyMask:
    """The mask of ``result`` as stored: an array, or a :class:`LazyMask` not built yet."""
    return result.__dict__["_mask"]


def build_mask(mask: np.ndarray | LazyMask) -> np.ndarray:
    """``mask`` as an array (builds a :class:`LazyMask`)."""
    return mask.build() if isinstance(mask, LazyMask) else mask


def stack_results(results: list[PseudoAnomaly], target: np.ndarray | None = None) -> PseudoAnomaly:
    """Stack per-item results into one batch result (labels become an int8 ``(B,)`` array).

    ``target`` is the already-stacked batch of targets (the input batch), saving a copy. The
    batch mask stays lazy: it is built straight into one ``(B, T, H, W)`` array when read.
    """
    first = results[0].clip.shape[:3]
    return PseudoAnomaly(
        clip=np.stack([r.clip for r in results]),
        target=np.stack([r.target for r in results]) if target is None else target,
        mask=LazyMask(  # type: ignore[arg-type]
            (len(results), *first), None, [(b, mask_source(r)) for b, r in enumerate(results)]
        ),
        label=np.asarray([r.label for r in results], dtype=np.int8),
        params=[r.params for r in results],  # type: ignore[misc]
    )
