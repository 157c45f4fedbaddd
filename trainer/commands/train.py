"""``python -m trainer train``: train (then evaluate) a model; ``--resume`` continues a run.

The only module that imports :mod:`trainer.train` (after the backend is settled, so that a bad
flag or a missing dataset fails before the slow framework import).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from trainer.commands.common import CLIError, announce, settle_backend
from trainer.config import (
    PRESETS,
    STRATEGIES,
    TrainConfig,
    load_config,
    parse_override,
    read_yaml,
    resume_config,
    saved_run_config,
)

__all__ = ["cpu_cost_warning", "parse_transform", "requested_config", "train_overrides"]

NAME = "train"
HELP = "train (then evaluate) a model"
DESCRIPTION = (
    "Config precedence: --preset < --config YAML < named flags < --set. "
    "Without --data the embedded synthetic dataset is used."
)

PAPER_CPU_CLIPS_PER_S = 0.41
"""Training clips/s of the paper's model (16 x 256 x 256 x 1, width 1, batch 4) on 2 CPU cores
under TensorFlow (``benchmarks/train_step_vs_torch.py --sizes 256``, docs/performance.md)."""

PED2_CLIPS_PER_EPOCH = 2308
"""Clips of a UCSD Ped2 training epoch at batch 4: 2,310 windows of 16 frames, 577 full steps."""


def add_arguments(t: argparse.ArgumentParser) -> None:
    """The options of ``train``."""
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
    t.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the run in --out (deletes only the files it wrote; refuses when there "
        "are others)",
    )
    t.add_argument("--no-eval", action="store_true", help="skip the test-split evaluation")
    t.add_argument("--quiet", action="store_true", help="no progress bar or messages")


def run(args: argparse.Namespace) -> int:
    """Train as ``args`` ask; returns the exit code."""
    config, resumed = requested_config(args)
    if config.data is not None and not Path(config.data).exists():
        # Checked here too so that the error comes before the slow framework import.
        raise FileNotFoundError(f"dataset folder {config.data} does not exist")
    from trainer.rundir import lock_until_exit

    # Before the slow import, so that a busy --out fails fast (multiworker: its chief locks in
    # train(), once TF_CONFIG says which worker it is).
    lock = lock_until_exit(config.out) if config.strategy != "multiworker" else None
    settle_backend(config.strategy)

    from trainer.distribute import make_distribution

    # First, before anything else initialises TensorFlow (see trainer.distribute).
    distribution = make_distribution(config.strategy, config.replicas)
    details = announce(args.quiet)
    if not details["accelerator"]:
        implicit = args.preset is None and not resumed and not _yaml_names_preset(args.config)
        warning = cpu_cost_warning(config, implicit_preset=implicit)
        if warning:
            print(warning, file=sys.stderr, flush=True)
    from trainer.train import train

    try:
        train(
            config,
            resume=args.resume,
            overwrite=args.overwrite,
            verbose=0 if args.quiet else 1,
            evaluate=not args.no_eval,
            distribution=distribution,
        )
    finally:
        if lock is not None:
            lock.release()
    return 0


def requested_config(args: argparse.Namespace) -> tuple[TrainConfig, bool]:
    """The config ``args`` ask for, and whether it resumes a saved run.

    With ``--resume`` and a saved config in the run directory, the flags apply on top of the
    saved config (not on a preset) and :func:`trainer.config.resume_config` decides what the
    run continues with, before the framework starts.
    """
    overrides = train_overrides(args)
    config = load_config(args.preset, args.config, overrides)
    saved = saved_run_config(config.out) if args.resume else None
    if saved is None:
        return config, False
    requested = load_config(yaml_path=args.config, overrides=overrides, base=saved)
    return resume_config(config.out, requested), True


def _yaml_names_preset(path: str | None) -> bool:
    return path is not None and "preset" in read_yaml(path)


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


def train_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The config overrides the ``train`` flags of ``args`` ask for (``--set`` last).

    Parameters
    ----------
    args : argparse.Namespace
        ``train``'s arguments (:func:`add_arguments`).

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
