"""Which pseudo anomaly teaches which anomaly: AUC per anomaly kind of the demo data.

The demo set (:func:`trainer.synthetic.make_demo_dataset`) has three anomaly kinds: a large
body (``large``), a striped cart (``textured``) and a runner (``fast``). This script trains the
demo's setting (:func:`trainer.demo.demo_config`: the ``cpu`` preset at 32 x 32, width 0.25,
12 epochs) once per training seed and pseudo-anomaly kind of :data:`KINDS`, each alone at the
demo's ``p = 0.5`` with the paper's objective, plus skip frame with STEAL's ``push_away``
objective, and the baseline (``p = 0``). Each run is an ordinary :func:`trainer.train.train`
run evaluated with the trainer's protocol; :func:`trainer.demo.kind_aucs` gives the micro AUC
over the test videos of each anomaly kind.

    python benchmarks/demo_kinds.py                      # seeds 0 1 2, every kind
    python benchmarks/demo_kinds.py --kinds baseline reverse --seeds 0

Writes ``<results>/runs.json`` (one entry per run: its settings, micro and macro AUC, AUC per
anomaly kind, seconds) after every run, ``<results>/table.csv`` (mean and sample std over
seeds per pseudo-anomaly kind) and ``<results>/table.md`` (that table and the paired
differences to the baseline, AUC x 100). A run already in ``runs.json`` with the same
settings is not trained again, so an interrupted call continues where it stopped (and a call
with every run done only rewrites the tables). Every setting is fixed in
advance (the patch geometry is the demo's, see :data:`trainer.demo.PSEUDO`); nothing looks at
test labels to choose it.

``--quick`` trains tiny models (the demo's ``--quick``: 1 epoch of 2 steps, width 0.125) on a
tiny copy of the data: seconds per run, a check of the wiring; its AUCs mean nothing.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from trainer.atomic import write_text_atomic  # noqa: E402
from trainer.demo import PSEUDO, demo_config, demo_data, kind_aucs  # noqa: E402

# The demo's patch geometry (alpha, beta and min_size scaled to 32 x 32 frames, trainer.demo).
_PATCH = PSEUDO["params"]["transforms"][0]["params"]

KINDS: dict[str, dict[str, Any]] = {
    "baseline": {"transform": None},
    "smoothmix_s": {"transform": {"name": "smoothmix_s", "params": dict(_PATCH)}},
    "skip_frame": {"transform": {"name": "skip_frame", "params": {}}},
    "reverse": {"transform": {"name": "reverse", "params": {}}},
    "freeze": {"transform": {"name": "freeze", "params": {}}},
    "noise_patch": {"transform": {"name": "noise_patch", "params": dict(_PATCH)}},
    "skip_frame+push_away": {
        "transform": {"name": "skip_frame", "params": {}},
        "pseudo_objective": "push_away",
    },
}
"""Pseudo-anomaly kind -> its transform (library defaults = the papers' settings, except the
patch geometry) and objective (default the paper's ``reconstruct_normal``)."""

ANOMALY_KINDS = ("large", "textured", "fast")
P = PSEUDO["params"]["p"]


def run_config(kind: str, seed: int, data: Path, runs: Path, quick: bool, cache_dir: str):
    """The :class:`~trainer.config.TrainConfig` of one run."""
    spec = KINDS[kind]
    transform = spec["transform"]
    pipeline = {
        "name": "pipeline",
        "params": {
            "transforms": [transform or KINDS["smoothmix_s"]["transform"]],
            "weights": [1.0],
            "p": 0.0 if transform is None else P,
        },
    }
    config = demo_config(
        "patch",
        data,
        runs,
        seed,
        quick,
        cache_dir=cache_dir,
        pipeline=pipeline,
        pseudo_objective=spec.get("pseudo_objective", "reconstruct_normal"),
    )
    return config.replace(out=str(runs / f"{kind}-s{seed}"))


def settings(config) -> dict[str, Any]:
    """What makes two runs the same: the config without where it writes or caches."""
    d = config.to_dict()
    for key in ("out", "cache_dir", "data"):
        d.pop(key)
    return d


def train_one(config, kind: str, data: Path) -> dict[str, Any]:
    """Train and evaluate one run; its ``runs.json`` entry."""
    from trainer.train import train

    t0 = time.perf_counter()
    run_dir = train(config, overwrite=True, verbose=0)
    seconds = time.perf_counter() - t0
    summary = json.loads((run_dir / "evaluation" / "summary.json").read_text())
    return {
        "kind": kind,
        "seed": config.seed,
        "micro_auc": summary["micro_auc"],
        "macro_auc": summary.get("macro_auc"),
        "auc_per_kind": kind_aucs(run_dir, data),
        "seconds": round(seconds, 1),
        "settings": settings(config),
    }


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None


def table_rows(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and sample std over seeds of micro AUC and each anomaly kind's AUC, per kind."""
    rows = []
    for kind in KINDS:
        mine = [r for r in runs if r["kind"] == kind]
        if not mine:
            continue
        row: dict[str, Any] = {"pseudo_anomaly": kind, "seeds": len(mine)}
        columns = {"micro_auc": [r["micro_auc"] for r in mine]}
        for anomaly in ANOMALY_KINDS:
            got = [r["auc_per_kind"].get(anomaly) for r in mine]
            columns[f"auc_{anomaly}"] = [v for v in got if v is not None]
        for name, values in columns.items():
            row[f"{name}_mean"], row[f"{name}_std"] = _mean_std(values)
        rows.append(row)
    return rows


def _values(run: dict[str, Any]) -> dict[str, float | None]:
    return {"micro_auc": run["micro_auc"], **{f"auc_{a}": run["auc_per_kind"].get(a)
                                               for a in ANOMALY_KINDS}}  # fmt: skip


def paired_rows(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per kind and column: mean difference to the baseline on the seeds both have, and on how
    many of them the kind is higher."""
    base = {r["seed"]: _values(r) for r in runs if r["kind"] == "baseline"}
    rows = []
    for kind in KINDS:
        mine = {r["seed"]: _values(r) for r in runs if r["kind"] == kind and r["seed"] in base}
        if kind == "baseline" or not mine:
            continue
        row: dict[str, Any] = {"pseudo_anomaly": kind, "seeds": len(mine)}
        for name in ["micro_auc", *(f"auc_{a}" for a in ANOMALY_KINDS)]:
            diffs = [v[name] - base[s][name] for s, v in mine.items()
                     if v[name] is not None and base[s][name] is not None]  # fmt: skip
            row[f"{name}_diff"] = statistics.fmean(diffs) if diffs else None
            row[f"{name}_higher"] = f"{sum(d > 0 for d in diffs)}/{len(diffs)}"
        rows.append(row)
    return rows


def write_table(runs: list[dict[str, Any]], path: Path) -> None:
    rows = table_rows(runs)
    with open(path, "w", newline="") as fh:
        fields = ["pseudo_anomaly", "seeds"] + [
            f"{c}_{s}" for c in ["micro_auc", *(f"auc_{a}" for a in ANOMALY_KINDS)]
            for s in ("mean", "std")
        ]  # fmt: skip
        writer = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})


def markdown(runs: list[dict[str, Any]]) -> str:
    """The table as Markdown (AUC x 100, mean ± std)."""

    def cell(row: dict[str, Any], name: str) -> str:
        mean, std = row[f"{name}_mean"], row[f"{name}_std"]
        if mean is None:
            return "-"
        return f"{100 * mean:.1f}" + ("" if std is None else f" ± {100 * std:.1f}")

    def diff_cell(row: dict[str, Any], name: str) -> str:
        diff = row[f"{name}_diff"]
        return "-" if diff is None else f"{100 * diff:+.1f} ({row[f'{name}_higher']})"

    lines = [
        "| pseudo anomaly | seeds | micro AUC | large body | striped cart | runner |",
        "|---|---|---|---|---|---|",
    ]
    names = ["micro_auc", *(f"auc_{a}" for a in ANOMALY_KINDS)]
    for row in table_rows(runs):
        cells = [cell(row, n) for n in names]
        lines.append(f"| {row['pseudo_anomaly']} | {row['seeds']} | " + " | ".join(cells) + " |")
    lines += ["", "Minus the baseline, same seeds (mean; seeds where higher):", "", *lines[:2]]
    for row in paired_rows(runs):
        cells = [diff_cell(row, n) for n in names]
        lines.append(f"| {row['pseudo_anomaly']} | {row['seeds']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_all(
    kinds: Sequence[str],
    seeds: Sequence[int],
    results: Path,
    runs_dir: Path,
    quick: bool = False,
    cache_dir: str = ".cache/pseudoanom",
) -> list[dict[str, Any]]:
    """Train every (seed, kind) missing from ``results/runs.json``, seed by seed; the runs."""
    data = demo_data(cache_dir, quick)
    results.mkdir(parents=True, exist_ok=True)
    path = results / "runs.json"
    runs: list[dict[str, Any]] = json.loads(path.read_text())["runs"] if path.is_file() else []
    for seed in seeds:
        for kind in kinds:
            config = run_config(kind, seed, data, runs_dir, quick, cache_dir)
            done = [r for r in runs if r["kind"] == kind and r["seed"] == seed]
            if any(r["settings"] == settings(config) for r in done):
                continue
            print(f"demo_kinds: training {kind} seed {seed} -> {config.out}", flush=True)
            entry = train_one(config, kind, data)
            runs = [r for r in runs if r not in done] + [entry]
            print(
                f"demo_kinds: {kind} seed {seed}: micro AUC {entry['micro_auc']:.3f}, "
                f"per kind {entry['auc_per_kind']} ({entry['seconds']:.0f} s)",
                flush=True,
            )
            doc = {"what": __doc__.splitlines()[0], "quick": quick, "runs": runs}
            write_text_atomic(path, json.dumps(doc, indent=2) + "\n")
            write_table(runs, results / "table.csv")
    write_table(runs, results / "table.csv")
    (results / "table.md").write_text(markdown(runs) + "\n")
    return runs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=list(KINDS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--results", default="results/demo_kinds", help="runs.json, table.csv")
    parser.add_argument("--runs", default="runs/demo_kinds", help="run directories")
    parser.add_argument("--cache-dir", default=".cache/pseudoanom")
    parser.add_argument("--quick", action="store_true", help="seconds-long wiring check")
    args = parser.parse_args(argv)
    runs = run_all(
        args.kinds, args.seeds, Path(args.results), Path(args.runs), args.quick, args.cache_dir
    )
    print(markdown(runs), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
