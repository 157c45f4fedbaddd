"""Localisation and frame-level metrics of trained Ped2 models (docs/evaluation.md defines them).

For every finished run directory given (one with ``model.keras`` and
``evaluation/summary.json``), run ``python -m trainer evaluate --localisation`` on the Ped2 test
split into ``<run>/localisation/`` (kept and reused on the next call unless ``--force``; the
run's own files are only read), then write ``results/ped2/localisation.json`` (every run, and
mean / sample std / n per variant over seeds) and ``results/ped2/localisation.md``:

    python benchmarks/ped2_localisation.py runs/ped2_table/*/

Run names are ``<variant>-s<seed>`` or ``<variant>-s<seed>@<backend>`` as
``benchmarks/ped2_table.py`` makes them; ``<variant>[@<backend>]`` is the table row. Every
setting is the trainer's default (or given on the command line); nothing here looks at test
labels to choose it. The micro AUC is recomputed and checked against the run's own summary.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from trainer.evaluation import FRAME_AUCS
from trainer.localisation import METRICS as LOCALISATION_METRICS

METRICS: tuple[str, ...] = (*FRAME_AUCS, *LOCALISATION_METRICS)
LABELS = {
    "micro_auc": "micro AUC",
    "macro_auc": "macro AUC (skip)",
    "macro_auc_padded": "macro AUC (pad)",
    "pixel_auc": "pixel AUC",
    "pixel_ap": "pixel AP",
    "ucsd_pixel_auc": "UCSD pixel AUC",
    "ucsd_pixel_eer": "UCSD pixel EER",
    "rbdc": "RBDC",
    "tbdc": "TBDC",
}
NAME = re.compile(r"(?P<variant>.+)-s(?P<seed>\d+)(?P<backend>@\w+)?")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("runs", nargs="+", help="run directories (unfinished ones are skipped)")
    ap.add_argument("--data", default=None, help="Ped2 root (default: each run's config)")
    ap.add_argument("--results", default="results/ped2", help="where the JSON/Markdown go")
    ap.add_argument("--out-name", default="localisation", help="folder inside each run")
    ap.add_argument("--map-sigma", type=float, default=0.0, help="evaluate --map-sigma")
    ap.add_argument("--smooth-sigma", type=float, default=0.0, help="evaluate --smooth-sigma")
    ap.add_argument("--force", action="store_true", help="re-evaluate runs evaluated before")
    return ap.parse_args(argv)


def parse_name(name: str) -> tuple[str, int]:
    """``"patch-s3@torch"`` -> ``("patch@torch", 3)``."""
    m = NAME.fullmatch(name)
    if m is None:
        raise ValueError(f"run name {name!r} is not <variant>-s<seed>[@<backend>]")
    return m["variant"] + (m["backend"] or ""), int(m["seed"])


def evaluate_run(run: Path, args: argparse.Namespace) -> Path:
    """``python -m trainer evaluate --localisation`` of one run (in process); its output folder."""
    from trainer.cli import main as trainer_main

    out = run / args.out_name
    if (out / "summary.json").is_file() and not args.force:
        return out
    data = args.data or yaml.safe_load((run / "config.yaml").read_text())["data"]
    argv = ["evaluate", "--model", str(run / "model.keras"), "--data", str(data)]
    argv += ["--out", str(out), "--localisation", "--quiet"]
    argv += ["--map-sigma", str(args.map_sigma), "--smooth-sigma", str(args.smooth_sigma)]
    t0 = time.perf_counter()
    if trainer_main(argv) != 0:
        raise SystemExit(f"evaluation of {run} failed (see the error above)")
    print(f"{run.name}: evaluated in {time.perf_counter() - t0:.0f} s -> {out}", flush=True)
    return out


def row(run: Path, out: Path) -> dict[str, Any]:
    """One run's metrics from ``<run>/<out>/summary.json``, checked against the run's own."""
    variant, seed = parse_name(run.name)
    mine = json.loads((out / "summary.json").read_text())
    own = json.loads((run / "evaluation" / "summary.json").read_text())
    loc = mine.get("localisation")
    if loc is None:
        raise SystemExit(f"{out / 'summary.json'} has no localisation metrics (no pixel masks?)")
    r: dict[str, Any] = {"run": run.name, "variant": variant, "seed": seed}
    r.update({k: mine[k] for k in FRAME_AUCS})
    r.update({k: loc[k] for k in METRICS[3:]})
    r["micro_auc_of_run"] = own["micro_auc"]
    r["model_commit"] = own.get("commit")
    r["eval_commit"] = mine.get("commit")
    backend = mine.get("backend") or {}
    r["eval_backend"] = f"{backend.get('backend')} on {backend.get('device')}"
    r["eval_seconds"] = mine.get("eval_seconds")
    r["localisation_seconds"] = loc.get("seconds")
    r["params"] = loc["params"]
    if own["micro_auc"] is not None and abs(own["micro_auc"] - mine["micro_auc"]) > 1e-6:
        print(f"warning: {run.name}: micro AUC {mine['micro_auc']} here, {own['micro_auc']} in "
              f"the run's summary", file=sys.stderr)  # fmt: skip
    return r


def aggregate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per variant: seeds, and mean, sample std (None for one seed) and n of every metric."""
    table: dict[str, Any] = {}
    for variant in dict.fromkeys(r["variant"] for r in rows):
        mine = [r for r in rows if r["variant"] == variant]
        entry: dict[str, Any] = {"seeds": [r["seed"] for r in mine]}
        for m in METRICS:
            vals = [r[m] for r in mine if r[m] is not None]
            entry[m] = {
                "mean": statistics.fmean(vals) if vals else None,
                "std": statistics.stdev(vals) if len(vals) > 1 else None,
                "n": len(vals),
            }
        table[variant] = entry
    return table


def _cell(stat: dict[str, Any]) -> str:
    if stat["mean"] is None:
        return "-"
    if stat["std"] is None:
        return f"{100 * stat['mean']:.2f}"
    return f"{100 * stat['mean']:.2f} ± {100 * stat['std']:.2f}"


def markdown(table: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """The per-variant table (mean ± sample std over seeds, in %) and the per-run table."""
    head = "| variant | seeds | " + " | ".join(LABELS[m] for m in METRICS) + " |"
    rule = "| --- | --- | " + " | ".join("---:" for _ in METRICS) + " |"
    lines = [head, rule]
    for variant, e in table.items():
        seeds = ",".join(str(s) for s in e["seeds"])
        lines.append(f"| {variant} | {seeds} | " + " | ".join(_cell(e[m]) for m in METRICS) + " |")
    lines += ["", "| run | model commit | " + " | ".join(LABELS[m] for m in METRICS) + " |"]
    lines.append("| --- | --- | " + " | ".join("---:" for _ in METRICS) + " |")
    for r in rows:
        cells = ["-" if r[m] is None else f"{100 * r[m]:.2f}" for m in METRICS]
        lines.append(f"| {r['run']} | {r['model_commit']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    runs = [Path(p) for p in args.runs]
    done = [r for r in runs if (r / "evaluation" / "summary.json").is_file()]
    for r in sorted(set(runs) - set(done)):
        print(f"{r}: not finished (no evaluation/summary.json), skipped", flush=True)
    rows = [row(r, evaluate_run(r, args)) for r in sorted(done, key=lambda p: p.name)]
    rows.sort(key=lambda r: (r["variant"], r["seed"]))
    table = aggregate(rows)
    from trainer.writers import git_commit

    doc = {
        "command": "python benchmarks/ped2_localisation.py " + shlex.join(argv or sys.argv[1:]),
        "eval_commit": git_commit(),
        "machine": {
            "node": platform.node(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "runs": rows,
        "table": table,
    }
    dest = Path(args.results)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "localisation.json").write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n")
    text = markdown(table, rows)
    (dest / "localisation.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
