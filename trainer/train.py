"""Train the dual-loss Conv3D autoencoder, checkpoint it, and evaluate it.

:func:`train` is the whole job of ``python -m trainer train``: load the training split, build
the seeded tf.data pipeline of normal clips and pseudo anomalies, fit with a checkpoint after
every epoch, save the final ``.keras`` model, and, when the dataset has a labelled test split,
score it with :mod:`trainer.evaluation` (CSV, JSON, plots).
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from trainer import checkpoint as ckpt
from trainer.calibration import (
    DEFAULT_FPR,
    Calibration,
    CalibrationError,
    calibrate,
    default_calibration_path,
    warn_small_calibration,
)
from trainer.config import RESUME_MUTABLE_KEYS, ConfigError, TrainConfig
from trainer.data import DatasetError, MissingSplitError, Video, load_split
from trainer.distribute import Distribution, make_distribution
from trainer.losses import DualLossAutoencoder, build_dual_loss_autoencoder
from trainer.pipeline import ClipSampler, build_pseudo_pipeline, iterate_epochs, make_dataset
from trainer.rundir import RunSession
from trainer.validation import (
    BEST_MODEL,
    ValidationCallback,
    ValidationSet,
    best_epoch,
    make_validation_set,
    split_holdout,
)

if TYPE_CHECKING:
    from trainer.localisation import Localiser

__all__ = [
    "build_model",
    "build_validation_set",
    "evaluate_model",
    "load_test_split",
    "pixel_masks",
    "portable_model",
    "resolve_dataset",
    "synthetic_root",
    "train",
    "train_model",
]


def synthetic_root(cache_dir: str | os.PathLike | None) -> Path:
    """Where the embedded synthetic dataset is generated (under the cache dir)."""
    return Path(cache_dir or ".cache/pseudoanom") / "synthetic"


def resolve_dataset(data: str | None, cache_dir: str | None) -> Path:
    """The dataset root: ``data``, or the embedded synthetic dataset generated on first use.

    Raises
    ------
    DatasetError
        ``data`` names a folder that does not exist.
    """
    if data is not None:
        root = Path(data).expanduser()
        if not root.exists():
            raise DatasetError(f"dataset folder {root} does not exist")
        return root
    from trainer.synthetic import make_synthetic_dataset

    return make_synthetic_dataset(synthetic_root(cache_dir))


def _say(verbose: int, *args: Any) -> None:
    if verbose:
        print(*args, flush=True)


def _resume_config(run_dir: Path, requested: TrainConfig) -> TrainConfig:
    """The saved config of ``run_dir`` with the keys a resume may change taken from
    ``requested``; any other difference is an error (it would change the data or model)."""
    saved = TrainConfig.from_yaml(run_dir / ckpt.CONFIG_FILE)
    new, old = requested.to_dict(), saved.to_dict()
    changed = sorted(k for k in new if new[k] != old[k] and k not in RESUME_MUTABLE_KEYS)
    if changed:
        raise ConfigError(
            f"--resume: the run in {run_dir} was trained with other values of "
            f"{', '.join(changed)} (saved: {', '.join(f'{k}={old[k]!r}' for k in changed)}); "
            f"only {', '.join(sorted(RESUME_MUTABLE_KEYS))} may change when resuming"
        )
    return saved.replace(**{k: new[k] for k in RESUME_MUTABLE_KEYS})


def predict_fn(model: keras.Model) -> Callable[[np.ndarray], np.ndarray]:
    """``batch -> reconstruction`` for :func:`trainer.evaluation.evaluate`.

    Under torch a plain inference-mode call, which took 10-20 % less CPU per frame than
    ``predict_on_batch`` on the ``cpu`` preset's model; elsewhere ``predict_on_batch`` (a
    compiled function under TensorFlow and JAX).
    """
    if keras.config.backend() == "torch":
        import torch

        def run(batch: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return keras.ops.convert_to_numpy(model(batch, training=False))

        return run
    return lambda batch: np.asarray(model.predict_on_batch(batch))


def _keep_frames(videos: list[Video], clip_length: int, n: int = 4) -> dict[str, list[int]]:
    """One scored frame per video (the middle anomalous frame if any) for reconstruction figures."""
    keep = {}
    lo, hi = clip_length // 2, clip_length - 1 - clip_length // 2
    for v in videos[:n]:
        k = len(v)
        if k < clip_length:
            continue
        anomalous = np.flatnonzero(v.labels) if v.labels is not None else np.array([])
        frame = int(anomalous[len(anomalous) // 2]) if len(anomalous) else k // 2
        keep[v.name] = [min(max(frame, lo), k - 1 - hi)]
    return keep


def evaluate_model(
    model: keras.Model,
    videos: list[Video],
    out_dir: str | os.PathLike,
    *,
    batch_size: int = 8,
    pad_edges: bool = False,
    require_labels: bool = True,
    extra: dict[str, Any] | None = None,
    plots: bool = True,
    verbose: int = 1,
    localisation: bool | Localiser = False,
    smooth_sigma: float = 0.0,
):
    """Score ``videos`` with :func:`trainer.evaluation.evaluate` and write the results.

    Parameters
    ----------
    model : keras.Model
        Reconstructs float32 ``(B, T, H, W, C)`` clips in [-1, 1]; T is read from its input.
    videos : list of Video
        Frames at the model's ``(H, W, C)``.
    out_dir : str or os.PathLike
        Gets ``scores.csv``, ``metrics.csv``, ``summary.json`` and, with ``plots``,
        ``scores_*.png`` and ``recon_*.png``; with localisation also ``localisation.csv``,
        ``localisation_curves.json`` and (``plots``) ``localisation_*.png``.
    batch_size : int
        Clips per forward pass.
    pad_edges : bool
        Score the first/last frames too (see :mod:`trainer.evaluation`).
    require_labels : bool
        False to score unlabelled videos (no AUC).
    extra : dict or None
        Merged into ``summary.json`` (config, seed, commit, ...).
    plots : bool
        Write the figures.
    verbose : int
        0 = silent; otherwise the result line on stdout and a :class:`trainer.evaluation.Progress`
        display (windows done per video, frames/s) on stderr.
    localisation : bool or trainer.localisation.Localiser
        False (default): none. True: pixel-, region- and track-level metrics with a default
        :class:`~trainer.localisation.Localiser` against the pixel masks at the size of their
        files (:func:`trainer.data.load_pixel_masks`; ``video.masks`` where there are no
        files), when any video has masks. A ``Localiser``: that one.
    smooth_sigma : float
        > 0: also report AUCs of temporally smoothed scores (non-causal; see
        :func:`trainer.evaluation.evaluate`).

    Returns
    -------
    trainer.evaluation.EvaluationResult
    """
    from trainer import backend, evaluation
    from trainer import localisation as loc
    from trainer import plots as plots_module

    localiser = localisation if isinstance(localisation, loc.Localiser) else None
    if localisation is True and any(v.masks is not None for v in videos):
        localiser = loc.Localiser(pixel_masks)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    clip_length = int(model.input_shape[1])
    progress = evaluation.Progress.for_videos(videos, clip_length, pad_edges) if verbose else None
    result = evaluation.evaluate(
        videos,
        predict_fn(model),
        clip_len=clip_length,
        batch_size=batch_size,
        pad_edges=pad_edges,
        require_labels=require_labels,
        keep=_keep_frames(videos, clip_length) if plots else None,
        progress=progress,
        # One batch shape: JAX and tf.function compile once, not again for the last batch.
        fixed_batch=keras.config.backend() != "torch",
        smooth_sigma=smooth_sigma,
        localiser=localiser,
    )
    evaluation.write_scores_csv(result, out / "scores.csv")
    evaluation.write_metrics_csv(result, out / "metrics.csv")
    if result.localisation is not None:
        loc.write_frames_csv(result.localisation, out / "localisation.csv")
        curves = json.dumps(result.localisation.curves(), allow_nan=False)
        (out / "localisation_curves.json").write_text(curves + "\n")
    info = {
        "commit": evaluation.git_commit(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "backend": backend.info(),
    }
    evaluation.write_summary_json(result, out / "summary.json", {**info, **(extra or {})})
    if plots:
        plots_module.plot_scores(result, out)
        plots_module.plot_reconstructions(result.reconstructions, out)
        if result.localisation is not None:
            plots_module.plot_localisation(result.localisation.figure_frames, out)
    if result.micro_auc is not None:
        _say(
            verbose,
            f"frame-level AUC {result.micro_auc:.4f} (micro), "
            f"{result.n_scored} frames, {result.frames_per_second:.1f} frames/s -> {out}",
        )
    else:
        _say(verbose, f"scored {result.n_scored} frames -> {out}")
    if result.localisation is not None:
        s = result.localisation.summary()
        parts = [f"{k} {s[k]:.4f}" for k in _LOC_LINE if s[k] is not None]
        _say(verbose, f"localisation: {', '.join(parts) or 'no pixel masks'}")
    return result


_LOC_LINE = ("pixel_auc", "pixel_ap", "ucsd_pixel_auc", "ucsd_pixel_eer", "rbdc", "tbdc")


def pixel_masks(video: Video) -> np.ndarray | None:
    """The masks a default :class:`~trainer.localisation.Localiser` of :func:`evaluate_model`
    reads: at the size of their files (:func:`trainer.data.load_pixel_masks`), else
    ``video.masks`` (the frames' size), else None."""
    from trainer.data import load_pixel_masks

    masks = load_pixel_masks(video)
    return video.masks if masks is None else masks


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


def build_model(config: TrainConfig, dist: Distribution | None = None) -> DualLossAutoencoder:
    """The compiled, freshly initialised :class:`~trainer.losses.DualLossAutoencoder` of
    ``config``: what :func:`train` fits when it does not resume.

    Parameters
    ----------
    config : TrainConfig
        Reads ``clip_length``, ``size``, ``channels``, ``width`` and ``lr`` (Adam).
    dist : trainer.distribute.Distribution or None
        The strategy the model trains under; synchronised BatchNorm when it has several
        replicas. ``None``: one device. Build the model inside ``dist.scope()``.

    Returns
    -------
    DualLossAutoencoder
        Compiled with ``keras.optimizers.Adam(config.lr)`` and no ``loss`` (the dual loss is
        the model's own).
    """
    input_shape = (config.clip_length, *config.size, config.channels)
    replicas = 1 if dist is None else dist.replicas
    model = build_dual_loss_autoencoder(
        input_shape, width=config.width, sync_batchnorm=replicas > 1
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=config.lr))
    return model


def train(
    config: TrainConfig,
    *,
    resume: bool = False,
    overwrite: bool = False,
    verbose: int = 1,
    evaluate: bool = True,
    distribution: Distribution | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> Path:
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

    Returns
    -------
    pathlib.Path
        The run directory.

    Raises
    ------
    ConfigError, DatasetError, RunDirError
        Bad config, missing dataset, or a run directory that would be overwritten. All are
        raised before the first training step: the test split (its frames, labels and masks)
        is read and checked first when ``evaluate`` (:func:`load_test_split`).
    """
    dist = distribution or make_distribution(config.strategy, config.replicas)
    # One process per run directory; disk errors while saving say what is safe (trainer.rundir).
    with RunSession(config.out, "train", enabled=dist.is_chief):
        run_dir = train_model(
            config,
            resume=resume,
            overwrite=overwrite,
            verbose=verbose,
            evaluate=evaluate,
            distribution=dist,
            callbacks=callbacks,
        )[0]
    if dist.is_chief:
        warn_small_calibration(run_dir / ckpt.FINAL_MODEL)
    return run_dir


def train_model(
    config: TrainConfig,
    *,
    resume: bool = False,
    overwrite: bool = False,
    verbose: int = 1,
    evaluate: bool = True,
    distribution: Distribution | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> tuple[Path, keras.Model]:
    """:func:`train`, returning the run directory and the trained model (as trained, i.e.
    still under the strategy; ``model.keras`` in the run directory is its copy in Keras' own
    layers, see :func:`trainer.checkpoint.save_final_model`)."""
    t_start = time.perf_counter()
    dist = distribution or make_distribution(config.strategy, config.replicas)
    run_dir = Path(config.out)
    if dist.is_chief:
        run_dir = ckpt.prepare_run_dir(config.out, resume=resume, overwrite=overwrite)
    elif resume and not (run_dir / ckpt.CONFIG_FILE).is_file():
        raise ckpt.RunDirError(
            f"--resume on worker {dist.worker_index}: {run_dir} holds no run to resume; with "
            f"strategy 'multiworker' the run directory must be on storage every worker reads"
        )
    if resume:
        config = _resume_config(run_dir, config)
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
    test_videos = load_test_split(root, config, verbose) if evaluate and dist.is_chief else None
    global_batch = dist.global_batch(config.batch_size)
    steps = sampler.steps_per_epoch(global_batch, config.steps_per_epoch)
    if dist.is_chief:
        ckpt.atomic_write_text(run_dir / ckpt.CONFIG_FILE, _yaml(config))
    _say(
        verbose,
        f"run {run_dir}: {len(train_videos)} training videos from {root}, {len(sampler)} clips, "
        f"{steps} steps/epoch of {global_batch} clips "
        f"({dist.replicas} replica{'s' if dist.replicas > 1 else ''}, strategy {dist.name}), "
        f"p={config.p}",
    )
    if valset is not None:
        _say(
            verbose,
            f"validation: {len(valset)} clips ({int(valset.labels.sum())} pseudo anomalies) from "
            f"the held-out {config.val_holdout} (val_fraction={config.val_fraction:g}), "
            f"keep_best={config.keep_best}",
        )

    previous_policy = keras.mixed_precision.global_policy()
    if config.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        keras.utils.set_random_seed(config.seed)  # initial weights
        state = ckpt.latest_checkpoint(run_dir) if resume else None
        with dist.scope():
            model = ckpt.load_checkpoint_model(state) if state else build_model(config, dist)
        initial_epoch = state["epoch"] if state else 0
        history = state["history"] if state else {}
        if initial_epoch:
            _say(verbose, f"resuming after epoch {initial_epoch} of {config.epochs}")
        if initial_epoch < config.epochs:
            own = _callbacks(run_dir, config, history, verbose, dist.is_chief, valset)
            model.fit(
                _training_input(sampler, config, initial_epoch, dist),
                epochs=config.epochs,
                initial_epoch=initial_epoch,
                steps_per_epoch=steps,
                callbacks=[*own, *callbacks],
                shuffle=False,  # the plan already orders every epoch
                verbose=1 if verbose and dist.is_chief else 0,
            )
            history = next((c.history for c in own if isinstance(c, ckpt.EpochCheckpoint)), {})
        if not dist.is_chief:
            return run_dir, model
        kept = _keep_best(model, run_dir, config, history, verbose)
        final = portable_model(model) if dist.strategy is not None else model
        ckpt.save_final_model(final, run_dir)
        _say(verbose, f"saved {run_dir / ckpt.FINAL_MODEL}")
        _calibrate_run(final, valset, run_dir, config, verbose)
        train_seconds = time.perf_counter() - t_start
        if test_videos is not None:
            _evaluate_run(final, test_videos, root, config, run_dir, train_seconds, kept, verbose)
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    return run_dir, model


def portable_model(model: keras.Model) -> keras.Model:
    """A copy of ``model`` built outside any strategy, with plain (unsynchronised) BatchNorm.

    Synchronised BatchNorm only exists under TensorFlow and only matters while training on
    several replicas; the copy (what a run evaluates and saves as ``model.keras`` after
    training under a strategy) predicts on one device without the strategy.
    """
    config = model.get_config()
    for layer in config["layers"]:
        if layer["class_name"] == "BatchNormalization":
            layer["config"]["synchronized"] = False
    copy = type(model).from_config(config)
    copy.set_weights([np.asarray(w) for w in model.get_weights()])
    if model.optimizer is not None:  # same optimizer settings; its state stays in checkpoints
        copy.compile(optimizer=type(model.optimizer).from_config(model.optimizer.get_config()))
    return copy


def build_validation_set(
    train_videos: list[Video], config: TrainConfig
) -> tuple[list[Video], ValidationSet]:
    """Hold out part of the training videos and make the validation set from it (see
    :mod:`trainer.validation`); returns what training keeps and the set.

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
            cache_dir=config.cache_dir,
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
