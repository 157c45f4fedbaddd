"""Rerun the Ped2 table (the paper's Table 1 rows and Fig. 5c cells) with one command.

Each table row is a config file in ``configs/`` (``cpu_ped2_<row>.yaml``: the ``cpu`` preset,
10 epochs, the paper's transform parameters), trained for several seeds with
``python -m trainer train --config ... --seed N``; the Fig. 5c cells are the patch config with
another patch technique or intruder set. Each run is evaluated under the paper's protocol (and
padded), then ``results/ped2/`` gets one JSON summary, history, config and per-frame score CSV
per run, ``table.json`` (mean, sample std, min, max over seeds, and a paired t-test of every
row against the baseline on the seeds both have) and ``table.md``.

    python benchmarks/ped2_table.py --seeds 0 1 2 3 4 --jobs 2 --pin
    python benchmarks/ped2_table.py --variants baseline patch --seeds 0 1 --backend torch

Runs already finished are reused, from ``--runs`` or from the small files in ``--results``
(their config is checked against the one this script would use, so a next session continues
the table instead of retraining it); an interrupted run is resumed. ``--aggregate-only``
rebuilds the results from finished runs without training. ``--backend`` trains under that Keras
backend and tags the runs ``<row>@<backend>``. Every setting is fixed in advance; nothing here
looks at test labels to choose it.

The test AUC after every epoch is recorded too (``<run>.epochs.json``; the scoring is
``benchmarks/ped2_validation.py``'s ``epoch_test_auc_callback``), for reporting only: the
table's headline is the fixed-epoch figure, and next to it stands "best epoch on test labels
(the paper's selection)", the mean over seeds of each run's highest per-epoch test AUC. The
paper's authors state that they kept the best of their saved epochs (issue #3 of their
repository), so that column is the one to put next to Table 1; nothing here is chosen with it.
Each run trains in a worker process that runs ``python -m trainer train`` with the arguments
of :func:`train_command` in-process, with that callback added.

``--quick`` trains tiny models (32x32, width 0.125, 2 steps per epoch, 2 epochs) on a small
generated dataset: seconds per run, a check of the wiring (the test suite runs it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

DATASETS = "../shared/datasets"
PATCH_CONFIG = "configs/cpu_ped2_patch.yaml"


def _patch(name: str) -> list[str]:
    return ["--transform", f"{name}:alpha=0.5,beta=10.0,content=window"]


# Trainer flags per variant: the config of a table row (the paper's Table 1 rows and our
# object-content variant), or the patch row with one thing changed (Fig. 5c: the patch
# technique, or the intruder set; "ped2" = Ped2's own training frames as intruders).
VARIANTS: dict[str, list[str]] = {
    "baseline": ["--config", "configs/cpu_ped2_baseline.yaml"],
    "patch": ["--config", PATCH_CONFIG],
    "patch_object": ["--config", "configs/cpu_ped2_patch_object.yaml"],
    "skip": ["--config", "configs/cpu_ped2_skip.yaml"],
    "mix": ["--config", "configs/cpu_ped2_mix.yaml"],
    "smoothmix_c": ["--config", PATCH_CONFIG, *_patch("smoothmix_c")],
    "cutmix": ["--config", PATCH_CONFIG, *_patch("cutmix")],
    "mixup_patch": ["--config", PATCH_CONFIG, *_patch("mixup_patch")],
    "patch_imagenet": [
        "--config",
        PATCH_CONFIG,
        "--set",
        f"intruders={DATASETS}/intruders/imagenet",
    ],
    "patch_natural": ["--config", PATCH_CONFIG, "--set", f"intruders={DATASETS}/intruders/natural"],
    "patch_ped2": [
        "--config",
        PATCH_CONFIG,
        "--set",
        f"intruders={DATASETS}/ped2/training/frames",
    ],  # fmt: skip
    # Beyond the paper (docs/transforms.md, docs/trainer.md "pseudo anomalies' objective").
    "reverse": ["--config", "configs/cpu_ped2_reverse.yaml"],
    "freeze": ["--config", "configs/cpu_ped2_freeze.yaml"],
    "noise": ["--config", "configs/cpu_ped2_noise_patch.yaml"],
    "steal": ["--config", "configs/cpu_ped2_steal.yaml"],
    "skip_push_away": ["--config", "configs/cpu_ped2_skip_push_away.yaml"],
}
TABLE_ROWS = ["baseline", "patch", "patch_object", "skip"]
# Paired comparisons besides "vs baseline" (first minus second, on the seeds both have): the
# paper's window content against our object content, and every ``<row>@<backend>`` run against
# the same row under the default backend (added in ``comparisons``).
COMPARISONS = [("patch", "patch_object")]
# Settings that must agree when an existing run is reused.
CHECKED_KEYS = (
    "data",
    "size",
    "width",
    "batch_size",
    "epochs",
    "lr",
    "seed",
    "pipeline",
    "pseudo_objective",
    "push_away_margin",
)
METRICS = ("micro_auc", "macro_auc", "unnormalised_auc", "padded_micro_auc", "best_epoch_micro_auc")
EPOCHS_FILE = "test_auc_per_epoch.json"  # in each run folder; <run>.epochs.json in --results
QUICK_SETS = ["size=32,32", "width=0.125", "steps_per_epoch=2", "epochs=2", "eval_batch_size=8"]
REPO = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", default=None, help="UCSD Ped2 root (default: the configs')")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--variants", nargs="+", default=TABLE_ROWS, choices=list(VARIANTS))
    ap.add_argument(
        "--backend", default=None, help="Keras backend to train under (tags runs <row>@<backend>)"
    )
    ap.add_argument("--runs", default="runs/ped2_table", help="run directories (weights live here)")
    ap.add_argument("--results", default="results/ped2", help="small result files for git")
    ap.add_argument("--jobs", type=int, default=1, help="runs trained side by side")
    ap.add_argument(
        "--pin",
        action="store_true",
        help="pin job k to CPU core k (taskset), one core per run; a pinned run repeats to the "
        "byte, an unpinned one may differ in the 4th digit (another summation order)",
    )
    ap.add_argument("--set", action="append", default=[], help="extra trainer --set KEY=VALUE")
    ap.add_argument("--aggregate-only", action="store_true", help="no training, only results")
    ap.add_argument("--quick", action="store_true", help="tiny models on small generated data")
    ap.add_argument("--worker", nargs=2, metavar=("VARIANT", "SEED"), help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def apply_quick(args: argparse.Namespace) -> None:
    """``--quick``: the generated dataset and the tiny-model settings (results under --runs)."""
    from trainer.synthetic import make_synthetic_dataset

    root = make_synthetic_dataset(
        Path(args.runs) / "quick-data", n_train=2, n_test=2, frames=40, size=(32, 32)
    )
    args.data = str(root)
    args.set = [*QUICK_SETS, *args.set]
    if args.results == "results/ped2":
        args.results = str(Path(args.runs) / "results")


def train_worker(args: argparse.Namespace, variant: str, seed: int) -> None:
    """Train one run as :func:`train_command` would (same parser, same config), with the test
    AUC of every epoch written to ``<run>/test_auc_per_epoch.json`` as it is measured."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from benchmarks.ped2_validation import epoch_test_auc_callback
    from trainer.checkpoint import atomic_write_text
    from trainer.cli import build_parser, train_overrides
    from trainer.config import TrainConfig, load_config

    out = Path(args.runs) / run_name(args, variant, seed)
    ns = build_parser().parse_args(train_command(args, variant, seed, out)[3:])
    config = load_config(ns.preset, ns.config, train_overrides(ns))
    if ns.resume:  # the run's own settings, as `train --resume` reads them
        config = TrainConfig.from_yaml(out / "config.yaml")
    from trainer.datasets import load_split
    from trainer.synthetic import resolve_dataset
    from trainer.train import train_model

    root = resolve_dataset(config.data, config.cache_dir)
    test = load_split(root, config.test_split, config.size, config.channels, config.cache_dir)
    path = out / EPOCHS_FILE
    record = json.loads(path.read_text()) if ns.resume and path.exists() else {"epochs": []}
    record["note"] = "test AUC after every epoch: for reporting only, nothing is chosen with it"

    def on_epoch(row: dict[str, Any]) -> None:
        record["epochs"] = [e for e in record["epochs"] if e["epoch"] < row["epoch"]] + [row]
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(record, indent=1) + "\n")

    if ns.resume:
        score_checkpoint_epoch(out, record, test, config, on_epoch)
    callback = epoch_test_auc_callback(test, config, on_epoch)
    train_model(config, resume=ns.resume, verbose=1, evaluate=True, callbacks=[callback])


def score_checkpoint_epoch(
    out: Path, record: dict[str, Any], test: list, config: Any, on_epoch: Any
) -> None:
    """Score the resumed checkpoint's epoch if ``record`` lacks it. The checkpoint is written
    before that epoch's test AUC, so a run stopped between the two would otherwise resume
    with a hole in its per-epoch record."""
    from benchmarks.ped2_validation import epoch_test_row
    from trainer.checkpoint import latest_checkpoint, load_checkpoint_model

    state = latest_checkpoint(out)
    if state is None or any(e["epoch"] == state["epoch"] for e in record["epochs"]):
        return
    n = state["epoch"]
    logs = {k: v[n - 1] for k, v in state["history"].items() if k != "epoch_seconds"}
    on_epoch(epoch_test_row(load_checkpoint_model(state), test, config, n, logs))


def run_name(args: argparse.Namespace, variant: str, seed: int) -> str:
    """``<variant>-s<seed>``, with ``@<backend>`` when ``--backend`` is given."""
    return f"{variant}-s{seed}" + (f"@{args.backend}" if args.backend else "")


def train_command(args: argparse.Namespace, variant: str, seed: int, out: Path) -> list[str]:
    cmd = [sys.executable, "-m", "trainer", "train", *VARIANTS[variant]]
    cmd += ["--seed", str(seed), "--quiet"]
    if args.data:
        cmd += ["--data", args.data]
    for kv in args.set:
        cmd += ["--set", kv]
    if (out / "checkpoint").exists() and not (out / "evaluation" / "summary.json").exists():
        return cmd[:4] + ["--out", str(out), "--resume", "--quiet"]
    return cmd + ["--out", str(out)]


def environment(args: argparse.Namespace) -> dict[str, str]:
    """The trainer's environment: ``KERAS_BACKEND`` set when ``--backend`` is given."""
    env = dict(os.environ)
    if args.backend:
        env["KERAS_BACKEND"] = args.backend
    return env


def check_reusable(out: Path, expected: dict[str, Any], config: str = "config.yaml") -> None:
    """Raise if the finished run in ``out`` was trained with other settings than ``expected``."""
    have = _settings(yaml.safe_load((out / config).read_text()))
    want = _settings(expected)
    diff = {k: (have[k], want[k]) for k in want if _norm(have[k]) != _norm(want[k])}
    if diff:
        raise SystemExit(f"{out}: existing run has other settings {diff} (have, want); move it")


def _settings(config: dict[str, Any]) -> dict[str, Any]:
    """The :data:`CHECKED_KEYS` and ``p`` of a saved config, old form or new (no pipeline at
    p = 0: a baseline's transforms do not matter)."""
    from trainer.config import TrainConfig

    cfg = TrainConfig.from_dict(config)
    settings = {k: v for k, v in cfg.to_dict().items() if k in CHECKED_KEYS}
    settings["p"] = cfg.p
    if cfg.p == 0:
        settings["pipeline"] = None
    return settings


def _norm(value: Any) -> Any:
    """YAML lists vs tuples and 10 vs 10.0 compare equal."""
    return json.loads(json.dumps(value, default=list), parse_float=float, parse_int=float)


def expected_config(args: argparse.Namespace, variant: str, seed: int) -> dict[str, Any]:
    """The config ``train`` would write for this run, resolved by the trainer's own CLI code."""
    from trainer.cli import build_parser, train_overrides
    from trainer.config import load_config

    argv = train_command(args, variant, seed, Path("/nonexistent"))[3:]
    ns = build_parser().parse_args(argv)
    return load_config(ns.preset, ns.config, train_overrides(ns)).to_dict()


def pinned(args: argparse.Namespace, slot: int, cmd: list[str]) -> list[str]:
    """``cmd`` run on CPU core ``slot`` (``taskset``) when ``--pin`` is given and possible."""
    if args.pin and shutil.which("taskset"):
        return ["taskset", "-c", str(slot % os.cpu_count())] + cmd
    return cmd


def run_one(args: argparse.Namespace, variant: str, seed: int, slot: int) -> dict[str, Any] | None:
    name = run_name(args, variant, seed)
    out = Path(args.runs) / name
    summary = out / "evaluation" / "summary.json"
    log = Path(args.runs) / f"{name}.log"
    kept = Path(args.results) / f"{name}.config.yaml"
    if not summary.exists() and kept.exists():  # finished earlier: its small files are kept
        check_reusable(kept.parent, expected_config(args, variant, seed), kept.name)
        return kept_row(kept.parent, name)
    if summary.exists():
        check_reusable(out, expected_config(args, variant, seed))
    elif args.aggregate_only:
        return None
    else:
        shown = " ".join(train_command(args, variant, seed, out))
        cmd = [sys.executable, str(Path(__file__).resolve()), *args.argv]
        cmd = pinned(args, slot, [*cmd, "--worker", variant, str(seed)])
        print(f"[{time.strftime('%H:%M:%S')}] start {name}: {shown}", flush=True)
        with open(log, "a") as fh:
            rc = subprocess.call(cmd, stdout=fh, stderr=subprocess.STDOUT, env=environment(args))
        if rc != 0:
            raise SystemExit(f"{name} failed (rc {rc}); see {log}")
        print(f"[{time.strftime('%H:%M:%S')}] done  {name}", flush=True)
    padded = out / "evaluation-padded" / "summary.json"
    if summary.exists() and not padded.exists() and not args.aggregate_only:
        data = yaml.safe_load((out / "config.yaml").read_text())["data"]
        cmd = [sys.executable, "-m", "trainer", "evaluate", "--model", str(out / "model.keras")]
        cmd += ["--data", data, "--pad-edges", "--out", str(padded.parent), "--quiet"]
        cmd = pinned(args, slot, cmd)
        with open(log, "a") as fh:
            rc = subprocess.call(cmd, stdout=fh, stderr=subprocess.STDOUT, env=environment(args))
            if rc != 0:
                raise SystemExit(f"padded evaluation of {out} failed; see {log}")
    return collect(args, variant, seed, out)


def collect(args: argparse.Namespace, variant: str, seed: int, out: Path) -> dict[str, Any]:
    """Copy the small files of one run to ``--results`` and return its row."""
    dest = Path(args.results)
    dest.mkdir(parents=True, exist_ok=True)
    name = run_name(args, variant, seed)
    shutil.copyfile(out / "evaluation" / "summary.json", dest / f"{name}.summary.json")
    shutil.copyfile(out / "evaluation" / "scores.csv", dest / f"{name}.scores.csv")
    shutil.copyfile(out / "history.json", dest / f"{name}.history.json")
    shutil.copyfile(out / "config.yaml", dest / f"{name}.config.yaml")
    if (out / EPOCHS_FILE).exists():
        shutil.copyfile(out / EPOCHS_FILE, dest / f"{name}.epochs.json")
    padded = out / "evaluation-padded" / "summary.json"
    if padded.exists():
        shutil.copyfile(padded, dest / f"{name}.padded.summary.json")
    return kept_row(Path(args.results), name)


def kept_row(results: Path, name: str) -> dict[str, Any]:
    """The table row of the finished run ``name`` (``<variant>-s<seed>[@<backend>]``), read
    from its small files in ``results``; its variant is ``<variant>[@<backend>]``."""
    stem, _, backend = name.partition("@")
    variant, _, seed = stem.rpartition("-s")
    base = results / name
    s = json.loads(Path(f"{base}.summary.json").read_text())
    h = json.loads(Path(f"{base}.history.json").read_text())
    padded = Path(f"{base}.padded.summary.json")
    per_epoch = Path(f"{base}.epochs.json")
    epochs = json.loads(per_epoch.read_text())["epochs"] if per_epoch.exists() else []
    if [e["epoch"] for e in epochs] != list(range(1, len(h["loss"]) + 1)):
        epochs = []  # a record with a hole (or none) gives no per-epoch figures
    best = max(epochs, key=lambda e: e["test_micro_auc"]) if epochs else None
    return {
        "variant": variant + (f"@{backend}" if backend else ""),
        "seed": int(seed),
        "micro_auc": s["micro_auc"],
        "macro_auc": s["macro_auc"],
        "unnormalised_auc": s["unnormalised_auc"],
        "padded_micro_auc": json.loads(padded.read_text())["micro_auc"]
        if padded.exists()
        else None,
        "epochs": len(h["loss"]),
        "epoch_micro_auc": [e["test_micro_auc"] for e in epochs] or None,
        "best_epoch_micro_auc": None if best is None else best["test_micro_auc"],
        "best_epoch": None if best is None else best["epoch"],
        "train_seconds": round(sum(h["epoch_seconds"]), 1),
        "commit": s.get("commit"),
        "backend": s.get("backend") or h.get("backend"),
    }


def aggregate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean, sample standard deviation, min and max of every metric per variant."""
    table: dict[str, Any] = {}
    for variant in dict.fromkeys(r["variant"] for r in rows):
        mine = [r for r in rows if r["variant"] == variant]
        entry: dict[str, Any] = {"seeds": [r["seed"] for r in mine]}
        for m in METRICS + ("train_seconds",):
            vals = [r[m] for r in mine if r.get(m) is not None]
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
    for variant, entry in table.items():
        base = "baseline" + variant[variant.index("@") :] if "@" in variant else "baseline"
        if variant != base and base in table:
            entry["paired_vs_baseline"] = paired(rows, variant, base)
            best = paired(rows, variant, base, "best_epoch_micro_auc")
            if best["seeds"]:
                entry["paired_best_epoch_vs_baseline"] = best
    return table


def paired(
    rows: list[dict[str, Any]], variant: str, base: str, metric: str = "micro_auc"
) -> dict[str, Any]:
    """``metric`` of ``variant`` minus ``base`` on the seeds both have: mean, sample std, the
    paired t statistic and its two-sided p-value (None below 2 seeds), and how many are > 0."""

    def values(name: str) -> dict[int, float]:
        return {
            r["seed"]: r[metric] for r in rows if r["variant"] == name and r.get(metric) is not None
        }

    mine, theirs = values(variant), values(base)
    seeds = sorted(set(mine) & set(theirs))
    diffs = [mine[s] - theirs[s] for s in seeds]
    out: dict[str, Any] = {"seeds": seeds, "diffs": diffs, "positive": sum(d > 0 for d in diffs)}
    out["mean"] = statistics.fmean(diffs) if diffs else None
    out["std"] = out["t"] = out["p"] = None
    if len(diffs) > 1:
        from scipy import stats

        out["std"] = statistics.stdev(diffs)
        test = stats.ttest_rel([mine[s] for s in seeds], [theirs[s] for s in seeds])
        out["t"], out["p"] = float(test.statistic), float(test.pvalue)
    return out


def comparisons(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """:func:`paired` for :data:`COMPARISONS` and for each ``<row>@<backend>`` against
    ``<row>``, where both variants have runs."""
    have = {r["variant"] for r in rows}
    pairs = list(COMPARISONS)
    pairs += [(v, v.split("@")[0]) for v in sorted(have) if "@" in v]
    return [
        {"first": a, "second": b, **paired(rows, a, b)} for a, b in pairs if a in have and b in have
    ]


def markdown_comparisons(items: list[dict[str, Any]]) -> str:
    """The paired differences of :func:`comparisons` as a Markdown table (micro AUC, points)."""
    lines = [
        "| first - second | seeds | per seed | mean ± std | > 0 | paired t, p |",
        "| --- | --- | --- | ---: | ---: | ---: |",
    ]
    for c in items:
        per_seed = ", ".join(f"{d * 100:+.2f}" for d in c["diffs"])
        sd = "" if c["std"] is None else f" ± {c['std'] * 100:.2f}"
        tp = "-" if c["p"] is None else f"{c['t']:.2f}, {c['p']:.3f}"
        lines.append(
            f"| {c['first']} - {c['second']} | {','.join(map(str, c['seeds']))} | {per_seed} "
            f"| {c['mean'] * 100:+.2f}{sd} | {c['positive']}/{len(c['diffs'])} | {tp} |"
        )
    return "\n".join(lines) + "\n"


def markdown_selection(rows: list[dict[str, Any]], table: dict[str, Any]) -> str:
    """The paper's selection beside the fixed epoch, per variant with per-epoch records: each
    seed's best epoch on the test labels, the best-epoch micro AUC, its paired difference to the
    baseline's best epoch, and how far above the fixed-epoch figure it is. Reporting only."""
    lines = [
        "| variant | best epoch per seed | best-epoch micro AUC (the paper's selection) "
        "| paired vs baseline, both at their best epoch | best minus fixed epoch |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for v, e in table.items():
        mine = [r for r in rows if r["variant"] == v and r.get("best_epoch") is not None]
        if not mine:
            continue
        gaps = [r["best_epoch_micro_auc"] - r["micro_auc"] for r in mine]
        gap = f"{statistics.fmean(gaps) * 100:+.2f}"
        if len(gaps) > 1:
            gap += f" ± {statistics.stdev(gaps) * 100:.2f}"
        epochs = ", ".join(f"{r['best_epoch']}" for r in mine)
        best = e["best_epoch_micro_auc"]
        sd = "" if best["std"] is None else f" ± {best['std'] * 100:.2f}"
        lines.append(
            f"| {v} | {epochs} | {best['mean'] * 100:.2f}{sd} "
            f"| {_vs(e.get('paired_best_epoch_vs_baseline'))} | {gap} |"
        )
    return "\n".join(lines) + "\n" if len(lines) > 2 else ""


def markdown_epochs(rows: list[dict[str, Any]]) -> str:
    """Mean test micro AUC after each epoch per variant, over the seeds with a per-epoch record
    (how each row rises and falls; reporting only)."""
    curves: dict[str, list[list[float]]] = {}
    for r in rows:
        if r.get("epoch_micro_auc"):
            curves.setdefault(r["variant"], []).append(r["epoch_micro_auc"])
    if not curves:
        return ""
    n = max(len(c) for runs in curves.values() for c in runs)
    lines = [
        "| variant | seeds | " + " | ".join(f"epoch {i + 1}" for i in range(n)) + " |",
        "| --- | ---: | " + " | ".join("---:" for _ in range(n)) + " |",
    ]
    for v, runs in curves.items():
        cells = []
        for i in range(n):
            vals = [c[i] for c in runs if len(c) > i]
            cells.append(f"{statistics.fmean(vals) * 100:.2f}" if vals else "-")
        lines.append(f"| {v} | {len(runs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _vs(pv: dict[str, Any] | None) -> str:
    """A paired difference as ``+m ± s (k/n > 0, p = ...)``, in points."""
    if not pv or pv["mean"] is None:
        return "-"
    sd = "" if pv["std"] is None else f" ± {pv['std'] * 100:.2f}"
    p = "" if pv["p"] is None else f", p = {pv['p']:.3f}"
    return f"{pv['mean'] * 100:+.2f}{sd} ({pv['positive']}/{len(pv['diffs'])} > 0{p})"


def markdown(table: dict[str, Any]) -> str:
    def cell(entry: dict[str, Any], m: str, scale: float = 100.0) -> str:
        if m not in entry:
            return "-"
        e = entry[m]
        sd = "" if e["std"] is None else f" ± {e['std'] * scale:.2f}"
        return f"{e['mean'] * scale:.2f}{sd}"

    lines = [
        "| variant | seeds | micro AUC | paired vs baseline "
        "| best epoch on test labels (the paper's selection) | padded micro AUC | macro AUC "
        "| unnormalised AUC | training s/model |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for v, e in table.items():
        seeds = ",".join(map(str, e["seeds"]))
        lines.append(
            f"| {v} | {seeds} | {cell(e, 'micro_auc')} | {_vs(e.get('paired_vs_baseline'))} "
            f"| {cell(e, 'best_epoch_micro_auc')} "
            f"| {cell(e, 'padded_micro_auc')} | {cell(e, 'macro_auc')} "
            f"| {cell(e, 'unnormalised_auc')} | {cell(e, 'train_seconds', 1.0)} |"
        )
    return "\n".join(lines) + "\n"


def run_all(args: argparse.Namespace, work: list[tuple[str, int]]) -> None:
    """:func:`run_one` for every (variant, seed), ``--jobs`` at a time. The first failure stops
    the queue: runs already training finish, no new one starts, and its error is raised."""
    jobs = max(1, args.jobs)
    failed = threading.Event()

    def guarded(variant: str, seed: int, slot: int) -> None:
        if failed.is_set():
            return
        try:
            run_one(args, variant, seed, slot)
        except BaseException:
            failed.set()
            raise

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(guarded, v, s, i % jobs) for i, (v, s) in enumerate(work)]
    for f in futures:
        f.result()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    args.argv = argv
    Path(args.runs).mkdir(parents=True, exist_ok=True)
    if args.quick:
        apply_quick(args)
    if args.worker:
        train_worker(args, args.worker[0], int(args.worker[1]))
        return 0
    run_all(args, [(v, s) for s in args.seeds for v in args.variants])
    # The table holds every finished run in --results, not only the ones asked for now.
    dest = Path(args.results)
    dest.mkdir(parents=True, exist_ok=True)
    names = sorted(p.name.removesuffix(".summary.json") for p in dest.glob("*.summary.json"))
    rows = [kept_row(dest, n) for n in names if not n.endswith(".padded")]
    order = {v: i for i, v in enumerate(VARIANTS)}
    rows.sort(key=lambda r: (order.get(r["variant"].split("@")[0], 99), r["variant"], r["seed"]))
    table = aggregate(rows)
    pairs = comparisons(rows)
    doc = {"runs": rows, "table": table, "comparisons": pairs}
    (dest / "table.json").write_text(json.dumps(doc, indent=2) + "\n")
    text = markdown(table) + "\n" + markdown_comparisons(pairs)
    selection = markdown_selection(rows, table)
    if selection:
        text += "\nTest AUC after every epoch, for reporting only (nothing is chosen with it):\n\n"
        text += selection + "\nMean test micro AUC after each epoch:\n\n" + markdown_epochs(rows)
    (dest / "table.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
