"""Frame labels from users' own label files, aligned to the frames the protocol scores.

:func:`trainer.evaluation.evaluate` needs one 0/1 label per **frame** of each video
(``Video.labels``, ``(K,)``) and scores the frame at ``score_index`` of every T-frame window.
Label files often hold one label per **clip** instead (a window, or a fixed-length segment).
These helpers turn them into frame labels:

* :func:`read_labels`: a ``.npy`` array or a text file of 0/1 values;
* :func:`clip_labels_to_frames`: clip ``i`` covers frames ``[i * stride, i * stride + clip_len)``;
  rule ``"any"`` (a frame is anomalous when a clip covering it is), ``"all"`` (when every clip
  covering it is) or ``"scored"`` (clip ``i``'s label goes to its scored frame
  ``i * stride + score_index`` only: with ``stride=1`` and the evaluation's ``clip_len`` this
  is exactly the window-to-frame map of :func:`evaluate`);
* :func:`scored_frames`: the frame each window of :func:`evaluate` scores, to pick the labels of
  the scored frames out of per-frame labels (``labels[scored_frames(K)]``).

Example::

    video.labels = clip_labels_to_frames(read_labels("clips.txt"), len(video), clip_len=16)
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

__all__ = ["CLIP_RULES", "clip_labels_to_frames", "read_labels", "scored_frames"]

CLIP_RULES: tuple[str, ...] = ("any", "all", "scored")
"""How clip labels become frame labels (see :func:`clip_labels_to_frames`)."""


def read_labels(path: str | os.PathLike) -> np.ndarray:
    """Read 0/1 labels from a ``.npy`` file or a text file (values split by commas/whitespace).

    Parameters
    ----------
    path : str or os.PathLike
        ``.npy``: a 1-D array or one of shape ``(1, n)``. Anything else is read as text; empty
        lines and lines starting with ``#`` are ignored.

    Returns
    -------
    np.ndarray
        ``int8`` ``(n,)`` of 0 and 1.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        A value other than 0/1 (the file and the first bad value are named), or a ``.npy``
        array of another shape.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"label file {p} does not exist")
    if p.suffix.lower() == ".npy":
        arr = np.load(p, allow_pickle=False)
        if arr.ndim == 2 and arr.shape[0] == 1:
            arr = arr[0]
        if arr.ndim != 1:
            raise ValueError(f"label file {p}: expected a 1-D array or (1, n), got {arr.shape}")
        values = arr.tolist()
    else:
        values = []
        for line in p.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                values.extend(v for v in re.split(r"[,\s]+", line) if v)
    out = np.empty(len(values), dtype=np.int8)
    for i, v in enumerate(values):
        try:
            f = float(v)
        except (TypeError, ValueError):
            f = float("nan")
        if f not in (0.0, 1.0):
            raise ValueError(f"label file {p}: value {i} is {v!r}, expected 0 or 1")
        out[i] = int(f)
    return out


def clip_labels_to_frames(
    clip_labels: np.ndarray,
    n_frames: int,
    *,
    clip_len: int = 16,
    stride: int = 1,
    rule: str = "any",
    score_index: int | None = None,
    fill: int = 0,
) -> np.ndarray:
    """Frame labels of a video from labels of its clips.

    Parameters
    ----------
    clip_labels : np.ndarray
        ``(n_clips,)`` 0/1; clip ``i`` covers frames ``[i * stride, i * stride + clip_len)``.
    n_frames : int
        Frames K of the video; the last clip must end within them.
    clip_len : int
        Frames per clip.
    stride : int
        Frames between the starts of consecutive clips (1: sliding windows; ``clip_len``:
        back-to-back segments).
    rule : {"any", "all", "scored"}
        ``"any"``: 1 when any clip covering the frame is 1. ``"all"``: 1 when every clip
        covering it is 1. ``"scored"``: frame ``i * stride + score_index`` gets clip ``i``'s
        label, other frames get ``fill``.
    score_index : int or None
        Position of the scored frame in a clip (``"scored"`` only); default ``clip_len // 2``
        as in :func:`trainer.evaluation.evaluate`.
    fill : int
        Label of frames that no clip labels (0 or 1). With ``rule="scored"`` and
        ``stride=1`` these are the first ``score_index`` and last ``clip_len - 1 -
        score_index`` frames, which :func:`evaluate` does not score unless ``pad_edges``.

    Returns
    -------
    np.ndarray
        ``int8`` ``(n_frames,)``.

    Raises
    ------
    ValueError
        Bad rule or sizes, labels other than 0/1, clips running past ``n_frames`` (the numbers
        are given).
    """
    y = np.asarray(clip_labels)
    if y.ndim != 1:
        raise ValueError(f"clip labels must be 1-D, got shape {y.shape}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("clip labels must be 0 or 1")
    if rule not in CLIP_RULES:
        raise ValueError(f"rule must be one of {CLIP_RULES}, got {rule!r}")
    if clip_len < 1 or stride < 1:
        raise ValueError(f"clip_len and stride must be >= 1, got {clip_len} and {stride}")
    if fill not in (0, 1):
        raise ValueError(f"fill must be 0 or 1, got {fill}")
    n = y.size
    if n and (n - 1) * stride + clip_len > n_frames:
        raise ValueError(
            f"{n} clips of {clip_len} frames every {stride} frames need "
            f"{(n - 1) * stride + clip_len} frames, the video has {n_frames}"
        )
    out = np.full(n_frames, fill, dtype=np.int8)
    starts = np.arange(n) * stride
    if rule == "scored":
        if score_index is None:
            score_index = clip_len // 2
        if not 0 <= score_index < clip_len:
            raise ValueError(f"score_index must be in [0, {clip_len - 1}], got {score_index}")
        out[starts + score_index] = y
        return out
    covering = np.zeros(n_frames, dtype=np.int64)  # clips covering each frame
    positive = np.zeros(n_frames, dtype=np.int64)  # of which labelled 1
    for s, label in zip(starts, y, strict=True):
        covering[s : s + clip_len] += 1
        positive[s : s + clip_len] += int(label)
    covered = covering > 0
    if rule == "any":
        out[covered] = positive[covered] > 0
    else:
        out[covered] = positive[covered] == covering[covered]
    return out


def scored_frames(
    n_frames: int, clip_len: int = 16, score_index: int | None = None, pad_edges: bool = False
) -> np.ndarray:
    """The frame each window of :func:`trainer.evaluation.evaluate` scores, in window order.

    Parameters
    ----------
    n_frames : int
        Frames K of the video.
    clip_len : int
        Window length T.
    score_index : int or None
        Scored position in the window; default ``clip_len // 2``.
    pad_edges : bool
        As in :func:`evaluate`: every frame is scored (``arange(K)``) instead of frames
        ``score_index .. K - T + score_index``.

    Returns
    -------
    np.ndarray
        ``int64`` ``(n_windows,)``, ascending (empty when K < T without padding).
    """
    if score_index is None:
        score_index = clip_len // 2
    if not 0 <= score_index < clip_len:
        raise ValueError(f"score_index must be in [0, {clip_len - 1}], got {score_index}")
    if pad_edges:
        return np.arange(n_frames, dtype=np.int64)
    return np.arange(max(0, n_frames - clip_len + 1), dtype=np.int64) + score_index
