"""The main job of the README: a plain autoencoder against one trained with pseudo anomalies.

``python -m trainer.demo`` generates the demo set (:func:`trainer.synthetic.make_demo_dataset`,
32 x 32 frames: people walking through a textured scene are normal; a striped cart, a large
body or a runner are anomalous, and an untrained model does not separate them), then trains
two small models on it with the same seed and the same steps: the **baseline** (``p = 0``, a
plain autoencoder) and **patch** (the paper's ``smoothmix_s`` pseudo anomalies, see
:data:`PSEUDO`). Each run is an ordinary :func:`trainer.train.train` run, evaluated with the
trainer's protocol (frame-level micro AUC), in ``<out>/baseline`` and ``<out>/patch``. The last
line printed compares them::

    demo seed 0: micro AUC baseline (p = 0) 0.705, pseudo anomalies (smoothmix_s, p = 0.5)
    0.744 (+0.039); runs in runs/demo/{baseline,patch}

(one line; numbers of a run on the development copy of the data, not the reported ones)

and ``<out>/comparison.json`` holds both AUCs, the AUC per anomaly kind and the seconds.

Options: ``--seed`` (training seed: weights, clip order, pseudo anomalies; the data stay the
same), ``--out`` (default ``runs/demo``), ``--epochs`` and ``--quick`` (a seconds-long wiring
check on a tiny copy of the data, for tests: its AUCs mean nothing).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import trainer.tf_logging  # noqa: F401  (before keras: TensorFlow's C++ log lines)

# isort: split
import keras  # noqa: E402

from trainer import backend  # noqa: E402
from trainer.config import TrainConfig, load_config  # noqa: E402
from trainer.synthetic import make_demo_dataset  # noqa: E402
from trainer.train import train  # noqa: E402

__all__ = [
    "DEMO_SETTINGS",
    "PSEUDO",
    "comparison_line",
    "demo_config",
    "demo_data",
    "kind_aucs",
    "main",
    "run_demo",
]

PSEUDO: dict[str, Any] = {
    "name": "pipeline",
    "params": {
        "transforms": [
            {"name": "smoothmix_s", "params": {"alpha": 0.5, "beta": 1.5, "min_size": 6}}
        ],
        "weights": [1.0],
        "p": 0.5,
    },
}
"""The pseudo anomalies of the ``patch`` run: the paper's SmoothMix-S patch (embedded intruder
images) with its random walk ``beta`` scaled from 256 to 32 pixels (10 -> 1.5) and a smaller
minimum patch side (6 px), on half the samples."""

DEMO_SETTINGS: dict[str, Any] = {
    "size": (32, 32),
    "width": 0.25,
    "batch_size": 8,
    "epochs": 12,
    "lr": 2e-4,
}
"""Config keys of both runs, on top of the ``cpu`` preset."""

_QUICK_DATA = {"n_train": 2, "n_test": 3, "frames": 40}


class _EpochLine(keras.callbacks.Callback):
    """One short line per epoch, so the minute and a half of each run is not silent."""

    def __init__(self, kind: str, epochs: int) -> None:
        super().__init__()
        self.kind, self.epochs = kind, epochs
        self.t0 = time.perf_counter()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.t0 = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        text = "" if loss is None else f", loss {float(loss):.4f}"
        seconds = time.perf_counter() - self.t0
        print(f"  {self.kind} epoch {epoch + 1}/{self.epochs}{text} ({seconds:.1f} s)", flush=True)


def demo_config(
    kind: str, data: str | Path, out: str | Path, seed: int, quick: bool = False, **changes: Any
) -> TrainConfig:
    """The config of the ``baseline`` (``p = 0``) or ``patch`` (:data:`PSEUDO`) run."""
    if kind not in ("baseline", "patch"):
        raise ValueError(f"kind must be 'baseline' or 'patch', got {kind!r}")
    pipeline = json.loads(json.dumps(PSEUDO))
    if kind == "baseline":
        pipeline["params"]["p"] = 0.0
    overrides = {
        **DEMO_SETTINGS,
        "data": str(data),
        "out": str(Path(out) / kind),
        "seed": seed,
        "pipeline": pipeline,
    }
    if quick:
        overrides.update(width=0.125, epochs=1, steps_per_epoch=2)
    overrides.update(changes)
    return load_config("cpu", overrides=overrides)


def demo_data(cache_dir: str | Path = ".cache/pseudoanom", quick: bool = False) -> Path:
    """The demo set under ``cache_dir`` (generated on first use; ``quick``: a tiny copy)."""
    name = "demo-quick" if quick else "demo"
    return make_demo_dataset(Path(cache_dir) / name, **(_QUICK_DATA if quick else {}))


def kind_aucs(run_dir: str | Path, data: str | Path) -> dict[str, float | None]:
    """Micro AUC over the test videos of each anomaly kind (from the run's ``scores.csv``; the
    scores are already normalised per video, so a subset of videos is scored as in the whole)."""
    from sklearn.metrics import roc_auc_score

    meta = json.loads((Path(data) / "synthetic.json").read_text())
    kinds = {a["video"]: a["kind"] for a in meta["anomalies"]}
    with open(Path(run_dir) / "evaluation" / "scores.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    out: dict[str, float | None] = {}
    for kind in dict.fromkeys(kinds.values()):
        sel = [r for r in rows if kinds.get(r["video"]) == kind]
        labels = [int(r["label"]) for r in sel]
        ok = len(set(labels)) == 2
        out[kind] = float(roc_auc_score(labels, [float(r["score"]) for r in sel])) if ok else None
    return out


def run_demo(
    out: str | Path = "runs/demo",
    seed: int = 0,
    *,
    quick: bool = False,
    cache_dir: str | Path = ".cache/pseudoanom",
    verbose: int = 1,
    **changes: Any,
) -> dict[str, Any]:
    """Train and evaluate both runs; write and return ``<out>/comparison.json``'s content."""
    out = Path(out)
    data = demo_data(cache_dir, quick)
    result: dict[str, Any] = {"seed": seed, "quick": quick, "data": str(data), "runs": {}}
    for kind in ("baseline", "patch"):
        config = demo_config(kind, data, out, seed, quick, cache_dir=str(cache_dir), **changes)
        if verbose:
            print(f"demo: training {kind} (p = {config.p:g}) -> {config.out}", flush=True)
        t0 = time.perf_counter()
        lines = [_EpochLine(kind, config.epochs)] if verbose == 1 else []
        run_dir = train(config, overwrite=True, verbose=max(0, verbose - 1), callbacks=lines)
        seconds = time.perf_counter() - t0
        summary = json.loads((run_dir / "evaluation" / "summary.json").read_text())
        result["runs"][kind] = {
            "run_dir": str(run_dir),
            "p": config.p,
            "micro_auc": summary["micro_auc"],
            "macro_auc": summary.get("macro_auc"),
            "auc_per_kind": kind_aucs(run_dir, data),
            "seconds": round(seconds, 1),
            "train_seconds": round(summary.get("train_seconds", seconds), 1),
        }
        if verbose:
            print(f"demo: {kind} micro AUC {summary['micro_auc']:.3f} in {seconds:.0f} s")
    result["config"] = {k: list(v) if isinstance(v, tuple) else v for k, v in DEMO_SETTINGS.items()}
    result["pseudo"] = PSEUDO
    (out / "comparison.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def comparison_line(result: dict[str, Any], out: str | Path) -> str:
    """The one-line summary printed last."""
    b, p = result["runs"]["baseline"], result["runs"]["patch"]
    name = PSEUDO["params"]["transforms"][0]["name"]
    return (
        f"demo seed {result['seed']}: micro AUC baseline (p = 0) {b['micro_auc']:.3f}, "
        f"pseudo anomalies ({name}, p = {p['p']:g}) {p['micro_auc']:.3f} "
        f"({p['micro_auc'] - b['micro_auc']:+.3f}); runs in {Path(out)}/{{baseline,patch}}"
        + (" [--quick: a wiring check, the AUCs mean nothing]" if result["quick"] else "")
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m trainer.demo",
        description="Train a plain autoencoder and one with pseudo anomalies on the demo set "
        "and compare their frame-level micro AUC.",
    )
    parser.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    parser.add_argument("--out", default="runs/demo", help="folder of both runs")
    parser.add_argument("--epochs", type=int, help=f"default {DEMO_SETTINGS['epochs']}")
    parser.add_argument("--quick", action="store_true", help="seconds-long wiring check")
    parser.add_argument("--cache-dir", default=".cache/pseudoanom", help="data and frame cache")
    parser.add_argument("--quiet", action="store_true", help="only the comparison line")
    args = parser.parse_args(argv)
    if not args.quiet:
        print(backend.describe(), flush=True)
    changes = {} if args.epochs is None else {"epochs": args.epochs}
    result = run_demo(
        args.out, args.seed, quick=args.quick, cache_dir=args.cache_dir,
        verbose=0 if args.quiet else 1, **changes,
    )  # fmt: skip
    print(comparison_line(result, args.out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
