"""Localisation metrics: *where* in a frame the anomaly is, from per-pixel error maps.

Everything here is NumPy/SciPy on plain arrays; :class:`Localiser` plugs it into
:func:`trainer.evaluation.evaluate`. The definitions (docs/evaluation.md has them with formulas):

* **Error map** of a scored frame (:func:`error_map`): the per-pixel squared error between the
  frame and its reconstruction on the [0, 1] scale, averaged over channels. Its mean over the
  frame is the MSE of the frame's PSNR. It is resized to the size of the pixel masks with
  bilinear interpolation (:func:`resize_map`) before anything is compared with a mask.
* **Pixel AUC / AP**: ROC AUC and average precision of the error value of every pixel of every
  scored frame against the mask, pooled over the test set. Computed from a histogram of the
  error values (:class:`PixelScoreHistogram`, log-spaced bins; values within one bin count as
  ties), so no pixel is kept.
* **UCSD pixel-level criterion** (Mahadevan et al., CVPR 2010): at a threshold t a pixel is
  detected when its error is >= t; an anomalous frame (non-empty mask) is a true positive when
  at least 40 % of its mask pixels are detected, a normal frame is a false positive when any of
  its pixels is. Each frame reduces to one number (:func:`ucsd_frame_statistic`), the largest t
  at which it is positive, so the ROC over t is the ROC of those numbers: AUC and EER.
* **RBDC / TBDC** (Ramachandra and Jones, WACV 2020): predicted regions are the connected
  components (8-connectivity) of the error map thresholded at a per-video quantile, each scored
  by the largest error inside it; ground-truth regions are the mask's components; ground-truth
  tracks link regions of consecutive scored frames that share a pixel. A ground-truth region is
  detected at score threshold s when a predicted region of its frame with score >= s has
  IoU >= 0.1 with it; a track is detected when >= 10 % of its regions are; a predicted region
  with IoU < 0.1 with every ground-truth region of its frame is a false positive. The detection
  rate against false positives per frame, as s goes down, is integrated over [0, 1] false
  positives per frame (:func:`detection_curve`).
"""

from __future__ import annotations

import csv
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from scipy import ndimage
from sklearn.metrics import roc_auc_score, roc_curve

from trainer.atomic import write_atomic

__all__ = [
    "CONNECTIVITY",
    "COUNTS",
    "FRAME_CSV_COLUMNS",
    "METRICS",
    "DetectionCurve",
    "LocalisationFrame",
    "LocalisationResult",
    "Localiser",
    "PixelScoreHistogram",
    "TrackLinker",
    "components",
    "detection_curve",
    "equal_error_rate",
    "error_map",
    "iou_matrix",
    "link_tracks",
    "region_scores",
    "resize_map",
    "track_detection_scores",
    "ucsd_frame_statistic",
    "write_frames_csv",
]

CONNECTIVITY: np.ndarray = np.ones((3, 3), dtype=bool)
"""Structuring element of the connected components: 8-connectivity."""

METRICS: tuple[str, ...] = (
    "pixel_auc",
    "pixel_ap",
    "ucsd_pixel_auc",
    "ucsd_pixel_eer",
    "rbdc",
    "tbdc",
)
"""The scalar localisation metrics of :meth:`LocalisationResult.summary`, in report order."""

COUNTS: tuple[str, ...] = (
    "frames",
    "anomalous_frames",
    "pixels",
    "anomalous_pixels",
    "gt_regions",
    "gt_tracks",
    "pred_regions",
    "fp_regions",
)
"""The counts of :attr:`LocalisationResult.counts`, reported as
``localisation_<count>``."""

FRAME_CSV_COLUMNS: tuple[str, ...] = (
    "video",
    "frame",
    "anomalous",
    "anomalous_pixels",
    "max_error",
    "ucsd_statistic",
    "gt_regions",
    "pred_regions",
    "fp_regions",
)
"""Columns of the per-frame CSV written by :func:`write_frames_csv`."""

MaskLoader = Callable[[Any], "np.ndarray | None"]
"""``mask_loader(video) -> masks``: ``bool`` ``(K, H, W)`` for every frame of ``video``, or None."""


# --------------------------------------------------------------------------- maps


def error_map(inputs: np.ndarray, recons: np.ndarray) -> np.ndarray:
    """Per-pixel squared error on the [0, 1] scale, averaged over channels.

    Parameters
    ----------
    inputs, recons : np.ndarray
        ``(..., H, W, C)`` in the model range [-1, 1], same shape (frames and reconstructions).

    Returns
    -------
    np.ndarray
        ``float32`` ``(..., H, W)``, ``mean_c(((x - y) / 2) ** 2)``, >= 0. Its mean over H, W is
        the MSE of :func:`trainer.evaluation.frame_psnr`.
    """
    x = np.asarray(inputs, dtype=np.float32)
    y = np.asarray(recons, dtype=np.float32)
    if x.shape != y.shape or x.ndim < 3:
        raise ValueError(f"error_map needs two (..., H, W, C) arrays, got {x.shape} and {y.shape}")
    d = (x - y) * np.float32(0.5)
    return np.mean(d * d, axis=-1, dtype=np.float32)


def resize_map(score_map: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a 2-D map to ``size`` = ``(H, W)`` with bilinear interpolation (``cv2``).

    Returns
    -------
    np.ndarray
        ``float32`` ``(H, W)``; the map itself (as float32) when it already has that size.
    """
    m = np.asarray(score_map, dtype=np.float32)
    if m.ndim != 2:
        raise ValueError(f"resize_map needs a 2-D map, got shape {m.shape}")
    h, w = int(size[0]), int(size[1])
    if m.shape == (h, w):
        return m
    return cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR)


# --------------------------------------------------------------------------- pixel level


class PixelScoreHistogram:
    """Counts of anomalous and normal pixels per score bin: pixel ROC AUC and AP, no pixel kept.

    Bins are log-spaced between ``lo`` and ``hi`` (``bins`` of them, ratio
    ``(hi / lo) ** (1 / bins)`` between edges: 1.0011 by default), plus one bin below ``lo``
    (zeros included) and one at or above ``hi``. Scores that share a bin count as ties, as
    :func:`sklearn.metrics.roc_auc_score` counts equal scores.

    Parameters
    ----------
    lo, hi : float
        Range of the log-spaced bins (``0 < lo < hi``); error maps lie in [0, 1].
    bins : int
        Number of log-spaced bins.
    """

    def __init__(self, lo: float = 1e-8, hi: float = 1.0, bins: int = 16384) -> None:
        if not 0 < lo < hi:
            raise ValueError(f"PixelScoreHistogram needs 0 < lo < hi, got lo={lo}, hi={hi}")
        if bins < 1:
            raise ValueError(f"bins must be >= 1, got {bins}")
        self.lo, self.hi, self.bins = float(lo), float(hi), int(bins)
        self._log_lo = math.log10(self.lo)
        self._per_log = self.bins / (math.log10(self.hi) - self._log_lo)
        self.positive = np.zeros(self.bins + 2, dtype=np.int64)
        self.negative = np.zeros(self.bins + 2, dtype=np.int64)

    def bin_index(self, scores: np.ndarray) -> np.ndarray:
        """``int64`` bin of each score (0 below ``lo``, ``bins + 1`` at or above ``hi``)."""
        s = np.asarray(scores, dtype=np.float32).ravel()
        if not np.isfinite(s).all():
            raise ValueError("pixel scores must be finite (got NaN or infinity)")
        pos = (
            np.log10(np.maximum(s, np.float32(self.lo))) - np.float32(self._log_lo)
        ) * np.float32(self._per_log)
        idx = np.minimum(pos.astype(np.int64) + 1, self.bins + 1)
        idx[s < self.lo] = 0
        return idx

    def add(self, scores: np.ndarray, mask: np.ndarray) -> None:
        """Count the pixels of one map.

        Parameters
        ----------
        scores : np.ndarray
            Pixel scores (error values, >= 0), any shape.
        mask : np.ndarray
            ``bool`` of the same shape, True = anomalous pixel.
        """
        m = np.asarray(mask, dtype=bool)
        if np.shape(scores) != m.shape:
            raise ValueError(f"scores of shape {np.shape(scores)} but mask of shape {m.shape}")
        idx = self.bin_index(scores) * 2 + m.ravel()
        counts = np.bincount(idx, minlength=2 * (self.bins + 2)).reshape(-1, 2)
        self.negative += counts[:, 0]
        self.positive += counts[:, 1]

    @property
    def n_positive(self) -> int:
        return int(self.positive.sum())

    @property
    def n_negative(self) -> int:
        return int(self.negative.sum())

    def auc(self) -> float | None:
        """ROC AUC (ties within a bin count one half); ``None`` without both classes."""
        p, n = self.n_positive, self.n_negative
        if p == 0 or n == 0:
            return None
        pos = self.positive.astype(np.float64)
        above = p - np.cumsum(pos)  # positives in higher bins
        return float(np.sum(self.negative * (above + 0.5 * pos)) / (float(p) * float(n)))

    def average_precision(self) -> float | None:
        """Average precision ``sum_k (R_k - R_{k-1}) P_k`` over bins from the highest score down
        (each bin one threshold); ``None`` without anomalous pixels."""
        p = self.n_positive
        if p == 0:
            return None
        pos = self.positive[::-1].astype(np.float64)
        neg = self.negative[::-1].astype(np.float64)
        tp = np.cumsum(pos)
        predicted = tp + np.cumsum(neg)
        precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
        return float(np.sum(pos * precision) / p)


def ucsd_frame_statistic(score_map: np.ndarray, mask: np.ndarray, fraction: float = 0.4) -> float:
    """The largest threshold at which a frame is positive under the UCSD pixel-level criterion.

    Parameters
    ----------
    score_map : np.ndarray
        ``(H, W)`` pixel scores; a pixel is detected at threshold t when its score is >= t.
    mask : np.ndarray
        ``bool`` ``(H, W)`` ground truth.
    fraction : float
        Share of the mask's pixels that must be detected (0.4 in the UCSD protocol), in (0, 1].

    Returns
    -------
    float
        Anomalous frame (non-empty mask): the k-th largest score inside the mask,
        ``k = ceil(fraction * n_mask)`` (a true positive at every t up to it). Normal frame: the
        largest score of the frame (a false positive at every t up to it).
    """
    s = np.asarray(score_map)
    m = np.asarray(mask, dtype=bool)
    if s.shape != m.shape:
        raise ValueError(f"score map of shape {s.shape} but mask of shape {m.shape}")
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    inside = s[m]
    n = inside.size
    if n == 0:
        return float(s.max())
    k = max(1, math.ceil(fraction * n - 1e-9))
    return float(np.partition(inside, n - k)[n - k])


def equal_error_rate(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float] | None:
    """Equal error rate of a ROC: the rate where false positive rate = miss rate (1 - TPR).

    Parameters
    ----------
    labels : np.ndarray
        ``(n,)`` 0/1.
    scores : np.ndarray
        ``(n,)``, higher = more anomalous.

    Returns
    -------
    (eer, threshold) or None
        ``eer`` in [0, 1], linearly interpolated between the two ROC points where the miss rate
        falls to the false positive rate; ``threshold`` the score threshold of the second of
        them. ``None`` without both classes.
    """
    y = np.asarray(labels)
    if y.size == 0 or np.unique(y).size < 2:
        return None
    fpr, tpr, thr = roc_curve(y, np.asarray(scores, dtype=np.float64), drop_intermediate=False)
    diff = (1.0 - tpr) - fpr  # > 0 at the start (fpr 0, miss 1), < 0 at the end
    i = int(np.argmax(diff <= 0))
    d0, d1 = diff[i - 1], diff[i]
    eer = fpr[i - 1] + (fpr[i] - fpr[i - 1]) * d0 / (d0 - d1)
    return float(eer), float(thr[i])


# --------------------------------------------------------------------------- regions


def components(binary: np.ndarray) -> tuple[np.ndarray, int]:
    """Connected components (8-connectivity) of a 2-D boolean image.

    Returns
    -------
    labels : np.ndarray
        ``int32`` ``(H, W)``, 0 = background, 1..n = components.
    n : int
    """
    b = np.asarray(binary, dtype=bool)
    if b.ndim != 2:
        raise ValueError(f"components needs a 2-D image, got shape {b.shape}")
    if not b.any():
        return np.zeros(b.shape, dtype=np.int32), 0
    labels, n = ndimage.label(b, structure=CONNECTIVITY)
    return labels.astype(np.int32, copy=False), int(n)


def region_scores(
    score_map: np.ndarray, labels: np.ndarray, n: int, how: str = "max"
) -> np.ndarray:
    """Score of each labelled region: the largest (``"max"``) or mean (``"mean"``) pixel score.

    Returns
    -------
    np.ndarray
        ``float64`` ``(n,)``, region ``i + 1`` at index ``i``.
    """
    if how not in ("max", "mean"):
        raise ValueError(f"region score must be 'max' or 'mean', got {how!r}")
    if n == 0:
        return np.zeros(0, dtype=np.float64)
    fg = labels > 0
    lab = labels[fg].astype(np.int64) - 1
    val = np.asarray(score_map)[fg].astype(np.float64)
    if lab.size and (lab.max() >= n):
        raise ValueError(f"label image has labels above n={n}")
    if how == "mean":
        area = np.bincount(lab, minlength=n)
        return np.bincount(lab, weights=val, minlength=n) / np.maximum(area, 1)
    out = np.full(n, -np.inf)
    np.maximum.at(out, lab, val)
    return out


def iou_matrix(pred: np.ndarray, n_pred: int, gt: np.ndarray, n_gt: int) -> np.ndarray:
    """Intersection over union of every predicted region with every ground-truth region.

    Parameters
    ----------
    pred, gt : np.ndarray
        Label images of the same shape (0 = background), e.g. from :func:`components`.
    n_pred, n_gt : int
        Number of labels in each.

    Returns
    -------
    np.ndarray
        ``float64`` ``(n_pred, n_gt)`` in [0, 1].
    """
    if pred.shape != gt.shape:
        raise ValueError(f"label images differ in shape: {pred.shape} and {gt.shape}")
    if n_pred == 0 or n_gt == 0:
        return np.zeros((n_pred, n_gt), dtype=np.float64)
    in_gt = gt > 0
    pair = (pred[in_gt].astype(np.int64)) * (n_gt + 1) + gt[in_gt].astype(np.int64)
    counts = np.bincount(pair, minlength=(n_pred + 1) * (n_gt + 1)).reshape(n_pred + 1, n_gt + 1)
    inter = counts[1:, 1:].astype(np.float64)
    area_pred = np.bincount(pred.ravel(), minlength=n_pred + 1)[1 : n_pred + 1]
    area_gt = counts[:, 1:].sum(axis=0)
    union = area_pred[:, None] + area_gt[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


class TrackLinker:
    """Ground-truth tracks: regions of consecutive frames that share a pixel are one track.

    Feed the label image of each frame in order with :meth:`add`; regions get ids 0, 1, ... in
    the order they are seen; :meth:`tracks` gives each region's track (union-find over the
    overlaps). :meth:`break_chain` starts a new video (no link across it).
    """

    def __init__(self) -> None:
        self._parent: list[int] = []
        self._prev: np.ndarray | None = None
        self._prev_ids = np.zeros(0, dtype=np.int64)

    def _find(self, i: int) -> int:
        root = i
        while self._parent[root] != root:
            root = self._parent[root]
        while self._parent[i] != root:
            self._parent[i], i = root, self._parent[i]
        return root

    def add(self, labels: np.ndarray, n: int) -> np.ndarray:
        """Register the ``n`` regions of one frame's label image; returns their ids ``(n,)``."""
        ids = np.arange(len(self._parent), len(self._parent) + n, dtype=np.int64)
        self._parent.extend(int(i) for i in ids)
        if self._prev is not None and n and self._prev_ids.size:
            if self._prev.shape != labels.shape:
                raise ValueError(
                    f"label images of consecutive frames differ in shape: {self._prev.shape} "
                    f"and {labels.shape}"
                )
            both = (self._prev > 0) & (labels > 0)
            pairs = np.unique(
                self._prev[both].astype(np.int64) * (n + 1) + labels[both].astype(np.int64)
            )
            for p in pairs:
                a = self._find(int(self._prev_ids[p // (n + 1) - 1]))
                b = self._find(int(ids[p % (n + 1) - 1]))
                if a != b:
                    self._parent[b] = a
        self._prev, self._prev_ids = labels, ids
        return ids

    def break_chain(self) -> None:
        """The next frame does not follow the last one (another video)."""
        self._prev, self._prev_ids = None, np.zeros(0, dtype=np.int64)

    def tracks(self) -> np.ndarray:
        """``int64`` ``(n_regions,)``: track number of each region, 0..n_tracks-1 in order of
        first appearance."""
        roots = np.array([self._find(i) for i in range(len(self._parent))], dtype=np.int64)
        _, first, inverse = np.unique(roots, return_index=True, return_inverse=True)
        order = np.argsort(np.argsort(first))  # number tracks by their first region
        return order[inverse].astype(np.int64)


def link_tracks(label_frames: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Track number of every region of a sequence of consecutive label images.

    Parameters
    ----------
    label_frames : sequence of np.ndarray
        Label images ``(H, W)`` (0 = background, 1..n), in frame order.

    Returns
    -------
    list of np.ndarray
        Per frame, ``int64`` ``(n,)``: track of region ``i + 1`` at index ``i``.
    """
    linker = TrackLinker()
    ids = [linker.add(lab, int(lab.max(initial=0))) for lab in label_frames]
    tracks = linker.tracks()
    return [tracks[i] for i in ids]


def track_detection_scores(
    region_detected_at: np.ndarray, region_track: np.ndarray, fraction: float = 0.1
) -> np.ndarray:
    """The highest score threshold at which each track counts as detected.

    A track of n regions is detected at threshold s when at least ``ceil(fraction * n)`` of its
    regions are detected at s, i.e. up to the k-th largest of their ``region_detected_at``.

    Parameters
    ----------
    region_detected_at : np.ndarray
        ``(n_regions,)`` highest threshold at which each region is detected (``-inf``: never).
    region_track : np.ndarray
        ``(n_regions,)`` track number of each region, 0..n_tracks-1.
    fraction : float
        Share of a track's regions that must be detected, in (0, 1].

    Returns
    -------
    np.ndarray
        ``float64`` ``(n_tracks,)``.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"track fraction must be in (0, 1], got {fraction}")
    d = np.asarray(region_detected_at, dtype=np.float64)
    t = np.asarray(region_track, dtype=np.int64)
    if d.shape != t.shape:
        raise ValueError(f"{d.size} region scores but {t.size} track numbers")
    n_tracks = int(t.max()) + 1 if t.size else 0
    out = np.full(n_tracks, -np.inf)
    for k in range(n_tracks):
        vals = np.sort(d[t == k])[::-1]
        need = max(1, math.ceil(fraction * vals.size - 1e-9))
        out[k] = vals[need - 1]
    return out


@dataclass(eq=False)
class DetectionCurve:
    """Detection rate against false positives per frame (RBDC/TBDC curves).

    Attributes
    ----------
    fp_per_frame : np.ndarray
        ``float64`` x values from 0, non-decreasing, cut at ``max_fp_per_frame`` (last point:
        the curve at that x, interpolated, or held at its last value when the lowest threshold
        gives fewer false positives).
    rate : np.ndarray
        ``float64`` detection rate in [0, 1] at each x.
    auc : float or None
        Area under the curve over [0, max_fp_per_frame] divided by ``max_fp_per_frame``, in
        [0, 1]; ``None`` without targets.
    n_targets : int
        Ground-truth regions (RBDC) or tracks (TBDC).
    max_fp_per_frame : float
    """

    fp_per_frame: np.ndarray
    rate: np.ndarray
    auc: float | None
    n_targets: int
    max_fp_per_frame: float


def detection_curve(
    detected_at: np.ndarray,
    fp_scores: np.ndarray,
    n_frames: int,
    max_fp_per_frame: float = 1.0,
) -> DetectionCurve:
    """Detection rate against false positives per frame as the region-score threshold falls.

    At threshold s the rate is the share of targets with ``detected_at >= s`` and the x value
    the number of ``fp_scores >= s`` divided by ``n_frames``. The curve starts at (0, 0)
    (s above every score), joins the points of all distinct thresholds by straight lines, is
    held at its last rate beyond the lowest threshold and cut at ``max_fp_per_frame``.

    Parameters
    ----------
    detected_at : np.ndarray
        ``(n_targets,)`` highest threshold at which each target counts as detected (``-inf``:
        never).
    fp_scores : np.ndarray
        ``(n_fp,)`` scores of the false-positive regions.
    n_frames : int
        Frames the false positives are counted over (every scored frame, normal ones too).
    max_fp_per_frame : float
        Upper end of the x range (1 in the WACV 2020 paper).

    Returns
    -------
    DetectionCurve
        ``auc`` = area over [0, max_fp_per_frame] / max_fp_per_frame.
    """
    if n_frames < 1:
        raise ValueError(f"n_frames must be >= 1, got {n_frames}")
    if not max_fp_per_frame > 0:
        raise ValueError(f"max_fp_per_frame must be > 0, got {max_fp_per_frame}")
    d = np.asarray(detected_at, dtype=np.float64).ravel()
    f = np.asarray(fp_scores, dtype=np.float64).ravel()
    if np.isnan(d).any() or not np.all(np.isfinite(f)):
        raise ValueError("detection scores must not be NaN; false-positive scores must be finite")
    thr = np.unique(np.concatenate([d[np.isfinite(d)], f]))[::-1]
    d_sorted, f_sorted = np.sort(d), np.sort(f)
    rate = (d.size - np.searchsorted(d_sorted, thr, side="left")) / max(d.size, 1)
    fpr = (f.size - np.searchsorted(f_sorted, thr, side="left")) / n_frames
    x = np.concatenate([[0.0], fpr])
    y = np.concatenate([[0.0], rate])
    k = int(np.searchsorted(x, max_fp_per_frame, side="right"))  # points with x <= max
    if k < x.size:
        y_end = y[k - 1] + (y[k] - y[k - 1]) * (max_fp_per_frame - x[k - 1]) / (x[k] - x[k - 1])
    else:
        y_end = y[-1]
    x = np.concatenate([x[:k], [max_fp_per_frame]])
    y = np.concatenate([y[:k], [y_end]])
    area = float(np.sum(np.diff(x) * (y[1:] + y[:-1]) * 0.5))
    auc = area / max_fp_per_frame if d.size else None
    return DetectionCurve(x, y, auc, int(d.size), float(max_fp_per_frame))


# --------------------------------------------------------------------------- accumulation


@dataclass(eq=False)
class LocalisationFrame:
    """One frame kept for the localisation figure (all arrays at the mask's size).

    Attributes
    ----------
    video : str
    frame : int
        0-based frame index within the video.
    image : np.ndarray
        ``float32`` ``(H, W)`` in [0, 1], the input frame (channel mean), resized to the mask.
    error : np.ndarray
        ``float32`` ``(H, W)`` error map.
    mask : np.ndarray
        ``bool`` ``(H, W)`` ground truth.
    threshold : float
        The video's region threshold (the predicted regions are ``error > threshold``).
    """

    video: str
    frame: int
    image: np.ndarray
    error: np.ndarray
    mask: np.ndarray
    threshold: float


@dataclass(eq=False)
class LocalisationResult:
    """Everything :class:`Localiser` measured; :meth:`summary` is the JSON part.

    Attributes
    ----------
    pixel_auc, pixel_ap : float or None
        Pixel-level ROC AUC and average precision (None without both pixel classes).
    ucsd_auc, ucsd_eer, ucsd_eer_threshold : float or None
        UCSD pixel-level criterion: ROC AUC, equal error rate and its error threshold.
    rbdc, tbdc : DetectionCurve or None
        Region- and track-based detection curves (``.auc`` is the RBDC/TBDC number).
    counts : dict
        Frames, anomalous frames, pixels, regions, tracks, false-positive regions.
    params : dict
        The settings (see :class:`Localiser`).
    thresholds : dict
        ``{video: region threshold}``.
    frames : list of dict
        One row per scored frame with a mask (:data:`FRAME_CSV_COLUMNS`).
    videos_without_masks : list of str
        Scored videos left out (no pixel masks).
    figure_frames : list of LocalisationFrame
        Frames kept for :func:`trainer.plots.plot_localisation`.
    seconds : float
        Time spent in the localisation code (mask loading included).
    """

    pixel_auc: float | None
    pixel_ap: float | None
    ucsd_auc: float | None
    ucsd_eer: float | None
    ucsd_eer_threshold: float | None
    rbdc: DetectionCurve | None
    tbdc: DetectionCurve | None
    counts: dict[str, int]
    params: dict[str, Any]
    thresholds: dict[str, float]
    frames: list[dict[str, Any]] = field(default_factory=list)
    videos_without_masks: list[str] = field(default_factory=list)
    figure_frames: list[LocalisationFrame] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        """Scalars, counts, parameters and thresholds (plain Python types; NaN-free)."""
        return {
            "pixel_auc": self.pixel_auc,
            "pixel_ap": self.pixel_ap,
            "ucsd_pixel_auc": self.ucsd_auc,
            "ucsd_pixel_eer": self.ucsd_eer,
            "ucsd_pixel_eer_threshold": self.ucsd_eer_threshold,
            "rbdc": None if self.rbdc is None else self.rbdc.auc,
            "tbdc": None if self.tbdc is None else self.tbdc.auc,
            "counts": dict(self.counts),
            "params": dict(self.params),
            "region_thresholds": {k: float(v) for k, v in self.thresholds.items()},
            "videos_without_masks": list(self.videos_without_masks),
            "seconds": float(self.seconds),
        }

    def curves(self) -> dict[str, Any]:
        """``{"rbdc": {"fp_per_frame": [...], "rate": [...]}, "tbdc": ...}`` for plotting."""
        out: dict[str, Any] = {}
        for name, c in (("rbdc", self.rbdc), ("tbdc", self.tbdc)):
            if c is not None:
                out[name] = {"fp_per_frame": c.fp_per_frame.tolist(), "rate": c.rate.tolist()}
        return out


class Localiser:
    """Collects error maps during :func:`trainer.evaluation.evaluate` and computes the metrics.

    ``evaluate(..., localiser=Localiser())`` calls :meth:`add` with the error maps of each
    batch's scored frames, grouped by video, and :meth:`finish` at the end; a Localiser serves
    one evaluation (a finished one refuses more maps). One video's maps
    are kept at the model's resolution until the next video starts; then each frame's map is
    resized to its mask, counted and dropped, so memory stays at one video's maps.

    Parameters
    ----------
    mask_loader : callable or None
        ``mask_loader(video) -> bool (K, H, W)`` or None: the pixel masks of every frame of a
        video, at any size (the error maps are resized to it). Default: ``video.masks`` (at the
        frames' size). :func:`trainer.datasets.load_pixel_masks` reads them at the files' size.
    map_sigma : float
        Standard deviation, in pixels at the model's resolution, of a Gaussian filter applied
        to each error map before anything else (``scipy.ndimage.gaussian_filter``, mode
        ``"nearest"``); 0 (default) = the raw error map.
    region_quantile : float
        Predicted regions of a video are the components of ``error > q``-quantile of that
        video's error values (all scored frames, at the model's resolution), in (0, 1).
    region_threshold : float or None
        A fixed error threshold for every video instead of the quantile.
    region_score : {"max", "mean"}
        How a predicted region is scored from its pixels.
    iou : float
        IoU at or above which a predicted region detects a ground-truth region (0.1).
    track_fraction : float
        Share of a track's regions that must be detected for the track to be (0.1).
    ucsd_fraction : float
        Share of a frame's anomalous pixels the UCSD criterion needs detected (0.4).
    max_fp_per_frame : float
        Upper end of the RBDC/TBDC x range (1.0).
    figure_frames : int
        Frames per video kept for the localisation figure (evenly spaced over the anomalous
        frames, or over all frames of a video without any).
    """

    def __init__(
        self,
        mask_loader: MaskLoader | None = None,
        *,
        map_sigma: float = 0.0,
        region_quantile: float = 0.99,
        region_threshold: float | None = None,
        region_score: str = "max",
        iou: float = 0.1,
        track_fraction: float = 0.1,
        ucsd_fraction: float = 0.4,
        max_fp_per_frame: float = 1.0,
        figure_frames: int = 4,
    ) -> None:
        if not map_sigma >= 0:
            raise ValueError(f"map_sigma must be >= 0, got {map_sigma}")
        if not 0 < region_quantile < 1:
            raise ValueError(f"region_quantile must be in (0, 1), got {region_quantile}")
        if region_score not in ("max", "mean"):
            raise ValueError(f"region_score must be 'max' or 'mean', got {region_score!r}")
        for name, v in (("iou", iou), ("track_fraction", track_fraction)):
            if not 0 < v <= 1:
                raise ValueError(f"{name} must be in (0, 1], got {v}")
        if not 0 < ucsd_fraction <= 1:
            raise ValueError(f"ucsd_fraction must be in (0, 1], got {ucsd_fraction}")
        if not max_fp_per_frame > 0:
            raise ValueError(f"max_fp_per_frame must be > 0, got {max_fp_per_frame}")
        self.mask_loader = mask_loader
        self.map_sigma = float(map_sigma)
        self.region_quantile = float(region_quantile)
        self.region_threshold = None if region_threshold is None else float(region_threshold)
        self.region_score = region_score
        self.iou = float(iou)
        self.track_fraction = float(track_fraction)
        self.ucsd_fraction = float(ucsd_fraction)
        self.max_fp_per_frame = float(max_fp_per_frame)
        self.n_figure_frames = int(figure_frames)
        self._video: Any = None
        self._frames: list[np.ndarray] = []
        self._maps: list[np.ndarray] = []
        self._hist = PixelScoreHistogram()
        self._linker = TrackLinker()
        self._ucsd: list[float] = []
        self._ucsd_labels: list[int] = []
        self._gt_best: list[np.ndarray] = []
        self._fp_scores: list[np.ndarray] = []
        self._n_pred = 0
        self._rows: list[dict[str, Any]] = []
        self._thresholds: dict[str, float] = {}
        self._no_masks: list[str] = []
        self._figure: list[LocalisationFrame] = []
        self._seconds = 0.0
        self._finished = False

    def params(self) -> dict[str, Any]:
        """The settings, as recorded in ``summary.json``."""
        return {
            "error_map": "mean over channels of the squared error on [0,1] images, resized "
            "bilinearly to the mask size",
            "map_sigma": self.map_sigma,
            "region_quantile": self.region_quantile,
            "region_threshold": self.region_threshold,
            "region_score": self.region_score,
            "connectivity": 8,
            "iou": self.iou,
            "track_fraction": self.track_fraction,
            "track_link": "regions of consecutive scored frames sharing a pixel",
            "ucsd_fraction": self.ucsd_fraction,
            "max_fp_per_frame": self.max_fp_per_frame,
            "auc_normalisation": "area over [0, max_fp_per_frame] / max_fp_per_frame",
            "pixel_histogram": f"{self._hist.bins} log bins in [{self._hist.lo:g}, "
            f"{self._hist.hi:g}]",
        }

    def add(self, video: Any, frames: np.ndarray, maps: np.ndarray) -> None:
        """Error maps of some scored frames of ``video`` (frames of one video come in order).

        Parameters
        ----------
        video : trainer.data.Video
            The video (``name``, ``frames`` and what ``mask_loader`` reads).
        frames : np.ndarray
            ``(n,)`` 0-based indices of the scored frames, ascending across calls.
        maps : np.ndarray
            ``(n, h, w)`` their error maps (:func:`error_map`) at the model's resolution.
        """
        if self._finished:
            raise ValueError("this Localiser has finished; use a new one for another evaluation")
        t0 = time.perf_counter()
        maps = np.asarray(maps, dtype=np.float32)
        frames = np.asarray(frames, dtype=np.int64)
        if maps.ndim != 3 or len(maps) != len(frames):
            raise ValueError(
                f"video {video.name!r}: {len(frames)} frames but maps of shape {maps.shape} "
                f"(expected (n, h, w))"
            )
        if self._video is not None and self._video is not video:
            self._flush()
        self._video = video
        self._frames.append(frames)
        self._maps.append(maps.copy())
        self._seconds += time.perf_counter() - t0

    def _flush(self) -> None:
        video, self._video = self._video, None
        frames = np.concatenate(self._frames)
        maps = np.concatenate(self._maps)
        self._frames, self._maps = [], []
        loader = self.mask_loader or (lambda v: v.masks)
        masks = loader(video)
        if masks is None:
            self._no_masks.append(video.name)
            return
        masks = np.asarray(masks)
        if masks.ndim != 3 or len(masks) != len(video):
            raise ValueError(
                f"video {video.name!r}: pixel masks of shape {masks.shape} but {len(video)} "
                f"frames (expected ({len(video)}, H, W))"
            )
        if self.map_sigma > 0:
            sigma = (0.0, self.map_sigma, self.map_sigma)
            maps = ndimage.gaussian_filter(maps, sigma, mode="nearest")
        if self.region_threshold is not None:
            theta = self.region_threshold
        else:
            theta = float(np.quantile(maps, self.region_quantile))
        self._thresholds[video.name] = theta
        size = masks.shape[1:]
        anomalous = np.array([bool(masks[f].any()) for f in frames])
        pool = np.flatnonzero(anomalous) if anomalous.any() else np.arange(len(frames))
        keep = set(_spread(pool, self.n_figure_frames).tolist())
        self._linker.break_chain()
        for i, f in enumerate(frames):
            err = resize_map(maps[i], size)
            gt = np.asarray(masks[f], dtype=bool)
            self._hist.add(err, gt)
            stat = ucsd_frame_statistic(err, gt, self.ucsd_fraction)
            self._ucsd.append(stat)
            self._ucsd_labels.append(int(anomalous[i]))
            gt_lab, n_gt = components(gt)
            pred_lab, n_pred = components(err > theta)
            scores = region_scores(err, pred_lab, n_pred, self.region_score)
            iou = iou_matrix(pred_lab, n_pred, gt_lab, n_gt)
            hit = iou >= self.iou
            best = np.where(hit, scores[:, None], -np.inf).max(axis=0, initial=-np.inf)
            fp = scores[~hit.any(axis=1)]
            self._gt_best.append(best)
            self._fp_scores.append(fp)
            self._n_pred += n_pred
            self._linker.add(gt_lab, n_gt)
            self._rows.append(
                {
                    "video": video.name,
                    "frame": int(f),
                    "anomalous": int(anomalous[i]),
                    "anomalous_pixels": int(gt.sum()),
                    "max_error": float(err.max()),
                    "ucsd_statistic": stat,
                    "gt_regions": n_gt,
                    "pred_regions": n_pred,
                    "fp_regions": int(fp.size),
                }
            )
            if i in keep:
                image = np.asarray(video.frames[f], dtype=np.float32).mean(axis=-1) / 255.0
                self._figure.append(
                    LocalisationFrame(
                        video.name, int(f), resize_map(image, size), err, gt.copy(), theta
                    )
                )

    def finish(self) -> LocalisationResult:
        """Process the last video and compute every metric."""
        if self._finished:
            raise ValueError("this Localiser has finished already")
        self._finished = True
        t0 = time.perf_counter()
        if self._video is not None:
            self._flush()
        labels = np.asarray(self._ucsd_labels, dtype=np.int64)
        stats = np.asarray(self._ucsd, dtype=np.float64)
        ucsd_auc = ucsd_eer = ucsd_thr = None
        if labels.size and np.unique(labels).size == 2:
            ucsd_auc = float(roc_auc_score(labels, stats))
            ucsd_eer, ucsd_thr = equal_error_rate(labels, stats)  # type: ignore[misc]
        n_frames = len(self._rows)
        best = np.concatenate(self._gt_best) if self._gt_best else np.zeros(0)
        fps = np.concatenate(self._fp_scores) if self._fp_scores else np.zeros(0)
        tracks = self._linker.tracks()
        rbdc = tbdc = None
        if n_frames:
            rbdc = detection_curve(best, fps, n_frames, self.max_fp_per_frame)
            track_best = track_detection_scores(best, tracks, self.track_fraction)
            tbdc = detection_curve(track_best, fps, n_frames, self.max_fp_per_frame)
        counts = {
            "frames": n_frames,
            "anomalous_frames": int(labels.sum()),
            "pixels": self._hist.n_positive + self._hist.n_negative,
            "anomalous_pixels": self._hist.n_positive,
            "gt_regions": int(best.size),
            "gt_tracks": int(tracks.max()) + 1 if tracks.size else 0,
            "pred_regions": int(self._n_pred),
            "fp_regions": int(fps.size),
        }
        self._seconds += time.perf_counter() - t0
        return LocalisationResult(
            pixel_auc=self._hist.auc(),
            pixel_ap=self._hist.average_precision(),
            ucsd_auc=ucsd_auc,
            ucsd_eer=ucsd_eer,
            ucsd_eer_threshold=ucsd_thr,
            rbdc=rbdc,
            tbdc=tbdc,
            counts=counts,
            params=self.params(),
            thresholds=dict(self._thresholds),
            frames=list(self._rows),
            videos_without_masks=list(self._no_masks),
            figure_frames=list(self._figure),
            seconds=self._seconds,
        )


def _spread(idx: np.ndarray, n: int) -> np.ndarray:
    """Up to ``n`` entries of ``idx`` spread evenly (at positions 1/(n+1) .. n/(n+1))."""
    if n <= 0:
        return idx[:0]
    if idx.size <= n:
        return idx
    picks = np.round(np.linspace(0, idx.size - 1, n + 2)[1:-1]).astype(np.int64)
    return idx[np.unique(picks)]


def write_frames_csv(result: LocalisationResult, path: str | os.PathLike) -> Path:
    """Write one row per scored frame with a mask (:data:`FRAME_CSV_COLUMNS`).

    Returns
    -------
    pathlib.Path
        ``path`` (parent folders are created).
    """

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(FRAME_CSV_COLUMNS)
            for row in result.frames:
                w.writerow(
                    [
                        f"{row[c]:.6g}" if isinstance(row[c], float) else row[c]
                        for c in FRAME_CSV_COLUMNS
                    ]
                )

    return write_atomic(path, write)
