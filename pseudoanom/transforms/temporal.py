"""Temporal pseudo anomalies: the paper's ``skip_frame`` (Sec. 3.3), and ``reverse`` and
``freeze`` (beyond the paper)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InvalidClipError, InvalidParameterError
from ..result import LazyMask, PseudoAnomaly
from ..validation import (
    ExtremaTracker,
    as_generator,
    check_clip,
    check_finite_range,
    check_positive_int,
    check_shape,
    check_value_range,
    check_video,
    copy_checked,
)
from .base import Transform, video_clip

__all__ = ["SkipFrame", "Reverse", "Freeze"]


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

    name = "skip_frame"
    needs_video = True

    def __init__(
        self,
        steps: tuple[int, ...] = (2, 3, 4, 5),
        value_range: tuple[float, float] = (-1.0, 1.0),
    ) -> None:
        if isinstance(steps, (int, np.integer)):
            steps = (steps,)
        if isinstance(steps, (str, bytes)):  # iterating it would report one character
            raise InvalidParameterError(f"steps must be a sequence of ints, got {steps!r}")
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
        video_clip(video, start, length, self.value_range, check_values=False)
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
            tracker = ExtremaTracker("video", self.value_range)
            for r in range(1, min(s, length)):
                tracker.add(video[n + r : n + length : s])  # NaN: the same error as below
            if not tracker.ok():  # the whole check gives the usual error and message
                check_finite_range(target[1:], "video", self.value_range)
        return PseudoAnomaly(clip=clip, target=target, mask=mask, label=1, params=params)


def _frame_mask(shape: tuple[int, ...], changed: np.ndarray) -> np.ndarray:
    """float32 ``(T, H, W)`` mask: 1 on the frames where ``changed`` (bool ``(T,)``), else 0."""
    mask = np.zeros(shape[:3], np.float32)
    mask[changed] = 1.0
    return mask


class Reverse(Transform):
    """Moving-backward pseudo anomaly: the clip, or a segment of it, played in reverse.

    From Astrid, Zaheer and Lee, "Limiting Reconstruction Capability of Autoencoders Using
    Moving Backward Pseudo Anomalies" (2022), where the whole clip runs backward: what moves
    forward in normal video moves backward (walking backward, reversed traffic). With
    ``segment=True`` (ours, beyond the paper) only a random contiguous run of frames is
    reversed, ``min_frames`` to T long, and the rest of the clip plays forward.

    The mask is per frame: 1 where the frame shown is not the clip's own (the middle frame of
    an odd-length reversed run stays in place: 0).

    Parameters
    ----------
    segment : bool
        False (the paper): reverse the whole clip. True: a random segment.
    min_frames : int
        Shortest reversed segment (>= 2), capped at T; only used with ``segment=True``.
    value_range : tuple of float
        ``(lo, hi)`` of float32 clips (only checked: frames are reordered, never blended).
    """

    name = "reverse"

    def __init__(
        self,
        segment: bool = False,
        min_frames: int = 2,
        value_range: tuple[float, float] = (-1.0, 1.0),
    ) -> None:
        if not isinstance(segment, (bool, np.bool_)):
            raise InvalidParameterError(f"segment must be True or False, got {segment!r}")
        self.segment = bool(segment)
        self.min_frames = check_positive_int(min_frames, "min_frames", minimum=2)
        self.value_range = check_value_range(value_range)

    def sample_params(self, shape: tuple[int, ...], rng: np.random.Generator) -> dict[str, Any]:
        """``start`` and ``stop`` of the reversed frames (0 and T without ``segment``)."""
        t = check_shape(shape)[0]
        if not self.segment:
            return {"start": 0, "stop": t}
        length = int(rng.integers(min(self.min_frames, t), t + 1))
        start = int(rng.integers(t - length + 1))
        return {"start": start, "stop": start + length}

    def apply(self, clip: np.ndarray, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Frames ``start .. stop - 1`` in reverse order (pure).

        Returns
        -------
        clip : numpy.ndarray
            Same shape and dtype, a copy.
        mask : numpy.ndarray
            float32 ``(T, H, W)``: 1 on the frames that moved, else 0.
        """
        check_clip(clip, allow_batch=False, check_values=False)
        t = clip.shape[0]
        if not 0 <= start <= stop <= t:
            raise InvalidParameterError(f"need 0 <= start <= stop <= T={t}, got {start}, {stop}")
        order = np.arange(t)
        order[start:stop] = order[start:stop][::-1]
        out = copy_checked(clip[order], "clip", self.value_range)
        return out, _frame_mask(clip.shape, order != np.arange(t))


class Freeze(Transform):
    """Freeze pseudo anomaly: one frame held for k frames, then the clip resumes (a stall).

    Frame ``i`` (uniform over the clip's frames but the last) is shown ``k`` times, k drawn
    uniformly from ``hold``; the clip then resumes from frame ``i + 1``, late by ``k - 1``
    frames, as a stalled camera or a buffering stream does, and the clip's last ``k - 1``
    frames are not shown. Temporal like the skip frame (Sec. 3.3 of Astrid et al., BMVC
    2021), but it slows the motion down to a stop where skip frame speeds it up; ours,
    beyond the paper. (``examples/custom_transform.py``'s ``frame_freeze`` differs: it
    repeats frames in place and skips ahead after, dropping the frames of the stall.)

    The mask is per frame: 1 from the first repeat on (every later frame is another frame
    than the clip's own), 0 before.

    Parameters
    ----------
    hold : tuple of int
        ``(lo, hi)``: inclusive range of k, the frames the held frame is shown for, 2 <= lo
        <= hi; capped at T.
    value_range : tuple of float
        ``(lo, hi)`` of float32 clips (only checked: frames are copied, never blended).
    """

    name = "freeze"

    def __init__(
        self,
        hold: tuple[int, int] = (4, 8),
        value_range: tuple[float, float] = (-1.0, 1.0),
    ) -> None:
        try:
            lo, hi = (check_positive_int(k, "hold", minimum=2) for k in hold)
        except (TypeError, ValueError):
            raise InvalidParameterError(
                f"hold must be a pair (lo, hi) of ints with 2 <= lo <= hi, got {hold!r}"
            ) from None
        if lo > hi:
            raise InvalidParameterError(f"hold must satisfy lo <= hi, got ({lo}, {hi})")
        self.hold = (lo, hi)
        self.value_range = check_value_range(value_range)

    def sample_params(self, shape: tuple[int, ...], rng: np.random.Generator) -> dict[str, Any]:
        """``frame`` (i, the held frame) and ``hold`` (k) for a clip of ``shape``."""
        t = check_shape(shape)[0]
        if t < 2:
            raise InvalidClipError(f"freeze needs a clip of at least 2 frames, got T={t}")
        lo, hi = min(self.hold[0], t), min(self.hold[1], t)
        k = int(rng.integers(lo, hi + 1))
        return {"frame": int(rng.integers(t - 1)), "hold": k}

    def apply(self, clip: np.ndarray, frame: int, hold: int) -> tuple[np.ndarray, np.ndarray]:
        """Frames ``0..i``, frame i ``k - 1`` more times, then ``i + 1, ...`` to length T."""
        check_clip(clip, allow_batch=False, check_values=False)
        t = clip.shape[0]
        if not (0 <= frame < t and hold >= 1):
            raise InvalidParameterError(f"need 0 <= frame < T={t} and hold >= 1")
        order = np.arange(t)
        order[frame + 1 :] = np.maximum(frame, order[frame + 1 :] - (hold - 1))
        out = copy_checked(clip[order], "clip", self.value_range)
        return out, _frame_mask(clip.shape, order != np.arange(t))
