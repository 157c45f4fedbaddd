"""Input checks shared by every module.

Every public entry point validates its arguments here, so a bad input fails early with a
message that names the argument, the shape or the file, instead of a traceback from deep
inside NumPy or OpenCV. The exception classes are defined in :mod:`pseudoanom.errors` and
importable from here too.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import (
    IntruderNotFoundError,
    IntruderSourceError,
    InvalidClipError,
    InvalidParameterError,
    PseudoAnomError,
    UnknownTransformError,
    ValueRangeWarning,
)

__all__ = [
    "PseudoAnomError",
    "InvalidParameterError",
    "InvalidClipError",
    "UnknownTransformError",
    "IntruderSourceError",
    "IntruderNotFoundError",
    "ValueRangeWarning",
    "as_generator",
    "check_clip",
    "check_video",
    "check_probability",
    "check_alpha",
    "check_beta",
    "check_value_range",
    "check_positive_int",
    "check_range_pair",
    "check_finite_range",
    "copy_checked",
    "chunk_frames",
    "ExtremaTracker",
    "CHUNK_BYTES",
    "check_shape",
    "check_known_keys",
    "init_arg_names",
]


def as_generator(rng: Any, name: str = "rng") -> np.random.Generator:
    """Return ``rng`` as a :class:`numpy.random.Generator`.

    Parameters
    ----------
    rng : numpy.random.Generator or int
        A Generator (used as is, so successive calls advance it) or a non-negative int seed.
    name : str
        Argument name used in error messages.

    Returns
    -------
    numpy.random.Generator

    Raises
    ------
    TypeError
        If ``rng`` is None, a legacy ``RandomState`` or anything else; randomness must be
        explicit so that the same seed always gives the same output.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        if rng < 0:
            raise InvalidParameterError(f"{name} seed must be >= 0, got {rng}")
        return np.random.default_rng(int(rng))
    raise TypeError(
        f"{name} must be a numpy.random.Generator or an int seed, got {type(rng).__name__}; "
        "pass rng=np.random.default_rng(seed) (no global random state is used)"
    )


def check_value_range(value_range: Any, name: str = "value_range") -> tuple[float, float]:
    """Validate the value range ``(lo, hi)`` of float clips.

    Returns
    -------
    tuple of float
        ``(lo, hi)`` with finite ``lo < hi``.
    """
    try:
        lo, hi = (float(v) for v in value_range)
    except (TypeError, ValueError):
        raise InvalidParameterError(
            f"{name} must be a pair (lo, hi) of numbers, got {value_range!r}"
        ) from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise InvalidParameterError(f"{name} must be finite with lo < hi, got ({lo}, {hi})")
    return lo, hi


def check_probability(p: Any, name: str = "p") -> float:
    """Validate a probability in [0, 1] and return it as float."""
    p = _as_float(p, name)
    if not 0.0 <= p <= 1.0:
        raise InvalidParameterError(f"{name} must be in [0, 1], got {p}")
    return p


def check_alpha(alpha: Any, name: str = "alpha") -> float:
    """Validate the maximum patch size ratio ``alpha`` in (0, 1]."""
    alpha = _as_float(alpha, name)
    if not 0.0 < alpha <= 1.0:
        raise InvalidParameterError(f"{name} must be in (0, 1], got {alpha}")
    return alpha


def check_beta(beta: Any, name: str = "beta") -> float:
    """Validate the maximum per-frame patch movement ``beta`` >= 0 (pixels)."""
    beta = _as_float(beta, name)
    if beta < 0:
        raise InvalidParameterError(f"{name} must be >= 0 pixels, got {beta}")
    return beta


def check_positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """Validate an integer >= ``minimum`` and return it as int."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)
        else:
            raise InvalidParameterError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise InvalidParameterError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_range_pair(
    value: Any, name: str, lo: float, hi: float, *, lo_open: bool = False
) -> tuple[float, float]:
    """Validate a pair ``(a, b)`` with ``lo <= a <= b <= hi`` (``lo < a`` if ``lo_open``)."""
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"{name} must be a pair of numbers, got {value!r}") from None
    low_ok = lo < a if lo_open else lo <= a
    if not (low_ok and a <= b <= hi):
        bracket = "(" if lo_open else "["
        raise InvalidParameterError(
            f"{name} must satisfy {bracket}{lo} <= a <= b <= {hi}], got ({a}, {b})"
        )
    return a, b


def check_clip(
    clip: Any,
    name: str = "clip",
    *,
    allow_batch: bool = True,
    value_range: tuple[float, float] | None = None,
    check_values: bool = True,
) -> bool:
    """Validate a clip ``(T, H, W, C)`` or a batch ``(B, T, H, W, C)``.

    Parameters
    ----------
    clip : numpy.ndarray
        uint8 in [0, 255] or float32 in ``value_range``.
    name : str
        Argument name used in error messages.
    allow_batch : bool
        Accept a 5-D batch as well as a 4-D clip.
    value_range : tuple of float, optional
        For float32 input, the allowed ``(lo, hi)``; values outside it (beyond a 1e-3
        tolerance of the range width) raise, because blending in the wrong range silently
        gives wrong pixels. None skips the range check (the finite check still runs).
    check_values : bool
        Run the finite/range check (one min and one max over the array).

    Returns
    -------
    bool
        True if ``clip`` is a batch.

    Raises
    ------
    TypeError
        If ``clip`` is not a NumPy array or has a dtype other than uint8 / float32.
    InvalidClipError
        Wrong ndim, an empty axis, NaN/inf or values outside ``value_range``.
    """
    if not isinstance(clip, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(clip).__name__}")
    ndims = (4, 5) if allow_batch else (4,)
    if clip.ndim not in ndims:
        want = "(T, H, W, C) or a batch (B, T, H, W, C)" if allow_batch else "(T, H, W, C)"
        raise InvalidClipError(f"{name} must have shape {want}, got shape {clip.shape}")
    if min(clip.shape) == 0:
        axes = ("B", "K" if name == "video" else "T", "H", "W", "C")[-clip.ndim :]
        empty = ", ".join(f"{a} = 0" for a, n in zip(axes, clip.shape, strict=True) if n == 0)
        what = "no frames" if clip.shape[-4] == 0 else "an empty axis"
        raise InvalidClipError(f"{name} is empty: {what} ({empty}; shape {clip.shape})")
    if clip.shape[-1] not in (1, 3):
        raise InvalidClipError(
            f"{name} must have 1 or 3 channels in its last axis (T, H, W, C), "
            f"got shape {clip.shape}"
        )
    if clip.dtype == np.uint8:
        return clip.ndim == 5
    if clip.dtype != np.float32:
        raise TypeError(f"{name} must be uint8 or float32, got dtype {clip.dtype}")
    if check_values:
        check_finite_range(clip, name, value_range)
    return clip.ndim == 5


def check_finite_range(arr: np.ndarray, name: str, value_range: tuple[float, float] | None) -> None:
    """Raise :class:`InvalidClipError` if a float array holds NaN/inf or leaves ``value_range``."""
    # min/max propagate NaN and expose inf, so two reductions cover both checks.
    _check_extrema(float(_MIN(arr, None)), float(_MAX(arr, None)), name, value_range)


# The ufuncs' own reductions: same results as ``arr.min()`` / ``arr.max()`` without the
# Python-level wrappers (a few microseconds per call on the hot path).
_MIN = np.minimum.reduce
_MAX = np.maximum.reduce

# Frames per chunk are chosen so a chunk is about this many bytes (fits in L2 with room).
CHUNK_BYTES = 1 << 19


def chunk_frames(arr: np.ndarray) -> int:
    """Frames of ``arr`` (``(T, ...)``) per chunk of about :data:`CHUNK_BYTES` (at least 1).

    Code that copies, checks or blends a clip goes a chunk at a time, while it is in cache.
    """
    return max(1, CHUNK_BYTES // max(1, arr[0].nbytes))


def copy_checked(arr: np.ndarray, name: str, value_range: tuple[float, float] | None) -> np.ndarray:
    """Copy ``arr`` (any strides) and, for float32, run :func:`check_finite_range` on the way.

    The copy goes a couple of frames (~512 KiB) at a time and each chunk's ``min`` and ``max``
    are taken while it is still in the CPU cache: both finite means no NaN/inf, and the same
    two numbers give the range check, so there is no ``np.isfinite`` temporary and memory is
    read once. (These transforms are memory-bound: this measured ~5 % faster per transform
    call than one whole-array copy followed by whole-array ``min`` and ``max``.)

    Returns
    -------
    numpy.ndarray
        A C-contiguous copy of ``arr``.
    """
    out = np.empty(arr.shape, arr.dtype)
    if arr.dtype != np.float32 or arr.ndim == 0 or arr.size == 0:
        np.copyto(out, arr)
        return out
    per = chunk_frames(arr)
    n = arr.shape[0]
    if per >= n:
        np.copyto(out, arr)
        _check_extrema(float(_MIN(out, None)), float(_MAX(out, None)), name, value_range)
        return out
    tracker = ExtremaTracker(name, value_range)
    for i in range(0, n, per):
        chunk = out[i : i + per]
        np.copyto(chunk, arr[i : i + per])
        tracker.add(chunk)
    tracker.check()
    return out


class ExtremaTracker:
    """Running ``min`` / ``max`` over the chunks of a float array, checked like
    :func:`check_finite_range` on the whole array (same error, same message)."""

    __slots__ = ("lo", "hi", "name", "value_range")

    def __init__(self, name: str, value_range: tuple[float, float] | None) -> None:
        self.lo = math.inf
        self.hi = -math.inf
        self.name = name
        self.value_range = value_range

    def add(self, chunk: np.ndarray) -> None:
        """Take one chunk into account; raises at once on NaN (no need to read on)."""
        a = float(_MIN(chunk, None))
        b = float(_MAX(chunk, None))
        if a < self.lo:
            self.lo = a
        if b > self.hi:
            self.hi = b
        if not (a == a and b == b):  # NaN (min/max propagate it)
            _check_extrema(a, b, self.name, self.value_range)

    def ok(self) -> bool:
        """True if :meth:`check` would pass."""
        try:
            _check_extrema(self.lo, self.hi, self.name, self.value_range, warn=False)
        except InvalidClipError:
            return False
        return True

    def check(self) -> None:
        """Raise :class:`InvalidClipError` if the chunks seen hold NaN/inf or leave the range."""
        _check_extrema(self.lo, self.hi, self.name, self.value_range)


def _check_extrema(
    lo_v: float,
    hi_v: float,
    name: str,
    value_range: tuple[float, float] | None,
    warn: bool = True,
) -> None:
    if not (math.isfinite(lo_v) and math.isfinite(hi_v)):
        raise InvalidClipError(f"{name} contains NaN or inf values")
    if value_range is not None:
        lo, hi = value_range
        tol = 1e-3 * (hi - lo)
        if lo_v < lo - tol or hi_v > hi + tol:
            raise InvalidClipError(
                f"{name} values span [{lo_v:g}, {hi_v:g}], outside value_range ({lo:g}, {hi:g}); "
                "pass the clip's real range as value_range=(lo, hi)"
            )
        # Valid, but frames scaled to [0, 1] (frames / 255) look just like this: a bright
        # clip in [-1, 1] may too, so it is a warning (shown once per process), not an error.
        if warn and (lo, hi) == (-1.0, 1.0) and 0.0 <= lo_v < hi_v <= 1.0:
            warnings.warn(
                # No values in the text: the default filter then shows it once, not per clip.
                f"{name} values all lie in [0, 1] but value_range is (-1, 1): if the frames "
                "are scaled to [0, 1], pass value_range=(0.0, 1.0), else intruder pixels are "
                "blended in the wrong range",
                ValueRangeWarning,
                stacklevel=2,
            )


def check_video(video: Any, name: str = "video") -> None:
    """Validate a video ``(K, H, W, C)`` (shape and dtype only; values are checked per clip)."""
    check_clip(video, name, allow_batch=False, check_values=False)


def check_shape(shape: Any, name: str = "shape", ndim: int = 4) -> tuple[int, ...]:
    """Validate a shape tuple such as ``(T, H, W, C)`` and return it as a tuple of ints."""
    try:
        shape = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"{name} must be a tuple of ints, got {shape!r}") from None
    if len(shape) != ndim or min(shape) < 1:
        raise InvalidParameterError(f"{name} must be {ndim} positive ints, got {shape}")
    return shape


def check_known_keys(given: dict, allowed: Sequence[str], what: str) -> None:
    """Raise ``TypeError`` naming any key of ``given`` that is not in ``allowed``."""
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise TypeError(
            f"unknown parameter(s) {', '.join(unknown)} for {what}; "
            f"accepted: {', '.join(allowed) or '(none)'}"
        )


def init_arg_names(cls: type) -> list[str]:
    """Names of the keyword arguments of ``cls.__init__`` (what ``to_dict`` stores).

    The one place that reads constructor signatures: :func:`pseudoanom.create`, intruder
    source dicts and ``Transform.to_dict`` all check or store exactly these names (also
    importable as ``pseudoanom.registry.init_arg_names``).
    """
    params = inspect.signature(cls.__init__).parameters.values()
    return [
        p.name
        for p in params
        if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


def _as_float(value: Any, name: str) -> float:
    if isinstance(value, bool):
        raise InvalidParameterError(f"{name} must be a number, got {value!r}")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(out):
        raise InvalidParameterError(f"{name} must be finite, got {value!r}")
    return out
