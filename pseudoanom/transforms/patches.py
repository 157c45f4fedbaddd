"""Patch pseudo anomalies (Sec. 3.2 of Astrid et al., BMVC 2021).

``smoothmix_s``, ``smoothmix_c``, ``cutmix`` and ``mixup_patch`` share one class,
:class:`PatchTransform`: it draws the patch (size, random walk of its centre, intruder) and
blends it in; a subclass only says what the mask looks like (:meth:`~PatchTransform.profiles`
or :meth:`~PatchTransform.footprint`) and how much of the intruder shows (``blend``). The
array work itself is in :mod:`pseudoanom.transforms.functional`.
"""

from __future__ import annotations

import copy
import math
import os
import threading
from typing import Any, ClassVar

import numpy as np

from .. import masks
from ..errors import InvalidParameterError
from ..intruders import IntruderSource, as_source, convert_channels, crop_flip, fit_intruder
from ..result import LazyMask, build_mask
from ..validation import (
    check_alpha,
    check_beta,
    check_clip,
    check_positive_int,
    check_range_pair,
    check_shape,
    check_value_range,
    copy_checked,
)
from . import functional as F
from .base import Transform, to_builtin

__all__ = [
    "PatchTransform",
    "SmoothMixS",
    "SmoothMixC",
    "CutMix",
    "MixUpPatch",
    "NoisePatch",
    "smooth_noise",
    "PATCH_CONTENTS",
]

# Where a patch's pixels come from (see PatchTransform): the paper's window over an intruder
# stretched to the frame, or our variant, an intruder crop that travels with the patch.
PATCH_CONTENTS = ("window", "object")


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
        self.intruder_transform = as_albumentations(intruder_transform)
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

            params["intruder_transform"] = to_builtin(A.to_dict(self.intruder_transform))
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
    ) -> tuple[F.Profiles, tuple[int, int], tuple[int, int]]:
        """``((py, px, fp), centre, (fh, fw))``: the profiles (``fp`` None) or the footprint."""
        prof = self.profiles(size, hw)
        if prof is not None:
            py, px, centre = prof
            return (py, px, None), centre, (len(py), len(px))
        fp, centre = self.footprint(size, hw)
        return (None, None, fp), centre, fp.shape[:2]

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
        start = int(rng.integers(h)), int(rng.integers(w))
        centers = F.random_walk(rng, start, t, math.floor(self.beta), (h, w))
        fp_shape = self._footprint_parts((size[0], size[1]), (h, w))[2]
        aug = self.intruder_transform is not None
        if self.intruders.temporal:
            seq = self.intruders.sample_sequence(rng, t)
            if aug:  # the same augmentation draws for every frame of the sequence
                seed = int(rng.integers(2**32))
                seq = [self._augment(f, seed) for f in seq]
            # One crop/flip for the whole sequence: each frame replays the same draws.
            crop_rng = np.random.default_rng(int(rng.integers(2**63)))
            intr = np.stack([self._fit(f, fp_shape, c, F.clone_rng(crop_rng)) for f in seq])
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

    def apply_lazy(
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
        t, h, w, _ = clip.shape
        size = (int(size[0]), int(size[1]))
        profiles, (oy, ox), (fh, fw) = self._footprint_parts(size, (h, w))
        centers = np.asarray(centers)
        if centers.shape != (t, 2):
            raise InvalidParameterError(f"centers must have shape ({t}, 2), got {centers.shape}")
        intruder = np.asarray(intruder)
        temporal = intruder.ndim == 4
        window = self.content == "window"
        self._check_intruder(intruder, None if window else (fh, fw), clip.shape, size)
        # Top-left corner of the footprint in each frame, and the part of it some frame sees.
        corners = [(cy - oy, cx - ox) for cy, cx in centers.astype(np.int64).tolist()]
        seen = F.seen_part(corners, fh, fw, (h, w))
        if seen is None:
            return copy_checked(clip, "clip", self.value_range), LazyMask((t, h, w), 0.0, [])
        # Wide footprints (smoothmix_c) cover most of every frame: there, blending each whole
        # frame straight from the input (zero weight outside the patch) beats copying the clip
        # and blending again in place, and the mask needs no separate zero fill.
        if clip.dtype == np.float32 and seen.frames == t and 2 * seen.least >= h * w:
            return self._blend_full_frames(clip, profiles, intruder, corners, seen.part)
        # The 4 MiB output first: the small temporaries below then come from elsewhere in the
        # heap, so the big block is reused call after call (cache and TLB warm).
        out = np.empty(clip.shape, clip.dtype)
        ops = F.window_ops(corners, fh, fw, (h, w), seen)
        if window:
            # The frame-sized intruder, only over the rows and columns some window covers.
            r0, r1 = min(op[1].start for op in ops), max(op[1].stop for op in ops)
            c0, c1 = min(op[2].start for op in ops), max(op[2].stop for op in ops)
            origin: tuple[int, int] | None = (r0, c0)
            content = F.window_picture(
                intruder, (h, w), clip.dtype, self.value_range, (r0, r1), (c0, c1)
            )
        else:
            fy0, fy1, fx0, fx1 = seen.part
            origin, content = None, intruder[..., fy0:fy1, fx0:fx1, :]
        # The mask: zero but for each frame's window of weights (built only if it is read).
        pieces: list[tuple[Any, np.ndarray | float]] = []
        mask = LazyMask((t, h, w), 0.0, pieces)
        if clip.dtype != np.float32:
            fp = F.outer_part(profiles, seen.part, self.blend)
            F.blend_uint8_windows(out, clip, ops, fp, content, temporal, origin, pieces)
            return out, mask
        weights = F.float_weights(profiles, seen.part, self.blend)
        fp, _, _, const = weights
        if not window:  # w * src once; for a window picture, per window (unless w is one number)
            content = F.intruder_content(content, self.value_range, fp, const=const)
        elif const is not None and const != 1.0:
            content = content * const
        F.blend_float_windows(
            out, clip, ops, weights, content, temporal, origin, self.value_range, pieces
        )
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

    def _blend_full_frames(
        self,
        clip: np.ndarray,
        profiles: F.Profiles,
        intruder: np.ndarray,
        corners: list[tuple[int, int]],
        part: tuple[int, int, int, int],
    ) -> tuple[np.ndarray, LazyMask]:
        """float32 clips whose patch covers most of each frame: blend whole frames.

        The footprint is zero-padded to the union of the frames' windows, so every output
        frame is one ``clip * (1 - w) + w * src`` over the full frame (exact where w == 0),
        written straight from the input; the mask frame is the padded weights' window.
        """
        t, h, w, c = clip.shape
        fy0, fy1, fx0, fx1 = part
        out = np.empty(clip.shape, np.float32)
        grid, inner, windows = F.full_frame_grid(corners, part, (h, w))
        fp = np.zeros(grid, np.float32)
        fp_in = F.outer_part(profiles, part, self.blend, out=fp[inner])
        window = self.content == "window"
        if window:  # w * picture per frame, in the blend: the picture stays put, w moves
            content = F.window_picture(intruder, (h, w), np.float32, self.value_range)
        else:
            lead = (t,) if intruder.ndim == 4 else ()
            content = np.zeros(lead + grid + (c,), np.float32)
            F.intruder_content(
                intruder[..., fy0:fy1, fx0:fx1, :],
                self.value_range,
                fp_in,
                out=content[(...,) + inner + (slice(None),)],
            )
        pieces: list[tuple[Any, np.ndarray]] = []
        F.blend_full_frames(out, clip, fp, content, windows, window, self.value_range, pieces)
        return out, LazyMask((t, h, w), None, pieces)


def as_albumentations(obj: Any) -> Any:
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


class SmoothMixS(PatchTransform):
    """SmoothMix "square" patch (the paper's default patch pseudo anomaly).

    A rectangle of intruder content, 1 inside the box, whose border ramps linearly to 0 over
    10 % of the half-size outside the box, so the network cannot latch onto sharp edges.
    See :class:`PatchTransform` for the parameters (paper: alpha=0.5, beta=10).
    """

    name = "smoothmix_s"

    def footprint(
        self, size: tuple[int, int], hw: tuple[int, int]
    ) -> tuple[np.ndarray, tuple[int, int]]:
        return masks.smoothmix_square(size[0], size[1], 0.1)

    def profiles(
        self, size: tuple[int, int], hw: tuple[int, int]
    ) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
        return masks.square_profiles(size[0], size[1], 0.1)


class SmoothMixC(PatchTransform):
    """SmoothMix "circle" patch: a separable Gaussian mask.

    Its sigmas ``(sy, sx)`` are drawn like the box size of the other patches (``size``
    holds them), so with alpha = 0.5 a blob can cover most of the frame, as in the paper.
    See :class:`PatchTransform` for the parameters.
    """

    name = "smoothmix_c"

    def footprint(
        self, size: tuple[int, int], hw: tuple[int, int]
    ) -> tuple[np.ndarray, tuple[int, int]]:
        return masks.smoothmix_circle(size[0], size[1], (hw[0] - 1, hw[1] - 1))

    def profiles(
        self, size: tuple[int, int], hw: tuple[int, int]
    ) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
        return masks.circle_profiles(size[0], size[1], (hw[0] - 1, hw[1] - 1))


class CutMix(PatchTransform):
    """CutMix patch: a hard-edged rectangle of intruder content (mask 1 in the box).

    See :class:`PatchTransform` for the parameters.
    """

    name = "cutmix"

    def footprint(
        self, size: tuple[int, int], hw: tuple[int, int]
    ) -> tuple[np.ndarray, tuple[int, int]]:
        return masks.box(size[0], size[1])

    def profiles(
        self, size: tuple[int, int], hw: tuple[int, int]
    ) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
        return masks.box_profiles(size[0], size[1])


class MixUpPatch(CutMix):
    """MixUp patch: the CutMix rectangle blended 50/50 with the original pixels.

    The mask is 0.5 inside the rectangle (the intruder's weight). See :class:`PatchTransform`.
    """

    name = "mixup_patch"
    blend = 0.5


def smooth_noise(rng: np.random.Generator, size: int, octaves: int) -> np.ndarray:
    """Perlin-like value noise, uint8 ``(size, size, 3)`` spanning [0, 255].

    ``octaves`` random grids (3, 5, 9, ... points a side) are each interpolated to ``size``
    with the smoothstep fade of value/Perlin noise (corners aligned) and summed with halving
    weights. NumPy only, so the bits are the same on every machine; all randomness comes
    from ``rng``.
    """
    pos = np.linspace(0.0, 1.0, size)
    acc = np.zeros((size, size, 3), np.float64)
    for o in range(octaves):
        cells = 2 ** (o + 1)
        grid = rng.random((cells + 1, cells + 1, 3))
        x = pos * cells
        i0 = np.minimum(x.astype(np.intp), cells - 1)
        f = x - i0
        f = f * f * (3.0 - 2.0 * f)  # smoothstep fade
        rows = grid[i0] + (grid[i0 + 1] - grid[i0]) * f[:, None, None]
        acc += (rows[:, i0] + (rows[:, i0 + 1] - rows[:, i0]) * f[None, :, None]) * 0.5**o
    lo, hi = acc.min(), acc.max()
    return np.rint((acc - lo) * (255.0 / max(hi - lo, 1e-9))).astype(np.uint8)


class _NoiseIntruders(IntruderSource):
    """A fresh smooth-noise image per draw (what :class:`NoisePatch` blends in)."""

    kind = "smooth_noise"

    def __init__(self, size: int, octaves: int) -> None:
        self.size, self.octaves = size, octaves

    def __len__(self) -> int:
        return 0  # nothing to decode or check: every draw is generated

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        return smooth_noise(rng, self.size, self.octaves)

    def _init_args(self) -> dict[str, Any]:
        return {"size": self.size, "octaves": self.octaves}


class NoisePatch(SmoothMixS):
    """Noise patch: smooth (Perlin-like) noise blended in a moving SmoothMix-square region.

    After anomalib's ``PerlinAnomalyGenerator`` (Perlin noise as a synthetic anomaly for
    images) and DDL (2024, noise inside object masks), moved to video with this library's
    patch machinery: the region is :class:`SmoothMixS`'s soft-edged box with its size drawn
    from ``alpha`` and its centre's random walk from ``beta`` (Eq. 6); its content is a new
    noise image per pseudo anomaly (sum of ``octaves`` interpolated random grids, stretched to
    [0, 255]), resized to the box and carried with it like ``content="object"``. It imitates
    texture that belongs to no object of the scene (a smudge, glare, a flicker) rather than
    a foreign object. Ours, beyond the paper.

    Parameters
    ----------
    alpha, beta, min_size, value_range
        As for :class:`PatchTransform` (defaults the paper's SmoothMix-S settings).
    octaves : int
        Noise octaves, 1..6 (1: one smooth blob; more: finer detail on top).
    noise_size : int
        Side of the generated noise image before it is resized to the patch, >= 8.
    """

    name = "noise_patch"

    def __init__(
        self,
        alpha: float = 0.5,
        beta: float = 10.0,
        min_size: int = 10,
        octaves: int = 4,
        noise_size: int = 64,
        value_range: tuple[float, float] = (-1.0, 1.0),
    ) -> None:
        self.octaves = check_positive_int(octaves, "octaves")
        if self.octaves > 6:
            raise InvalidParameterError(f"octaves must be in 1..6, got {octaves}")
        self.noise_size = check_positive_int(noise_size, "noise_size", minimum=8)
        super().__init__(
            alpha=alpha,
            beta=beta,
            intruders=_NoiseIntruders(self.noise_size, self.octaves),
            min_size=min_size,
            crop_scale=(1.0, 1.0),
            hflip=False,
            value_range=value_range,
            content="object",
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form: only the parameters of ``__init__`` (no intruders)."""
        return Transform.to_dict(self)
