"""Rerun the Ped2 table (the paper's Table 1 rows, plus the combined pipeline) with one command.

Trains baseline / patch / skip-frame / combined autoencoders for several seeds with
``python -m trainer train``, evaluates each under the paper's protocol (and padded), then writes
``results/ped2/``: one JSON summary, history and per-frame score CSV per run, ``table.json``
(mean, sample std, min and max over seeds) and ``table.md``.

    python benchmarks/ped2_table.py --data ../shared/datasets/ped2 \\
        --intruders ../shared/datasets/intruders/cifar100 --seeds 0 1 2 --jobs 2

Runs already finished in ``--runs`` are reused (their config is checked against the one this
script would use); an interrupted run is resumed. ``--aggregate-only`` rebuilds the results
from finished runs without training. Every setting is fixed in advance (the ``cpu`` preset with
the paper's transform parameters); nothing here looks at test labels to choose them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

PATCH = "smoothmix_s:alpha=0.5,beta=10"
SKIP = "skip_frame"  # its default steps are the paper's {2, 3, 4, 5}

# Trainer flags per variant: the paper's Table 1 rows, and both kinds mixed 1:1 in one run.
VARIANTS: dict[str, list[str]] = {
    "baseline": ["--p", "0"],
    "patch": ["--transform", PATCH],
    "skip": ["--transform", SKIP],
    "mix": ["--transform", PATCH, "--weight", "1", "--transform", SKIP, "--weight", "1"],
}
# Settings that must agree when an existing run directory is reused.
CHECKED_KEYS = ("data", "size", "width", "batch_size", "epochs", "lr", "seed", "p", "transforms")
METRICS = ("micro_auc", "macro_auc", "unnormalised_auc", "padded_micro_auc")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", default="../shared/datasets/ped2", help="UCSD Ped2 root")
    ap.add_argument("--intruders", default="../shared/datasets/intruders/cifar100")
    ap.add_argument("--preset", default="cpu", help="trainer preset (default: cpu)")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--runs", default="runs/ped2_table", help="run directories (weights live here)")
    ap.add_argument("--results", default="results/ped2", help="small result files for git")
    ap.add_argument("--jobs", type=int, default=1, help="runs trained side by side")
    ap.add_argument(
        "--pin", action="store_true", help="pin job k to CPU core k (taskset), one core per run"
    )
    ap.add_argument("--set", action="append", default=[], help="extra trainer --set KEY=VALUE")
    ap.add_argument("--aggregate-only", action="store_true", help="no training, only results")
    return ap.parse_args(argv)


def train_command(args: argparse.Namespace, variant: str, seed: int, out: Path) -> list[str]:
    cmd = [sys.executable, "-m", "trainer", "train", "--preset", args.preset, "--data", args.data]
    cmd += VARIANTS[variant] + ["--seed", str(seed), "--epochs", str(args.epochs), "--quiet"]
    cmd += ["--set", f"intruders={args.intruders}"]
    for kv in args.set:
        cmd += ["--set", kv]
    if (out / "checkpoint").exists() and not (out / "evaluation" / "summary.json").exists():
        return cmd[:4] + ["--out", str(out), "--resume", "--epochs", str(args.epochs), "--quiet"]
    return cmd + ["--out", str(out)]


def check_reusable(out: Path, expected: dict[str, Any]) -> None:
    """Raise if the finished run in ``out`` was trained with other settings than ``expected``."""
    have = yaml.safe_load((out / "config.yaml").read_text())
    keys = [k for k in CHECKED_KEYS if not (k == "transforms" and expected["p"] == 0)]
    diff = {k: (have.get(k), expected[k]) for k in keys if _norm(have.get(k)) != _norm(expected[k])}
    if diff:
        raise SystemExit(f"{out}: existing run has other settings {diff} (have, want); move it")


def _norm(value: Any) -> Any:
    """YAML lists vs tuples and 10 vs 10.0 compare equal."""
    return json.loads(json.dumps(value, default=list), parse_float=float, parse_int=float)


def expected_config(args: argparse.Namespace, variant: str, seed: int) -> dict[str, Any]:
    """The config ``train`` would write for this run, resolved by the trainer's own CLI code."""
    from trainer.cli import _train_overrides, build_parser
    from trainer.config import load_config

    argv = train_command(args, variant, seed, Path("/nonexistent"))[3:]
    ns = build_parser().parse_args(argv)
    return load_config(ns.preset, ns.config, _train_overrides(ns)).to_dict()


def pinned(args: argparse.Namespace, slot: int, cmd: list[str]) -> list[str]:
    """``cmd`` run on CPU core ``slot`` (``taskset``) when ``--pin`` is given and possible."""
    if args.pin and shutil.which("taskset"):
        return ["taskset", "-c", str(slot % os.cpu_count())] + cmd
    return cmd


def run_one(args: argparse.Namespace, variant: str, seed: int, slot: int) -> dict[str, Any]:
    out = Path(args.runs) / f"{variant}-s{seed}"
    summary = out / "evaluation" / "summary.json"
    log = Path(args.runs) / f"{variant}-s{seed}.log"
    if summary.exists():
        check_reusable(out, expected_config(args, variant, seed))
    elif not args.aggregate_only:
        cmd = train_command(args, variant, seed, out)
        cmd = pinned(args, slot, cmd)
        print(f"[{time.strftime('%H:%M:%S')}] start {variant} seed {seed}: {' '.join(cmd)}")
        with open(log, "a") as fh:
            rc = subprocess.call(cmd, stdout=fh, stderr=subprocess.STDOUT)
        if rc != 0:
            raise SystemExit(f"{variant} seed {seed} failed (rc {rc}); see {log}")
        print(f"[{time.strftime('%H:%M:%S')}] done  {variant} seed {seed}")
    padded = out / "evaluation-padded" / "summary.json"
    if summary.exists() and not padded.exists() and not args.aggregate_only:
        cmd = [sys.executable, "-m", "trainer", "evaluate", "--model", str(out / "model.keras")]
        cmd += ["--data", args.data, "--pad-edges", "--out", str(padded.parent), "--quiet"]
        cmd = pinned(args, slot, cmd)
        with open(log, "a") as fh:
            if subprocess.call(cmd, stdout=fh, stderr=subprocess.STDOUT) != 0:
                raise SystemExit(f"padded evaluation of {out} failed; see {log}")
    return collect(args, variant, seed, out)


def collect(args: argparse.Namespace, variant: str, seed: int, out: Path) -> dict[str, Any]:
    """Copy the small files of one run to ``--results`` and return its row."""
    s = json.loads((out / "evaluation" / "summary.json").read_text())
    h = json.loads((out / "history.json").read_text())
    row = {
        "variant": variant,
        "seed": seed,
        "micro_auc": s["micro_auc"],
        "macro_auc": s["macro_auc"],
        "unnormalised_auc": s["unnormalised_auc"],
        "padded_micro_auc": None,
        "epochs": len(h["loss"]),
        "train_seconds": round(sum(h["epoch_seconds"]), 1),
        "commit": s.get("commit"),
    }
    padded = out / "evaluation-padded" / "summary.json"
    if padded.exists():
        row["padded_micro_auc"] = json.loads(padded.read_text())["micro_auc"]
    dest = Path(args.results)
    dest.mkdir(parents=True, exist_ok=True)
    name = f"{variant}-s{seed}"
    shutil.copyfile(out / "evaluation" / "summary.json", dest / f"{name}.summary.json")
    shutil.copyfile(out / "evaluation" / "scores.csv", dest / f"{name}.scores.csv")
    shutil.copyfile(out / "history.json", dest / f"{name}.history.json")
    shutil.copyfile(out / "config.yaml", dest / f"{name}.config.yaml")
    if padded.exists():
        shutil.copyfile(padded, dest / f"{name}.padded.summary.json")
    return row


def aggregate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean, sample standard deviation, min and max of every metric per variant."""
    table: dict[str, Any] = {}
    for variant in dict.fromkeys(r["variant"] for r in rows):
        mine = [r for r in rows if r["variant"] == variant]
        entry: dict[str, Any] = {"seeds": [r["seed"] for r in mine]}
        for m in METRICS + ("train_seconds",):
            vals = [r[m] for r in mine if r[m] is not None]
            if not vals:
                continue
            entry[m] = {
                "mean": statistics.fmean(vals),
                "std": statistics.stdev(vals) if len(vals) > 1 else None,
                "min": min(vals),
                "max": max(vals),
                "values": vals,
            }
        table[variant] = entry
    return table


def markdown(table: dict[str, Any]) -> str:
    def cell(entry: dict[str, Any], m: str, scale: float = 100.0) -> str:
        if m not in entry:
            return "-"
        e = entry[m]
        sd = "" if e["std"] is None else f" ± {e['std'] * scale:.2f}"
        return f"{e['mean'] * scale:.2f}{sd}"

    lines = [
        "| variant | seeds | micro AUC | padded micro AUC | macro AUC | unnormalised AUC "
        "| training s/model |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for v, e in table.items():
        seeds = ",".join(map(str, e["seeds"]))
        lines.append(
            f"| {v} | {seeds} | {cell(e, 'micro_auc')} | {cell(e, 'padded_micro_auc')} "
            f"| {cell(e, 'macro_auc')} | {cell(e, 'unnormalised_auc')} "
            f"| {cell(e, 'train_seconds', 1.0)} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    Path(args.runs).mkdir(parents=True, exist_ok=True)
    work = [(v, s) for s in args.seeds for v in args.variants]
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [
            pool.submit(run_one, args, v, s, i % max(1, args.jobs)) for i, (v, s) in enumerate(work)
        ]
        rows = [f.result() for f in futures]
    table = aggregate(rows)
    dest = Path(args.results)
    (dest / "table.json").write_text(json.dumps({"runs": rows, "table": table}, indent=2) + "\n")
    (dest / "table.md").write_text(markdown(table))
    print(markdown(table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
