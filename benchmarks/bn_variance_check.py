"""How much the 45ff4ee table's AUCs move under the unbiased BatchNorm moving variance of e1cef33.

The runs of the Ped2 table kept in results/ped2-45ff4ee/ (docs/results.md) were trained at
45ff4ee, whose BatchNorm accumulated Keras' *biased* batch variance in its moving variance;
from e1cef33 on it accumulates the *unbiased* one, as the reference's PyTorch BatchNorm3d does.
Training itself is the same (a training step normalises with the batch's own statistics), and
the moving variance is an exponential average of per-step variances over batches of one size,
so a run trained at HEAD ends with each layer's moving variance times n / (n - 1),
n = batch x T x H x W at that layer (the initial 1 has decayed away: 0.9^2880 after 10
epochs). This script applies that factor to each saved model and evaluates it again under the
paper's protocol, which is what HEAD's configs give, and prints both AUCs.

    python benchmarks/bn_variance_check.py --runs runs/ped2_table \\
        --out results/ped2-45ff4ee/bn_variance_check.json
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path

import yaml


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", default="runs/ped2_table")
    ap.add_argument("--out", default="results/ped2-45ff4ee/bn_variance_check.json")
    ap.add_argument("--names", nargs="*", help="run folders (default: every finished run)")
    args = ap.parse_args(argv)

    import trainer  # noqa: F401  (picks the backend before Keras is imported)
    from trainer.datasets import load_split
    from trainer.inference import load_model
    from trainer.report import evaluate_model

    runs = (
        [Path(args.runs) / n for n in args.names]
        if args.names
        else sorted(p.parent.parent for p in Path(args.runs).glob("*/evaluation/summary.json"))
    )
    rows, videos = [], None
    for run in runs:
        config = yaml.safe_load((run / "config.yaml").read_text())
        before = json.loads((run / "evaluation" / "summary.json").read_text())["micro_auc"]
        model = load_model(run / "model.keras")
        factors = {}
        for layer in model.layers:
            if "BatchNormalization" in type(layer).__name__:
                shape = layer.output.shape  # (None, T, H, W, C)
                n = config["batch_size"] * math.prod(shape[1:4])
                layer.moving_variance.assign(layer.moving_variance * (n / (n - 1)))
                factors[layer.name] = n / (n - 1)
        if videos is None:
            _, _, h, w, c = model.input_shape
            videos = load_split(config["data"], "testing", size=(h, w), channels=c)
        with tempfile.TemporaryDirectory() as tmp:
            res = evaluate_model(model, videos, tmp, plots=False, verbose=0)
        after = res.micro_auc
        rows.append(
            {"run": run.name, "micro_auc": before, "micro_auc_unbiased": after,
             "difference": after - before, "factors": factors}
        )  # fmt: skip
        print(
            f"{run.name:<22} {before * 100:7.3f} {after * 100:7.3f} {(after - before) * 100:+.3f}"
        )
    Path(args.out).write_text(json.dumps(rows, indent=2) + "\n")
    worst = max(abs(r["difference"]) for r in rows) * 100
    print(f"{len(rows)} runs, largest |difference| {worst:.3f} AUC points; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
