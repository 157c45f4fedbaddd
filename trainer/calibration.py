"""Calibrated, causal anomaly scores: the error distribution of held-out normal video.

The per-video min-max score of :mod:`trainer.evaluation` is the paper's **benchmark protocol**:
it ranks the frames of one video against each other, needs the whole video first, and gives
every video a frame at 0 and one at 1. A camera needs an absolute score instead. This module
records, once, how well a trained model reconstructs **normal** frames it did not train on,
and turns a new frame's error into a probability and a decision:

* **Error statistic**: the PSNR (dB) of the scored frame against its reconstruction, exactly
  as in the benchmark (:func:`trainer.evaluation.frame_psnr`); lower PSNR = larger error =
  more anomalous. ``-PSNR`` is ``10 log10(MSE)``, so this is the frame's MSE on a log scale.
* **Causal windows**: a frame is scored by the window of ``clip_len`` frames that **ends** at
  it (``score_index = clip_len - 1``, delay 0). ``delay = d`` scores it by the window that ends
  ``d`` frames later (``score_index = clip_len - 1 - d``): a fixed delay of ``d`` frames. The
  first frames of a video or stream are scored by windows padded in front with copies of its
  first frame. Calibration uses full windows only.
* **Calibration**: the sorted PSNRs of the ``n`` scored frames of held-out normal videos
  (:func:`calibrate`, stored as ``calibration.json`` next to the model).
* **p-value** of a frame with PSNR ``x``: ``p = (1 + #{normal PSNRs <= x}) / (n + 1)``, the
  conformal upper-tail probability of its error under the normal frames: about the share of
  normal frames that are at least as badly reconstructed. In ``(0, 1]``.
* **Calibrated score** ``= -log10(p)``: 0 for a typical frame, 2 for a frame worse than 99 % of
  the normal ones; at most ``log10(n + 1)`` (it saturates beyond the worst normal frame; the
  PSNR keeps ranking those).
* **Decision** at a target false-alarm rate ``fpr``: alarm when ``p <= fpr``, i.e. when the
  score is ``>= -log10(fpr)``, i.e. when the PSNR is below :meth:`Calibration.threshold`. On
  normal frames exchangeable with the calibration frames the false-alarm rate is at most
  ``fpr``; consecutive frames of a video are correlated, so on new normal video it is ``fpr``
  only approximately, and only as far as the held-out video is representative (lighting,
  crowd, season).

No TensorFlow at import time: a model is scored through ``predict_fn(batch) -> recon``
(:func:`trainer.inference.predict_fn` for a Keras model).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trainer.atomic import write_text_atomic
from trainer.data import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, Video, load_video, natural_key
from trainer.engines.keras_engine import predict_fn as keras_predict_fn
from trainer.evaluation import (
    EvaluationResult,
    PredictFn,
    frame_psnr,
    reconstruct_windows,
    sliding_windows,
)
from trainer.model_files import file_sha256, source_model_sha256
from trainer.writers import git_commit

__all__ = [
    "CALIBRATION_FILE",
    "DEFAULT_FPR",
    "FORMAT",
    "QUANTILE_LEVELS",
    "Calibration",
    "CalibrationError",
    "apply_calibration",
    "calibrate",
    "default_calibration_path",
    "file_sha256",
    "find_videos",
    "score_index_for",
    "video_psnr",
]

CALIBRATION_FILE = "calibration.json"
"""File name of a calibration next to its model (``<run>/calibration.json``)."""

FORMAT = "pseudoanom-calibration"
"""The ``format`` field of a calibration file."""

VERSION = 1

DEFAULT_FPR = 0.01
"""Default target false-alarm rate on normal frames (1 %)."""

QUANTILE_LEVELS: tuple[float, ...] = (0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9)
"""Lower quantiles of the normal PSNR written to the file for a reader (the decision uses the
whole sorted sample)."""


class CalibrationError(ValueError):
    """A calibration that cannot be used: bad file, another input size, too few frames."""


def score_index_for(clip_len: int, delay: int = 0) -> int:
    """Position in the window of the frame it scores: ``clip_len - 1 - delay``.

    ``delay = 0`` (causal): the window ends at the scored frame. The paper's centred window is
    ``delay = clip_len - 1 - clip_len // 2`` (7 for 16 frames).

    Raises
    ------
    CalibrationError
        ``delay`` outside ``[0, clip_len - 1]``.
    """
    if not 0 <= int(delay) < int(clip_len):
        raise CalibrationError(f"delay must be in [0, {clip_len - 1}] frames, got {delay}")
    return int(clip_len) - 1 - int(delay)


def smallest_usable_fpr(n_frames: int) -> float:
    """The smallest ``--fpr`` with 3 significant digits that ``n_frames`` normal frames
    support: ``1 / (n_frames + 1)`` rounded up."""
    exact = 1.0 / (n_frames + 1)
    scale = 10.0 ** (2 - math.floor(math.log10(exact)))
    return math.ceil(exact * scale - 1e-6) / scale


def too_few_frames(n_frames: int, fpr: float, model_path: str | os.PathLike | None = None) -> str:
    """Why ``n_frames`` normal frames cannot give alarms at ``fpr``, and the two ways out."""
    model = model_path or "MODEL"
    return (
        f"--fpr {fpr:g} needs at least {math.ceil(1 / fpr) - 1} normal frames; the calibration "
        f"has {n_frames}, so the smallest rate it supports is "
        f"--fpr {smallest_usable_fpr(n_frames):g}: pass that (or more), or calibrate on more "
        f"normal video (python -m trainer calibrate {model} --normal VIDEOS)"
    )


def warn_small_calibration(model_path: str | os.PathLike, fpr: float = DEFAULT_FPR) -> bool:
    """Say on stderr when the calibration next to ``model_path`` (when there is one) has too
    few frames for ``fpr`` (the default of ``score`` and ``watch``); returns whether it did."""
    path = default_calibration_path(model_path)
    try:
        calibration = Calibration.load(path)
    except (OSError, CalibrationError):
        return False
    if calibration.min_fpr() <= fpr:
        return False
    n = calibration.n_frames
    print(
        f"warning: {path} has {n} normal frames, too few for the default --fpr {fpr:g} of "
        f"score and watch (needs {math.ceil(1 / fpr) - 1}): pass --fpr "
        f"{smallest_usable_fpr(n):g} or more to them, or calibrate on more normal video "
        f"(python -m trainer calibrate {model_path} --normal VIDEOS, or train with a larger "
        f"val_fraction)",
        file=sys.stderr,
        flush=True,
    )
    return True


def default_calibration_path(model_path: str | os.PathLike) -> Path:
    """``<model folder>/calibration.json``."""
    return Path(model_path).parent / CALIBRATION_FILE


@dataclass(frozen=True, eq=False)
class Calibration:
    """The PSNRs of held-out normal frames, and what they were measured with.

    Attributes
    ----------
    psnr : np.ndarray
        ``float64`` ``(n,)``, ascending: PSNR (dB) of every scored normal frame.
    input_shape : tuple of int
        The model's ``(T, H, W, C)``.
    score_index : int
        Position of the scored frame in its window (``T - 1``: causal).
    model : str or None
        Path of the model file, as given.
    model_sha256 : str or None
        SHA-256 of that file, to notice a calibration left over from another model.
    sources : list of dict
        One ``{"path", "frames", "scored"}`` per normal video.
    created, commit : str
        When, and at which commit of this repository.
    """

    psnr: np.ndarray
    input_shape: tuple[int, int, int, int]
    score_index: int
    model: str | None = None
    model_sha256: str | None = None
    sources: list[dict[str, Any]] = field(default_factory=list)
    created: str = ""
    commit: str = ""

    def __post_init__(self) -> None:
        p = np.sort(np.asarray(self.psnr, dtype=np.float64).ravel())
        if p.size == 0 or not np.all(np.isfinite(p)):
            raise CalibrationError("a calibration needs at least one finite PSNR")
        object.__setattr__(self, "psnr", p)
        object.__setattr__(self, "input_shape", tuple(int(v) for v in self.input_shape))
        if len(self.input_shape) != 4:
            raise CalibrationError(f"input_shape must be (T, H, W, C), got {self.input_shape}")
        score_index_for(self.clip_len, self.delay)  # checks the range

    @property
    def n_frames(self) -> int:
        """Number of normal frames ``n``."""
        return int(self.psnr.size)

    @property
    def clip_len(self) -> int:
        return self.input_shape[0]

    @property
    def delay(self) -> int:
        """Frames after the scored frame that its window holds (0 = causal)."""
        return self.clip_len - 1 - self.score_index

    def quantiles(self, levels: Iterable[float] = QUANTILE_LEVELS) -> dict[str, float]:
        """``{level: PSNR quantile}`` of the normal frames (linear interpolation)."""
        return {f"{q:g}": float(np.quantile(self.psnr, q)) for q in levels}

    def min_fpr(self) -> float:
        """The smallest false-alarm rate this many frames can target: ``1 / (n + 1)``."""
        return 1.0 / (self.n_frames + 1)

    def threshold(self, fpr: float = DEFAULT_FPR) -> float:
        """PSNR below which a frame is an alarm at false-alarm rate ``fpr``.

        It is the ``k``-th smallest normal PSNR (1-based), ``k = floor(fpr (n + 1))``: a frame
        has ``p <= fpr`` exactly when its PSNR is below it.

        Raises
        ------
        CalibrationError
            ``fpr`` not in (0, 1), or below :meth:`min_fpr` (too few normal frames).
        """
        if not 0 < fpr < 1:
            raise CalibrationError(f"fpr must be in (0, 1), got {fpr}")
        k = math.floor(fpr * (self.n_frames + 1) + 1e-9)
        if k < 1:
            raise CalibrationError(too_few_frames(self.n_frames, fpr))
        return float(self.psnr[min(k, self.n_frames) - 1])

    def p_value(self, psnr: np.ndarray | float) -> np.ndarray:
        """``(1 + #{normal PSNRs <= psnr}) / (n + 1)``, elementwise; NaN stays NaN."""
        x = np.asarray(psnr, dtype=np.float64)
        count = np.searchsorted(self.psnr, np.nan_to_num(x, nan=np.inf), side="right")
        p = (1.0 + count) / (self.n_frames + 1.0)
        return np.where(np.isnan(x), np.nan, p)

    def score(self, psnr: np.ndarray | float) -> np.ndarray:
        """Calibrated score ``-log10(p_value(psnr))``: 0 typical, 2 = rarer than 1 %."""
        return 0.0 - np.log10(self.p_value(psnr))  # 0.0 -: no -0.0 for p = 1

    def alarm(self, psnr: np.ndarray | float, fpr: float = DEFAULT_FPR) -> np.ndarray:
        """``bool`` array: ``psnr < threshold(fpr)``, i.e. ``p_value <= fpr``."""
        return np.asarray(psnr, dtype=np.float64) < self.threshold(fpr)

    def check_model(self, input_shape: Sequence[int], model_path: str | None = None) -> None:
        """Check that this calibration fits a model of ``(T, H, W, C)`` ``input_shape``.

        Raises
        ------
        CalibrationError
            Another input shape: the PSNRs of a model at another size mean nothing for it.

        Warns
        -----
        UserWarning
            ``model_path``'s file is not the one the calibration was made from.
        """
        shape = tuple(int(v) for v in input_shape)
        if shape != self.input_shape:
            raise CalibrationError(
                f"the calibration was made for a model of input {_shape(self.input_shape)} "
                f"(T x H x W x C) but this model takes {_shape(shape)}; run `python -m trainer "
                f"calibrate` for this model"
            )
        if model_path is not None and self.model_sha256 and Path(model_path).is_file():
            if source_model_sha256(model_path) != self.model_sha256:
                warnings.warn(
                    f"the calibration was made for another model file ({self.model}); "
                    f"its threshold may not fit {model_path}: recalibrate",
                    UserWarning,
                    stacklevel=2,
                )

    def summary(self, fpr: float | None = None) -> dict[str, Any]:
        """What score and watch record about the calibration (no sample)."""
        out: dict[str, Any] = {
            "n_frames": self.n_frames,
            "input_shape": list(self.input_shape),
            "score_index": self.score_index,
            "delay_frames": self.delay,
            "model": self.model,
            "psnr_quantiles": self.quantiles(),
        }
        if fpr is not None:
            out["fpr"] = float(fpr)
            out["threshold_psnr"] = self.threshold(fpr)
            out["threshold_score"] = -math.log10(fpr)
        return out

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (see :meth:`save`)."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "statistic": "psnr",
            "statistic_doc": "PSNR in dB of the scored frame against its reconstruction on "
            "[0, 1] images (10 log10(1/MSE), MSE floor 1e-10); lower = more anomalous",
            "p_value": "(1 + #{normal psnr <= x}) / (n + 1); score = -log10(p); alarm when "
            "p <= fpr",
            "input_shape": list(self.input_shape),
            "clip_len": self.clip_len,
            "score_index": self.score_index,
            "delay_frames": self.delay,
            "model": self.model,
            "model_sha256": self.model_sha256,
            "sources": [dict(s) for s in self.sources],
            "n_frames": self.n_frames,
            "psnr_quantiles": self.quantiles(),
            "created": self.created,
            "commit": self.commit,
            "psnr_sorted": [round(float(v), 6) for v in self.psnr],
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write the JSON file (atomically; parent folders are created). Returns ``path``."""
        return write_text_atomic(path, json.dumps(self.to_dict(), indent=1, allow_nan=False) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> Calibration:
        """Read a file written by :meth:`save`.

        Raises
        ------
        FileNotFoundError
            No file.
        CalibrationError
            Not a calibration file, or an unknown version.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"calibration file {path} does not exist")
        try:
            d = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise CalibrationError(f"calibration file {path}: not JSON ({e})") from None
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise CalibrationError(f"{path} is not a calibration file (no format {FORMAT!r})")
        if d.get("version") != VERSION:
            raise CalibrationError(
                f"calibration file {path}: version {d.get('version')!r}, this code reads {VERSION}"
            )
        try:
            return cls(
                psnr=np.asarray(d["psnr_sorted"], dtype=np.float64),
                input_shape=tuple(d["input_shape"]),
                score_index=int(d["score_index"]),
                model=d.get("model"),
                model_sha256=d.get("model_sha256"),
                sources=list(d.get("sources", [])),
                created=str(d.get("created", "")),
                commit=str(d.get("commit", "")),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise CalibrationError(f"calibration file {path}: {e}") from None


def _shape(shape: Sequence[int]) -> str:
    return " x ".join(str(v) for v in shape)


# --------------------------------------------------------------------------- measuring


def video_psnr(
    video: Video,
    predict_fn: PredictFn,
    *,
    clip_len: int,
    score_index: int,
    pad_edges: bool,
    batch_size: int = 8,
) -> tuple[np.ndarray, np.ndarray]:
    """The scored frames of one video and their PSNRs (the windows of
    :func:`trainer.evaluation.sliding_windows`).

    Returns
    -------
    frames : np.ndarray
        ``int64`` ``(n,)`` frame indices (empty when the video is too short).
    psnr : np.ndarray
        ``float64`` ``(n,)``.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a short video: reported by the caller
        windows = sliding_windows([video], clip_len, score_index, pad_edges)
    psnr = np.empty(len(windows), dtype=np.float64)
    for sl, inputs, recons in reconstruct_windows([video], windows, predict_fn, batch_size):
        psnr[sl] = frame_psnr(inputs, recons)
    return windows.scored.astype(np.int64), psnr


def find_videos(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """Expand ``paths`` into videos: a video file or a folder of frame images is one video;
    any other folder gives the videos inside it, searched down to 3 levels (so a dataset's
    ``training/`` folder with its ``frames/<video>/`` or ``videos/`` layout works), in natural
    order.

    Raises
    ------
    FileNotFoundError
        A path that does not exist.
    CalibrationError
        A folder with no video in it.
    """
    out: list[Path] = []
    for given in paths:
        p = Path(given).expanduser()
        if not p.exists():
            raise FileNotFoundError(f"normal video {p} does not exist")
        found = _videos_in(p, depth=3)
        if not found:
            raise CalibrationError(
                f"{p} holds no video file ({', '.join(sorted(VIDEO_EXTENSIONS))}) and no "
                f"folder of frames"
            )
        out.extend(found)
    return out


def _videos_in(p: Path, depth: int) -> list[Path]:
    if p.is_file():
        return [p] if p.suffix.lower() in VIDEO_EXTENSIONS else []
    if _has_images(p):
        return [p]
    if depth == 0:
        return []
    children = sorted(p.iterdir(), key=lambda c: natural_key(c.name))
    return [v for c in children if not c.name.startswith(".") for v in _videos_in(c, depth - 1)]


def _has_images(folder: Path) -> bool:
    return folder.is_dir() and any(
        c.suffix.lower() in IMAGE_EXTENSIONS for c in folder.iterdir() if c.is_file()
    )


def calibrate(
    model: Any,
    videos: Sequence[Video | str | os.PathLike],
    *,
    delay: int = 0,
    batch_size: int = 8,
    predict_fn: PredictFn | None = None,
    input_shape: Sequence[int] | None = None,
    model_path: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> Calibration:
    """Measure the PSNR distribution of held-out **normal** frames under ``model``.

    Parameters
    ----------
    model : keras.Model or None
        The trained model (its ``input_shape`` gives ``(T, H, W, C)``); ``None`` with
        ``predict_fn`` and ``input_shape``.
    videos : sequence of Video, path
        Normal videos the model did not train on: :class:`~trainer.data.Video` objects at the
        model's size, or video files / frame folders (read with
        :func:`trainer.data.load_video` at the model's size, one at a time).
    delay : int
        Frames after the scored frame in its window; 0 = causal (the window ends at it).
    batch_size : int
        Windows per forward pass.
    predict_fn : callable or None
        ``batch -> reconstruction``; default :func:`trainer.inference.predict_fn` of ``model``.
    input_shape : sequence of int or None
        ``(T, H, W, C)`` when ``model`` has no ``input_shape``.
    model_path : path or None
        The model's file, recorded with its SHA-256.
    cache_dir : path or None
        Decoded-frame cache for videos given as paths.
    progress : callable or None
        ``progress(video name, frames scored, frames in the video)`` after each video.

    Returns
    -------
    Calibration
        Only full windows are used (the padded first frames of a video are left out).

    Raises
    ------
    CalibrationError
        No video long enough for one window.
    """
    if input_shape is None:
        input_shape = tuple(model.input_shape[1:])
    shape = tuple(int(v) for v in input_shape)
    t, h, w, c = shape
    score_index = score_index_for(t, delay)
    if predict_fn is None:
        predict_fn = keras_predict_fn(model)
    psnrs, sources = [], []
    for item in videos:
        v = item if isinstance(item, Video) else load_video(item, (h, w), c, cache_dir=cache_dir)
        if v.frames.shape[1:] != (h, w, c):
            raise CalibrationError(
                f"video {v.name!r} has frames of {_shape(v.frames.shape[1:])}, the model takes "
                f"{_shape((h, w, c))}"
            )
        _, p = video_psnr(
            v, predict_fn, clip_len=t, score_index=score_index, pad_edges=False,
            batch_size=batch_size,
        )  # fmt: skip
        psnrs.append(p)
        path = v.path if v.path is not None else item if not isinstance(item, Video) else None
        sources.append({"path": None if path is None else str(path), "name": v.name,
                        "frames": len(v), "scored": int(p.size)})  # fmt: skip
        if progress is not None:
            progress(v.name, int(p.size), len(v))
    total = sum(p.size for p in psnrs)
    if total == 0:
        raise CalibrationError(
            f"no normal video has the {t} frames of one window: nothing to calibrate on"
        )
    return Calibration(
        psnr=np.concatenate(psnrs),
        input_shape=shape,
        score_index=score_index,
        model=None if model_path is None else str(model_path),
        model_sha256=None if model_path is None else source_model_sha256(model_path),
        sources=sources,
        created=time.strftime("%Y-%m-%dT%H:%M:%S"),
        commit=git_commit(),
    )


def apply_calibration(
    result: EvaluationResult, calibration: Calibration, fpr: float = DEFAULT_FPR
) -> dict[str, Any]:
    """Fill each video's ``p_normal``, ``calibrated_score`` and ``alarm`` in ``result``
    (what :func:`trainer.writers.write_scores_csv` then writes) and return the summary
    entry: the calibration, the threshold, the alarms per video."""
    alarms = {}
    for r in result.videos:
        r.p_normal = calibration.p_value(r.psnr)
        r.calibrated_score = calibration.score(r.psnr)
        r.alarm = calibration.alarm(r.psnr, fpr)
        alarms[r.name] = int(r.alarm.sum())
    return {**calibration.summary(fpr), "alarms": alarms}
