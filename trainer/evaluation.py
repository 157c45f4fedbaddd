"""Frame-level evaluation: sliding-window PSNR scores, per-video min-max, micro/macro AUC.

The protocol of the paper (Sec. 3.4 and 4.1) and of its code:

1. Every test video is cut into T-frame windows with stride 1 (T = ``clip_len``, 16).
2. The model reconstructs each window; the frame at ``score_index`` (default ``T // 2`` = 8,
   the 9th frame) is scored by the PSNR between it and its reconstruction (Eq. 9)::

       PSNR = 10 log10(max^2 / MSE)

   computed on images mapped from the model range [-1, 1] to [0, 1] by ``(x + 1) / 2``, so
   ``max = 1``; the MSE runs over all pixels and channels of the frame and is floored at
   ``1e-10`` (a perfect reconstruction scores 100 dB instead of infinity).
3. PSNRs are min-max normalised per video (Eq. 10) and the anomaly score is
   ``S = 1 - normalised PSNR`` (higher = more anomalous). A video whose PSNRs are all equal
   gets score 0 everywhere (and a note in the summary) instead of a division by zero.
4. One frame-level ROC AUC over all scored frames of the test set (**micro AUC**).

With the default ``pad_edges=False`` the first ``score_index`` and last
``T - 1 - score_index`` frames of each video get no score (for UCSD Ped2: 2010 - 12 * 15 = 1830
scored frames). ``pad_edges=True`` pads each video with copies of its first / last frame so
that every frame is scored. The choice is recorded in every result.

Also reported: **macro AUC** (mean of per-video AUCs; videos whose scored frames hold a single
class are skipped and listed), the **padded macro AUC** (every video padded with a normal frame
scored 0 and an anomalous frame scored 1, so all videos count; :mod:`trainer.frame_metrics`), the
**unnormalised AUC** (score = -PSNR, no per-video normalisation) and, when asked for with
``smooth_sigma``, AUCs of temporally smoothed scores (non-causal). Pixel-, region- and
track-level metrics come from a :class:`trainer.localisation.Localiser` passed as ``localiser``.

No TensorFlow here: the model is any callable ``predict_fn(batch) -> reconstruction``.
:class:`trainer.progress.Progress` shows how far scoring is (windows done per video, frames/s)
on stderr; :mod:`trainer.writers` writes the result's files.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trainer.data import Video, model_to_unit_range, to_model_range
from trainer.frame_metrics import smooth_scores
from trainer.localisation import LocalisationResult, Localiser, error_map
from trainer.metrics import FRAME_AUCS, FamilyResult, ScoredFrames, compute_all

__all__ = [
    "CALIBRATED_COLUMNS",
    "CSV_COLUMNS",
    "FRAME_AUCS",
    "MSE_FLOOR",
    "EvaluationResult",
    "PredictFn",
    "Reconstruction",
    "VideoScores",
    "Windows",
    "evaluate",
    "frame_psnr",
    "minmax_scores",
    "reconstruct_windows",
    "sliding_windows",
    "window_counts",
]

PredictFn = Callable[[np.ndarray], Any]
"""``predict_fn(batch) -> recon``: ``float32`` ``(B, T, H, W, C)`` in [-1, 1] -> same shape."""

CSV_COLUMNS: tuple[str, ...] = ("video", "frame", "psnr", "score", "label")
"""Columns of the per-frame CSV written by :func:`write_scores_csv`."""

CALIBRATED_COLUMNS: tuple[str, ...] = ("p_normal", "calibrated_score", "alarm")
"""Columns :func:`write_scores_csv` adds when the scores were calibrated
(:func:`trainer.calibration.apply_calibration`)."""

MSE_FLOOR = 1e-10
"""Smallest MSE used in the PSNR (caps PSNR at 100 dB for a perfect reconstruction)."""


# --------------------------------------------------------------------------- results


@dataclass(eq=False)
class VideoScores:
    """Scores of the scored frames of one video.

    Attributes
    ----------
    name : str
        Video name.
    frames : np.ndarray
        ``int64`` ``(n,)``, 0-based indices (within the video) of the scored frames, ascending.
    psnr : np.ndarray
        ``float64`` ``(n,)``, PSNR in dB on the [0, 1] scale.
    score : np.ndarray
        ``float64`` ``(n,)`` in [0, 1], ``1 - minmax(psnr)``; higher = more anomalous.
    labels : np.ndarray or None
        ``int8`` ``(n,)`` ground truth of the scored frames, ``None`` when unknown.
    n_frames : int
        Number of frames K of the whole video.
    video_labels : np.ndarray or None
        ``int8`` ``(K,)`` ground truth of every frame of the video (for plots).
    constant_psnr : bool
        True when all PSNRs were equal and the scores were set to 0.
    smoothed_score : np.ndarray or None
        ``float64`` ``(n,)`` in [0, 1], ``score`` smoothed over time (``smooth_sigma > 0``
        only; non-causal).
    p_normal, calibrated_score : np.ndarray or None
        ``float64`` ``(n,)``: the upper-tail probability of the frame's error under held-out
        normal frames, and ``-log10`` of it (set by
        :func:`trainer.calibration.apply_calibration`; ``None`` without a calibration).
    alarm : np.ndarray or None
        ``bool`` ``(n,)``: the decision at the calibration's threshold.
    """

    name: str
    frames: np.ndarray
    psnr: np.ndarray
    score: np.ndarray
    labels: np.ndarray | None
    n_frames: int
    video_labels: np.ndarray | None = None
    constant_psnr: bool = False
    smoothed_score: np.ndarray | None = None
    p_normal: np.ndarray | None = None
    calibrated_score: np.ndarray | None = None
    alarm: np.ndarray | None = None


@dataclass(eq=False)
class Reconstruction:
    """Input and reconstruction of one scored frame, kept for figures.

    Attributes
    ----------
    video : str
        Video name.
    frame : int
        0-based frame index within the video.
    input : np.ndarray
        ``float32`` ``(H, W, C)`` in [0, 1].
    recon : np.ndarray
        ``float32`` ``(H, W, C)``, the reconstruction mapped to [0, 1] scale (not clipped).
    mask : np.ndarray or None
        ``bool`` ``(H, W)`` pixel ground truth, when the video has masks.
    psnr : float
        PSNR of this frame in dB.
    score : float
        Anomaly score of this frame in [0, 1] (filled in after per-video normalisation).
    label : int or None
        Frame label, when known.
    """

    video: str
    frame: int
    input: np.ndarray
    recon: np.ndarray
    mask: np.ndarray | None
    psnr: float
    score: float = float("nan")
    label: int | None = None


@dataclass(eq=False)
class EvaluationResult:
    """Everything :func:`evaluate` measured.

    Attributes
    ----------
    videos : list of VideoScores
        One entry per scored video, in input order.
    families : dict
        ``{family name: FamilyResult}`` of every metric family of
        :data:`trainer.metrics.FAMILIES`, in their order: the values and summary keys of
        each (see :mod:`trainer.metrics`).
    constant_psnr_videos : list of str
        Videos whose PSNRs were constant (scores set to 0).
    unscored_videos : list of str
        Videos with no scored frame (fewer than ``clip_len`` frames and ``pad_edges=False``).
    protocol : dict
        ``clip_len``, ``score_index``, ``pad_edges``, ``batch_size`` and the fixed choices.
    n_scored : int
        Total number of scored frames.
    seconds : float
        Wall time of the scoring loop (batching, ``predict_fn`` and PSNR).
    frames_per_second : float
        ``n_scored / seconds``.
    notes : list of str
        Human-readable remarks (skipped videos, constant PSNRs, undefined AUCs).
    reconstructions : list of Reconstruction
        The frames requested with ``keep``.
    localisation : LocalisationResult or None
        What the ``localiser`` given to :func:`evaluate` measured (curves, per-frame rows,
        figures); its scalars are the ``localisation`` family's.

    The frame family's numbers are also attributes: ``micro_auc`` (the paper's number; None
    when undefined), ``macro_auc``, ``macro_auc_padded``, ``unnormalised_auc``,
    ``per_video_auc``, ``per_video_auc_padded``, ``macro_auc_skipped``; and ``smoothing``
    (the smoothed AUCs' summary entry, None without smoothing).
    """

    videos: list[VideoScores]
    families: dict[str, FamilyResult]
    constant_psnr_videos: list[str]
    unscored_videos: list[str]
    protocol: dict[str, Any]
    n_scored: int
    seconds: float
    frames_per_second: float
    notes: list[str] = field(default_factory=list)
    reconstructions: list[Reconstruction] = field(default_factory=list)
    localisation: LocalisationResult | None = None

    def _frame(self, key: str) -> Any:
        return self.families["frame"].summary[key]

    micro_auc = property(lambda self: self._frame("micro_auc"))
    macro_auc = property(lambda self: self._frame("macro_auc"))
    macro_auc_padded = property(lambda self: self._frame("macro_auc_padded"))
    unnormalised_auc = property(lambda self: self._frame("unnormalised_auc"))
    per_video_auc = property(lambda self: self._frame("per_video_auc"))
    per_video_auc_padded = property(lambda self: self._frame("per_video_auc_padded"))
    macro_auc_skipped = property(lambda self: self._frame("macro_auc_skipped_videos"))
    smoothing = property(lambda self: self.families["smoothing"].summary["smoothing"])

    def summary(self, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """JSON-ready summary: each family's keys, counts, protocol, timing, notes, plus ``extra``.

        Parameters
        ----------
        extra : Mapping or None
            Caller's additions (config, seed, commit, total time, ...), merged at top level.

        Returns
        -------
        dict
            Plain Python types only (NaN becomes ``None``).

        Raises
        ------
        ValueError
            ``extra`` reuses a key of the summary.
        """
        out: dict[str, Any] = {}
        for family in self.families.values():
            out.update(family.summary)
        out.update(
            {
                "constant_psnr_videos": list(self.constant_psnr_videos),
                "unscored_videos": list(self.unscored_videos),
                "protocol": dict(self.protocol),
                "eval_seconds": self.seconds,
                "frames_per_second": self.frames_per_second,
                "notes": list(self.notes),
            }
        )
        if extra:
            clash = sorted(set(extra) & set(out))
            if clash:
                raise ValueError(f"extra keys {clash} clash with the summary's own keys")
            out.update(extra)
        return _jsonable(out)

    def metrics(self) -> dict[str, float | int | None]:
        """Every scalar metric, flat: the values of each family in turn (``metrics.csv``)."""
        out: dict[str, float | int | None] = {}
        for family in self.families.values():
            out.update(family.values)
        return out


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if obj is None or isinstance(obj, bool | int | str):
        return obj
    if hasattr(obj, "__dataclass_fields__"):
        from dataclasses import asdict

        return _jsonable(asdict(obj))
    return str(obj)


# --------------------------------------------------------------------------- scoring pieces


def frame_psnr(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """PSNR (Eq. 9) of each frame, on the [0, 1] scale (peak value 1).

    Parameters
    ----------
    x, y : np.ndarray
        ``(..., H, W, C)`` in the model range [-1, 1] (mapped to [0, 1] by ``(v + 1) / 2``
        before comparison); same shape.

    Returns
    -------
    np.ndarray
        ``float64`` ``(...)``: ``10 log10(1 / max(MSE, 1e-10))`` in dB, MSE over H, W, C.
    """
    x = np.asarray(x)
    y = np.asarray(y)
    if x.shape != y.shape or x.ndim < 3:
        raise ValueError(f"frame_psnr needs two (..., H, W, C) arrays, got {x.shape} and {y.shape}")
    diff = model_to_unit_range(x).astype(np.float64) - model_to_unit_range(y)
    mse = np.mean(diff * diff, axis=(-3, -2, -1))
    return 10.0 * np.log10(1.0 / np.maximum(mse, MSE_FLOOR))


def minmax_scores(psnr: np.ndarray) -> tuple[np.ndarray, bool]:
    """Per-video anomaly scores ``S = 1 - (p - min) / (max - min)`` (Eq. 10).

    Parameters
    ----------
    psnr : np.ndarray
        ``(n,)`` PSNRs of one video's scored frames.

    Returns
    -------
    score : np.ndarray
        ``float64`` ``(n,)`` in [0, 1], higher = more anomalous; all zeros when the PSNRs are
        constant (``max == min``).
    constant : bool
        Whether the PSNRs were constant.
    """
    p = np.asarray(psnr, dtype=np.float64)
    if p.size == 0:
        return p.copy(), False
    lo, hi = float(p.min()), float(p.max())
    if not hi > lo:
        return np.zeros_like(p), True
    return 1.0 - (p - lo) / (hi - lo), False


def window_counts(lengths: Iterable[int], clip_len: int, pad_edges: bool) -> list[int]:
    """Windows, i.e. scored frames, of videos of ``lengths`` frames (0: the video is unscored).

    Parameters
    ----------
    lengths : iterable of int
        Frame counts K of the videos.
    clip_len : int
        Window length T.
    pad_edges : bool
        Every frame is scored (K windows) instead of the K - T + 1 full windows.

    Returns
    -------
    list of int
    """
    return [max(0, int(k) if pad_edges else int(k) - clip_len + 1) for k in lengths]


# --------------------------------------------------------------------------- evaluate


def evaluate(
    videos: Sequence[Video],
    predict_fn: PredictFn,
    *,
    clip_len: int = 16,
    score_index: int | None = None,
    batch_size: int = 8,
    pad_edges: bool = False,
    require_labels: bool = True,
    keep: Mapping[str, Iterable[int]] | None = None,
    progress: Callable[[int, int], None] | None = None,
    fixed_batch: bool = False,
    smooth_sigma: float = 0.0,
    localiser: Localiser | None = None,
) -> EvaluationResult:
    """Score every test video with sliding windows and compute micro/macro/unnormalised AUC.

    Parameters
    ----------
    videos : sequence of Video
        Test videos, ``uint8`` frames ``(K, H, W, C)``, all with the same ``(H, W, C)``.
    predict_fn : callable
        ``predict_fn(batch) -> recon`` with ``batch`` ``float32`` ``(B, T, H, W, C)`` in
        [-1, 1] (``B <= batch_size``) and ``recon`` array-like of the same shape.
    clip_len : int
        Window length T (16 in the paper).
    score_index : int or None
        Position in the window of the scored frame; default ``clip_len // 2`` (8 for T = 16,
        the 9th frame).
    batch_size : int
        Windows per ``predict_fn`` call (windows of consecutive videos share batches).
    pad_edges : bool
        False (the paper's code): frames without a full window get no score. True: pad each
        video with repeated first/last frames so that every frame is scored.
    require_labels : bool
        True: every video must have labels (AUCs are the point). False: AUCs are computed on
        the labelled videos only (``None`` if there are none) and the CSV label column is
        empty for the others.
    keep : Mapping or None
        ``{video name: frame indices}`` whose inputs and reconstructions are returned in
        ``result.reconstructions`` (frames that get no score are skipped with a warning).
    progress : callable or None
        Called as ``progress(0, total_windows)`` before the first batch and
        ``progress(done_windows, total_windows)`` after each batch, e.g. a
        :class:`trainer.progress.Progress`.
    fixed_batch : bool
        Give ``predict_fn`` batches of one size only: the last, partial batch is filled up
        with left-over windows whose reconstructions are dropped. A compiled model (JAX, a
        ``tf.function``) then compiles once instead of once more for the last batch.
    smooth_sigma : float
        > 0: also report AUCs of the scores smoothed over time by a Gaussian of this standard
        deviation in frames (:func:`trainer.frame_metrics.smooth_scores`; **non-causal**, it
        uses later frames). 0 (default): no smoothing.
    localiser : Localiser or None
        Gets the error map of every scored frame and computes the pixel-, region- and
        track-level metrics (``result.localisation``).

    Returns
    -------
    EvaluationResult

    Raises
    ------
    ValueError
        Bad arguments, labels missing (``require_labels``) or not matching the frame count
        (both numbers given), frame shapes differing between videos, ``predict_fn`` returning
        the wrong shape.
    """
    score_index = _check_arguments(clip_len, score_index, batch_size, smooth_sigma)
    videos = list(videos)
    missing = _check_videos(videos, require_labels)
    notes: list[str] = []  # remarks for the summary, in the order they arise

    # 1. Windows: T frames, stride 1, each scoring its frame at `score_index`.
    windows = sliding_windows(videos, clip_len, score_index, pad_edges, notes)
    keep_frames = _keep_frames(keep, videos)
    # 2. Scores: the PSNR of each window's scored frame against its reconstruction (Eq. 9).
    psnr, recons, seconds = _psnr_per_window(
        videos, windows, predict_fn, batch_size, fixed_batch, progress, localiser, keep_frames
    )
    # 3. Per-video min-max normalisation (Eq. 10): score = 1 - normalised PSNR.
    results, constant = _normalise_per_video(videos, windows, psnr, notes)
    _smooth(results, smooth_sigma)
    _score_kept(recons, results, keep_frames)
    # 4. Metrics: every family of trainer.metrics.FAMILIES (frame AUCs, smoothed, localisation).
    _label_notes(results, missing, require_labels, notes)
    localisation = localiser.finish() if localiser is not None else None
    n_scored = len(windows)
    scored = ScoredFrames(
        videos=results,
        n_videos=len(results) + len(windows.unscored),
        n_scored=n_scored,
        smooth_sigma=smooth_sigma,
        localisation=localisation,
        notes=notes,
    )
    families = compute_all(scored)

    # 5. Outputs.
    return EvaluationResult(
        videos=results,
        families=families,
        constant_psnr_videos=constant,
        unscored_videos=windows.unscored,
        protocol=_protocol(clip_len, score_index, pad_edges, batch_size, smooth_sigma),
        n_scored=n_scored,
        seconds=seconds,
        frames_per_second=n_scored / seconds if seconds > 0 else float("inf"),
        notes=notes,
        reconstructions=recons,
        localisation=localisation,
    )


# Each step's warnings use stacklevel=3: they point at the caller of evaluate().


def _check_arguments(
    clip_len: int, score_index: int | None, batch_size: int, smooth_sigma: float
) -> int:
    """Validate :func:`evaluate`'s numbers; returns the scored position (default ``T // 2``)."""
    if clip_len < 1:
        raise ValueError(f"clip_len must be >= 1, got {clip_len}")
    if score_index is None:
        score_index = clip_len // 2
    if not 0 <= score_index < clip_len:
        raise ValueError(f"score_index must be in [0, {clip_len - 1}], got {score_index}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not smooth_sigma >= 0:
        raise ValueError(f"smooth_sigma must be >= 0 frames, got {smooth_sigma}")
    return score_index


def _check_videos(videos: Sequence[Video], require_labels: bool) -> list[str]:
    """Validate the videos (one frame shape, a label per frame); returns the unlabelled ones."""
    if not videos:
        raise ValueError("evaluate needs at least one video")
    frame_shape = videos[0].frames.shape[1:]
    missing = []
    for v in videos:
        if v.frames.ndim != 4 or v.frames.shape[1:] != frame_shape:
            raise ValueError(
                f"video {v.name!r} has frames of shape {v.frames.shape}; expected (K, "
                f"{', '.join(map(str, frame_shape))}) like video {videos[0].name!r}"
            )
        if v.labels is None:
            missing.append(v.name)
        elif len(v.labels) != len(v.frames):
            raise ValueError(f"video {v.name!r}: {len(v.labels)} labels but {len(v.frames)} frames")
    if missing and require_labels:
        raise ValueError(
            f"no frame labels for {len(missing)} of {len(videos)} videos ({missing[:5]}); "
            f"AUC needs labels (pass require_labels=False to score without them)"
        )
    return missing


@dataclass(frozen=True, eq=False)
class Windows:
    """The sliding windows of a set of videos, in scoring order (video by video).

    Window ``i`` holds frames ``first[i] .. first[i] + clip_len - 1`` of video ``video[i]``
    (indices outside the video repeat its first / last frame) and scores frame
    ``first[i] + score_index`` (:attr:`scored`).

    Attributes
    ----------
    video : np.ndarray
        ``int64`` ``(N,)``, index (into the videos given) of each window's video.
    first : np.ndarray
        ``int64`` ``(N,)``, the window's first frame; negative with ``pad_edges``.
    clip_len, score_index : int
        Window length T and the scored position in it.
    spans : list of (int, int, int)
        ``(video index, first window, window count)`` of every scored video.
    unscored : list of str
        Videos too short for a window.
    """

    video: np.ndarray
    first: np.ndarray
    clip_len: int
    score_index: int
    spans: list[tuple[int, int, int]]
    unscored: list[str]

    def __len__(self) -> int:
        return len(self.video)

    @property
    def scored(self) -> np.ndarray:
        """``int64`` ``(N,)``: the frame (within its video) each window scores."""
        return self.first + self.score_index


def sliding_windows(
    videos: Sequence[Video],
    clip_len: int,
    score_index: int,
    pad_edges: bool,
    notes: list[str] | None = None,
) -> Windows:
    """Step 1 of :func:`evaluate`: the ``clip_len``-frame windows, stride 1, of every video.

    Without ``pad_edges`` a video of K frames has the ``K - T + 1`` windows that fit in it, so
    its first ``score_index`` and last ``T - 1 - score_index`` frames get no score. With
    ``pad_edges`` it has K windows starting ``score_index`` frames before frame 0: every frame
    is scored once, next to copies of the first / last frame. A video with no window is
    listed in ``unscored``, with a warning and a note.

    Parameters
    ----------
    videos : sequence of Video
        The test videos.
    clip_len, score_index : int
        Window length T and the scored position in it.
    pad_edges : bool
        Score every frame.
    notes : list of str or None
        Gets a remark per unscored video.

    Returns
    -------
    Windows
    """
    pad_front = score_index if pad_edges else 0
    video, first, spans, unscored = [], [], [], []
    pos = 0  # windows so far
    counts = window_counts((len(v.frames) for v in videos), clip_len, pad_edges)
    for vi, (v, n_windows) in enumerate(zip(videos, counts, strict=True)):
        if n_windows <= 0:
            unscored.append(v.name)
            msg = (
                f"video {v.name!r} has {len(v.frames)} frames < clip_len={clip_len}: no frame "
                f"scored (use pad_edges=True to score it)"
            )
            warnings.warn(msg, UserWarning, stacklevel=3)
            if notes is not None:
                notes.append(msg)
            continue
        spans.append((vi, pos, n_windows))
        pos += n_windows
        video.append(np.full(n_windows, vi, dtype=np.int64))
        first.append(np.arange(n_windows, dtype=np.int64) - pad_front)
    return Windows(
        video=np.concatenate(video) if video else np.zeros(0, np.int64),
        first=np.concatenate(first) if first else np.zeros(0, np.int64),
        clip_len=clip_len,
        score_index=score_index,
        spans=spans,
        unscored=unscored,
    )


def _keep_frames(
    keep: Mapping[str, Iterable[int]] | None, videos: Sequence[Video]
) -> dict[str, set[int]]:
    """``keep`` as ``{video name: set of frames}``; warns about names of no video."""
    keep_frames = {str(n): {int(f) for f in fs} for n, fs in (keep or {}).items()}
    unknown = sorted(set(keep_frames) - {v.name for v in videos})
    if unknown:
        warnings.warn(f"keep names unknown videos {unknown}", UserWarning, stacklevel=3)
    return keep_frames


def reconstruct_windows(
    videos: Sequence[Video],
    windows: Windows,
    predict_fn: PredictFn,
    batch_size: int,
    fixed_batch: bool = False,
) -> Iterator[tuple[slice, np.ndarray, np.ndarray]]:
    """The model's reconstructions of ``windows``, ``batch_size`` windows per ``predict_fn``
    call (windows of consecutive videos share batches; see :func:`evaluate` for
    ``fixed_batch``).

    Yields
    ------
    windows : slice
        The windows of the batch.
    inputs, recons : np.ndarray
        ``float32`` ``(n, H, W, C)`` in the model range: each window's scored frame and its
        reconstruction. Views of buffers that the next batch overwrites.
    """
    total = len(windows)
    frame_shape = videos[0].frames.shape[1:]
    offsets = np.arange(windows.clip_len)
    batch = np.empty((min(batch_size, max(total, 1)), windows.clip_len, *frame_shape), np.float32)
    s = windows.score_index
    for b0 in range(0, total, batch_size):
        b1 = min(b0 + batch_size, total)
        n = b1 - b0
        for j in range(n):
            v = videos[windows.video[b0 + j]]
            idx = np.clip(windows.first[b0 + j] + offsets, 0, len(v.frames) - 1)
            batch[j] = to_model_range(v.frames[idx])
        inp = batch[:n]
        sent = batch if fixed_batch else inp  # a full batch: the rows past n are left-overs
        out = np.asarray(predict_fn(sent), dtype=np.float32)
        if out.shape != sent.shape:
            raise ValueError(
                f"predict_fn returned shape {out.shape} for a batch of shape {sent.shape}"
            )
        yield slice(b0, b1), inp[:, s], out[:n, s]


def _psnr_per_window(
    videos: Sequence[Video],
    windows: Windows,
    predict_fn: PredictFn,
    batch_size: int,
    fixed_batch: bool,
    progress: Callable[[int, int], None] | None,
    localiser: Localiser | None,
    keep_frames: Mapping[str, set[int]],
) -> tuple[np.ndarray, list[Reconstruction], float]:
    """Step 2: the PSNR of every window's scored frame; on the way, the error maps go to
    ``localiser`` and the frames of ``keep_frames`` are kept. Returns the ``float64`` PSNRs,
    the kept frames and the seconds it took."""
    total = len(windows)
    psnr = np.empty(total, dtype=np.float64)
    kept: list[Reconstruction] = []
    t0 = time.perf_counter()
    if progress is not None:
        progress(0, total)
    for sl, inputs, recons in reconstruct_windows(
        videos, windows, predict_fn, batch_size, fixed_batch
    ):
        psnr[sl] = frame_psnr(inputs, recons)
        video_index, frames = windows.video[sl], windows.scored[sl]
        if localiser is not None:
            _feed(localiser, videos, video_index, frames, inputs, recons)
        for j, (vi, frame) in enumerate(zip(video_index, frames, strict=True)):
            v, frame = videos[vi], int(frame)
            if frame in keep_frames.get(v.name, ()):
                kept.append(
                    Reconstruction(
                        video=v.name,
                        frame=frame,
                        input=model_to_unit_range(inputs[j]).copy(),
                        recon=model_to_unit_range(recons[j]).copy(),
                        mask=None if v.masks is None else np.array(v.masks[frame], dtype=bool),
                        psnr=float(psnr[sl.start + j]),
                        label=None if v.labels is None else int(v.labels[frame]),
                    )
                )
        if progress is not None:
            progress(sl.stop, total)
    return psnr, kept, time.perf_counter() - t0


def _normalise_per_video(
    videos: Sequence[Video], windows: Windows, psnr: np.ndarray, notes: list[str]
) -> tuple[list[VideoScores], list[str]]:
    """Step 3: each video's PSNRs min-max normalised over that video alone
    (:func:`minmax_scores`). Returns the scores and the videos whose PSNRs were constant."""
    results: list[VideoScores] = []
    constant: list[str] = []
    for vi, pos, n in windows.spans:
        v = videos[vi]
        frames = windows.scored[pos : pos + n]
        p = psnr[pos : pos + n]
        score, is_const = minmax_scores(p)
        if is_const:
            constant.append(v.name)
            msg = (
                f"video {v.name!r}: all {len(p)} PSNRs equal ({p[0]:.4f} dB); min-max "
                f"normalisation undefined, scores set to 0"
            )
            warnings.warn(msg, UserWarning, stacklevel=3)
            notes.append(msg)
        labels = None if v.labels is None else np.asarray(v.labels, dtype=np.int8)
        results.append(
            VideoScores(
                name=v.name,
                frames=frames.astype(np.int64),
                psnr=p.copy(),
                score=score,
                labels=None if labels is None else labels[frames],
                n_frames=len(v.frames),
                video_labels=None if labels is None else labels.copy(),
                constant_psnr=is_const,
            )
        )
    return results, constant


def _smooth(results: Sequence[VideoScores], smooth_sigma: float) -> None:
    """Optional: each video's scores smoothed over time (non-causal), as ``smoothed_score``."""
    for r in results:
        r.smoothed_score = smooth_scores(r.score, smooth_sigma) if smooth_sigma > 0 else None


def _score_kept(
    kept: Sequence[Reconstruction],
    results: Sequence[VideoScores],
    keep_frames: Mapping[str, set[int]],
) -> None:
    """Give each kept frame its normalised score; warn about requested frames with none."""
    by_name = {r.name: r for r in results}
    for rc in kept:
        r = by_name[rc.video]
        rc.score = float(r.score[np.searchsorted(r.frames, rc.frame)])
    for name, fs in keep_frames.items():
        got = {rc.frame for rc in kept if rc.video == name}
        if name in by_name and fs - got:
            warnings.warn(
                f"keep: frames {sorted(fs - got)[:10]} of video {name!r} get no score "
                f"and were skipped",
                UserWarning,
                stacklevel=3,
            )


def _label_notes(
    results: Sequence[VideoScores], missing: Sequence[str], require_labels: bool, notes: list[str]
) -> None:
    """Remarks on the videos the AUCs leave out for want of labels."""
    if missing:
        notes.append(f"{len(missing)} videos without labels left out of the AUCs: {missing}")
    if not any(r.labels is not None for r in results) and not require_labels:
        notes.append("no labels: AUCs not computed")


def _protocol(
    clip_len: int, score_index: int, pad_edges: bool, batch_size: int, smooth_sigma: float
) -> dict[str, Any]:
    """The protocol record of every result (``summary.json``'s ``protocol``)."""
    return {
        "clip_len": int(clip_len),
        "score_index": int(score_index),
        "pad_edges": bool(pad_edges),
        "batch_size": int(batch_size),
        "psnr": "10*log10(1/MSE) on [0,1] images ((x+1)/2), MSE floor 1e-10",
        "normalisation": "per-video min-max (Eq. 10); score = 1 - normalised PSNR",
        "micro_auc": "one frame-level ROC AUC over all scored frames",
        "macro_auc": "mean of per-video ROC AUCs (single-class videos skipped)",
        "macro_auc_padded": "mean of per-video ROC AUCs, every video padded with (label 0, "
        "score 0) in front and (label 1, score 1) at the end",
        "unnormalised_auc": "ROC AUC of -PSNR over all scored frames",
        "smooth_sigma": float(smooth_sigma),
    }


def _feed(
    localiser: Localiser,
    videos: Sequence[Video],
    video_index: np.ndarray,
    frames: np.ndarray,
    inputs: np.ndarray,
    recons: np.ndarray,
) -> None:
    """Hand one batch's error maps to ``localiser``, one call per video (in video order)."""
    maps = error_map(inputs, recons)
    for vi in np.unique(video_index):
        sel = video_index == vi
        localiser.add(videos[int(vi)], frames[sel], maps[sel])
