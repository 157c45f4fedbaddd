"""Command line: ``python -m trainer`` / ``pseudoanom-train``.

Subcommands::

    train           train (and evaluate) a model; --resume continues an interrupted run
    evaluate        score a saved .keras model on a dataset's test split (CSV, JSON, plots)
    score           per-frame PSNR / anomaly score of one video file or frame folder;
                    calibrated scores and alarms when the model has a calibration
    calibrate       record the error distribution of held-out normal videos
                    (``<run>/calibration.json``, see :mod:`trainer.calibration`)
    watch           score a video file, camera or stream as it arrives (:mod:`trainer.stream`)
    make-synthetic  write the embedded synthetic dataset to a folder

Bad input (missing dataset, unknown config key, bad value, a run directory that would be
overwritten, a Keras backend that cannot do what was asked) prints one ``error: ...`` line on
stderr and exits with code 2. Set ``TRAINER_DEBUG=1`` to get the traceback instead.

The Keras backend is ``KERAS_BACKEND`` when set, else tensorflow on a CPU and torch on a
machine with an NVIDIA GPU (each when installed); ``--strategy mirrored|multiworker`` takes
tensorflow (see :mod:`trainer.backend`). ``train``, ``evaluate`` and ``score`` print it as their
first line (``keras backend ... on ...``) unless ``--quiet``, and record it under ``backend`` in
``summary.json``.

Without ``--preset`` (and without a ``preset:`` in the ``--config`` file) ``train`` uses the
``paper`` preset, the paper's setting, which is meant for a GPU. Whenever a model that large is
about to train on a CPU, ``train`` says on stderr what that costs (:func:`cpu_cost_warning`)
before it starts, ``--quiet`` or not.
"""

from __future__ import annotations

import argparse  # noqa: E402
import os
import sys  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import yaml  # noqa: E402

from trainer import backend  # noqa: E402
from trainer.config import (  # noqa: E402
    PRESETS,
    STRATEGIES,
    TrainConfig,
    load_config,
    parse_override,
    read_yaml,
)

__all__ = [
    "build_parser",
    "cpu_cost_warning",
    "load_model",
    "main",
    "parse_transform",
    "train_overrides",
]

EXIT_USAGE = 2

PAPER_CPU_CLIPS_PER_S = 0.41
"""Training clips/s of the paper's model (16 x 256 x 256 x 1, width 1, batch 4) on 2 CPU cores
under TensorFlow (``benchmarks/train_step_vs_torch.py --sizes 256``, docs/performance.md)."""

PED2_CLIPS_PER_EPOCH = 2308
"""Clips of a UCSD Ped2 training epoch at batch 4: 2,310 windows of 16 frames, 577 full steps."""


class CLIError(ValueError):
    """A problem with the command line itself (reported like any other input error)."""


def _split_top_level(text: str, sep: str = ",") -> list[str]:
    """Split on ``sep`` outside brackets/braces, so ``steps=[2,3],p=1`` has two parts."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p for p in (s.strip() for s in parts) if p]


def parse_transform(spec: str, weight: float = 1.0) -> dict[str, Any]:
    """``"NAME[:k=v,...]"`` -> ``{"name", "params", "weight"}`` (values parsed as YAML).

    Examples
    --------
    >>> parse_transform("smoothmix_s:alpha=0.5,beta=10")
    {'name': 'smoothmix_s', 'params': {'alpha': 0.5, 'beta': 10}, 'weight': 1.0}
    >>> parse_transform("skip_frame:steps=[2,3,4,5]")["params"]
    {'steps': [2, 3, 4, 5]}
    """
    name, _, rest = spec.partition(":")
    name = name.strip()
    if not name:
        raise CLIError(f"--transform {spec!r}: expected NAME[:key=value,...]")
    params = {}
    for item in _split_top_level(rest):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CLIError(f"--transform {spec!r}: parameter {item!r} must look like key=value")
        try:
            params[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            params[key.strip()] = value
    return {"name": name, "params": params, "weight": float(weight)}


# ---------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    """The ``argparse`` parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="python -m trainer",
        description="Train and evaluate the pseudo-anomaly Conv3D autoencoder "
        "(Astrid et al., BMVC 2021).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser(
        "train",
        help="train (then evaluate) a model",
        description="Config precedence: --preset < --config YAML < named flags < --set. "
        "Without --data the embedded synthetic dataset is used.",
    )
    t.add_argument("--config", help="YAML file of config keys (may name a preset:)")
    t.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="base settings (default: paper, the paper's setting, for a GPU; cpu: 64x64 for a "
        "CPU; smoke: a seconds-long wiring check)",
    )
    t.add_argument("--data", help="dataset root (default: the embedded synthetic dataset)")
    t.add_argument(
        "--transform",
        action="append",
        metavar="NAME[:k=v,...]",
        help="pseudo-anomaly transform (repeatable; replaces the config's list)",
    )
    t.add_argument(
        "--weight",
        action="append",
        type=float,
        help="weight of the matching --transform (repeatable, one per --transform)",
    )
    t.add_argument(
        "--import",
        dest="imports",
        action="append",
        metavar="MODULE",
        help="import MODULE first, e.g. one that registers its own transforms (repeatable)",
    )
    t.add_argument("--p", type=float, help="probability of a pseudo anomaly")
    t.add_argument("--epochs", type=int, help="total epochs (with --resume: train up to this many)")
    t.add_argument("--seed", type=int, help="seeds weights, clip order and pseudo anomalies")
    t.add_argument("--out", help="run directory")
    t.add_argument(
        "--strategy",
        choices=STRATEGIES,
        help="default (one device), mirrored (every local GPU) or multiworker (TF_CONFIG); "
        "the config's batch_size is per replica",
    )
    t.add_argument(
        "--replicas",
        type=int,
        help="mirrored: how many GPUs (0 = all), or logical CPU devices without a GPU",
    )
    t.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any config key (repeatable), e.g. --set size=96,96",
    )
    t.add_argument("--resume", action="store_true", help="continue the run in --out")
    t.add_argument("--overwrite", action="store_true", help="replace the results in --out")
    t.add_argument("--no-eval", action="store_true", help="skip the test-split evaluation")
    t.add_argument("--quiet", action="store_true", help="no progress bar or messages")

    e = sub.add_parser("evaluate", help="evaluate a saved .keras model on a test split")
    e.add_argument("--model", required=True, help="a .keras model saved by train")
    e.add_argument("--data", help="dataset root (default: the embedded synthetic dataset)")
    e.add_argument("--split", default="testing", help="split to score (default: testing)")
    e.add_argument("--out", help="output folder (default: <model folder>/evaluation-<split>)")
    e.add_argument("--batch-size", type=int, default=8, help="clips per forward pass")
    e.add_argument("--pad-edges", action="store_true", help="score the first/last frames too")
    e.add_argument(
        "--localisation",
        action="store_true",
        help="also compute the pixel-, region- and track-level metrics against the split's "
        "pixel masks (RBDC, TBDC, pixel AUC/AP, UCSD criterion; ~3 ms per frame on Ped2)",
    )
    e.add_argument(
        "--smooth-sigma",
        type=float,
        default=0.0,
        metavar="FRAMES",
        help="also report AUCs of scores smoothed by a Gaussian of this sigma (non-causal; "
        "default 0 = off)",
    )
    e.add_argument(
        "--map-sigma",
        type=float,
        default=0.0,
        metavar="PIXELS",
        help="with --localisation: Gaussian sigma (model pixels) applied to the error maps "
        "first (default 0 = raw maps)",
    )
    e.add_argument(
        "--cache-dir", default=TrainConfig().cache_dir, help="decoded-frame cache folder"
    )
    e.add_argument("--quiet", action="store_true", help="no messages")

    s = sub.add_parser(
        "score",
        help="per-frame scores of one video file or frame folder",
        description="Each frame is scored by the window that ends at it (causal), or DELAY "
        "frames later. With a calibration (--calibration, or calibration.json next to the "
        "model) scores.csv gets p_normal, calibrated_score and alarm columns; its score column "
        "stays the paper's per-video min-max (benchmark protocol only).",
    )
    s.add_argument("video", help="video file (.avi, .mp4, ...) or folder of frames")
    s.add_argument("--model", required=True, help="a .keras model saved by train")
    s.add_argument("--out", help="output folder (default: <model folder>/score-<video name>)")
    s.add_argument("--batch-size", type=int, default=8, help="clips per forward pass")
    s.add_argument(
        "--no-pad-edges",
        action="store_true",
        help="leave the first frames (and the last DELAY) unscored",
    )
    _calibration_args(s)
    s.add_argument(
        "--delay",
        type=int,
        help="frames after the scored frame in its window (default: the calibration's, else "
        "0 = causal; 7 = the paper's centred window)",
    )
    s.add_argument("--quiet", action="store_true", help="no messages")

    c = sub.add_parser(
        "calibrate",
        help="record the error distribution of held-out normal videos",
        description="Scores every frame of normal videos the model did not train on and writes "
        "their sorted PSNRs (calibration.json next to the model by default), from which score "
        "and watch set the threshold for a target false-alarm rate.",
    )
    c.add_argument("model", help="a .keras model saved by train")
    c.add_argument(
        "--normal",
        required=True,
        nargs="+",
        metavar="PATH",
        help="normal video files, frame folders, or folders of them",
    )
    c.add_argument("--out", help="calibration file (default: <model folder>/calibration.json)")
    c.add_argument(
        "--delay",
        type=int,
        default=0,
        help="frames after the scored frame in its window (default 0 = causal)",
    )
    c.add_argument("--batch-size", type=int, default=8, help="clips per forward pass")
    c.add_argument("--cache-dir", help="decoded-frame cache folder (default: none)")
    c.add_argument("--quiet", action="store_true", help="no messages")

    wt = sub.add_parser(
        "watch",
        help="score a video file, camera or stream as it arrives",
        description="Reads SOURCE frame by frame, scores each frame by the window that ends at "
        "it (or the calibration's delay), and writes scores.csv, annotated.mp4 and "
        "summary.json. Ctrl-C stops it and keeps what was written.",
    )
    wt.add_argument("source", help="video file, camera index (0, 1, ...) or stream URL")
    wt.add_argument("--model", required=True, help="a .keras model saved by train")
    _calibration_args(wt)
    wt.add_argument("--out", help="output folder (default: <model folder>/watch-<source>)")
    wt.add_argument("--batch", type=int, default=4, help="windows per forward pass")
    wt.add_argument("--max-frames", type=int, help="stop after this many frames")
    wt.add_argument("--no-video", action="store_true", help="no annotated.mp4")
    wt.add_argument("--quiet", action="store_true", help="no messages")

    m = sub.add_parser("make-synthetic", help="write the embedded synthetic dataset")
    m.add_argument("--out", required=True, help="dataset folder to create")
    m.add_argument("--n-train", type=int, default=8)
    m.add_argument("--n-test", type=int, default=4)
    m.add_argument("--frames", type=int, default=80)
    m.add_argument("--size", default="64,64", help="H,W")
    m.add_argument("--seed", type=int, default=0)
    return parser


def _calibration_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--calibration",
        help="calibration file (default: calibration.json next to the model, when present)",
    )
    p.add_argument(
        "--fpr",
        type=float,
        default=0.01,
        help="target false-alarm rate on normal frames for the alarms (default 0.01)",
    )


# ---------------------------------------------------------------------- commands


def train_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The config overrides the ``train`` flags of ``args`` ask for (``--set`` last).

    Parameters
    ----------
    args : argparse.Namespace
        ``train``'s arguments from :func:`build_parser`.

    Returns
    -------
    dict
        Config key -> value, for :func:`trainer.config.load_config`: the named flags that were
        given, ``transforms`` from ``--transform``/``--weight``, ``imports`` from ``--import``,
        then every ``--set KEY=VALUE``.

    Raises
    ------
    CLIError
        ``--weight`` without a matching ``--transform``, or a count mismatch.
    """
    overrides: dict[str, Any] = {}
    for key in ("data", "p", "epochs", "seed", "out", "strategy", "replicas"):
        value = getattr(args, key)
        if value is not None:
            overrides[key] = value
    if args.imports:
        overrides["imports"] = args.imports
    if args.weight and not args.transform:
        raise CLIError("--weight needs a matching --transform")
    if args.transform:
        weights = args.weight or [1.0] * len(args.transform)
        if len(weights) != len(args.transform):
            raise CLIError(
                f"{len(args.transform)} --transform but {len(weights)} --weight; give one "
                f"--weight per --transform or none"
            )
        overrides["transforms"] = [
            parse_transform(spec, w) for spec, w in zip(args.transform, weights, strict=True)
        ]
    for text in args.set:
        key, value = parse_override(text)
        overrides[key] = value
    return overrides


def cmd_train(args: argparse.Namespace) -> int:
    overrides = train_overrides(args)
    config = load_config(args.preset, args.config, overrides)
    saved = Path(config.out) / "config.yaml"
    resumed = args.resume and saved.is_file()
    if resumed:
        # Resume from the run's own settings; only what was given explicitly applies on top.
        config = load_config(
            yaml_path=args.config, overrides=overrides, base=TrainConfig.from_yaml(saved)
        )
    if config.data is not None and not Path(config.data).exists():
        # Checked here too so that the error comes before the slow framework import.
        raise FileNotFoundError(f"dataset folder {config.data} does not exist")
    _settle_backend(config.strategy)

    from trainer.distribute import make_distribution

    # First, before anything else initialises TensorFlow (see trainer.distribute).
    distribution = make_distribution(config.strategy, config.replicas)
    details = _announce(args.quiet)
    if not details["accelerator"]:
        implicit = args.preset is None and not resumed and not _yaml_names_preset(args.config)
        warning = cpu_cost_warning(config, implicit_preset=implicit)
        if warning:
            print(warning, file=sys.stderr, flush=True)
    from trainer.train import train

    train(
        config,
        resume=args.resume,
        overwrite=args.overwrite,
        verbose=0 if args.quiet else 1,
        evaluate=not args.no_eval,
        distribution=distribution,
    )
    return 0


def _settle_backend(strategy: str = "default") -> None:
    """Before Keras is imported: tensorflow for a ``tf.distribute`` strategy (unless the user
    chose another backend: an error); then check that the backend's package is installed."""
    if strategy != "default":
        backend.require_tensorflow(f"strategy {strategy!r}")
    backend.check_installed()


def _announce(quiet: bool) -> dict[str, Any]:
    """The startup line: which Keras backend, on which device (imports Keras); returns
    :func:`trainer.backend.info`."""
    details = backend.info()
    if not quiet:
        print(backend.describe(details), flush=True)
    return details


def _yaml_names_preset(path: str | None) -> bool:
    return path is not None and "preset" in read_yaml(path)


def cpu_cost_warning(config: TrainConfig, implicit_preset: bool = False) -> str | None:
    """What training ``config`` on a CPU costs, when its model is at least the paper's size.

    The estimate scales the measured speed of the paper's model on 2 CPU cores
    (:data:`PAPER_CPU_CLIPS_PER_S`) by the per-clip work ``T * H * W * width**2`` and quotes it
    for an epoch of UCSD Ped2. Smaller models (the ``cpu`` and ``smoke`` presets) get ``None``.

    Parameters
    ----------
    config : TrainConfig
        The resolved config of the run.
    implicit_preset : bool
        No preset was named: say that ``paper`` is the default.

    Returns
    -------
    str or None
        One ``warning: ...`` line, or ``None`` when there is nothing to warn about.
    """
    h, w = config.size
    paper = TrainConfig()
    work = config.clip_length * h * w * config.width**2
    ratio = work / (paper.clip_length * paper.size[0] * paper.size[1] * paper.width**2)
    if ratio < 1:
        return None
    rate = PAPER_CPU_CLIPS_PER_S / ratio
    epoch_s = PED2_CLIPS_PER_EPOCH / rate
    total_h = config.epochs * epoch_s / 3600
    total = f"{total_h / 24:.1f} days" if total_h >= 48 else f"{total_h:.0f} h"
    why = " (no --preset given: 'paper' is the default)" if implicit_preset else ""
    return (
        f"warning: this trains a {config.clip_length}x{h}x{w} model of width {config.width:g} "
        f"on a CPU{why}. On 2 CPU cores that runs at about {rate:.2g} clips/s: "
        f"{epoch_s / 60:.0f} min per epoch of UCSD Ped2 ({PED2_CLIPS_PER_EPOCH} clips), "
        f"{total} for {config.epochs} epochs. It is meant for a GPU; on a CPU use --preset cpu "
        f"(see 'Hardware and run time' in docs/getting-started.md). Ctrl-C stops it."
    )


def load_model(path: str | os.PathLike):
    """The model of a ``.keras`` file saved by ``train``, ready for
    :func:`trainer.train.evaluate_model` (what ``evaluate`` and ``score`` load).

    Parameters
    ----------
    path : str or os.PathLike
        A run's ``model.keras`` (or a checkpoint's ``epoch-NNNN.keras``).

    Returns
    -------
    keras.Model
        See :func:`trainer.checkpoint.load_model`: the network with this package's layers.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    CLIError
        ``path`` does not end in ``.keras``.
    """
    from trainer import checkpoint

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"model file {p} does not exist")
    if p.suffix != ".keras":
        raise CLIError(f"--model {p}: expected a .keras file saved by `train`")
    return checkpoint.load_model(p)


def cmd_evaluate(args: argparse.Namespace) -> int:
    _settle_backend()
    _announce(args.quiet)
    from trainer.data import load_split
    from trainer.localisation import Localiser
    from trainer.train import evaluate_model, pixel_masks, resolve_dataset

    model = load_model(args.model)
    _, t, h, w, c = model.input_shape
    root = resolve_dataset(args.data, args.cache_dir)
    videos = load_split(root, args.split, size=(h, w), channels=c, cache_dir=args.cache_dir)
    out = Path(args.out) if args.out else Path(args.model).parent / f"evaluation-{args.split}"
    localisation: bool | Localiser = args.localisation
    if localisation and any(v.masks is not None for v in videos):
        localisation = Localiser(pixel_masks, map_sigma=args.map_sigma)
    evaluate_model(
        model,
        videos,
        out,
        batch_size=args.batch_size,
        pad_edges=args.pad_edges,
        extra={"model": str(args.model), "dataset": str(root), "split": args.split},
        verbose=0 if args.quiet else 1,
        localisation=localisation,
        smooth_sigma=args.smooth_sigma,
    )
    return 0


def _load_calibration(args: argparse.Namespace, input_shape: Sequence[int]):
    """The calibration ``--calibration`` names, else the model's ``calibration.json`` when
    there is one, else ``None``; checked against the model's input shape and ``--fpr``."""
    from trainer.calibration import Calibration, default_calibration_path

    path = args.calibration or default_calibration_path(args.model)
    if args.calibration is None and not Path(path).is_file():
        return None
    calibration = Calibration.load(path)
    calibration.check_model(input_shape, args.model)
    calibration.threshold(args.fpr)  # a bad --fpr fails before scoring
    return calibration


def _delay(args: argparse.Namespace, calibration) -> int:
    if calibration is None:
        return 0 if args.delay is None else args.delay
    if args.delay is not None and args.delay != calibration.delay:
        raise CLIError(
            f"--delay {args.delay}: the calibration scores with delay {calibration.delay}; "
            f"calibrate again with --delay {args.delay} or leave --delay out"
        )
    return calibration.delay


def _uncalibrated_note(args: argparse.Namespace) -> str:
    from trainer.calibration import default_calibration_path

    return (
        f"uncalibrated: no {default_calibration_path(args.model)}, so psnr has no threshold "
        f"and nothing is flagged (python -m trainer calibrate {args.model} --normal PATH)"
    )


def cmd_score(args: argparse.Namespace) -> int:
    _settle_backend()
    _announce(args.quiet)
    import keras

    from trainer import evaluation, plots
    from trainer.calibration import apply_calibration, score_index_for
    from trainer.data import load_video
    from trainer.train import predict_fn

    model = load_model(args.model)
    _, t, h, w, c = model.input_shape
    calibration = _load_calibration(args, model.input_shape[1:])
    delay = _delay(args, calibration)
    video = load_video(args.video, size=(h, w), channels=c)
    out = Path(args.out) if args.out else Path(args.model).parent / f"score-{video.name}"
    pad_edges = not args.no_pad_edges
    result = evaluation.evaluate(
        [video],
        predict_fn(model),
        clip_len=t,
        score_index=score_index_for(t, delay),
        batch_size=args.batch_size,
        pad_edges=pad_edges,
        require_labels=False,
        keep={video.name: [len(video) // 2]},
        progress=None if args.quiet else evaluation.Progress.for_videos([video], t, pad_edges),
        fixed_batch=keras.config.backend() != "torch",
    )
    scores: dict[str, Any] = {
        "delay_frames": delay,
        "causal": delay == 0,
        "psnr": "absolute: dB of the scored frame against its reconstruction",
        "score": "the paper's per-video min-max of the PSNR: benchmark protocol only (ranks the "
        "frames of this video; needs the whole video; not comparable across videos)",
        "calibration": None,
    }
    if calibration is not None:
        scores["calibration"] = apply_calibration(result, calibration, args.fpr)
        scores["calibrated_score"] = "-log10(p_normal); alarm when p_normal <= fpr"
    extra = {"model": str(args.model), "video": str(args.video), "scores": scores,
             "commit": evaluation.git_commit(), "backend": backend.info()}  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    evaluation.write_scores_csv(result, out / "scores.csv")
    evaluation.write_metrics_csv(result, out / "metrics.csv")
    evaluation.write_summary_json(result, out / "summary.json", extra)
    plots.plot_scores(result, out)
    plots.plot_reconstructions(result.reconstructions, out)
    if args.quiet:
        return 0
    if calibration is None:
        print(_uncalibrated_note(args))
        print(f"scored {result.n_scored} frames -> {out}")
    else:
        info = scores["calibration"]
        print(
            f"scored {result.n_scored} frames: {sum(info['alarms'].values())} alarms at fpr "
            f"{args.fpr:g} (psnr below {info['threshold_psnr']:.2f} dB) -> {out}"
        )
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from trainer.calibration import calibrate, default_calibration_path, find_videos

    videos = find_videos(args.normal)  # before the slow import: a bad path fails fast
    _settle_backend()
    _announce(args.quiet)
    model = load_model(args.model)

    def progress(name: str, scored: int, frames: int) -> None:
        if not args.quiet:
            print(f"{name}: {scored} of {frames} frames scored", flush=True)

    calibration = calibrate(
        model,
        videos,
        delay=args.delay,
        batch_size=args.batch_size,
        model_path=args.model,
        cache_dir=args.cache_dir,
        progress=progress,
    )
    out = calibration.save(args.out or default_calibration_path(args.model))
    if not args.quiet:
        q = calibration.quantiles((0.01, 0.5))
        print(
            f"calibrated on {calibration.n_frames} normal frames of {len(videos)} videos "
            f"(delay {calibration.delay}): psnr 1% quantile {q['0.01']:.2f} dB, median "
            f"{q['0.5']:.2f} dB; smallest fpr {calibration.min_fpr():.2g} -> {out}"
        )
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    from trainer.stream import LiveLine, open_source, watch

    capture, live = open_source(args.source)  # before the slow import: a bad source fails fast
    try:
        _settle_backend()
        _announce(args.quiet)
        import keras

        from trainer.train import predict_fn

        model = load_model(args.model)
        calibration = _load_calibration(args, model.input_shape[1:])
        if calibration is None and not args.quiet:
            print(_uncalibrated_note(args), flush=True)
        name = f"camera{args.source}" if str(args.source).isdigit() else "stream"
        name = name if live else Path(args.source).stem
        out = Path(args.out) if args.out else Path(args.model).parent / f"watch-{name}"
        result = watch(
            capture,
            predict_fn(model),
            model.input_shape[1:],
            calibration=calibration,
            fpr=args.fpr,
            out=out,
            video=not args.no_video,
            batch=args.batch,
            max_frames=args.max_frames,
            live=live,
            status=None if args.quiet else LiveLine(),
            extra={
                "model": str(args.model),
                "source": str(args.source),
                "backend": backend.info(),
            },  # fmt: skip
            fixed_batch=keras.config.backend() != "torch",
        )
    finally:
        capture.release()
    if not args.quiet:
        print(f"{result.stopped}: {result.frames_scored} frames scored -> {out}")
    return 0


def cmd_make_synthetic(args: argparse.Namespace) -> int:
    from trainer.synthetic import make_synthetic_dataset

    try:
        size = tuple(int(v) for v in args.size.split(","))
    except ValueError:
        raise CLIError(f"--size {args.size!r}: expected H,W") from None
    root = make_synthetic_dataset(
        args.out,
        n_train=args.n_train,
        n_test=args.n_test,
        frames=args.frames,
        size=size,
        seed=args.seed,
    )
    print(root)
    return 0


COMMANDS = {
    "train": cmd_train,
    "evaluate": cmd_evaluate,
    "score": cmd_score,
    "calibrate": cmd_calibrate,
    "watch": cmd_watch,
    "make-synthetic": cmd_make_synthetic,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0, or 2 for bad input).

    Parameters
    ----------
    argv : sequence of str or None
        Arguments after the program name; ``None`` = ``sys.argv[1:]``.
    """
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError) as e:
        # ConfigError, DatasetError, RunDirError and pseudoanom's errors are ValueErrors.
        if os.environ.get("TRAINER_DEBUG"):
            raise
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
