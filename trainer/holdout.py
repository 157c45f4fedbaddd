"""Validation without test labels: pseudo anomalies made from held-out normal clips.

Picking an epoch (or a setting) by the test AUC reports a number that was optimised on the test
labels. This module gives a validation AUC that needs no anomaly label at all:

1. **Hold out** part of the normal training data (:func:`split_holdout`): the tail of every
   training video (``val_holdout: tail``) or whole videos (``videos``). Training never sees
   those frames.
2. **Make a labelled validation set** from them (:func:`make_validation_set`): ``val_clips``
   clips of T frames, evenly spread over the held-out windows; clip ``i`` goes through the
   ``val_pipeline`` (a :class:`pseudoanom.Pipeline`, in the form of the config's ``pipeline``)
   with ``numpy.random.default_rng([val_seed, i])``. A clip the pipeline makes a pseudo
   anomaly has label 1, an untouched one label 0. The set depends only on the held-out frames,
   ``val_pipeline``, ``val_clips`` and ``val_seed``, not on the training seed.
3. **Score** it as :mod:`trainer.evaluation` scores a test window (:func:`score_validation_set`):
   the model reconstructs each clip and the clip's score is minus the PSNR of its scored frame
   (the frame at ``T // 2``) against the reconstruction. No per-video normalisation: the clips
   come from several videos and the score must compare across them.
4. **AUC**: one ROC AUC over the clips (``val_auc``), reported after every epoch by
   :class:`ValidationCallback` (``history.json``, TensorBoard's ``validation`` run), which
   also keeps the weights of the best epoch so far for ``keep_best: val_auc``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
from sklearn.metrics import roc_auc_score

import pseudoanom
from trainer.config import HOLDOUT_MODES, ConfigError
from trainer.data import Video
from trainer.evaluation import PredictFn, Windows, frame_psnr, reconstruct_windows

__all__ = [
    "BEST_MODEL",
    "ValidationCallback",
    "ValidationSet",
    "best_epoch",
    "make_validation_set",
    "score_validation_set",
    "split_holdout",
    "validation_auc",
]

BEST_MODEL = "best.keras"
"""File name, in the run's ``checkpoint/`` folder, of the weights of the best validation epoch."""


def split_holdout(
    videos: Sequence[Video], fraction: float, mode: str, clip_length: int
) -> tuple[list[Video], list[Video]]:
    """Split the normal training videos into what training sees and what validation holds out.

    Parameters
    ----------
    videos : sequence of Video
        The training split.
    fraction : float
        In (0, 1): the share held out.
    mode : str
        ``tail``: the last ``max(ceil(fraction * K), 2 * clip_length)`` frames of each video of
        K frames (at least two clips, so that ``skip_frame`` at step 2 fits in a tail); a video
        with fewer than ``clip_length`` frames left stays whole in training. ``videos``:
        ``max(1, round(fraction * n))`` of the n videos, evenly spread in their order.
    clip_length : int
        T: a held-out part holds at least one clip.

    Returns
    -------
    train, held_out : list of Video
        Views of the frames (no copy). ``held_out`` tails are named ``<video>@<first frame>``.

    Raises
    ------
    ConfigError
        Nothing is held out, or nothing is left to train on.
    """
    if mode not in HOLDOUT_MODES:
        raise ConfigError(f"config key 'val_holdout' = {mode!r}: one of {', '.join(HOLDOUT_MODES)}")
    train: list[Video] = []
    held: list[Video] = []
    if mode == "videos":
        n = len(videos)
        n_held = max(1, round(fraction * n))
        picked = {int((i + 0.5) * n / n_held) for i in range(n_held)}
        for i, v in enumerate(videos):
            (held if i in picked else train).append(v)
    else:
        for v in videos:
            k = len(v)
            n_held = max(math.ceil(fraction * k), 2 * clip_length)
            if k - n_held < clip_length:
                train.append(v)
                continue
            cut = k - n_held
            train.append(Video(v.name, v.frames[:cut], None, None, v.path))
            held.append(Video(f"{v.name}@{cut}", v.frames[cut:], None, None, v.path))
    if not held:
        raise ConfigError(
            f"val_fraction={fraction:g}, val_holdout={mode!r}: no video holds out a clip of "
            f"{clip_length} frames; raise val_fraction or use val_holdout: videos"
        )
    if not train:
        raise ConfigError(
            f"val_fraction={fraction:g}, val_holdout={mode!r}: no training video is left"
        )
    return train, held


@dataclass(frozen=True)
class ValidationSet:
    """The labelled validation clips.

    Attributes
    ----------
    clips : np.ndarray
        ``uint8`` ``(N, T, H, W, C)``: what the model is given.
    labels : np.ndarray
        ``int8`` ``(N,)``: 1 = pseudo anomaly, 0 = untouched held-out clip.
    origins : list of (str, int, str or None)
        ``(held-out video, first frame, transform name or None)`` of each clip.
    held_out : tuple of Video
        The held-out normal videos the clips come from (views, no copy); :func:`trainer.train.train`
        calibrates the trained model on them (:mod:`trainer.calibration`).
    """

    clips: np.ndarray
    labels: np.ndarray
    origins: list[tuple[str, int, str | None]]
    held_out: tuple[Video, ...] = field(default=(), repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.labels)


def make_validation_set(
    held_out: Sequence[Video],
    clip_length: int,
    pipeline: pseudoanom.Pipeline,
    n_clips: int,
    seed: int,
) -> ValidationSet:
    """``n_clips`` clips of the held-out videos, each through ``pipeline`` with its own seed.

    The clips start at evenly spaced positions of the list of every stride-1 window of the
    held-out videos (a window is used again, with another draw, when ``n_clips`` exceeds
    them); clip ``i`` draws from ``numpy.random.default_rng([seed, i])``.

    Raises
    ------
    ConfigError
        The held-out videos hold no clip, or the draws give one label only (raise ``val_clips``
        or move the pipeline's ``p`` towards 0.5).
    """
    windows = [(v, s) for v in held_out for s in range(len(v) - clip_length + 1)]
    if not windows:
        raise ConfigError(f"the held-out videos hold no clip of {clip_length} frames")
    clips, labels, origins = [], [], []
    for i in range(n_clips):
        video, start = windows[i * len(windows) // n_clips]
        try:
            res = pipeline.from_video(
                video.frames, start, clip_length, rng=np.random.default_rng([seed, i])
            )
        except ValueError as e:
            raise ConfigError(
                f"config key 'val_pipeline': held-out video {video.name!r} "
                f"({len(video)} frames): {e}"
            ) from None
        clips.append(res.clip)
        labels.append(int(res.label))
        origins.append((video.name, start, res.params.get("transform")))
    labels_arr = np.asarray(labels, np.int8)
    if labels_arr.min() == labels_arr.max():
        raise ConfigError(
            f"the validation set's {n_clips} clips all have label {labels_arr[0]}: raise "
            f"val_clips or move val_pipeline's p towards 0.5"
        )
    return ValidationSet(np.stack(clips), labels_arr, origins, tuple(held_out))


def score_validation_set(
    valset: ValidationSet,
    predict_fn: PredictFn,
    batch_size: int = 8,
    fixed_batch: bool = False,
) -> np.ndarray:
    """The PSNR (dB) of each validation clip's scored frame (``T // 2``) against its
    reconstruction: :func:`trainer.evaluation.reconstruct_windows` and
    :func:`~trainer.evaluation.frame_psnr` on one window per clip.

    Returns
    -------
    np.ndarray
        ``float64`` ``(N,)``; the anomaly score is its negative.
    """
    n, t = valset.clips.shape[:2]
    video = Video("validation", valset.clips.reshape(n * t, *valset.clips.shape[2:]), None, None)
    windows = Windows(
        video=np.zeros(n, np.int64),
        first=np.arange(n, dtype=np.int64) * t,
        clip_len=t,
        score_index=t // 2,
        spans=[(0, 0, n)],
        unscored=[],
    )
    psnr = np.empty(n, np.float64)
    for sl, inputs, recons in reconstruct_windows(
        [video], windows, predict_fn, batch_size, fixed_batch
    ):
        psnr[sl] = frame_psnr(inputs, recons)
    return psnr


def validation_auc(labels: np.ndarray, psnr: np.ndarray) -> float:
    """ROC AUC of the score ``-psnr`` against ``labels`` (1 = pseudo anomaly)."""
    return float(roc_auc_score(labels, -np.asarray(psnr)))


def best_epoch(history: dict[str, list[float]]) -> tuple[int, float] | None:
    """``(epoch, val_auc)`` of the highest ``val_auc`` in a run's history (1-based epoch, the
    first of ties), or None without one."""
    aucs = history.get("val_auc") or []
    if not aucs:
        return None
    i = int(np.argmax(aucs))
    return i + 1, float(aucs[i])


class ValidationCallback(keras.callbacks.Callback):
    """After every epoch: the validation AUC into the epoch's logs, and the best weights saved.

    Put it before the callbacks that read the logs (the checkpoint's history, TensorBoard):
    it adds ``val_auc``, ``val_psnr_normal`` and ``val_psnr_pseudo`` (mean PSNR, dB, of the
    label-0 and label-1 clips) and ``val_best_epoch`` (1-based epoch of the highest
    ``val_auc`` so far). TensorBoard's callback writes the ``val_`` logs to its ``validation``
    run, as ``epoch_auc`` and so on.

    Parameters
    ----------
    valset : ValidationSet
        The clips to score.
    make_predict : callable
        ``make_predict(model) -> predict_fn`` (e.g. :func:`trainer.inference.predict_fn`).
    batch_size : int
        Clips per forward pass.
    best_path : str or os.PathLike or None
        Where the model of the best epoch so far is saved (``None``: not saved).
    history : dict
        The run's history before this ``fit`` (a resumed run): the best so far is read from it.
    fixed_batch : bool
        One batch shape only (see :func:`trainer.evaluation.evaluate`).
    save : callable or None
        ``save(model, path)``; default ``model.save``.
    """

    def __init__(
        self,
        valset: ValidationSet,
        make_predict: Callable[[keras.Model], PredictFn],
        *,
        batch_size: int = 8,
        best_path: str | os.PathLike | None = None,
        history: dict[str, list[float]] | None = None,
        fixed_batch: bool = False,
        save: Callable[[keras.Model, Path], object] | None = None,
    ) -> None:
        super().__init__()
        self.valset = valset
        self.make_predict = make_predict
        self.batch_size = batch_size
        self.best_path = None if best_path is None else Path(best_path)
        self.fixed_batch = fixed_batch
        self.save = save or (lambda model, path: model.save(path))
        best = best_epoch(history or {})
        self.best = (
            best if best is None or self.best_path is None or self.best_path.is_file() else None
        )

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        psnr = score_validation_set(
            self.valset, self.make_predict(self.model), self.batch_size, self.fixed_batch
        )
        labels = self.valset.labels
        auc = validation_auc(labels, psnr)
        if self.best is None or auc > self.best[1]:
            self.best = (epoch + 1, auc)
            if self.best_path is not None:
                self.best_path.parent.mkdir(parents=True, exist_ok=True)
                self.save(self.model, self.best_path)
        if logs is not None:
            logs["val_auc"] = auc
            logs["val_psnr_normal"] = float(psnr[labels == 0].mean())
            logs["val_psnr_pseudo"] = float(psnr[labels == 1].mean())
            logs["val_best_epoch"] = self.best[0]
