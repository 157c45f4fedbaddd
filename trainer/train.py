"""Train the dual-loss Conv3D autoencoder, checkpoint it, and evaluate it.

:func:`train` is the whole job of ``python -m trainer train``: load the training split, build
the seeded tf.data pipeline of normal clips and pseudo anomalies, fit with a checkpoint after
every epoch, save the final ``.keras`` model, and, when the dataset has a labelled test split,
score it with :mod:`trainer.evaluation` (CSV, JSON, plots).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras

from trainer import checkpoint as ckpt
from trainer.calibration import (
    DEFAULT_FPR,
    Calibration,
    CalibrationError,
    calibrate,
    default_calibration_path,
    warn_small_calibration,
)
from trainer.config import ConfigError, TrainConfig, resume_config
from trainer.data import MissingSplitError, Video
from trainer.datasets import load_split
from trainer.distribute import Distribution, make_distribution
from trainer.holdout import (
    BEST_MODEL,
    ValidationCallback,
    ValidationSet,
    best_epoch,
    make_validation_set,
    split_holdout,
)
from trainer.inference import predict_fn
from trainer.input import ClipSampler, build_pseudo_pipeline, iterate_epochs, make_dataset
from trainer.losses import build_model, portable_model
from trainer.report import evaluate_model
from trainer.rundir import RunSession
from trainer.synthetic import resolve_dataset

__all__ = [
    "build_validation_set",
    "load_test_split",
    "train",
    "train_model",
]


def fit_verbosity(verbose: int, stream: Any = None) -> int:
    """Keras' ``fit`` verbosity: a live progress bar on a terminal (1), one line per epoch when
    the output goes to a file or pipe (2), so a log holds epochs, not redrawn bars."""
    if not verbose:
        return 0
    stream = sys.stdout if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return 1 if isatty is not None and isatty() else 2


def _say(verbose: int, *args: Any) -> None:
    if verbose:
        print(*args, flush=True)


def _callbacks(
    run_dir: Path,
    config: TrainConfig,
    history: dict,
    verbose: int,
    is_chief: bool = True,
    valset: ValidationSet | None = None,
) -> list[keras.callbacks.Callback]:
    callbacks: list[keras.callbacks.Callback] = []
    if config.time_limit_s is not None:
        callbacks.append(TimeLimit(config.time_limit_s, verbose))
    if not is_chief:  # only the chief writes checkpoints and logs, and validates
        return callbacks
    callbacks.insert(0, ckpt.EpochCheckpoint(run_dir, config, history))
    if valset is not None:  # first: its logs go to the history and TensorBoard
        validation = ValidationCallback(
            valset,
            predict_fn,
            batch_size=config.eval_batch_size,
            best_path=run_dir / ckpt.CHECKPOINT_DIR / BEST_MODEL,
            history=history,
            fixed_batch=keras.config.backend() != "torch",
            save=ckpt.save_model_atomic,
        )
        callbacks.insert(0, validation)
    # keras.callbacks.TensorBoard writes through tf.summary under every backend: it needs
    # tensorflow and the tensorboard package (not a tensorflow dependency).
    missing = [m for m in ("tensorflow", "tensorboard") if importlib.util.find_spec(m) is None]
    if missing:
        _say(verbose, f"{' and '.join(missing)} not installed: no TensorBoard logs (history.json)")
    else:
        callbacks.append(keras.callbacks.TensorBoard(str(run_dir / "logs"), write_graph=False))
    return callbacks


class TimeLimit(keras.callbacks.Callback):
    """Stop ``fit`` before an epoch that would end past ``seconds`` of training.

    The estimate is the slowest epoch so far; the stop happens at an epoch boundary, after the
    checkpoint, so the run can be resumed later with a larger limit.
    """

    def __init__(self, seconds: float, verbose: int = 1) -> None:
        super().__init__()
        self.seconds = float(seconds)
        self.verbose = verbose
        self._start = self._epoch_start = time.perf_counter()
        self._slowest = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        now = time.perf_counter()
        self._slowest = max(self._slowest, now - self._epoch_start)
        if now - self._start + self._slowest > self.seconds:
            self.model.stop_training = True
            _say(
                self.verbose,
                f"time_limit_s={self.seconds:g}: stopping after epoch {epoch + 1} "
                f"({now - self._start:.0f} s of training)",
            )


def _training_input(
    sampler: ClipSampler, config: TrainConfig, initial_epoch: int, dist: Distribution
) -> Any:
    """tf.data under TensorFlow (distributed under a strategy); the same batches from a
    threaded generator under other backends."""
    args = (sampler, config.batch_size, config.epochs, initial_epoch, config.steps_per_epoch)
    if dist.strategy is not None:
        return dist.dataset(*args, num_parallel_calls=config.num_parallel_calls or None)
    if keras.backend.backend() == "tensorflow":
        return make_dataset(*args, num_parallel_calls=config.num_parallel_calls or None)
    return iterate_epochs(*args, workers=config.num_parallel_calls or os.cpu_count() or 1)


def train(
    config: TrainConfig,
    *,
    resume: bool = False,
    overwrite: bool = False,
    verbose: int = 1,
    evaluate: bool = True,
    distribution: Distribution | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    return_model: bool = False,
) -> Path | tuple[Path, keras.Model]:
    """Train (or resume) a run and return its directory.

    Parameters
    ----------
    config : TrainConfig
        The run's settings; ``config.out`` is the run directory.
    resume : bool
        Continue the run in ``config.out`` from its last complete epoch (same data order as an
        uninterrupted run). Only ``epochs`` and the evaluation/caching keys may differ from
        the saved config.
    overwrite : bool
        Replace the results of an earlier run in ``config.out``.
    verbose : int
        1 = Keras progress bar and messages, 0 = silent.
    evaluate : bool
        Evaluate on the test split afterwards when it has labels.
    distribution : trainer.distribute.Distribution or None
        The strategy to train under; ``None`` = build the one ``config.strategy`` names (do
        that before TensorFlow is used in this process, see :mod:`trainer.distribute`).
    callbacks : sequence of keras.callbacks.Callback
        More callbacks for ``fit``, after the run's own (which put ``val_auc`` in the logs).
    return_model : bool
        Also return the trained model (as trained, i.e. still under the strategy;
        ``model.keras`` in the run directory is its copy in Keras' own layers, see
        :func:`trainer.checkpoint.save_final_model`).

    Returns
    -------
    pathlib.Path or (pathlib.Path, keras.Model)
        The run directory (and the model with ``return_model``).

    Raises
    ------
    ConfigError, DatasetError, RunDirError
        Bad config, missing dataset, or a run directory that would be overwritten. All are
        raised before the first training step: the test split (its frames, labels and masks)
        is read and checked first when ``evaluate`` (:func:`load_test_split`).
    """
    t_start = time.perf_counter()
    dist = distribution or make_distribution(config.strategy, config.replicas)
    # One process per run directory; disk errors while saving say what is safe (trainer.rundir).
    with RunSession(config.out, "train", enabled=dist.is_chief):
        run_dir, model = _train(
            config, dist, resume, overwrite, verbose, evaluate, callbacks, t_start
        )
    if dist.is_chief:
        warn_small_calibration(run_dir / ckpt.FINAL_MODEL)
    return (run_dir, model) if return_model else run_dir


def _train(
    config: TrainConfig,
    dist: Distribution,
    resume: bool,
    overwrite: bool,
    verbose: int,
    evaluate: bool,
    callbacks: Sequence[keras.callbacks.Callback],
    t_start: float,
) -> tuple[Path, keras.Model]:
    """:func:`train`'s work inside the run directory's lock."""
    run_dir, config = _run_dir(config, dist, resume, overwrite)
    run = _prepare_inputs(config, dist, evaluate and dist.is_chief, verbose)
    if dist.is_chief:
        ckpt.atomic_write_text(run_dir / ckpt.CONFIG_FILE, _yaml(config))
    _describe(run, run_dir, config, dist, verbose)

    previous_policy = keras.mixed_precision.global_policy()
    if config.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model, history = _fit(run, run_dir, config, dist, resume, verbose, callbacks)
        if dist.is_chief:
            _finish(model, history, run, run_dir, config, dist, t_start, verbose)
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    return run_dir, model


def train_model(config: TrainConfig, **kwargs: Any) -> tuple[Path, keras.Model]:
    """``train(config, return_model=True, **kwargs)``: the run directory and the model."""
    return train(config, return_model=True, **kwargs)


@dataclass
class _Inputs:
    """What a run reads before it trains."""

    root: Path
    train_videos: list[Video]
    valset: ValidationSet | None
    sampler: ClipSampler
    test_videos: list[Video] | None
    global_batch: int
    steps: int


def _run_dir(
    config: TrainConfig, dist: Distribution, resume: bool, overwrite: bool
) -> tuple[Path, TrainConfig]:
    """The checked run directory, and the config to run (the saved one when resuming)."""
    run_dir = Path(config.out)
    if dist.is_chief:
        run_dir = ckpt.prepare_run_dir(config.out, resume=resume, overwrite=overwrite)
    elif resume and not (run_dir / ckpt.CONFIG_FILE).is_file():
        raise ckpt.RunDirError(
            f"--resume on worker {dist.worker_index}: {run_dir} holds no run to resume; with "
            f"strategy 'multiworker' the run directory must be on storage every worker reads"
        )
    if resume:
        config = resume_config(run_dir, config)
    return run_dir, config


def _prepare_inputs(
    config: TrainConfig, dist: Distribution, evaluate: bool, verbose: int
) -> _Inputs:
    """Training split, validation set, clip sampler and (``evaluate``) the checked test split."""
    root = resolve_dataset(config.data, config.cache_dir)
    train_videos = load_split(
        root,
        config.train_split,
        size=config.size,
        channels=config.channels,
        cache_dir=config.cache_dir,
        min_frames=config.clip_length,
    )
    valset = None
    if config.validation:
        train_videos, valset = build_validation_set(train_videos, config)
    sampler = ClipSampler(
        [v.frames for v in train_videos], config.clip_length, build_pseudo_pipeline(config),
        config.seed,
    )  # fmt: skip
    # Fail fast: a broken test split (frames, labels, masks) stops the run before training.
    test_videos = load_test_split(root, config, verbose) if evaluate else None
    global_batch = dist.global_batch(config.batch_size)
    steps = sampler.steps_per_epoch(global_batch, config.steps_per_epoch)
    return _Inputs(root, train_videos, valset, sampler, test_videos, global_batch, steps)


def _describe(
    run: _Inputs, run_dir: Path, config: TrainConfig, dist: Distribution, verbose: int
) -> None:
    _say(
        verbose,
        f"run {run_dir}: {len(run.train_videos)} training videos from {run.root}, "
        f"{len(run.sampler)} clips, {run.steps} steps/epoch of {run.global_batch} clips "
        f"({dist.replicas} replica{'s' if dist.replicas > 1 else ''}, strategy {dist.name}), "
        f"p={config.p}",
    )
    if run.valset is not None:
        _say(
            verbose,
            f"validation: {len(run.valset)} clips ({int(run.valset.labels.sum())} pseudo "
            f"anomalies) from the held-out {config.val_holdout} "
            f"(val_fraction={config.val_fraction:g}), keep_best={config.keep_best}",
        )


def _fit(
    run: _Inputs,
    run_dir: Path,
    config: TrainConfig,
    dist: Distribution,
    resume: bool,
    verbose: int,
    callbacks: Sequence[keras.callbacks.Callback],
) -> tuple[keras.Model, dict]:
    """The model, built or loaded from the last checkpoint, fitted up to ``config.epochs``;
    and the run's history."""
    keras.utils.set_random_seed(config.seed)  # initial weights
    state = ckpt.latest_checkpoint(run_dir) if resume else None
    with dist.scope():
        model = ckpt.load_checkpoint_model(state) if state else build_model(config, dist)
    # A checkpoint keeps weights and optimizer state, not the objective: the config has it.
    model.set_pseudo_objective(config.pseudo_objective, config.push_away_margin)
    initial_epoch = state["epoch"] if state else 0
    history = state["history"] if state else {}
    if initial_epoch:
        _say(verbose, f"resuming after epoch {initial_epoch} of {config.epochs}")
    if initial_epoch < config.epochs:
        own = _callbacks(run_dir, config, history, verbose, dist.is_chief, run.valset)
        model.fit(
            _training_input(run.sampler, config, initial_epoch, dist),
            epochs=config.epochs,
            initial_epoch=initial_epoch,
            steps_per_epoch=run.steps,
            callbacks=[*own, *callbacks],
            shuffle=False,  # the plan already orders every epoch
            verbose=fit_verbosity(verbose) if dist.is_chief else 0,
        )
        history = next((c.history for c in own if isinstance(c, ckpt.EpochCheckpoint)), {})
    return model, history


def _finish(
    model: keras.Model,
    history: dict,
    run: _Inputs,
    run_dir: Path,
    config: TrainConfig,
    dist: Distribution,
    t_start: float,
    verbose: int,
) -> None:
    """On the chief: keep the best epoch, save ``model.keras``, calibrate and evaluate."""
    kept = _keep_best(model, run_dir, config, history, verbose)
    final = portable_model(model) if dist.strategy is not None else model
    ckpt.save_final_model(final, run_dir)
    _say(verbose, f"saved {run_dir / ckpt.FINAL_MODEL}")
    _calibrate_run(final, run.valset, run_dir, config, verbose)
    train_seconds = time.perf_counter() - t_start
    if run.test_videos is not None:
        _evaluate_run(
            final, run.test_videos, run.root, config, run_dir, train_seconds, kept, verbose
        )


def build_validation_set(
    train_videos: list[Video], config: TrainConfig
) -> tuple[list[Video], ValidationSet]:
    """Hold out part of the training videos and make the validation set from it (see
    :mod:`trainer.holdout`); returns what training keeps and the set.

    Raises
    ------
    ConfigError
        Nothing to hold out or to train on, or a bad ``val_pipeline`` (named so).
    """
    train, held = split_holdout(
        train_videos, config.val_fraction, config.val_holdout, config.clip_length
    )
    try:  # the val_pipeline is built exactly as the training pipeline is
        pipe = build_pseudo_pipeline(config.replace(pipeline=config.val_pipeline))
    except ConfigError as e:
        raise ConfigError(str(e).replace("'pipeline'", "'val_pipeline'", 1)) from None
    valset = make_validation_set(held, config.clip_length, pipe, config.val_clips, config.val_seed)
    return train, valset


def load_test_split(root: Path, config: TrainConfig, verbose: int = 1) -> list[Video] | None:
    """The labelled test split that :func:`train` evaluates on, read and checked up front.

    Returns
    -------
    list of Video or None
        ``None`` (with a message) when the dataset has no test split or it has no labels.

    Raises
    ------
    DatasetError
        The test split exists but a frame, a video, the label file (unreadable, wrong length)
        or the masks are broken: the message names the file and the problem.
    """
    try:
        videos = load_split(
            root, config.test_split, size=config.size, channels=config.channels,
            cache_dir=config.cache_dir, label_source=config.label_source,
        )  # fmt: skip
    except MissingSplitError as e:
        _say(verbose, f"no evaluation: {e}")
        return None
    if any(v.labels is None for v in videos):
        _say(verbose, f"no evaluation: the {config.test_split!r} split of {root} has no labels")
        return None
    short = [v.name for v in videos if len(v) < config.clip_length]
    if short and not config.eval_pad_edges:
        _say(
            verbose,
            f"warning: test videos {short} have fewer than clip_length={config.clip_length} "
            f"frames: none of their frames is scored (eval_pad_edges=true scores them)",
        )
    return videos


def _keep_best(
    model: keras.Model, run_dir: Path, config: TrainConfig, history: dict, verbose: int
) -> dict[str, Any]:
    """With ``keep_best: val_auc``, load the best validation epoch's weights into ``model``;
    returns what the evaluation's summary records about the choice ({} without validation)."""
    best = best_epoch(history) if config.validation else None
    if best is None:
        return {}
    epochs = len(history["val_auc"])
    kept = {"keep_best": config.keep_best, "val_best_epoch": best[0], "val_best_auc": best[1]}
    if config.keep_best != "val_auc":
        return {**kept, "kept_epoch": epochs, "kept_val_auc": history["val_auc"][-1]}
    model.load_weights(run_dir / ckpt.CHECKPOINT_DIR / BEST_MODEL)
    _say(
        verbose,
        f"keep_best=val_auc: the model is epoch {best[0]} of {epochs} (validation AUC "
        f"{best[1]:.4f}; last epoch {history['val_auc'][-1]:.4f})",
    )
    return {**kept, "kept_epoch": best[0], "kept_val_auc": best[1]}


def _calibrate_run(
    model: keras.Model,
    valset: ValidationSet | None,
    run_dir: Path,
    config: TrainConfig,
    verbose: int,
) -> None:
    """Record the saved model's PSNR on the held-out normal videos as ``calibration.json``
    next to ``model.keras`` (:mod:`trainer.calibration`), so that ``score`` and ``watch`` give
    calibrated scores and alarms. Without validation nothing was held out: say how to do it."""
    model_path = run_dir / ckpt.FINAL_MODEL
    if valset is None or not valset.held_out:
        _say(
            verbose,
            "not calibrated: no normal video was held out (set val_fraction, or run `python -m "
            f"trainer calibrate {model_path} --normal <normal videos it did not train on>`)",
        )
        return
    out = default_calibration_path(model_path)
    if _other_calibration(out, valset):
        _say(
            verbose,
            f"not calibrated: kept {out}, made by `python -m trainer calibrate` from other "
            f"normal videos for the previous {ckpt.FINAL_MODEL}; rerun that command for this one",
        )
        return
    calibration = calibrate(
        model, valset.held_out, batch_size=config.eval_batch_size, model_path=model_path
    )
    calibration.save(out)
    threshold = ""
    if calibration.min_fpr() <= DEFAULT_FPR:
        threshold = (
            f"; psnr below {calibration.threshold(DEFAULT_FPR):.2f} dB is an alarm at "
            f"fpr {DEFAULT_FPR:g}"
        )
    _say(
        verbose,
        f"calibrated on {calibration.n_frames} frames of the {len(valset.held_out)} held-out "
        f"normal videos{threshold} -> {out}",
    )


def _other_calibration(path: Path, valset: ValidationSet) -> bool:
    """Whether ``path`` holds a calibration that training must not overwrite: one made from
    other videos than the holdout (a user's ``calibrate``), or a file it cannot read."""
    if not path.exists():
        return False
    try:
        sources = Calibration.load(path).sources
    except (CalibrationError, OSError):
        return True
    return sorted(s.get("name") for s in sources) != sorted(v.name for v in valset.held_out)


def _evaluate_run(
    model: keras.Model,
    test_videos: list[Video],
    root: Path,
    config: TrainConfig,
    run_dir: Path,
    train_seconds: float,
    kept: dict[str, Any],
    verbose: int,
) -> None:
    evaluate_model(
        model,
        test_videos,
        run_dir / "evaluation",
        batch_size=config.eval_batch_size,
        pad_edges=config.eval_pad_edges,
        extra={
            "config": config.to_dict(),
            "seed": config.seed,
            "dataset": str(root),
            "run_dir": str(run_dir),
            "train_seconds": train_seconds,
            **({"validation": kept} if kept else {}),
        },
        verbose=verbose,
    )


def _yaml(config: TrainConfig) -> str:
    import yaml

    return yaml.safe_dump(config.to_dict(), sort_keys=False)
