"""The :class:`Transform` base: seeding, batches, ``from_video`` and serialisation.

A transform is a small class: validated parameters in ``__init__``, a
:meth:`~Transform.sample_params` that draws everything random from the one Generator passed in,
and a pure, deterministic :meth:`~Transform.apply` that replays those parameters. This base adds
the rest: calls on a clip or a batch, :meth:`~Transform.from_video`, and the plain-data form
(``to_dict``; the registry name plus the constructor arguments).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..errors import InvalidClipError
from ..intruders import IntruderSource
from ..result import LazyMask, PseudoAnomaly, stack_results
from ..validation import (
    as_generator,
    check_clip,
    check_finite_range,
    check_positive_int,
    check_video,
    init_arg_names,
)

__all__ = ["Transform", "to_builtin", "video_clip"]


def to_builtin(value: Any) -> Any:
    """Make a constructor argument YAML/JSON safe (tuples -> lists, sources -> dicts)."""
    if isinstance(value, IntruderSource):
        return value.to_dict()
    if isinstance(value, (tuple, list)):
        return [to_builtin(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_builtin(v) for k, v in value.items()}
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

    def apply_lazy(
        self, clip: np.ndarray, params: dict[str, Any]
    ) -> tuple[np.ndarray, np.ndarray | LazyMask]:
        """:meth:`apply`, except that the mask may come back as a :class:`LazyMask`.

        What ``__call__``, ``from_video`` and ``Pipeline`` use: :class:`PseudoAnomaly` builds
        the mask only if it is read. The default simply calls :meth:`apply`; a subclass
        overrides it only to describe its mask without building it.
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
            check_clip(clip, check_values=False)  # an empty clip says so first
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
        out, mask = self.apply_lazy(clip, params)
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
        clip = video_clip(video, start, length, self.value_range, not self.checks_values)
        return self._one(clip, as_generator(rng))

    def prepare(self) -> Transform:
        """Decode and check the intruder sources this transform draws from (see
        :meth:`IntruderSource.prepare <pseudoanom.intruders.IntruderSource.prepare>`).

        Any constructor argument that is an intruder source counts, in a plug-in's transform
        too. Returns ``self``; raises ``IntruderSourceError`` naming a bad file.
        """
        for value in self.get_init_args().values():
            if isinstance(value, IntruderSource):
                value.prepare()
        return self

    def get_init_args(self) -> dict[str, Any]:
        """Constructor arguments of this instance, keyed by parameter name."""
        return {k: getattr(self, k) for k in init_arg_names(type(self))}

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form ``{"name": ..., "params": {...}}``, see :func:`pseudoanom.from_dict`."""
        if not self.name:
            raise TypeError(f"{type(self).__name__} is not registered: use @pseudoanom.register")
        return {"name": self.name, "params": to_builtin(self.get_init_args())}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_init_args().items())
        return f"{type(self).__name__}({args})"


def video_clip(
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
