"""Pseudo-anomaly transforms: the :class:`Transform` base and the paper's five techniques.

Each transform is a small class: validated parameters in ``__init__``, a
:meth:`~Transform.sample_params` that draws everything random from the one Generator passed in,
and a pure, deterministic :meth:`~Transform.apply` that replays those parameters. The registry
name and the constructor arguments make it serialisable (``to_dict`` / ``from_dict``).

Registered names: ``smoothmix_s``, ``smoothmix_c``, ``cutmix``, ``mixup_patch`` (patch
pseudo anomalies, Sec. 3.2 of Astrid et al., BMVC 2021) and ``skip_frame`` (Sec. 3.3).
"""

from __future__ import annotations

import copy
import math
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np

from . import masks
from .intruders import (
    IntruderSource,
    as_source,
    convert_channels,
    crop_flip,
    fit_intruder,
    frame_content,
)
from .registry import init_arg_names, register
from .result import LazyMask, PseudoAnomaly, build_mask, stack_results
from .validation import (
    _CHUNK_BYTES,
    InvalidClipError,
    InvalidParameterError,
    _ExtremaTracker,
    as_generator,
    check_alpha,
    check_beta,
    check_clip,
    check_finite_range,
    check_positive_int,
    check_range_pair,
    check_shape,
    check_value_range,
    check_video,
    copy_checked,
)

__all__ = [
    "Transform",
    "PatchTransform",
    "SmoothMixS",
    "SmoothMixC",
    "CutMix",
    "MixUpPatch",
    "SkipFrame",
    "PATCH_CONTENTS",
]

# Where a patch's pixels come from (see PatchTransform): the paper's window over an intruder
# stretched to the frame, or our variant, an intruder crop that travels with the patch.
PATCH_CONTENTS = ("window", "object")


def _to_builtin(value: Any) -> Any:
    """Make a constructor argument YAML/JSON safe (tuples -> lists, sources -> dicts)."""
    if isinstance(value, IntruderSource):
        return value.to_dict()
    if isinstance(value, (tuple, list)):
        return [_to_builtin(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _to_builtin(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (Path, os.PathLike)):
        return str(value)
    return value


class Transform:
    """Base class of clip-level pseudo-anomaly transforms.

    Subclasses implement :meth:`sample_params` and :meth:`apply`, store each constructor
    argument under an attribute of the same name (that is what :meth:`to_dict` serialises)
    and are registered with ``@pseudoanom.register("name")``.

    Attributes
    ----------
    name : str
        Registry name (set by :func:`pseudoanom.register`).
    needs_video : bool
        True for transforms that read frames outside the clip (``skip_frame``): they only work
        through :meth:`from_video`.
    value_range : tuple of float
        ``(lo, hi)`` of float32 clips (default ``(-1.0, 1.0)``); ignored for uint8 clips.
    """

    name: ClassVar[str] = ""
    needs_video: ClassVar[bool] = False
    # True if ``apply`` itself checks float clips for NaN/inf/range (while copying them), so
    # ``__call__`` need not read the clip once more beforehand.
    checks_values: ClassVar[bool] = False
    value_range: tuple[float, float] = (-1.0, 1.0)

    # -- to implement ---------------------------------------------------------------------
    def sample_params(self, shape: tuple[int, ...], rng: np.random.Generator) -> dict[str, Any]:
        """Draw the random parameters for one clip of ``shape`` ``(T, H, W, C)``."""
        raise NotImplementedError

    def apply(self, clip: np.ndarray, **params: Any) -> tuple[np.ndarray, np.ndarray]:
        """Pure replay: ``(pseudo_clip, mask)`` for one clip ``(T, H, W, C)``.

        Returns a new clip (same shape, dtype, range; the input is not modified) and a float32
        mask ``(T, H, W)`` in [0, 1]. Set ``checks_values = True`` on the class if ``apply``
        checks float clips for NaN/inf itself; otherwise ``__call__`` does.
        """
        raise NotImplementedError

    def _apply_lazy(
        self, clip: np.ndarray, params: dict[str, Any]
    ) -> tuple[np.ndarray, np.ndarray | LazyMask]:
        """:meth:`apply`, except that the mask may come back as a :class:`LazyMask`.

        What ``__call__``, ``from_video`` and ``Pipeline`` use: :class:`PseudoAnomaly` builds
        the mask only if it is read. The default simply calls :meth:`apply`.
        """
        return self.apply(clip, **params)

    # -- shared machinery -----------------------------------------------------------------
    def __call__(self, clip: np.ndarray, *, rng: np.random.Generator | int) -> PseudoAnomaly:
        """Make a pseudo anomaly from a clip or from each clip of a batch.

        Parameters
        ----------
        clip : numpy.ndarray
            ``(T, H, W, C)`` or a batch ``(B, T, H, W, C)``; uint8 in [0, 255] or float32 in
            ``self.value_range``; C in {1, 3}.
        rng : numpy.random.Generator or int
            The only source of randomness (an int is used as a seed). A batch draws its items
            one after the other from it.

        Returns
        -------
        PseudoAnomaly
            ``label`` 1 (an int8 ``(B,)`` array of ones for a batch); ``target`` is ``clip``.
        """
        if self.needs_video:
            raise ValueError(
                f"{self.name} reads frames beyond the clip: call "
                f"{type(self).__name__}.from_video(video, start, length, rng=...) instead"
            )
        batched = check_clip(
            clip, value_range=self.value_range, check_values=not self.checks_values
        )
        rng = as_generator(rng)
        if batched:
            return stack_results([self._one(c, rng) for c in clip], target=clip)
        return self._one(clip, rng)

    def _one(self, clip: np.ndarray, rng: np.random.Generator) -> PseudoAnomaly:
        params = self.sample_params(clip.shape, rng)
        out, mask = self._apply_lazy(clip, params)
        return PseudoAnomaly(clip=out, target=clip, mask=mask, label=1, params=params)

    def from_video(
        self,
        video: np.ndarray,
        start: int,
        length: int = 16,
        *,
        rng: np.random.Generator | int,
    ) -> PseudoAnomaly:
        """Make a pseudo anomaly from the clip ``video[start : start + length]``.

        Parameters
        ----------
        video : numpy.ndarray
            ``(K, H, W, C)``, uint8 or float32 (in ``value_range``), K >= ``start + length``.
        start : int
            First frame of the normal clip, 0 <= start <= K - length.
        length : int
            T, frames per clip.
        rng : numpy.random.Generator or int
            Source of randomness.

        Returns
        -------
        PseudoAnomaly
            ``target`` is a view of the video.
        """
        clip = _video_clip(video, start, length, self.value_range, not self.checks_values)
        return self._one(clip, as_generator(rng))

    def get_init_args(self) -> dict[str, Any]:
        """Constructor arguments of this instance, keyed by parameter name."""
        return {k: getattr(self, k) for k in init_arg_names(type(self))}

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form ``{"name": ..., "params": {...}}``, see :func:`pseudoanom.from_dict`."""
        if not self.name:
            raise TypeError(f"{type(self).__name__} is not registered: use @pseudoanom.register")
        return {"name": self.name, "params": _to_builtin(self.get_init_args())}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_init_args().items())
        return f"{type(self).__name__}({args})"


def _video_clip(
    video: np.ndarray,
    start: Any,
    length: Any,
    value_range: tuple[float, float],
    check_values: bool = True,
) -> np.ndarray:
    """Validate and slice ``video[start : start + length]`` (float values checked if asked)."""
    check_video(video)
    length = check_positive_int(length, "length")
    start = check_positive_int(start, "start", minimum=0)
    k = video.shape[0]
    if start + length > k:
        raise InvalidClipError(
            f"video has K={k} frames: start={start} with length={length} needs "
            f"{start + length}; use 0 <= start <= {k - length}"
        )
    clip = video[start : start + length]
    if check_values and clip.dtype == np.float32:
        check_finite_range(clip, "video", value_range)
    return clip


class PatchTransform(Transform):
    """Base of patch pseudo anomalies: intruder content blended into every frame.

    A patch of size ``(h, w)`` (each side drawn uniformly from the integers in
    ``[min_size, alpha * side]``) is centred at a uniform random pixel of the first frame; with
    ``beta > 0`` the centre then does a random walk (Eq. 6): each frame it moves by a whole
    number of pixels drawn uniformly from ``[-beta, beta]`` per axis, clipped to the frame.
    Only the patch's bounding box is blended.

    What the patch shows depends on ``content``:

    - ``"window"`` (default; the paper, Eq. 6, and the authors' code): the intruder, in the
      clip's channels, is stretched over the whole frame (bilinear, corners aligned, as the
      authors' ``F.interpolate(..., align_corners=True)``) and stays put; the patch is the
      window of that picture under the mask, so when the centre walks the window slides over
      it and its content changes. A 32x32 CIFAR image on a 256x256 frame is a smooth blob.
    - ``"object"`` (ours, not in the paper): a random crop of the intruder (``crop_scale``,
      flipped with ``hflip``) resized to the patch; it travels with the patch like a sharp
      moving object.

    Parameters
    ----------
    alpha : float
        Maximum patch side as a fraction of the frame side, in (0, 1] (paper: 0.5).
    beta : float
        Maximum movement of the patch centre per frame and axis, pixels, >= 0 (paper: 10;
        0 keeps the patch static).
    intruders : IntruderSource, dict, str, os.PathLike or None
        Where patch content comes from (see :func:`pseudoanom.intruders.as_source`);
        None uses the embedded procedural images.
    min_size : int
        Smallest patch side in pixels (paper: 10); capped at ``alpha * side`` for tiny frames.
    crop_scale : tuple of float or None
        Random crop of the intruder, side fraction range in (0, 1] (variety from few images).
        None: ``(0.5, 1.0)`` with ``content="object"``, ``(1.0, 1.0)`` (no crop, the paper's)
        with ``content="window"``.
    hflip : bool or None
        Randomly flip the intruder left-right. None: True with ``content="object"``, False
        (the paper's) with ``content="window"``.
    value_range : tuple of float
        ``(lo, hi)`` of float32 clips; intruder pixels are mapped from [0, 255] to it.
    intruder_transform : albumentations transform or dict, optional
        Any albumentations transform or ``Compose`` (e.g.
        ``A.Compose([A.ColorJitter(p=1), A.Rotate(limit=30, p=1)])``) applied to the uint8
        intruder image before the crop/flip/resize; or its ``A.to_dict`` form. It is seeded
        from the ``rng`` of each call (one extra draw), so the same seed gives the same
        output, on any thread (each thread runs its own copy). None (default): crop, flip and
        resize only, and albumentations is never imported.
    content : {"window", "object"}
        ``"window"`` (default): the paper's window over a frame-sized intruder; ``"object"``:
        our moving intruder crop. See above.
    """

    blend: ClassVar[float] = 1.0  # weight of the intruder where the mask shape is 1
    checks_values = True

    def __init__(
        self,
        alpha: float = 0.5,
        beta: float = 10.0,
        intruders: IntruderSource | dict | str | os.PathLike | None = None,
        min_size: int = 10,
        crop_scale: tuple[float, float] | None = None,
        hflip: bool | None = None,
        value_range: tuple[float, float] = (-1.0, 1.0),
        intruder_transform: Any = None,
        content: str = "window",
    ) -> None:
        if content not in PATCH_CONTENTS:
            raise InvalidParameterError(
                f"content must be one of {', '.join(map(repr, PATCH_CONTENTS))}, got {content!r}"
            )
        self.content = content
        window = content == "window"
        self.alpha = check_alpha(alpha)
        self.beta = check_beta(beta)
        self.intruders = as_source(intruders)
        self.min_size = check_positive_int(min_size, "min_size")
        if crop_scale is None:
            crop_scale = (1.0, 1.0) if window else (0.5, 1.0)
        self.crop_scale = check_range_pair(crop_scale, "crop_scale", 0.0, 1.0, lo_open=True)
        self.hflip = (not window) if hflip is None else bool(hflip)
        self.value_range = check_value_range(value_range)
        self.intruder_transform = _as_albumentations(intruder_transform)
        self._local = threading.local()  # per-thread copies of intruder_transform

    # Pickle and deepcopy (spawn workers, multiprocessing) leave out the per-thread copies.
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_local", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._local = threading.local()

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form; an ``intruder_transform`` is stored as ``A.to_dict(transform)``."""
        d = super().to_dict()
        params = d["params"]
        if self.intruder_transform is None:
            del params["intruder_transform"]  # the same dict as before the parameter existed
        else:
            import albumentations as A

            params["intruder_transform"] = _to_builtin(A.to_dict(self.intruder_transform))
        return d

    def _augment(self, img: np.ndarray, seed: int) -> np.ndarray:
        """Run ``intruder_transform`` on one uint8 image with its random state set to ``seed``."""
        # albumentations keeps its random state (and the last params) on the object: each
        # thread gets its own deep copy, and the shared original is never called.
        tr = getattr(self._local, "transform", None)
        if tr is None:
            tr = self._local.transform = copy.deepcopy(self.intruder_transform)
        tr.set_random_seed(seed)
        out = tr(image=np.array(img))["image"]  # a writable copy: some transforms work in place
        if not isinstance(out, np.ndarray) or out.dtype != np.uint8:
            raise InvalidParameterError(
                "intruder_transform must return a uint8 image, got "
                f"{getattr(out, 'dtype', type(out).__name__)}; drop float transforms such as "
                "A.Normalize or A.ToFloat"
            )
        if out.ndim == 2:
            out = out[..., None]
        if out.ndim != 3 or out.shape[2] not in (1, 3) or min(out.shape) == 0:
            raise InvalidParameterError(
                f"intruder_transform must return an (H, W, 1 or 3) image, got {out.shape}"
            )
        return out

    # Subclasses define the mask shape for a drawn size.
    def footprint(
        self, size: tuple[int, int], hw: tuple[int, int]
    ) -> tuple[np.ndarray, tuple[int, int]]:
        """Mask footprint (float32 ``(fh, fw)`` in [0, 1]) and its centre for ``size``."""
        raise NotImplementedError

    def profiles(
        self, size: tuple[int, int], hw: tuple[int, int]
    ) -> tuple[np.ndarray, np.ndarray, tuple[int, int]] | None:
        """Separable form of :meth:`footprint`: ``(py, px, centre)`` with
        ``footprint == np.outer(py, px)``, or None if the footprint is not separable.

        The built-in patches return memoised 1-D profiles, so :meth:`apply` builds only the
        part of the footprint a clip sees; a subclass that only overrides :meth:`footprint`
        keeps working (its full footprint is used).
        """
        return None

    def _footprint_parts(
        self, size: tuple[int, int], hw: tuple[int, int]
    ) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None, tuple[int, int], int, int]:
        """``(py, px, fp, centre, fh, fw)``: either the profiles or the full footprint."""
        prof = self.profiles(size, hw)
        if prof is not None:
            py, px, centre = prof
            return py, px, None, centre, len(py), len(px)
        fp, centre = self.footprint(size, hw)
        return None, None, fp, centre, fp.shape[0], fp.shape[1]

    def size_bounds(self, hw: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
        """``((h_lo, h_hi), (w_lo, w_hi))``: inclusive bounds of the drawn size for frame ``hw``."""
        out = []
        for side in hw:
            hi = max(1, math.floor(self.alpha * side))
            out.append((min(self.min_size, hi), hi))
        return out[0], out[1]

    def sample_params(self, shape: tuple[int, ...], rng: np.random.Generator) -> dict[str, Any]:
        """Draw size, per-frame centres and the fitted intruder for a clip of ``shape``.

        Returns
        -------
        dict
            ``size``: ``[h, w]`` ints (for ``smoothmix_c`` the Gaussian sigmas);
            ``centers``: int64 ``(T, 2)`` of ``(row, col)`` per frame;
            ``intruder``: uint8 ``(fh, fw, C)`` (or ``(T, fh, fw, C)`` for a video intruder)
            already cropped, flipped, colour-converted and resized to the footprint; with
            ``content="window"`` the intruder at its own size ``(h0, w0, C)`` (or
            ``(T, h0, w0, C)``), colour-converted (cropped and flipped only if asked):
            :meth:`apply` stretches it over the frame.
        """
        t, h, w, c = check_shape(shape)
        (hl, hh), (wl, wh) = self.size_bounds((h, w))
        size = [int(rng.integers(hl, hh + 1)), int(rng.integers(wl, wh + 1))]
        cy, cx = int(rng.integers(h)), int(rng.integers(w))
        step = math.floor(self.beta)
        walk = [(cy, cx)]
        if step > 0:  # Eq. 6: random walk of whole-pixel steps, clipped to the frame
            hy, hx = h - 1, w - 1
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
        centers = np.array(walk, np.int64).reshape(t, 2)
        fp_shape = self._footprint_parts((size[0], size[1]), (h, w))[4:6]
        aug = self.intruder_transform is not None
        if self.intruders.temporal:
            seq = self.intruders.sample_sequence(rng, t)
            if aug:  # the same augmentation draws for every frame of the sequence
                seed = int(rng.integers(2**32))
                seq = [self._augment(f, seed) for f in seq]
            # One crop/flip for the whole sequence: each frame replays the same draws.
            crop_rng = np.random.default_rng(int(rng.integers(2**63)))
            intr = np.stack([self._fit(f, fp_shape, c, _clone(crop_rng)) for f in seq])
        else:
            img = self.intruders.sample(rng)
            if aug:
                img = self._augment(img, int(rng.integers(2**32)))
            intr = self._fit(img, fp_shape, c, rng)
        return {"size": size, "centers": centers, "intruder": intr}

    def _fit(
        self, img: np.ndarray, fp_shape: tuple[int, ...], c: int, rng: np.random.Generator
    ) -> np.ndarray:
        """The intruder as ``apply`` takes it: fitted to the footprint, or (window) unsized."""
        if self.content == "object":
            return fit_intruder(
                img, (fp_shape[0], fp_shape[1]), c, rng, self.crop_scale, self.hflip
            )
        if self.crop_scale != (1.0, 1.0) or self.hflip:  # the paper neither crops nor flips
            img = crop_flip(img, rng, self.crop_scale, self.hflip)
        return convert_channels(img, c).reshape(img.shape[0], img.shape[1], c)

    def apply(
        self,
        clip: np.ndarray,
        size: Any,
        centers: Any,
        intruder: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Blend ``intruder`` into each frame at ``centers`` (pure; ``clip`` is not modified).

        Parameters
        ----------
        clip : numpy.ndarray
            ``(T, H, W, C)`` uint8 or float32 (in ``value_range``).
        size : sequence of int
            ``[h, w]`` as drawn by :meth:`sample_params`.
        centers : array_like of int
            ``(T, 2)`` patch centre ``(row, col)`` per frame.
        intruder : numpy.ndarray
            uint8 ``(fh, fw, C)`` or ``(T, fh, fw, C)``, the footprint's shape.

        Returns
        -------
        clip : numpy.ndarray
            Same shape and dtype as the input.
        mask : numpy.ndarray
            float32 ``(T, H, W)`` in [0, 1], the intruder's blend weight per pixel.
        """
        out, mask = self._blend(clip, size, centers, intruder)
        return out, build_mask(mask)

    def _apply_lazy(
        self, clip: np.ndarray, params: dict[str, Any]
    ) -> tuple[np.ndarray, np.ndarray | LazyMask]:
        if type(self).apply is not PatchTransform.apply:  # a subclass replaced apply: use it
            return self.apply(clip, **params)
        return self._blend(clip, **params)

    def _blend(
        self,
        clip: np.ndarray,
        size: Any,
        centers: Any,
        intruder: np.ndarray,
    ) -> tuple[np.ndarray, LazyMask]:
        """:meth:`apply` with the mask as a :class:`LazyMask` (the frames' weight windows)."""
        check_clip(clip, allow_batch=False, check_values=False)
        t, h, w, c = clip.shape
        size = (int(size[0]), int(size[1]))
        py, px, fp_full, (oy, ox), fh, fw = self._footprint_parts(size, (h, w))
        centers = np.asarray(centers)
        if centers.shape != (t, 2):
            raise InvalidParameterError(f"centers must have shape ({t}, 2), got {centers.shape}")
        intruder = np.asarray(intruder)
        temporal = intruder.ndim == 4
        window = self.content == "window"
        self._check_intruder(intruder, (fh, fw) if not window else None, clip.shape, size)
        # Top-left corner of the footprint in each frame, and the part of the footprint seen
        # in some frame (a wide Gaussian footprint can be 4x the frame): all float work below
        # is bounded by what is actually blended.
        corners = [(cy - oy, cx - ox) for cy, cx in centers.astype(np.int64).tolist()]
        ys = [y for y, _ in corners]
        xs = [x for _, x in corners]
        y_lo, y_hi, x_lo, x_hi = min(ys), max(ys), min(xs), max(xs)
        if y_lo >= 0 and x_lo >= 0 and y_hi + fh <= h and x_hi + fw <= w:
            # Every window lies inside its frame (the common case of small patches).
            inside, n_seen, least = True, t, fh * fw
            fy0, fy1, fx0, fx1 = 0, fh, 0, fw
        else:
            inside = False
            seen = [
                (y, x)
                for y, x in corners
                if y < h and x < w and y + fh > 0 and x + fw > 0  # overlaps the frame
            ]
            if not seen:
                return copy_checked(clip, "clip", self.value_range), LazyMask((t, h, w), 0.0, [])
            n_seen = len(seen)
            y_lo, x_lo = min(y for y, _ in seen), min(x for _, x in seen)
            y_hi, x_hi = max(y for y, _ in seen), max(x for _, x in seen)
            fy0, fx0 = max(0, -y_hi), max(0, -x_hi)  # seen part of the footprint: [fy0, fy1)
            fy1, fx1 = min(fh, h - y_lo), min(fw, w - x_lo)
            least = _least_overlap(seen, fh, fw, h, w) if n_seen == t else 0
        # Wide footprints (smoothmix_c) cover most of every frame: there, blending each whole
        # frame straight from the input (zero weight outside the patch) beats copying the clip
        # and blending again in place, and the mask needs no separate zero fill.
        if clip.dtype == np.float32 and n_seen == t and 2 * least >= h * w:
            return self._apply_full_frames(
                clip, py, px, fp_full, intruder, corners, (fy0, fy1, fx0, fx1)
            )
        # The 4 MiB output first: the small temporaries below then come from elsewhere in the
        # heap, so the big block is reused call after call (cache and TLB warm).
        out = np.empty(clip.shape, clip.dtype)
        # Per frame: (frame, frame rows, frame cols, footprint rows, footprint cols); the
        # footprint slices are None when the whole (seen part of the) footprint is blended.
        ops: list[tuple[int, slice, slice, slice | None, slice | None]] = []
        if inside:
            for i, (y, x) in enumerate(corners):
                ops.append((i, slice(y, y + fh), slice(x, x + fw), None, None))
        else:
            for i, (y, x) in enumerate(corners):
                # Frame rows [ya, yb) hold footprint rows [ya - y, yb - y); shifted into the
                # seen part.
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
        if window:
            # The frame-sized intruder, only over the rows and columns some window covers;
            # frame pixel (y, x) of a window is picture pixel (y - r0, x - c0).
            r0, r1 = min(op[1].start for op in ops), max(op[1].stop for op in ops)
            c0, c1 = min(op[2].start for op in ops), max(op[2].stop for op in ops)
            picture = self._picture(intruder, (h, w), clip.dtype, (r0, r1), (c0, c1))
        else:
            intruder = intruder[..., fy0:fy1, fx0:fx1, :]
        # The mask: zero but for each frame's window of weights (built only if it is read).
        pieces: list[tuple[Any, np.ndarray | float]] = []
        mask = LazyMask((t, h, w), 0.0, pieces)
        if clip.dtype != np.float32:
            fp = _outer_part(py, px, fp_full, fy0, fy1, fx0, fx1, self.blend)
            inv = 1.0 - fp
            np.copyto(out, clip)
            for i, fr, fc, pr, pc in ops:
                wgt, iw = fp, inv
                if pr is not None:
                    wgt, iw = fp[pr, pc], inv[pr, pc]
                if window:
                    src = (picture[i] if temporal else picture)[
                        fr.start - r0 : fr.stop - r0, fc.start - c0 : fc.stop - c0
                    ]
                else:
                    src = intruder[i] if temporal else intruder
                    if pr is not None:
                        src = src[pr, pc]
                dst = out[i, fr, fc]
                # blendLinear divides by w + (1 - w) + 1e-5: below 0.003 grey levels, lost in
                # the rounding.
                dst[...] = cv2.blendLinear(src, dst, wgt, iw).reshape(dst.shape)
                pieces.append(((i, fr, fc), wgt))
            return out, mask
        # float32: each window gets dst * (1 - w) + w * src with w * src pre-multiplied once,
        # in place (_window_blend), exact where w == 0 (cv2.blendLinear is not: it divides by
        # w1 + w2 + eps).
        const = _constant_weight(py, px, fp_full, self.blend)
        if const is None:
            fp = _outer_part(py, px, fp_full, fy0, fy1, fx0, fx1, self.blend)
            inv = 1.0 - fp
            wgt_all: np.ndarray | float = fp
        else:
            # A box of one weight w (cutmix 1, mixup_patch 0.5): no outer product, w * src is
            # one scalar multiply (none for w == 1), and the mask pieces are the number w.
            fp = None
            inv = np.full((fy1 - fy0, fx1 - fx0), np.float32(1.0) - const, np.float32)
            wgt_all = float(const)
        if window:  # w * src per window, below: the picture under each window differs
            content = picture if const is None or const == 1.0 else picture * const
        else:
            content = self._content(intruder, fp, const=const)
        if c > 1:  # OpenCV multiplies channel by channel: give it as many as the clip
            inv = np.repeat(inv[..., None], c, axis=2)
            out_v = out
        else:  # 2-D views: OpenCV then sees one-channel images
            out_v, content = out[..., 0], content[..., 0]
        blend_window = _window_blend(const)
        scratch: list[np.ndarray] = []
        per = _chunk_frames(clip)
        tracker = _ExtremaTracker("clip", self.value_range)
        k, n_ops = 0, len(ops)
        # Copy and check the clip a chunk of frames (~512 KiB) at a time, and blend those
        # frames' windows while the chunk is still in cache.
        for i0 in range(0, t, per):
            i1 = i0 + per
            chunk = out[i0:i1]
            np.copyto(chunk, clip[i0:i1])
            tracker.add(chunk)
            while k < n_ops and ops[k][0] < i1:
                i, fr, fc, pr, pc = ops[k]
                k += 1
                src = content[i] if temporal else content
                iw = inv
                if pr is not None:
                    iw = inv[pr, pc]
                    wgt = fp[pr, pc] if fp is not None else wgt_all
                else:
                    wgt = wgt_all
                if window:
                    src = src[fr.start - r0 : fr.stop - r0, fc.start - c0 : fc.stop - c0]
                    if fp is not None:  # w * src for this window (constant w: done above)
                        src = _weighted(src, wgt, scratch)
                elif pr is not None:
                    src = src[pr, pc]
                pieces.append(((i, fr, fc), wgt))
                blend_window(out_v[i, fr, fc], iw, src)
        tracker.check()
        return out, mask

    def _check_intruder(
        self,
        intruder: np.ndarray,
        fp_hw: tuple[int, int] | None,
        clip_shape: tuple[int, ...],
        size: tuple[int, int],
    ) -> None:
        """Raise unless ``intruder`` is what :meth:`sample_params` gives for this clip.

        ``fp_hw``: the footprint's ``(fh, fw)`` (``content="object"``), or None (window: any
        image size).
        """
        t, c = clip_shape[0], clip_shape[-1]
        lead = (t,) if intruder.ndim == 4 else ()
        if fp_hw is None:
            ok = intruder.ndim in (3, 4) and intruder.shape[: len(lead)] == lead
            ok = ok and intruder.shape[-1] == c and min(intruder.shape[-3:-1]) >= 1
            want = f"({'T=' + str(t) + ', ' if lead else ''}h, w, {c})"
        else:
            want = lead + (*fp_hw, c)
            ok = intruder.shape == want
        if not ok or intruder.dtype != np.uint8:
            raise InvalidParameterError(
                f"intruder must be uint8 {want} for size={list(size)}, content={self.content!r} "
                f"and a clip {tuple(clip_shape)}, got {intruder.dtype} {intruder.shape}"
            )

    def _picture(
        self,
        intruder: np.ndarray,
        hw: tuple[int, int],
        dtype: np.dtype,
        rows: tuple[int, int] | None = None,
        cols: tuple[int, int] | None = None,
    ) -> np.ndarray:
        """``content="window"``: the intruder stretched over the frame, ``rows`` x ``cols``.

        float32 in ``value_range`` for float32 clips, rounded uint8 for uint8 clips;
        ``(r, c, C)``, or ``(T, r, c, C)`` for a video intruder.
        """
        rng_ = self.value_range if dtype == np.float32 else None
        if intruder.ndim == 4:
            pic = np.stack([frame_content(f, hw, rng_, rows, cols) for f in intruder])
        else:
            pic = frame_content(intruder, hw, rng_, rows, cols)
        if dtype == np.float32:
            return pic
        return np.clip(np.rint(pic), 0, 255).astype(np.uint8)

    def _content(
        self,
        intruder: np.ndarray,
        fp: np.ndarray | None,
        out: np.ndarray | None = None,
        const: np.float32 | None = None,
    ) -> np.ndarray:
        """float32 ``w * intruder`` with the intruder mapped from [0, 255] to ``value_range``.

        ``w`` is the array ``fp`` (``(fh, fw)``), or the number ``const`` if ``fp`` is None
        (1 is left out: ``x * 1`` is ``x``, bit for bit).
        """
        lo, hi = self.value_range
        content = np.multiply(intruder, np.float32((hi - lo) / 255.0), out=out, dtype=np.float32)
        content += np.float32(lo)
        if fp is not None:
            content *= fp[..., None]
        elif const is not None and const != 1.0:
            content *= const
        return content

    def _apply_full_frames(
        self,
        clip: np.ndarray,
        py: np.ndarray | None,
        px: np.ndarray | None,
        fp_full: np.ndarray | None,
        intruder: np.ndarray,
        corners: list[tuple[int, int]],
        part: tuple[int, int, int, int],
    ) -> tuple[np.ndarray, LazyMask]:
        """float32 clips whose patch covers most of each frame: blend whole frames.

        The footprint is zero-padded to the union of the frames' windows, so every output
        frame is one ``clip * (1 - w) + w * src`` over the full frame (exact where w == 0),
        written straight from the input; the mask frame is the padded weights' window.
        The clip is checked (NaN/inf/range) a chunk of frames at a time just before those
        frames are blended, so it is read from memory once.
        """
        t, h, w, c = clip.shape
        fy0, fy1, fx0, fx1 = part
        out = np.empty(clip.shape, np.float32)
        # Padded grid in footprint coordinates: rows [gy0, gy0 + ph), cols [gx0, gx0 + pw).
        gy0 = min(-y for y, _ in corners)
        gx0 = min(-x for _, x in corners)
        ph = max(-y for y, _ in corners) - gy0 + h
        pw = max(-x for _, x in corners) - gx0 + w
        inner = (slice(fy0 - gy0, fy1 - gy0), slice(fx0 - gx0, fx1 - gx0))
        fp = np.zeros((ph, pw), np.float32)
        fp_in = _outer_part(py, px, fp_full, fy0, fy1, fx0, fx1, self.blend, out=fp[inner])
        temporal = intruder.ndim == 4
        window, scratch = self.content == "window", []
        if window:
            # w * picture per frame, below: the picture stays put while the weights move.
            content = self._picture(intruder, (h, w), np.float32)
        else:
            intr = intruder[..., fy0:fy1, fx0:fx1, :]
            content = np.zeros(((t,) if temporal else ()) + (ph, pw, c), np.float32)
            self._content(intr, fp_in, out=content[(...,) + inner + (slice(None),)])
        inv = 1.0 - fp
        if c > 1:  # OpenCV multiplies channel by channel: give it as many as the clip
            inv = np.repeat(inv[..., None], c, axis=2)
            src_v, out_v = clip, out
        else:  # 2-D views: OpenCV then sees one-channel images
            content, src_v, out_v = content[..., 0], clip[..., 0], out[..., 0]
        per = _chunk_frames(clip)
        tracker = _ExtremaTracker("clip", self.value_range)
        pieces: list[tuple[Any, np.ndarray]] = []
        for i0 in range(0, t, per):
            tracker.add(clip[i0 : i0 + per])
            for i in range(i0, min(i0 + per, t)):
                y, x = corners[i]
                win = (slice(-y - gy0, -y - gy0 + h), slice(-x - gx0, -x - gx0 + w))
                src = content[i] if temporal else content
                src = _weighted(src, fp[win], scratch) if window else src[win]
                _blend_exact(out_v[i], src_v[i], inv[win], src)
                pieces.append((i, fp[win]))
        tracker.check()
        return out, LazyMask((t, h, w), None, pieces)


def _chunk_frames(arr: np.ndarray) -> int:
    """Frames per chunk of about 512 KiB (as in :func:`~pseudoanom.validation.copy_checked`)."""
    return max(1, _CHUNK_BYTES // max(1, arr[0].nbytes))


def _as_albumentations(obj: Any) -> Any:
    """Validate ``intruder_transform``: None, an albumentations transform or its dict form."""
    if obj is None:
        return None
    try:
        import albumentations as A  # imported only when the parameter is used
    except ImportError as exc:  # pragma: no cover - albumentations is a dependency
        raise ImportError(
            f"intruder_transform needs albumentations, which cannot be imported: {exc}"
        ) from None
    if isinstance(obj, dict):
        try:
            obj = A.from_dict(obj)
        except Exception as exc:
            raise InvalidParameterError(
                f"intruder_transform dict is not an albumentations serialisation "
                f"(A.to_dict output): {exc!r}"
            ) from None
    if not isinstance(obj, (A.BasicTransform, A.BaseCompose)):
        raise TypeError(
            "intruder_transform must be an albumentations transform or Compose (or its "
            f"A.to_dict form), got {type(obj).__module__}.{type(obj).__qualname__}"
        )
    return obj


def _weighted(src: np.ndarray, wgt: np.ndarray, scratch: list[np.ndarray]) -> np.ndarray:
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


def _least_overlap(corners: list[tuple[int, int]], fh: int, fw: int, h: int, w: int) -> int:
    """Smallest number of frame pixels an ``(fh, fw)`` footprint at ``corners`` covers."""
    return min((min(y + fh, h) - max(y, 0)) * (min(x + fw, w) - max(x, 0)) for y, x in corners)


def _constant_weight(
    py: np.ndarray | None, px: np.ndarray | None, fp_full: np.ndarray | None, blend: float
) -> np.float32 | None:
    """The footprint's one weight (``1 * 1 * blend``) if both profiles are all ones, else None."""
    if fp_full is not None or py is None or px is None:
        return None
    if py.min() != 1.0 or py.max() != 1.0 or px.min() != 1.0 or px.max() != 1.0:
        return None
    return np.float32(blend)


def _window_blend(const: np.float32 | None) -> Callable[[np.ndarray, np.ndarray, np.ndarray], Any]:
    """``f(dst, inv, src)`` setting the float32 window ``dst`` to ``dst * inv + src`` in place.

    ``src`` is ``w * intruder`` and ``inv`` is ``1 - w``. Every variant gives the same bits as
    ``cv2.multiply`` then ``cv2.add`` (two roundings), which is also what it does in general;
    a footprint of one weight ``const`` (see :func:`_constant_weight`) takes a shortcut:

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
    return lambda dst, inv, src: _blend_exact(dst, dst, inv, src)


def _blend_exact(dst: np.ndarray, clip: np.ndarray, inv: np.ndarray, content: np.ndarray) -> None:
    """``dst = clip * inv + content`` in two roundings (a multiply, then an add), in place.

    The one float32 blend of the patch transforms (``inv = 1 - w``, ``content = w * src``);
    ``dst`` may be ``clip``. OpenCV writes strided windows directly and is about twice as fast
    as NumPy's in-place ufuncs there; it has no exact one-pass form (its fused ops round once).
    """
    cv2.multiply(clip, inv, dst=dst)
    cv2.add(dst, content, dst=dst)


def _outer_part(
    py: np.ndarray | None,
    px: np.ndarray | None,
    fp_full: np.ndarray | None,
    fy0: int,
    fy1: int,
    fx0: int,
    fx1: int,
    blend: float,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Rows ``[fy0, fy1)`` and columns ``[fx0, fx1)`` of the footprint, times ``blend``.

    Written into ``out`` if given (a view is fine), else a new array (or a view of
    ``fp_full`` when ``blend == 1``).
    """
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


def _clone(rng: np.random.Generator) -> np.random.Generator:
    """A copy of ``rng`` in its current state (same draws, without advancing ``rng``)."""
    bit = type(rng.bit_generator)()
    bit.state = rng.bit_generator.state
    return np.random.Generator(bit)


@register("smoothmix_s")
class SmoothMixS(PatchTransform):
    """SmoothMix "square" patch (the paper's default patch pseudo anomaly).

    A rectangle of intruder content, 1 inside the box, whose border ramps linearly to 0 over
    10 % of the half-size outside the box, so the network cannot latch onto sharp edges.
    See :class:`PatchTransform` for the parameters (paper: alpha=0.5, beta=10).
    """

    def footprint(
        self, size: tuple[int, int], hw: tuple[int, int]
    ) -> tuple[np.ndarray, tuple[int, int]]:
        return masks.smoothmix_square(size[0], size[1], 0.1)

    def profiles(
        self, size: tuple[int, int], hw: tuple[int, int]
    ) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
        return masks.square_profiles(size[0], size[1], 0.1)


@register("smoothmix_c")
class SmoothMixC(PatchTransform):
    """SmoothMix "circle" patch: a separable Gaussian mask.

    Its sigmas ``(sy, sx)`` are drawn like the box size of the other patches (``size``
    holds them), so with alpha = 0.5 a blob can cover most of the frame, as in the paper.
    See :class:`PatchTransform` for the parameters.
    """

    def footprint(
        self, size: tuple[int, int], hw: tuple[int, int]
    ) -> tuple[np.ndarray, tuple[int, int]]:
        return masks.smoothmix_circle(size[0], size[1], (hw[0] - 1, hw[1] - 1))

    def profiles(
        self, size: tuple[int, int], hw: tuple[int, int]
    ) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
        return masks.circle_profiles(size[0], size[1], (hw[0] - 1, hw[1] - 1))


@register("cutmix")
class CutMix(PatchTransform):
    """CutMix patch: a hard-edged rectangle of intruder content (mask 1 in the box).

    See :class:`PatchTransform` for the parameters.
    """

    def footprint(
        self, size: tuple[int, int], hw: tuple[int, int]
    ) -> tuple[np.ndarray, tuple[int, int]]:
        return masks.box(size[0], size[1])

    def profiles(
        self, size: tuple[int, int], hw: tuple[int, int]
    ) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
        return masks.box_profiles(size[0], size[1])


@register("mixup_patch")
class MixUpPatch(CutMix):
    """MixUp patch: the CutMix rectangle blended 50/50 with the original pixels.

    The mask is 0.5 inside the rectangle (the intruder's weight). See :class:`PatchTransform`.
    """

    blend = 0.5


@register("skip_frame")
class SkipFrame(Transform):
    """Skip-frame pseudo anomaly: the same start, frames taken every ``s``-th frame.

    From a video of K frames and a start n, the pseudo anomaly is
    ``(I_n, I_{n+s}, ..., I_{n+(T-1)s})`` with ``s`` drawn uniformly from ``steps``, and its
    target is the normal clip ``(I_n, ..., I_{n+T-1})``. As in the authors' loader, ``s`` is
    kept whatever the requested start: if it does not fit after n, a new start is drawn
    uniformly among those where it fits, and the target moves with it, so ``s`` stays uniform
    over ``steps``. Only a step that fits nowhere in the video (K < (T - 1) s + 1) is never
    drawn: ``s`` is then uniform over the steps that fit. Frames are never repeated. The mask
    is 1 on frames 1..T-1 and 0 on frame 0.

    Parameters
    ----------
    steps : sequence of int
        Candidate skips, each >= 2 (paper: (2, 3, 4, 5)).
    value_range : tuple of float
        ``(lo, hi)`` of float32 videos (only checked: frames are copied, never blended).
    """

    needs_video = True

    def __init__(
        self,
        steps: tuple[int, ...] = (2, 3, 4, 5),
        value_range: tuple[float, float] = (-1.0, 1.0),
    ) -> None:
        if isinstance(steps, (int, np.integer)):
            steps = (steps,)
        try:
            steps = tuple(sorted({check_positive_int(s, "steps", minimum=2) for s in steps}))
        except TypeError:
            raise InvalidParameterError(
                f"steps must be a sequence of ints, got {steps!r}"
            ) from None
        if not steps:
            raise InvalidParameterError("steps must hold at least one skip >= 2")
        self.steps = steps
        self.value_range = check_value_range(value_range)

    def sample_params(
        self,
        shape: tuple[int, ...],
        rng: np.random.Generator,
        start: int = 0,
        length: int = 16,
    ) -> dict[str, Any]:
        """Draw the skip for a video of ``shape`` ``(K, H, W, C)`` and a requested start.

        Returns
        -------
        dict
            ``start`` (the actual n, moved if needed), ``step`` (the actual s), ``length`` (T).

        Raises
        ------
        InvalidClipError
            Even the smallest step cannot fit T frames in K, anywhere.
        """
        k = check_shape(shape)[0]
        length = check_positive_int(length, "length", minimum=2)
        start = check_positive_int(start, "start", minimum=0)
        if start >= k:
            raise InvalidClipError(f"start={start} is outside a video of K={k} frames")
        smallest = self.steps[0]
        if (length - 1) * smallest + 1 > k:
            raise InvalidClipError(
                f"video too short for skip_frame: K={k} frames cannot hold T={length} frames "
                f"at the smallest step s={smallest} (needs {(length - 1) * smallest + 1})"
            )
        fits = [x for x in self.steps if (length - 1) * x + 1 <= k]  # somewhere in the video
        s = fits[int(rng.integers(len(fits)))]
        if start + (length - 1) * s > k - 1:  # keep s, move the start (authors' loader)
            start = int(rng.integers(k - (length - 1) * s))
        return {"start": start, "step": s, "length": length}

    def apply(
        self, video: np.ndarray, start: int, step: int, length: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Gather ``video[start + t * step]`` for t < length (pure).

        Parameters
        ----------
        video : numpy.ndarray
            ``(K, H, W, C)`` uint8 or float32 (note: the video, not a clip).
        start, step, length : int
            As returned by :meth:`sample_params`.

        Returns
        -------
        clip : numpy.ndarray
            ``(length, H, W, C)``, a copy.
        mask : numpy.ndarray
            float32 ``(length, H, W)``: 0 for frame 0, 1 for the others.
        """
        clip, mask = self._gather(video, start, step, length)
        return clip, mask.build()

    def _gather(
        self, video: np.ndarray, start: int, step: int, length: int
    ) -> tuple[np.ndarray, LazyMask]:
        """:meth:`apply` with the mask as a :class:`LazyMask`."""
        check_video(video)
        last = start + (length - 1) * step
        if start < 0 or step < 1 or length < 1 or last >= video.shape[0]:
            raise InvalidClipError(
                f"skip_frame needs frame {last} (start={start}, step={step}, length={length}) "
                f"but the video has K={video.shape[0]} frames"
            )
        clip = copy_checked(video[start : last + 1 : step], "video", self.value_range)
        mask = LazyMask((length, *video.shape[1:3]), None, [(0, 0.0), (slice(1, None), 1.0)])
        return clip, mask

    def from_video(
        self,
        video: np.ndarray,
        start: int,
        length: int = 16,
        *,
        rng: np.random.Generator | int,
    ) -> PseudoAnomaly:
        """Skip-frame pseudo anomaly from ``video`` starting at ``start``.

        Parameters
        ----------
        video : numpy.ndarray
            ``(K, H, W, C)`` uint8 or float32 (in ``value_range``).
        start : int
            Requested first frame (0 <= start <= K - length); may move, see the class doc.
        length : int
            T (>= 2).
        rng : numpy.random.Generator or int
            Source of randomness.

        Returns
        -------
        PseudoAnomaly
            ``params`` holds the actual ``start`` and ``step``; ``target`` is
            ``video[start : start + length]`` for that start (a view).
        """
        _video_clip(video, start, length, self.value_range, check_values=False)
        rng = as_generator(rng)
        params = self.sample_params(video.shape, rng, start=start, length=length)
        if type(self).apply is SkipFrame.apply:
            clip, mask = self._gather(video, **params)  # checks the frames it gathers
        else:  # a subclass replaced apply: use it
            clip, mask = self.apply(video, **params)
        n, s = params["start"], params["step"]
        target = video[n : n + length]
        if target.dtype == np.float32:
            # The target's frames n + k * s are in the clip, already checked by apply: read
            # only the others (offsets not a multiple of s), as strided views, no gather.
            tracker = _ExtremaTracker("video", self.value_range)
            for r in range(1, min(s, length)):
                tracker.add(video[n + r : n + length : s])  # NaN: the same error as below
            if not tracker.ok():  # the whole check gives the usual error and message
                check_finite_range(target[1:], "video", self.value_range)
        return PseudoAnomaly(clip=clip, target=target, mask=mask, label=1, params=params)
