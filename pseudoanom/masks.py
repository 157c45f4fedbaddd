"""Vectorised, separable mask builders for patch pseudo anomalies.

Each builder returns a small 2-D *footprint* (only the pixels the patch can touch) and the
position of the patch centre inside it. Transforms paste the footprint into each frame at the
frame's centre, so blending only ever touches the patch's bounding box, never the full frame.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "smoothmix_square",
    "smoothmix_circle",
    "box",
    "square_profiles",
    "circle_profiles",
    "box_profiles",
    "GAUSS_CUTOFF",
    "paste_window",
]

# The circle mask is cut where one axis' Gaussian drops below 1/510: the step left at the cut is
# under half a grey level of a uint8 image, so the truncation is invisible.
GAUSS_CUTOFF = 1.0 / 510.0
_GAUSS_K = math.sqrt(2.0 * math.log(1.0 / GAUSS_CUTOFF))


@functools.lru_cache(maxsize=1024)
def _ramp(n: int, half: float, ramp: float) -> tuple[np.ndarray, int]:
    """1-D profile: ``n`` ones, then a linear fall to 0 over ``ramp * half`` pixels each side.

    Memoised (at most a few hundred distinct sides occur); the array is read-only.
    """
    r = ramp * half
    # Pixels at distance d = 1, 2, ... outside the box get 1 - d / r while that is > 0.
    reach = max(0, math.ceil(r) - 1)
    if reach:
        side = 1.0 - np.arange(1, reach + 1, dtype=np.float32) / np.float32(r)
        prof = np.concatenate([side[::-1], np.ones(n, np.float32), side])
    else:
        prof = np.ones(n, np.float32)
    prof.flags.writeable = False
    return prof, reach


@functools.lru_cache(maxsize=1024)
def _gauss(sigma: float, cap: int | None) -> tuple[np.ndarray, int]:
    """1-D Gaussian ``exp(-d^2 / 2 sigma^2)``, cut below :data:`GAUSS_CUTOFF` and at ``cap``."""
    r = math.ceil(_GAUSS_K * sigma)
    if cap is not None:
        r = min(r, cap)
    g = np.exp(-0.5 * (np.arange(-r, r + 1, dtype=np.float32) / np.float32(sigma)) ** 2)
    g[g < GAUSS_CUTOFF] = 0.0
    g.flags.writeable = False
    return g, r


@functools.lru_cache(maxsize=1024)
def _ones(n: int) -> np.ndarray:
    prof = np.ones(n, np.float32)
    prof.flags.writeable = False
    return prof


_Profiles = tuple[np.ndarray, np.ndarray, tuple[int, int]]


def square_profiles(h: int, w: int, ramp: float = 0.1) -> _Profiles:
    """Row and column profiles of :func:`smoothmix_square`: ``mask == np.outer(py, px)``.

    Returns
    -------
    py, px : numpy.ndarray
        Read-only float32 1-D profiles (memoised).
    centre : tuple of int
        As in :func:`smoothmix_square`.
    """
    py, ry = _ramp(h, h / 2.0, ramp)
    px, rx = _ramp(w, w / 2.0, ramp)
    return py, px, (ry + h // 2, rx + w // 2)


def circle_profiles(
    sigma_y: float, sigma_x: float, max_reach: tuple[int, int] | None = None
) -> _Profiles:
    """Row and column profiles of :func:`smoothmix_circle`: ``mask == np.outer(gy, gx)``."""
    gy, ry = _gauss(sigma_y, None if max_reach is None else max_reach[0])
    gx, rx = _gauss(sigma_x, None if max_reach is None else max_reach[1])
    return gy, gx, (ry, rx)


def box_profiles(h: int, w: int) -> _Profiles:
    """Row and column profiles of :func:`box` (all ones)."""
    return _ones(h), _ones(w), (h // 2, w // 2)


_Mask = tuple[np.ndarray, tuple[int, int]]


def _cached(fn: Callable[..., _Mask]) -> Callable[..., _Mask]:
    """Memoise a builder; its arrays are read-only as callers share them.

    The transforms do not use these 2-D builders on their hot path (they build only the part
    of ``np.outer(py, px)`` a clip needs from the memoised 1-D profiles), so the cache is kept
    small: a wide Gaussian footprint can take a MiB.
    """
    cached = functools.lru_cache(maxsize=256)(fn)

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> _Mask:
        mask, centre = cached(*args, **kwargs)
        mask.flags.writeable = False
        return mask, centre

    return call


@_cached
def smoothmix_square(h: int, w: int, ramp: float = 0.1) -> tuple[np.ndarray, tuple[int, int]]:
    """SmoothMix "square" mask: 1 inside an ``h`` x ``w`` box, linear ramp to 0 outside it.

    Results are memoised and read-only (pass positional arguments).

    The border ramps from 1 at the box edge to 0 over ``ramp`` times the half-size
    (``ramp * w / 2`` pixels horizontally, ``ramp * h / 2`` vertically), as in SmoothMix.

    Parameters
    ----------
    h, w : int
        Box height and width in pixels (>= 1).
    ramp : float
        Ramp length as a fraction of the half-size (paper: 0.1).

    Returns
    -------
    mask : numpy.ndarray
        float32 ``(h + 2 * ry, w + 2 * rx)`` in [0, 1], the outer product of two 1-D ramps.
    centre : tuple of int
        ``(oy, ox)``: index of the box centre pixel inside ``mask``; the box itself spans
        rows ``oy - h // 2 .. oy - h // 2 + h - 1``.
    """
    py, px, centre = square_profiles(h, w, ramp)
    return np.outer(py, px), centre


@_cached
def smoothmix_circle(
    sigma_y: float, sigma_x: float, max_reach: tuple[int, int] | None = None
) -> tuple[np.ndarray, tuple[int, int]]:
    """SmoothMix "circle" mask: a separable Gaussian ``exp(-dy^2/2sy^2 - dx^2/2sx^2)``.

    Parameters
    ----------
    sigma_y, sigma_x : float
        Standard deviations in pixels (> 0).
    max_reach : tuple of int, optional
        ``(H - 1, W - 1)``: pixels further than this from the centre can never lie in the
        frame (the centre always does), so the footprint is cut there.

    Returns
    -------
    mask : numpy.ndarray
        float32 ``(2 * ry + 1, 2 * rx + 1)`` in (0, 1], 1 at the centre; each axis is cut
        where its Gaussian falls below :data:`GAUSS_CUTOFF`.
    centre : tuple of int
        ``(ry, rx)``, the index of the centre pixel.
    """
    gy, gx, centre = circle_profiles(sigma_y, sigma_x, max_reach)
    return np.outer(gy, gx), centre


@_cached
def box(h: int, w: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Hard-edged CutMix rectangle: ones ``(h, w)``; centre ``(h // 2, w // 2)``."""
    return np.ones((h, w), np.float32), (h // 2, w // 2)


def paste_window(
    centre: tuple[int, int], origin: tuple[int, int], fp_shape: tuple[int, int], hw: tuple[int, int]
) -> tuple[slice, slice, slice, slice] | None:
    """Where a footprint lands in a frame.

    Parameters
    ----------
    centre : tuple of int
        ``(cy, cx)`` of the patch centre in the frame.
    origin : tuple of int
        ``(oy, ox)`` of the centre inside the footprint.
    fp_shape : tuple of int
        Footprint ``(fh, fw)``.
    hw : tuple of int
        Frame ``(H, W)``.

    Returns
    -------
    tuple of slice or None
        ``(frame_rows, frame_cols, fp_rows, fp_cols)``, or None if nothing overlaps.
    """
    y0, x0 = centre[0] - origin[0], centre[1] - origin[1]
    fy0, fx0 = max(0, -y0), max(0, -x0)
    y0c, x0c = max(0, y0), max(0, x0)
    y1, x1 = min(hw[0], y0 + fp_shape[0]), min(hw[1], x0 + fp_shape[1])
    if y1 <= y0c or x1 <= x0c:
        return None
    return (
        slice(y0c, y1),
        slice(x0c, x1),
        slice(fy0, fy0 + (y1 - y0c)),
        slice(fx0, fx0 + (x1 - x0c)),
    )
