"""``Pipeline``: with probability p one weighted pseudo anomaly, else the normal clip."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from . import registry
from .errors import InvalidParameterError
from .result import PseudoAnomaly, mask_source, stack_results
from .transforms import Transform
from .transforms.base import video_clip
from .validation import (
    as_generator,
    check_clip,
    check_finite_range,
    check_probability,
)

__all__ = ["Pipeline"]


class Pipeline:
    """Apply, with probability ``p``, one pseudo anomaly drawn from weighted transforms.

    Otherwise the normal clip is returned as its own target (label 0, zero mask), which is
    the training scheme of the paper (Eq. 4/5): with probability p the model sees a pseudo
    anomaly and must reconstruct the normal clip, else it reconstructs the normal clip.

    Parameters
    ----------
    transforms : sequence of Transform, str or dict
        The candidates; names are built with :func:`pseudoanom.create` defaults and dicts
        with :func:`pseudoanom.from_dict`. Patch and skip-frame transforms may be mixed.
    weights : sequence of float, optional
        Relative weights (>= 0, not all 0), one per transform; default equal.
    p : float
        Probability of a pseudo anomaly, in [0, 1] (paper: 0.2).

    Raises
    ------
    InvalidParameterError
        Empty ``transforms``, bad ``weights``, ``p`` outside [0, 1], or transforms whose
        ``value_range`` differ.
    """

    def __init__(
        self,
        transforms: Sequence[Transform | str | dict],
        weights: Sequence[float] | None = None,
        p: float = 0.2,
    ) -> None:
        if isinstance(transforms, (Transform, str, dict)) or not isinstance(transforms, Sequence):
            raise InvalidParameterError(
                f"transforms must be a list of transforms, got {type(transforms).__name__}"
            )
        if not transforms:
            raise InvalidParameterError("transforms must hold at least one transform")
        self.transforms: list[Transform] = [
            _built(f"transforms[{i}]", t) for i, t in enumerate(transforms)
        ]
        self.weights = _check_weights(weights, len(self.transforms), "weights")
        self._probs = np.asarray(self.weights) / sum(self.weights)
        self.p = check_probability(p)
        ranges = {tuple(t.value_range) for t in self.transforms}
        if len(ranges) > 1:
            raise InvalidParameterError(
                f"all transforms of a pipeline must share one value_range, got {sorted(ranges)}"
            )
        self.value_range: tuple[float, float] = ranges.pop()
        self.needs_video = any(t.needs_video for t in self.transforms)

    def prepare(self) -> Pipeline:
        """Decode and check every intruder source of the pipeline now (:meth:`Transform.prepare`).

        Sources decode lazily; a training loop calls this once where it builds the pipeline,
        so a corrupt or unreadable intruder file fails there with the one-line
        ``IntruderSourceError`` that ``pseudoanom preview`` gives, not at some later draw
        inside the input pipeline.

        Returns
        -------
        Pipeline
            ``self``.

        Raises
        ------
        IntruderSourceError
            A source holds a file that cannot be read or decoded (the message names it).
        """
        for t in self.transforms:
            t.prepare()  # a source shared by several transforms is checked once
        return self

    def choose(self, rng: np.random.Generator) -> int | None:
        """Draw which transform to apply: its index, or None for the normal clip."""
        if rng.random() >= self.p:
            return None
        return int(rng.choice(len(self.transforms), p=self._probs))

    def __call__(self, clip: np.ndarray, *, rng: np.random.Generator | int) -> PseudoAnomaly:
        """Pseudo anomaly with probability p, else the normal clip, for a clip or a batch.

        Parameters
        ----------
        clip : numpy.ndarray
            ``(T, H, W, C)`` or ``(B, T, H, W, C)``, uint8 or float32 in ``value_range``.
        rng : numpy.random.Generator or int
            Source of randomness; a batch draws independently per item.

        Returns
        -------
        PseudoAnomaly
            ``params`` is ``{"transform": name, "index": i, "params": {...}}`` for a pseudo
            anomaly and ``{"transform": None}`` for a normal clip.

        Raises
        ------
        ValueError
            The pipeline holds a transform that needs the video (``skip_frame``): use
            :meth:`from_video`.
        """
        if self.needs_video:
            names = [t.name for t in self.transforms if t.needs_video]
            raise ValueError(
                f"this pipeline holds {', '.join(names)}, which reads frames beyond the clip: "
                "call pipeline.from_video(video, start, length, rng=...) instead"
            )
        # Values are checked per item in _one: by the transform while it copies, else here.
        batched = check_clip(clip, value_range=self.value_range, check_values=False)
        rng = as_generator(rng)
        if batched:
            return stack_results([self._one(c, rng) for c in clip], target=clip)
        return self._one(clip, rng)

    def _one(self, clip: np.ndarray, rng: np.random.Generator) -> PseudoAnomaly:
        i = self.choose(rng)
        t = None if i is None else self.transforms[i]
        if (t is None or not t.checks_values) and clip.dtype == np.float32:
            check_finite_range(clip, "clip", self.value_range)
        if t is None:
            return _normal(clip)
        params = t.sample_params(clip.shape, rng)
        out, mask = t.apply_lazy(clip, params)
        return PseudoAnomaly(
            clip=out,
            target=clip,
            mask=mask,
            label=1,
            params={"transform": t.name, "index": i, "params": params},
        )

    def from_video(
        self,
        video: np.ndarray,
        start: int,
        length: int = 16,
        *,
        rng: np.random.Generator | int,
    ) -> PseudoAnomaly:
        """Like :meth:`__call__` for the clip ``video[start : start + length]``.

        Works with every transform, ``skip_frame`` included (its target may start elsewhere
        when the video is too short after ``start``; see
        :class:`~pseudoanom.transforms.SkipFrame`).
        """
        clip = video_clip(video, start, length, self.value_range, check_values=False)
        rng = as_generator(rng)
        i = self.choose(rng)
        if i is None:
            if clip.dtype == np.float32:
                check_finite_range(clip, "video", self.value_range)
            return _normal(clip)
        t = self.transforms[i]
        res = t.from_video(video, start, length, rng=rng)
        return PseudoAnomaly(
            clip=res.clip,
            target=res.target,
            mask=mask_source(res),  # not built unless read
            label=1,
            params={"transform": t.name, "index": i, "params": res.params},
        )

    # -- serialisation --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """``{"name": "pipeline", "params": {"transforms": [...], "weights": [...], "p": p}}``."""
        return {
            "name": "pipeline",
            "params": {
                "transforms": [t.to_dict() for t in self.transforms],
                "weights": list(self.weights),
                "p": self.p,
            },
        }

    @staticmethod
    def check_dict(d: Any) -> dict[str, Any]:
        """Check a serialised pipeline without building it; return its canonical form.

        The validate-only half of :meth:`from_dict`: the dict's structure, ``weights`` and
        ``p``. The transforms' names and parameters are checked when they are built
        (:meth:`from_dict`), since a name may belong to a module not imported yet.

        Parameters
        ----------
        d : dict
            ``{"name": "pipeline", "params": {"transforms": [...], "weights": [...], "p": p}}``;
            a transform is a name or ``{"name": ..., "params": {...}}``.

        Returns
        -------
        dict
            The same pipeline with every transform as ``{"name", "params"}`` (``params`` a
            shallow copy) and ``weights`` (default equal) and ``p`` (default 0.2) as floats.

        Raises
        ------
        InvalidParameterError
            A malformed part; the message names it (``params.transforms[1]``, ``params.p``).
        TypeError
            Unknown keys (the message lists them and the valid ones).
        """
        if not isinstance(d, dict):
            raise _malformed(f"got {type(d).__name__} {d!r}")
        _check_no_other_keys(d, ("name", "params"), "")
        if d.get("name") != "pipeline":
            raise _malformed(f"'name' must be 'pipeline', got {d.get('name')!r}")
        params = d.get("params")
        if not isinstance(params, dict):
            raise _malformed(f"'params' must be a mapping, got {params!r}")
        _check_no_other_keys(params, ("transforms", "weights", "p"), " in params")
        transforms = params.get("transforms")
        if not isinstance(transforms, (list, tuple)) or not transforms:
            raise _malformed(f"params.transforms must be a non-empty list, got {transforms!r}")
        entries = [_entry(f"params.transforms[{i}]", t) for i, t in enumerate(transforms)]
        return {
            "name": "pipeline",
            "params": {
                "transforms": entries,
                "weights": _check_weights(params.get("weights"), len(entries), "params.weights"),
                "p": check_probability(params.get("p", 0.2), "params.p"),
            },
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Pipeline:
        """Rebuild a pipeline from :meth:`to_dict` output (checked by :meth:`check_dict`).

        An error building a transform names it: ``params.transforms[1] (cutmix): ...``.
        """
        params = cls.check_dict(d)["params"]
        transforms = [
            _built(f"params.transforms[{i}]", t) for i, t in enumerate(params["transforms"])
        ]
        return cls(transforms, weights=params["weights"], p=params["p"])

    def to_yaml(self, path: str | os.PathLike | None = None) -> str:
        """YAML text of :meth:`to_dict`; also written to ``path`` when given."""
        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> Pipeline:
        """Read a pipeline written by :meth:`to_yaml`.

        Raises
        ------
        FileNotFoundError
            ``path`` does not exist.
        InvalidParameterError
            The file is not valid YAML or not a pipeline.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"pipeline YAML not found: {path}")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise InvalidParameterError(f"{path} is not valid YAML: {exc}") from None
        return cls.from_dict(data)

    def __repr__(self) -> str:
        return f"Pipeline({self.transforms!r}, weights={self.weights}, p={self.p})"


_FORM = "{name: pipeline, params: {transforms: [{name, params}, ...], weights, p}}"


def _malformed(what: str) -> InvalidParameterError:
    return InvalidParameterError(f"{what}; expected a serialised pipeline {_FORM}")


def _check_no_other_keys(d: dict, valid: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(d) - set(valid))
    if unknown:
        raise TypeError(f"unknown keys {unknown}{where} (valid: {', '.join(valid)})")


def _entry(where: str, t: Any) -> Any:
    """One serialised transform as ``{name, params}`` (a Transform object is kept as it is)."""
    if isinstance(t, Transform):
        return t
    if isinstance(t, str):
        t = {"name": t}
    if not isinstance(t, dict):
        raise InvalidParameterError(
            f"{where}: expected {{name, params}} or a transform name, got {t!r}"
        )
    unknown = sorted(set(t) - {"name", "params"})
    if unknown:
        hint = " (weights go in params.weights, one per transform)" if "weight" in t else ""
        raise TypeError(f"{where}: unknown keys {unknown}; valid: name, params{hint}")
    name = t.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidParameterError(f"{where}: 'name' must be a transform name, got {name!r}")
    params = t.get("params") or {}
    if not isinstance(params, dict):
        raise InvalidParameterError(f"{where}: 'params' must be a mapping, got {params!r}")
    return {"name": name, "params": dict(params)}


def _check_weights(weights: Any, n: int, name: str) -> list[float]:
    """``weights`` as n floats, finite, >= 0 and not all 0 (default: n equal weights)."""
    if weights is None:
        return [1.0] * n
    try:
        if isinstance(weights, (str, bytes)):
            raise TypeError
        w = [float(x) for x in weights]
    except (TypeError, ValueError):
        raise InvalidParameterError(f"{name} must be numbers, got {weights!r}") from None
    if len(w) != n:
        raise InvalidParameterError(f"{name} has {len(w)} entries for {n} transforms")
    if any(not math.isfinite(x) or x < 0 for x in w) or sum(w) <= 0:
        raise InvalidParameterError(f"{name} must be finite, >= 0 and not all 0, got {w}")
    return w


def _as_transform(t: Any) -> Transform:
    if isinstance(t, Transform):
        return t
    if isinstance(t, str):
        return registry.create(t)
    if isinstance(t, dict):
        out = registry.from_dict(t)
        if isinstance(out, Transform):
            return out
    raise InvalidParameterError(
        f"pipeline entries must be Transforms, names or transform dicts, got {t!r}"
    )


def _built(where: str, t: Any) -> Transform:
    """``t`` as a Transform; a failure names the entry (``transforms[1] (cutmix): ...``)."""
    try:
        return _as_transform(t)
    except (ValueError, TypeError, FileNotFoundError) as e:
        name = t.get("name") if isinstance(t, dict) else t
        try:
            named = type(e)(f"{where} ({name}): {e}")
        except Exception:  # an exception class that takes other arguments: as it is
            raise e from None
        raise named from e


def _normal(clip: np.ndarray) -> PseudoAnomaly:
    # A read-only zero view: allocating and clearing a real (T, H, W) array would cost as
    # much as the rest of the normal path, which is 1 - p of all calls.
    mask = np.broadcast_to(np.float32(0.0), clip.shape[:3])
    return PseudoAnomaly(clip=clip, target=clip, mask=mask, label=0, params={"transform": None})


registry.register_loader("pipeline", Pipeline.from_dict)
