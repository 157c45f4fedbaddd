"""Pure kernels of the patch transforms: random walk, footprint geometry and the blends.

The classes in :mod:`pseudoanom.transforms.patches` decide *what* to blend (the mask shape,
the intruder, the parameters); the functions here do it, on plain arrays, with no state.
They are tuned for speed (OpenCV on strided windows, a chunk of frames at a time while it is
in cache), and every variant gives the same bits as the plain float32 blend
``dst = clip * (1 - w) + w * src`` in two roundings (a multiply, then an add).

A clip is ``(T, H, W, C)``. The *footprint* of a patch is its mask shape ``(fh, fw)``; its
*corner* in frame ``i`` is the frame pixel of footprint pixel ``(0, 0)``. A blend goes window
by window: an *op* ``(i, frame_rows, frame_cols, fp_rows, fp_cols)`` blends frame ``i``'s
window (the footprint slices are None when the whole seen part of the footprint is blended).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import cv2
import numpy as np

from ..intruders import frame_content
from ..validation import ExtremaTracker, chunk_frames

__all__ = [
    "Op",
    "Profiles",
    "Seen",
    "random_walk",
    "clone_rng",
    "least_overlap",
    "seen_part",
    "window_ops",
    "full_frame_grid",
    "outer_part",
    "constant_weight",
    "float_weights",
    "intruder_content",
    "window_picture",
    "source_window",
    "op_weights",
    "weighted",
    "window_blend",
    "blend_exact",
    "blend_uint8_windows",
    "blend_float_windows",
    "blend_full_frames",
]

# (frame, frame rows, frame cols, footprint rows or None, footprint cols or None)
Op = tuple[int, slice, slice, "slice | None", "slice | None"]
Profiles = tuple["np.ndarray | None", "np.ndarray | None", "np.ndarray | None"]  # py, px, fp


def random_walk(
    rng: np.random.Generator, start: tuple[int, int], t: int, step: int, hw: tuple[int, int]
) -> np.ndarray:
    """int64 ``(t, 2)`` centres: ``start``, then whole-pixel steps clipped to the frame (Eq. 6).

    Each frame the centre moves by an integer drawn uniformly from ``[-step, step]`` per axis
    (one draw of ``(t - 1, 2)`` integers); ``step == 0`` keeps it put and draws nothing.
    """
    cy, cx = start
    walk = [(cy, cx)]
    if step > 0:
        hy, hx = hw[0] - 1, hw[1] - 1
        for dy, dx in rng.integers(-step, step + 1, (t - 1, 2)).tolist():
            cy += dy  # plain comparisons: ~2.5x faster than min(max(...)) here
            if cy < 0:
                cy = 0
            elif cy > hy:
                cy = hy
            cx += dx
            if cx < 0:
                cx = 0
            elif cx > hx:
                cx = hx
            walk.append((cy, cx))
    else:
        walk *= t
    return np.array(walk, np.int64).reshape(t, 2)


def clone_rng(rng: np.random.Generator) -> np.random.Generator:
    """A copy of ``rng`` in its current state (same draws, without advancing ``rng``)."""
    bit = type(rng.bit_generator)()
    bit.state = rng.bit_generator.state
    return np.random.Generator(bit)


class Seen(NamedTuple):
    """The part of a footprint that some frame of the clip shows."""

    inside: bool  # every window lies inside its frame
    frames: int  # frames that show some of the footprint
    least: int  # fewest frame pixels one of them covers (0 unless every frame shows some)
    part: tuple[int, int, int, int]  # (fy0, fy1, fx0, fx1): the footprint rows/cols seen


def least_overlap(corners: list[tuple[int, int]], fh: int, fw: int, h: int, w: int) -> int:
    """Smallest number of frame pixels an ``(fh, fw)`` footprint at ``corners`` covers."""
    return min((min(y + fh, h) - max(y, 0)) * (min(x + fw, w) - max(x, 0)) for y, x in corners)


def seen_part(corners: list[tuple[int, int]], fh: int, fw: int, hw: tuple[int, int]) -> Seen | None:
    """What of an ``(fh, fw)`` footprint at ``corners`` the ``hw`` frames show.

    All float work is bounded by it (a wide Gaussian footprint can be 4x the frame). None if
    no frame shows any of it.
    """
    t, (h, w) = len(corners), hw
    ys = [y for y, _ in corners]
    xs = [x for _, x in corners]
    if min(ys) >= 0 and min(xs) >= 0 and max(ys) + fh <= h and max(xs) + fw <= w:
        return Seen(True, t, fh * fw, (0, fh, 0, fw))  # the common case of small patches
    seen = [(y, x) for y, x in corners if y < h and x < w and y + fh > 0 and x + fw > 0]
    if not seen:
        return None
    y_lo, x_lo = min(y for y, _ in seen), min(x for _, x in seen)
    y_hi, x_hi = max(y for y, _ in seen), max(x for _, x in seen)
    fy0, fx0 = max(0, -y_hi), max(0, -x_hi)
    fy1, fx1 = min(fh, h - y_lo), min(fw, w - x_lo)
    least = least_overlap(seen, fh, fw, h, w) if len(seen) == t else 0
    return Seen(False, len(seen), least, (fy0, fy1, fx0, fx1))


def window_ops(
    corners: list[tuple[int, int]], fh: int, fw: int, hw: tuple[int, int], seen: Seen
) -> list[Op]:
    """One op per frame that shows the footprint, in frame order (see the module doc)."""
    if seen.inside:
        return [
            (i, slice(y, y + fh), slice(x, x + fw), None, None) for i, (y, x) in enumerate(corners)
        ]
    h, w = hw
    fy0, _, fx0, _ = seen.part
    ops: list[Op] = []
    for i, (y, x) in enumerate(corners):
        # Frame rows [ya, yb) hold footprint rows [ya - y, yb - y); shifted into the seen part.
        ya, yb = max(y, 0), min(y + fh, h)
        xa, xb = max(x, 0), min(x + fw, w)
        if ya >= yb or xa >= xb:
            continue
        ops.append(
            (
                i,
                slice(ya, yb),
                slice(xa, xb),
                slice(ya - y - fy0, yb - y - fy0),
                slice(xa - x - fx0, xb - x - fx0),
            )
        )
    return ops


def full_frame_grid(
    corners: list[tuple[int, int]], part: tuple[int, int, int, int], hw: tuple[int, int]
) -> tuple[tuple[int, int], tuple[slice, slice], list[tuple[slice, slice]]]:
    """The grid that holds every frame's whole-frame window, in footprint coordinates.

    Returns ``(grid shape, where the seen part of the footprint lies in it, each frame's
    window)``: a footprint zero-padded to the grid gives frame ``i`` its weights as
    ``padded[windows[i]]``, an ``(h, w)`` array.
    """
    h, w = hw
    fy0, fy1, fx0, fx1 = part
    gy0 = min(-y for y, _ in corners)  # the grid's rows are [gy0, gy0 + ph), its cols alike
    gx0 = min(-x for _, x in corners)
    ph = max(-y for y, _ in corners) - gy0 + h
    pw = max(-x for _, x in corners) - gx0 + w
    inner = (slice(fy0 - gy0, fy1 - gy0), slice(fx0 - gx0, fx1 - gx0))
    windows = [(slice(-y - gy0, -y - gy0 + h), slice(-x - gx0, -x - gx0 + w)) for y, x in corners]
    return (ph, pw), inner, windows


def outer_part(
    profiles: Profiles,
    part: tuple[int, int, int, int],
    blend: float,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Rows ``[fy0, fy1)`` and columns ``[fx0, fx1)`` of the footprint, times ``blend``.

    ``profiles`` is ``(py, px, None)`` for a separable footprint ``np.outer(py, px)`` or
    ``(None, None, fp)`` for a full one. Written into ``out`` if given (a view is fine), else
    a new array (or a view of ``fp`` when ``blend == 1``).
    """
    py, px, fp_full = profiles
    fy0, fy1, fx0, fx1 = part
    if fp_full is not None:
        fp = fp_full[fy0:fy1, fx0:fx1]
        if blend != 1.0:
            return np.multiply(fp, np.float32(blend), out=out)
        if out is None:
            return fp
        np.copyto(out, fp)
        return out
    fp = np.outer(py[fy0:fy1], px[fx0:fx1], out=out)
    if blend != 1.0:
        fp *= np.float32(blend)
    return fp


def constant_weight(profiles: Profiles, blend: float) -> np.float32 | None:
    """The footprint's one weight (``1 * 1 * blend``) if both profiles are all ones, else None."""
    py, px, fp_full = profiles
    if fp_full is not None or py is None or px is None:
        return None
    if py.min() != 1.0 or py.max() != 1.0 or px.min() != 1.0 or px.max() != 1.0:
        return None
    return np.float32(blend)


def float_weights(
    profiles: Profiles, part: tuple[int, int, int, int], blend: float
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | float, np.float32 | None]:
    """``(w, 1 - w, mask weight, const)`` of a float32 blend over the seen ``part``.

    In general ``w`` is the weight array and the mask pieces are (views of) it. A box of one
    weight ``const`` (cutmix 1, mixup_patch 0.5) needs no outer product: ``w`` is None, the
    mask pieces are the number ``const`` and ``w * src`` is one scalar multiply (none for 1).
    """
    const = constant_weight(profiles, blend)
    if const is None:
        fp = outer_part(profiles, part, blend)
        return fp, 1.0 - fp, fp, None
    fy0, fy1, fx0, fx1 = part
    inv = np.full((fy1 - fy0, fx1 - fx0), np.float32(1.0) - const, np.float32)
    return None, inv, float(const), const


def intruder_content(
    intruder: np.ndarray,
    value_range: tuple[float, float],
    fp: np.ndarray | None = None,
    out: np.ndarray | None = None,
    const: np.float32 | None = None,
) -> np.ndarray:
    """float32 ``w * intruder`` with the uint8 intruder mapped from [0, 255] to ``value_range``.

    ``w`` is the array ``fp`` (``(fh, fw)``), or the number ``const`` if ``fp`` is None
    (1 is left out: ``x * 1`` is ``x``, bit for bit).
    """
    lo, hi = value_range
    content = np.multiply(intruder, np.float32((hi - lo) / 255.0), out=out, dtype=np.float32)
    content += np.float32(lo)
    if fp is not None:
        content *= fp[..., None]
    elif const is not None and const != 1.0:
        content *= const
    return content


def window_picture(
    intruder: np.ndarray,
    hw: tuple[int, int],
    dtype: np.dtype,
    value_range: tuple[float, float],
    rows: tuple[int, int] | None = None,
    cols: tuple[int, int] | None = None,
) -> np.ndarray:
    """``content="window"``: the intruder stretched over the ``hw`` frame, ``rows`` x ``cols``.

    float32 in ``value_range`` for float32 clips, rounded uint8 for uint8 clips; ``(r, c, C)``,
    or ``(T, r, c, C)`` for a video intruder ``(T, h0, w0, C)``.
    """
    rng_ = value_range if dtype == np.float32 else None
    if intruder.ndim == 4:
        pic = np.stack([frame_content(f, hw, rng_, rows, cols) for f in intruder])
    else:
        pic = frame_content(intruder, hw, rng_, rows, cols)
    if dtype == np.float32:
        return pic
    return np.clip(np.rint(pic), 0, 255).astype(np.uint8)


def source_window(
    content: np.ndarray, op: Op, temporal: bool, origin: tuple[int, int] | None
) -> np.ndarray:
    """The intruder pixels that op's window blends in.

    ``content`` is per frame (``temporal``) or shared. With an ``origin`` ``(r0, c0)`` it is a
    picture over frame rows ``r0:`` and columns ``c0:`` (``content="window"``), else it is
    laid out like the seen part of the footprint (``content="object"``).
    """
    i, fr, fc, pr, pc = op
    src = content[i] if temporal else content
    if origin is not None:  # frame pixel (y, x) is picture pixel (y - r0, x - c0)
        r0, c0 = origin
        return src[fr.start - r0 : fr.stop - r0, fc.start - c0 : fc.stop - c0]
    if pr is not None:
        return src[pr, pc]
    return src


def op_weights(
    fp: np.ndarray | None, inv: np.ndarray, whole: np.ndarray | float, op: Op
) -> tuple[np.ndarray | float, np.ndarray]:
    """``(w, 1 - w)`` of op's window: views of ``fp``/``inv``, or ``whole`` for a whole one."""
    _, _, _, pr, pc = op
    if pr is None:
        return whole, inv
    return (fp[pr, pc] if fp is not None else whole), inv[pr, pc]


def weighted(src: np.ndarray, wgt: np.ndarray, scratch: list[np.ndarray]) -> np.ndarray:
    """float32 ``wgt * src``: ``src`` 2-D like ``wgt``, or with channels last.

    Written into a buffer kept in ``scratch`` (one per call of a transform, reused frame after
    frame: a fresh frame-sized array per frame costs page faults).
    """
    if not scratch or scratch[0].size < src.size:
        scratch[:] = [np.empty(src.size, np.float32)]
    out = scratch[0][: src.size].reshape(src.shape)
    if src.ndim == 2:
        return cv2.multiply(src, wgt, dst=out)
    return np.multiply(src, wgt[..., None], out=out)


def blend_exact(dst: np.ndarray, clip: np.ndarray, inv: np.ndarray, content: np.ndarray) -> None:
    """``dst = clip * inv + content`` in two roundings (a multiply, then an add), in place.

    The one float32 blend of the patch transforms (``inv = 1 - w``, ``content = w * src``);
    ``dst`` may be ``clip``. OpenCV writes strided windows directly and is about twice as fast
    as NumPy's in-place ufuncs there; it has no exact one-pass form (its fused ops round once).
    """
    cv2.multiply(clip, inv, dst=dst)
    cv2.add(dst, content, dst=dst)


def window_blend(const: np.float32 | None) -> Callable[[np.ndarray, np.ndarray, np.ndarray], Any]:
    """``f(dst, inv, src)`` setting the float32 window ``dst`` to ``dst * inv + src`` in place.

    ``src`` is ``w * intruder`` and ``inv`` is ``1 - w``. Every variant gives the same bits as
    :func:`blend_exact` (two roundings), which is also what it does in general; a footprint of
    one weight ``const`` (see :func:`constant_weight`) takes a shortcut:

    - ``w == 1``: ``dst * 0 + src`` is ``src``, bit for bit, so the window is a copy (``src`` is
      never -0.0: ``k * (hi - lo) / 255 >= +0.0``, plus ``lo``; a non-finite ``dst`` raises
      anyway).
    - ``1 - w`` a power of two (mixup_patch: 0.5): ``dst * (1 - w)`` is exact, so the fused
      multiply-add of ``cv2.scaleAdd`` rounds once where the general blend rounds once too
      (checked bit for bit against it, -0.0 and subnormal pixels included): one pass, not two.
    """
    if const is not None:
        if const == 1.0:
            return lambda dst, inv, src: np.copyto(dst, src)
        keep = float(np.float32(1.0) - const)
        if math.frexp(keep)[0] == 0.5:
            scale_add = cv2.scaleAdd
            return lambda dst, inv, src: scale_add(dst, keep, src, dst=dst)
    return lambda dst, inv, src: blend_exact(dst, dst, inv, src)


def blend_uint8_windows(
    out: np.ndarray,
    clip: np.ndarray,
    ops: list[Op],
    fp: np.ndarray,
    content: np.ndarray,
    temporal: bool,
    origin: tuple[int, int] | None,
    pieces: list[tuple[Any, Any]],
) -> None:
    """uint8 clips: ``out`` is ``clip`` with each op's window blended with weight ``fp``.

    ``content`` (uint8) as for :func:`source_window`; each window's ``(index, weights)`` is
    appended to ``pieces`` (the mask).
    """
    inv = 1.0 - fp
    np.copyto(out, clip)
    for op in ops:
        wgt, iw = op_weights(fp, inv, fp, op)
        src = source_window(content, op, temporal, origin)
        i, fr, fc, _, _ = op
        dst = out[i, fr, fc]
        # blendLinear divides by w + (1 - w) + 1e-5: below 0.003 grey levels, lost in the
        # rounding.
        dst[...] = cv2.blendLinear(src, dst, wgt, iw).reshape(dst.shape)
        pieces.append(((i, fr, fc), wgt))


def blend_float_windows(
    out: np.ndarray,
    clip: np.ndarray,
    ops: list[Op],
    weights: tuple[np.ndarray | None, np.ndarray, np.ndarray | float, np.float32 | None],
    content: np.ndarray,
    temporal: bool,
    origin: tuple[int, int] | None,
    value_range: tuple[float, float],
    pieces: list[tuple[Any, Any]],
) -> None:
    """float32 clips: ``out`` is ``clip`` with each op's window set to ``dst * (1 - w) + w * src``.

    ``weights`` is :func:`float_weights`' output. ``content`` is ``w * src`` already for
    ``content="object"`` (``origin`` None) and for a constant ``w``; for a window picture
    under a weight array, ``w * src`` is taken per window here. The clip is copied and
    checked (NaN/inf/range) a chunk of frames (~512 KiB) at a time, and those frames' windows
    are blended while the chunk is still in cache (exact where ``w == 0``, which
    ``cv2.blendLinear`` is not: it divides by ``w1 + w2 + eps``).
    """
    fp, inv, whole, const = weights
    if clip.shape[-1] > 1:  # OpenCV multiplies channel by channel: give it as many as the clip
        inv = np.repeat(inv[..., None], clip.shape[-1], axis=2)
        out_v = out
    else:  # 2-D views: OpenCV then sees one-channel images
        out_v, content = out[..., 0], content[..., 0]
    blend_window = window_blend(const)
    scratch: list[np.ndarray] = []
    t, per = clip.shape[0], chunk_frames(clip)
    tracker = ExtremaTracker("clip", value_range)
    k, n_ops = 0, len(ops)
    for i0 in range(0, t, per):
        i1 = i0 + per
        chunk = out[i0:i1]
        np.copyto(chunk, clip[i0:i1])
        tracker.add(chunk)
        while k < n_ops and ops[k][0] < i1:
            op = ops[k]
            k += 1
            wgt, iw = op_weights(fp, inv, whole, op)
            src = source_window(content, op, temporal, origin)
            if origin is not None and fp is not None:  # w * src for this window
                src = weighted(src, wgt, scratch)
            i, fr, fc, _, _ = op
            pieces.append(((i, fr, fc), wgt))
            blend_window(out_v[i, fr, fc], iw, src)
    tracker.check()


def blend_full_frames(
    out: np.ndarray,
    clip: np.ndarray,
    fp: np.ndarray,
    content: np.ndarray,
    windows: list[tuple[slice, slice]],
    weigh_content: bool,
    value_range: tuple[float, float],
    pieces: list[tuple[Any, Any]],
) -> None:
    """float32 clips, whole frames: ``out[i] = clip[i] * (1 - w_i) + w_i * src_i`` for each i.

    ``fp`` is the footprint zero-padded to a grid that holds every frame's window; frame i's
    weights are ``fp[windows[i]]`` (frame-sized). ``content`` is either laid out on the same
    grid and already weighted, or (``weigh_content``) a frame-sized picture, weighted here
    per frame; ``(T, ...)`` per frame if it has one more axis than ``fp``. The clip is checked
    (NaN/inf/range) a chunk of frames at a time just before those frames are blended, so it
    is read from memory once.
    """
    t, c = clip.shape[0], clip.shape[-1]
    temporal = content.ndim == fp.ndim + 2
    inv = 1.0 - fp
    if c > 1:  # OpenCV multiplies channel by channel: give it as many as the clip
        inv = np.repeat(inv[..., None], c, axis=2)
        src_v, out_v = clip, out
    else:  # 2-D views: OpenCV then sees one-channel images
        content, src_v, out_v = content[..., 0], clip[..., 0], out[..., 0]
    per = chunk_frames(clip)
    tracker = ExtremaTracker("clip", value_range)
    scratch: list[np.ndarray] = []
    for i0 in range(0, t, per):
        tracker.add(clip[i0 : i0 + per])
        for i in range(i0, min(i0 + per, t)):
            win = windows[i]
            src = content[i] if temporal else content
            src = weighted(src, fp[win], scratch) if weigh_content else src[win]
            blend_exact(out_v[i], src_v[i], inv[win], src)
            pieces.append((i, fp[win]))
    tracker.check()
