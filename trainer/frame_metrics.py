"""Frame-level metrics beside the micro AUC: macro AUC rules and temporal smoothing of scores.

* **Macro AUC** is the mean of per-video ROC AUCs. A video whose scored frames hold one class
  only has no AUC; two rules are in use:

  - ``"skip"``: leave such videos out (and list them). :func:`trainer.evaluation.evaluate`
    has always reported ``macro_auc`` this way.
  - ``"pad"``: the rule of the evaluation code that made the macro AUC common (Georgescu,
    Ionescu et al.; stated by its authors in the issue threads lilygeorgescu/UBnormal#3 and
    ristea/sspcab#8): every video's labels and scores get one normal frame scored 0 in front
    and one anomalous frame scored 1 at the end, so every video has an AUC and all videos
    count. Scores are the per-video min-max normalised ones, in [0, 1], so the two added
    frames sit at the ends of the range. A video of anomalous frames only then scores close
    to 1 whatever the model does, which is why both numbers are reported.

* **Temporal smoothing** (:func:`smooth_scores`): a 1-D Gaussian filter over each video's scores
  in frame order. It is **non-causal** (a frame's smoothed score uses later frames) and
  therefore off by default; the smoothed AUCs are reported beside the plain ones, never
  instead of them.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from scipy.ndimage import gaussian_filter1d
from sklearn.metrics import roc_auc_score

__all__ = ["MACRO_RULES", "macro_auc", "smooth_scores", "video_auc"]

MACRO_RULES: tuple[str, ...] = ("skip", "pad")
"""Rules for videos with one class: leave them out, or pad every video with (0, 0) and (1, 1)."""


def video_auc(labels: np.ndarray, scores: np.ndarray, rule: str = "skip") -> float | None:
    """ROC AUC of one video's scored frames under a macro-AUC rule.

    Parameters
    ----------
    labels : np.ndarray
        ``(n,)`` 0/1 frame labels.
    scores : np.ndarray
        ``(n,)`` scores in [0, 1], higher = more anomalous.
    rule : {"skip", "pad"}
        ``"skip"``: ``None`` when the frames hold one class. ``"pad"``: labels
        ``[0, *labels, 1]`` against scores ``[0, *scores, 1]`` (always defined).

    Returns
    -------
    float or None
    """
    y = np.asarray(labels).astype(np.int64).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"{y.size} labels but {s.size} scores")
    if rule == "pad":
        y = np.concatenate([[0], y, [1]])
        s = np.concatenate([[0.0], s, [1.0]])
    elif rule != "skip":
        raise ValueError(f"macro AUC rule must be one of {MACRO_RULES}, got {rule!r}")
    if np.unique(y).size < 2:
        return None
    return float(roc_auc_score(y, s))


def macro_auc(
    videos: Iterable[tuple[str, np.ndarray, np.ndarray]], rule: str = "skip"
) -> tuple[float | None, dict[str, float], list[str]]:
    """Mean of per-video AUCs under ``rule``.

    Parameters
    ----------
    videos : iterable of (name, labels, scores)
        One entry per labelled video (arrays ``(n,)`` as in :func:`video_auc`).
    rule : {"skip", "pad"}

    Returns
    -------
    mean : float or None
        ``None`` when no video has an AUC.
    per_video : dict
        ``{name: AUC}`` of the videos that count.
    skipped : list of str
        Videos without an AUC (single class; always empty under ``"pad"``).
    """
    per_video: dict[str, float] = {}
    skipped: list[str] = []
    for name, labels, scores in videos:
        a = video_auc(labels, scores, rule)
        if a is None:
            skipped.append(name)
        else:
            per_video[name] = a
    mean = float(np.mean(list(per_video.values()))) if per_video else None
    return mean, per_video, skipped


def smooth_scores(scores: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing of one video's scores over time (non-causal).

    Parameters
    ----------
    scores : np.ndarray
        ``(n,)`` scores of consecutive scored frames, in frame order.
    sigma : float
        Standard deviation in frames, >= 0; 0 returns a copy. The kernel reaches 4 sigma to
        each side; the ends repeat the first/last score (``mode="nearest"``).

    Returns
    -------
    np.ndarray
        ``float64`` ``(n,)``; scores in [0, 1] stay in [0, 1].
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1:
        raise ValueError(f"smooth_scores needs a 1-D array, got shape {s.shape}")
    if not sigma >= 0:
        raise ValueError(f"smoothing sigma must be >= 0 frames, got {sigma}")
    if sigma == 0 or s.size == 0:
        return s.copy()
    return gaussian_filter1d(s, float(sigma), mode="nearest", truncate=4.0)
