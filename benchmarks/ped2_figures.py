"""Figures for the Ped2 table: scores over time and a Fig. 6 style panel, one row per model.

Reads what ``benchmarks/ped2_table.py`` wrote (the per-frame score CSVs in ``--results`` and
the models in ``--runs``) and writes two PNGs:

* ``<out>/ped2_table_scores.png``: the anomaly score of every variant (one seed) over two test
  videos, ground-truth anomalous frames shaded;
* ``<out>/ped2_table_recon.png``: for one test frame, input / reconstruction / squared error of
  every variant, the error maps on one colour scale, the pixel ground truth outlined (needs the
  models; ``--no-recon`` makes only the score plot, from the CSVs alone).

    python benchmarks/ped2_figures.py --videos 02 04 --frame 04:105 --seed 0
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

VARIANTS = ("baseline", "patch", "patch_object", "skip")
COLORS = {
    "baseline": "tab:gray",
    "patch": "tab:blue",
    "patch_object": "tab:orange",
    "skip": "tab:green",
    "mix": "tab:purple",
}


def read_scores(path: Path) -> dict[str, dict[str, np.ndarray]]:
    """``{video: {"frame", "score", "label"}}`` from a ``scores.csv``."""
    out: dict[str, dict[str, list]] = {}
    with open(path, newline="") as fh:
        for r in csv.DictReader(fh):
            cols = out.setdefault(r["video"], {"frame": [], "score": [], "label": []})
            cols["frame"].append(int(r["frame"]))
            cols["score"].append(float(r["score"]))
            cols["label"].append(int(r["label"]))
    return {v: {k: np.array(c) for k, c in cols.items()} for v, cols in out.items()}


def plot_scores(results: Path, variants: list[str], videos: list[str], seed: int, out: Path):
    fig = Figure(figsize=(5.2 * len(videos), 3.0), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(videos)))
    for ax, video in zip(axes, videos, strict=True):
        first = True
        for v in variants:
            path = results / f"{v}-s{seed}.scores.csv"
            if not path.is_file():
                continue
            s = read_scores(path)[video]
            if first:
                for f, lab in zip(s["frame"], s["label"], strict=True):
                    if lab:
                        ax.axvspan(f - 0.5, f + 0.5, color="tab:red", alpha=0.15, lw=0)
                first = False
            ax.plot(s["frame"], s["score"], lw=1.1, color=COLORS.get(v), label=v)
        ax.set_title(f"Ped2 test video {video} (seed {seed}; red: anomalous frames)", fontsize=9)
        ax.set_xlabel("frame")
        ax.set_ylabel("anomaly score")
        ax.set_ylim(-0.03, 1.03)
    axes[0].legend(fontsize=7, loc="upper left")
    fig.savefig(out, dpi=110)


def plot_recon(
    runs: Path, data: str, variants: list[str], video: str, frame: int, seed: int, out: Path
):
    import keras

    import trainer.losses  # noqa: F401  (registers the model class)
    from trainer.datasets import load_split

    models = {}
    for v in variants:
        path = runs / f"{v}-s{seed}" / "model.keras"
        if path.is_file():
            models[v] = keras.saving.load_model(path, safe_mode=True)
    if not models:
        raise SystemExit(f"no models in {runs}/*-s{seed}/model.keras")
    _, t, h, w, c = next(iter(models.values())).input_shape
    vids = {v.name: v for v in load_split(Path(data), "testing", size=(h, w), channels=c)}
    if video not in vids:
        raise SystemExit(f"test video {video!r} not found; have {sorted(vids)}")
    vid = vids[video]
    start = frame - t // 2  # the scored frame is the 9th of its 16-frame window
    if start < 0 or start + t > len(vid.frames):
        raise SystemExit(f"frame {frame} of video {video} has no full {t}-frame window")
    clip = vid.frames[start : start + t].astype(np.float32) / 127.5 - 1.0
    target = (clip[t // 2, ..., 0] + 1) / 2
    mask = vid.masks[frame] if vid.masks is not None else None
    recons = {
        v: (np.asarray(m.predict_on_batch(clip[None]))[0, t // 2, ..., 0] + 1) / 2
        for v, m in models.items()
    }
    errors = {v: (r - target) ** 2 for v, r in recons.items()}
    vmax = max(float(e.max()) for e in errors.values())
    fig = Figure(figsize=(3 * 2.4 + 0.6, 2.4 * len(models) + 0.4), layout="constrained")
    axes = fig.subplots(len(models), 3, squeeze=False)
    for row, v in zip(axes, models, strict=True):
        psnr = 10 * np.log10(1.0 / max(float(np.mean(errors[v])), 1e-10))
        row[0].imshow(target, cmap="gray", vmin=0, vmax=1)
        row[1].imshow(np.clip(recons[v], 0, 1), cmap="gray", vmin=0, vmax=1)
        im = row[2].imshow(errors[v], cmap="inferno", vmin=0, vmax=vmax)
        row[0].set_ylabel(f"{v}\nPSNR {psnr:.2f} dB", fontsize=9)
        for ax, title in zip(row, ("input", "reconstruction", "squared error"), strict=True):
            ax.set_xticks([])
            ax.set_yticks([])
            if v == next(iter(models)):
                ax.set_title(title, fontsize=9)
            if mask is not None and mask.any():
                ax.contour(mask.astype(np.float32), levels=[0.5], colors="cyan", linewidths=0.8)
    fig.colorbar(im, ax=axes[:, 2], fraction=0.05)
    fig.suptitle(f"Ped2 test video {video}, frame {frame} (seed {seed})", fontsize=10)
    fig.savefig(out, dpi=110)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", default="runs/ped2_table")
    ap.add_argument("--results", default="results/ped2")
    ap.add_argument("--data", default="../shared/datasets/ped2")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS))
    ap.add_argument("--videos", nargs=2, default=["02", "04"], help="two test videos to plot")
    ap.add_argument("--frame", default="04:105", help="VIDEO:FRAME of the Fig. 6 panel")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="docs/img")
    ap.add_argument(
        "--recon", action=argparse.BooleanOptionalAction, default=True, help="the model panel"
    )
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plot_scores(
        Path(args.results), args.variants, args.videos, args.seed, out / "ped2_table_scores.png"
    )
    print(f"wrote {out / 'ped2_table_scores.png'}")
    if args.recon:
        video, frame = args.frame.split(":")
        plot_recon(
            Path(args.runs), args.data, args.variants, video, int(frame), args.seed,
            out / "ped2_table_recon.png",
        )  # fmt: skip
        print(f"wrote {out / 'ped2_table_recon.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
