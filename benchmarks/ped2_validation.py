"""Does the label-free validation AUC track the test AUC? Epoch by epoch on UCSD Ped2.

Each run trains a CPU config (``configs/cpu_ped2_patch.yaml``, ``configs/cpu_ped2_baseline.yaml``)
with validation on (``val_fraction``, ``val_holdout``: pseudo anomalies made from held-out
normal training data, see ``trainer.holdout``) and, after every epoch, ALSO scores the test
split. The test AUC is only measured here, to see whether the validation AUC ranks epochs the
way the test AUC does; nothing is chosen by it.

    python benchmarks/ped2_validation.py --seeds 0 1 2 --epochs 10 --jobs 2

writes, under ``--results`` (default ``results/ped2_validation``):

* ``<variant>-s<seed>.json``: per epoch ``val_auc``, the test ``micro_auc``,
  ``unnormalised_auc`` and ``macro_auc``, the losses, and the run's resolved config;
* ``epochs.csv``: the same, one row per (variant, seed, epoch);
* ``summary.json``: Spearman rank correlations of val AUC against test AUC (micro and
  unnormalised) over the epochs of each run, pooled over the seeds of each variant, and over
  everything; and the test AUC at the epoch the validation AUC picks, at the last epoch and at
  the best epoch (the oracle);
* ``figure.png``: val and test AUC per epoch for every run, and val against test.

Runs live in ``--runs`` (default ``runs/ped2_validation``); a finished run's JSON is reused.
``--quick`` trains the ``smoke`` preset on a tiny generated dataset instead (seconds; the test
suite runs it).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

VARIANTS = {
    "patch": "configs/cpu_ped2_patch.yaml",
    "baseline": "configs/cpu_ped2_baseline.yaml",
}
# Ped2 has 16 training videos; 0.125 holds out 2 whole ones (05 and 13) for validation.
VALIDATION = {"val_fraction": 0.125, "val_holdout": "videos", "val_clips": 256}
QUICK_VALIDATION = {"val_fraction": 0.3, "val_holdout": "tail", "val_clips": 16}
TEST_METRICS = ("micro_auc", "unnormalised_auc", "macro_auc")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", default=None, help="UCSD Ped2 root (default: the configs')")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--jobs", type=int, default=1, help="runs trained side by side")
    ap.add_argument("--runs", default="runs/ped2_validation", help="run directories")
    ap.add_argument("--results", default="results/ped2_validation", help="small result files")
    ap.add_argument("--set", action="append", default=[], help="extra config KEY=VALUE")
    ap.add_argument("--aggregate-only", action="store_true", help="no training, only results")
    ap.add_argument("--quick", action="store_true", help="smoke preset on tiny generated data")
    ap.add_argument("--worker", nargs=2, metavar=("VARIANT", "SEED"), help=argparse.SUPPRESS)
    return ap.parse_args(argv)


# ---------------------------------------------------------------------- one run


def run_config(args: argparse.Namespace, variant: str, seed: int) -> Any:
    """The run's TrainConfig: the variant's config with validation on."""
    from trainer.config import load_config, parse_override

    overrides: dict[str, Any] = {"seed": seed, "epochs": args.epochs}
    overrides["out"] = str(Path(args.runs) / f"{variant}-s{seed}")
    if args.quick:
        overrides |= QUICK_VALIDATION | {"data": str(quick_dataset(args)), "cache_dir": None}
        if variant == "baseline":
            overrides["pipeline"] = None
        base = load_config("smoke", overrides=overrides)
    else:
        overrides |= VALIDATION
        if args.data:
            overrides["data"] = args.data
        base = load_config(yaml_path=REPO / VARIANTS[variant], overrides=overrides)
    return base.replace(**dict(parse_override(kv) for kv in args.set))


def quick_dataset(args: argparse.Namespace) -> Path:
    from trainer.synthetic import make_synthetic_dataset

    root = Path(args.runs) / "quick-data"
    return make_synthetic_dataset(root, n_train=3, n_test=2, frames=64, size=(32, 32))


def train_one(args: argparse.Namespace, variant: str, seed: int) -> Path:
    """Train one run, scoring the test split after every epoch; write its JSON."""
    import keras

    from trainer.checkpoint import atomic_write_text
    from trainer.datasets import load_split
    from trainer.synthetic import resolve_dataset
    from trainer.train import train_model
    from trainer.writers import git_commit

    config = run_config(args, variant, seed)
    out = result_path(args, variant, seed)
    root = resolve_dataset(config.data, config.cache_dir)
    test = load_split(root, config.test_split, config.size, config.channels, config.cache_dir)
    record: dict[str, Any] = {"variant": variant, "seed": seed, "config": config.to_dict()}
    record |= {"commit": git_commit(), "backend": keras.config.backend()}
    record["epochs"] = []

    def on_epoch(row: dict[str, Any]) -> None:
        record["epochs"].append(row)
        atomic_write_text(out, json.dumps(record, indent=1))
        print(
            f"{variant}-s{seed} epoch {row['epoch']}: val AUC {row['val_auc']:.4f}, "
            f"test micro AUC {row['test_micro_auc']:.4f}",
            flush=True,
        )

    t0 = time.perf_counter()
    callback = epoch_test_auc_callback(test, config, on_epoch)
    train_model(config, overwrite=True, verbose=0, evaluate=False, callbacks=[callback])
    record["seconds"] = time.perf_counter() - t0
    record["complete"] = True
    atomic_write_text(out, json.dumps(record, indent=1))
    return out


def epoch_test_auc_callback(
    test: list, config: Any, on_epoch: Callable[[dict[str, Any]], None]
) -> Any:
    """A Keras callback that scores the test videos ``test`` after every epoch, under the
    paper's protocol and ``config``'s clip length and batch, and passes ``on_epoch`` a row
    ``{"epoch": n, <the epoch's logs>, "test_micro_auc", "test_unnormalised_auc",
    "test_macro_auc"}``. It measures only: nothing may be chosen with these test AUCs."""
    import keras

    class TestAUC(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            on_epoch(epoch_test_row(self.model, test, config, epoch + 1, logs))

    return TestAUC()


def epoch_test_row(
    model: Any, test: list, config: Any, epoch: int, logs: dict | None = None
) -> dict[str, Any]:
    """The row of :func:`epoch_test_auc_callback` for ``model`` after epoch ``epoch``: the
    epoch's ``logs`` and the test AUCs under the paper's protocol."""
    import keras

    from trainer import evaluation
    from trainer.inference import predict_fn

    res = evaluation.evaluate(
        test,
        predict_fn(model),
        clip_len=config.clip_length,
        batch_size=config.eval_batch_size,
        fixed_batch=keras.config.backend() != "torch",
    )
    row = {"epoch": epoch, **{k: float(v) for k, v in (logs or {}).items()}}
    return row | {f"test_{k}": getattr(res, k) for k in TEST_METRICS}


def result_path(args: argparse.Namespace, variant: str, seed: int) -> Path:
    return Path(args.results) / f"{variant}-s{seed}.json"


def finished(args: argparse.Namespace, variant: str, seed: int) -> bool:
    path = result_path(args, variant, seed)
    if not path.is_file():
        return False
    record = json.loads(path.read_text())
    wanted = run_config(args, variant, seed).to_dict()
    if record.get("config") != wanted:
        changed = sorted(k for k in wanted if record.get("config", {}).get(k) != wanted[k])
        raise SystemExit(
            f"{path} was made with other settings ({', '.join(changed)}): move it away or pass "
            f"another --results; it is not overwritten"
        )
    return bool(record.get("complete")) and len(record["epochs"]) == args.epochs


def launch(args: argparse.Namespace, argv: list[str], variant: str, seed: int) -> None:
    """Train one run in a subprocess (its own Keras state), logging to ``<runs>/<name>.log``."""
    if finished(args, variant, seed):
        print(f"reuse {result_path(args, variant, seed)}", flush=True)
        return
    log = Path(args.runs) / f"{variant}-s{seed}.log"
    cmd = [sys.executable, __file__, *argv, "--worker", variant, str(seed)]
    print(f"[{time.strftime('%H:%M:%S')}] start {variant}-s{seed} (log {log})", flush=True)
    with open(log, "w") as fh:
        rc = subprocess.call(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=REPO)
    if rc != 0:
        raise SystemExit(f"{variant}-s{seed} failed (rc {rc}); see {log}")
    print(f"[{time.strftime('%H:%M:%S')}] done  {variant}-s{seed}", flush=True)


# ---------------------------------------------------------------------- aggregation


def spearman(x: list[float], y: list[float]) -> float | None:
    """Spearman's rho (ties averaged); None with fewer than 3 points or a constant side."""
    from scipy.stats import spearmanr

    if len(x) < 3 or len(set(x)) < 2 or len(set(y)) < 2:
        return None
    return float(spearmanr(x, y).statistic)


def correlations(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Spearman of val AUC against each test AUC over ``rows``, with their count."""
    val = [r["val_auc"] for r in rows]
    out: dict[str, Any] = {"n_epochs": len(rows)}
    for k in ("micro_auc", "unnormalised_auc"):
        out[f"spearman_val_vs_test_{k}"] = spearman(val, [r[f"test_{k}"] for r in rows])
    return out


def selection(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Test micro AUC at the epoch of the highest val AUC, at the last epoch, and the best."""
    by_val = max(rows, key=lambda r: r["val_auc"])  # first of ties, as keep_best
    test = [r["test_micro_auc"] for r in rows]
    return {
        "val_picked_epoch": by_val["epoch"],
        "test_at_val_pick": by_val["test_micro_auc"],
        "test_at_last": rows[-1]["test_micro_auc"],
        "test_best_oracle": max(test),
        "oracle_epoch": rows[test.index(max(test))]["epoch"],
    }


def aggregate(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The summary: per run, per variant (seeds pooled) and overall."""
    import statistics

    runs, variants = {}, {}
    for rec in records:
        rows = rec["epochs"]
        runs[f"{rec['variant']}-s{rec['seed']}"] = correlations(rows) | selection(rows)
    for variant in sorted({r["variant"] for r in records}):
        recs = [r for r in records if r["variant"] == variant]
        pooled = [row for r in recs for row in r["epochs"]]
        picks = [selection(r["epochs"]) for r in recs]
        means = {
            f"mean_{k}": statistics.fmean(p[k] for p in picks)
            for k in ("test_at_val_pick", "test_at_last", "test_best_oracle")
        }
        per_seed = [runs[f"{variant}-s{r['seed']}"]["spearman_val_vs_test_micro_auc"] for r in recs]
        per_seed = [s for s in per_seed if s is not None]
        variants[variant] = {
            "seeds": sorted(r["seed"] for r in recs),
            "pooled": correlations(pooled),
            "mean_per_seed_spearman_micro": statistics.fmean(per_seed) if per_seed else None,
            **means,
        }
    everything = [row for r in records for row in r["epochs"]]
    return {"runs": runs, "variants": variants, "all_pooled": correlations(everything)}


def write_csv(records: list[dict[str, Any]], path: Path) -> None:
    keys = ["variant", "seed", "epoch", "val_auc", *(f"test_{k}" for k in TEST_METRICS)]
    keys += ["val_psnr_normal", "val_psnr_pseudo", "loss"]
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, keys, extrasaction="ignore")
        w.writeheader()
        for rec in records:
            for row in rec["epochs"]:
                w.writerow({"variant": rec["variant"], "seed": rec["seed"], **row})


def figure(records: list[dict[str, Any]], summary: dict[str, Any], path: Path) -> None:
    """Left: val (solid) and test micro (dashed) AUC per epoch; right: val against test."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"patch": "tab:blue", "baseline": "tab:orange"}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.6), dpi=80)
    for rec in records:
        c = colours.get(rec["variant"], "tab:gray")
        ep = [r["epoch"] for r in rec["epochs"]]
        ax1.plot(ep, [r["val_auc"] for r in rec["epochs"]], "-", color=c, lw=1, alpha=0.8)
        ax1.plot(ep, [r["test_micro_auc"] for r in rec["epochs"]], "--", color=c, lw=1, alpha=0.8)
        ax2.plot(
            [r["val_auc"] for r in rec["epochs"]],
            [r["test_micro_auc"] for r in rec["epochs"]],
            "o-", color=c, ms=3, lw=0.5, alpha=0.8,
        )  # fmt: skip
    ax1.set(xlabel="epoch", ylabel="AUC", title="val (solid), test micro (dashed)")
    for variant, c in colours.items():
        if variant in summary["variants"]:
            rho = summary["variants"][variant]["pooled"]["spearman_val_vs_test_micro_auc"]
            label = f"{variant}: pooled rho {rho:.2f}" if rho is not None else variant
            ax2.plot([], [], "o", color=c, label=label)
    ax2.set(xlabel="validation AUC (pseudo anomalies)", ylabel="test micro AUC")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def collect(args: argparse.Namespace) -> list[dict[str, Any]]:
    records = []
    for variant in args.variants:
        for seed in args.seeds:
            path = result_path(args, variant, seed)
            if path.is_file():
                rec = json.loads(path.read_text())
                if rec["epochs"]:
                    records.append(rec)
    return records


def report(args: argparse.Namespace) -> dict[str, Any]:
    records = collect(args)
    if not records:
        raise SystemExit(f"no results in {args.results}")
    summary = aggregate(records)
    results = Path(args.results)
    (results / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    write_csv(records, results / "epochs.csv")
    figure(records, summary, results / "figure.png")
    for variant, s in summary["variants"].items():
        rho = s["pooled"]["spearman_val_vs_test_micro_auc"]
        print(
            f"{variant}: seeds {s['seeds']}, pooled Spearman(val, test micro) "
            f"{'n/a' if rho is None else f'{rho:+.3f}'} over {s['pooled']['n_epochs']} epochs; "
            f"test micro AUC at the val pick {s['mean_test_at_val_pick']:.4f}, last "
            f"{s['mean_test_at_last']:.4f}, oracle {s['mean_test_best_oracle']:.4f}"
        )
    print(f"-> {results}/summary.json, epochs.csv, figure.png")
    return summary


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    Path(args.runs).mkdir(parents=True, exist_ok=True)
    Path(args.results).mkdir(parents=True, exist_ok=True)
    if args.worker:
        train_one(args, args.worker[0], int(args.worker[1]))
        return 0
    if not args.aggregate_only:
        if args.quick:
            quick_dataset(args)  # once, before the workers share it
        jobs = [(v, s) for s in args.seeds for v in args.variants]
        with ThreadPoolExecutor(max(1, args.jobs)) as pool:
            list(pool.map(lambda job: launch(args, argv, *job), jobs))
    report(args)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())
