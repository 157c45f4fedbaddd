"""Pseudo anomalies for another model family: a Keras future-frame predictor in a plain loop.

The paper trains a Conv3D autoencoder; the idea carries over to any model that reconstructs or
predicts normal frames. Here a small 2D convolutional network sees four frames (stacked as
channels) and predicts the fifth. With probability ``p`` a 5-frame training clip is replaced by
a pseudo anomaly (a moving SmoothMix-S patch, or frames skipped in time) and the target is still
the **normal** fifth frame, so the model learns not to predict anomalies (Eq. 3-5 of Astrid et
al., BMVC 2021, with "reconstruct" replaced by "predict").

No ``trainer`` training code is used: batches are NumPy arrays built in a Python loop and fed
to ``model.train_on_batch``. Scoring reuses :func:`trainer.evaluation.evaluate` (PSNR of the
predicted frame, per-video min-max, frame-level AUC) with 5-frame windows whose last frame is
the scored one.

The same seed trains two models, ``p = 0`` (plain predictor) and ``p > 0``; both see the same
clips in the same order and start from the same weights.

Run::

    python examples/keras_frame_autoencoder.py --quick                 # ~20 s, synthetic data
    python examples/keras_frame_autoencoder.py                         # synthetic data
    python examples/keras_frame_autoencoder.py --data ../shared/datasets/ped2

Printed: the training loss every few steps, then one ``RESULT`` line per ``p`` with the
frame-level micro / macro AUC on the test split.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported

import keras
import numpy as np

import pseudoanom
from trainer.data import Video, to_model_range
from trainer.datasets import load_split
from trainer.evaluation import evaluate

N_IN = 4  # frames the model sees; it predicts frame N_IN (the 5th)
CLIP = N_IN + 1


def load_data(data: str | None, size: int, cache_dir: str) -> tuple[list[Video], list[Video], str]:
    """Training and test videos: ``--data`` or the trainer's embedded synthetic dataset."""
    if data is None:
        from trainer.synthetic import make_synthetic_dataset

        root = make_synthetic_dataset(Path(cache_dir) / "synthetic")
    else:
        root = Path(data)
    kw = {"size": (size, size), "channels": 1, "cache_dir": cache_dir}
    train = load_split(root, "training", min_frames=CLIP, **kw)
    test = load_split(root, "testing", **kw)
    return train, test, str(root)


def build_predictor(size: int, width: int = 16) -> keras.Model:
    """(H, W, 4) frames in [-1, 1] -> (H, W, 1) predicted next frame in [-1, 1]."""
    inp = keras.Input((size, size, N_IN))
    x = keras.layers.Conv2D(width, 3, strides=2, padding="same", activation="relu")(inp)
    x = keras.layers.Conv2D(2 * width, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.Conv2D(2 * width, 3, padding="same", activation="relu")(x)
    x = keras.layers.Conv2DTranspose(width, 3, strides=2, padding="same", activation="relu")(x)
    out = keras.layers.Conv2DTranspose(1, 3, strides=2, padding="same", activation="tanh")(x)
    return keras.Model(inp, out, name="next_frame_predictor")


def make_batch(
    videos: list[np.ndarray],
    pipe: pseudoanom.Pipeline | None,
    seed: int,
    step: int,
    batch_size: int,
) -> tuple[np.ndarray, np.ndarray, int]:
    """One batch: inputs (B, H, W, 4), normal next frames (B, H, W, 1), number of pseudo."""
    order = np.random.default_rng([seed, step])  # clip choice: identical for every p
    xs, ys, n_pseudo = [], [], 0
    for i in range(batch_size):
        v = videos[int(order.integers(len(videos)))]
        start = int(order.integers(len(v) - CLIP + 1))
        if pipe is None:
            clip = target = v[start : start + CLIP]
        else:  # everything random about sample i comes from its own Generator
            res = pipe.from_video(v, start, length=CLIP, rng=np.random.default_rng([seed, step, i]))
            clip, target = res.clip, res.target
            n_pseudo += int(res.label)
        xs.append(np.moveaxis(to_model_range(clip[:N_IN, ..., 0]), 0, -1))  # (H, W, 4)
        ys.append(to_model_range(target[N_IN]))  # the NORMAL next frame, (H, W, 1)
    return np.stack(xs), np.stack(ys), n_pseudo


def predict_fn(model: keras.Model):
    """Adapter for trainer.evaluation: (B, 5, H, W, 1) windows -> same with frame 4 predicted."""

    def fn(batch: np.ndarray) -> np.ndarray:
        x = np.moveaxis(batch[:, :N_IN, ..., 0], 1, -1)
        out = batch.copy()
        out[:, N_IN] = np.asarray(model.predict_on_batch(x))
        return out

    return fn


def run(args: argparse.Namespace, p: float, train: list[Video], test: list[Video]) -> dict:
    """Train one predictor with pseudo-anomaly probability ``p`` and score the test split."""
    pipe = None
    if p > 0:
        pipe = pseudoanom.Pipeline(
            [
                pseudoanom.create("smoothmix_s", alpha=0.5, beta=args.size / 25.6),
                pseudoanom.create("skip_frame", steps=(2, 3, 4, 5)),
            ],
            weights=[1, 1],
            p=p,
        )
    keras.utils.set_random_seed(args.seed)  # same initial weights for every p
    model = build_predictor(args.size)
    model.compile(optimizer=keras.optimizers.Adam(args.lr), loss="mse")
    videos = [v.frames for v in train]
    t0 = time.perf_counter()
    total_pseudo, losses = 0, []
    for step in range(args.steps):
        x, y, n_pseudo = make_batch(videos, pipe, args.seed, step, args.batch_size)
        total_pseudo += n_pseudo
        losses.append(float(model.train_on_batch(x, y)))
        if (step + 1) % args.log_every == 0 or step + 1 == args.steps:
            recent = np.mean(losses[-args.log_every :])
            print(f"  p={p:.2f} step {step + 1:4d}/{args.steps}: loss {recent:.5f}", flush=True)
    train_s = time.perf_counter() - t0
    result = evaluate(
        test, predict_fn(model), clip_len=CLIP, score_index=N_IN, batch_size=args.eval_batch
    )
    return {
        "p": p,
        "final_loss": float(np.mean(losses[-args.log_every :])),
        "pseudo_fraction": total_pseudo / (args.steps * args.batch_size),
        "micro_auc": result.micro_auc,
        "macro_auc": result.macro_auc,
        "n_scored": result.n_scored,
        "train_s": train_s,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=None, help="dataset root (default: synthetic dataset)")
    ap.add_argument("--size", type=int, default=64, help="frame side in pixels (multiple of 4)")
    ap.add_argument("--steps", type=int, default=600, help="training steps per model")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--p", type=float, default=0.2, help="pseudo-anomaly probability (vs 0)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-batch", type=int, default=64)
    ap.add_argument("--log-every", type=int, default=100)
    ap.add_argument("--cache-dir", default=".cache/pseudoanom", help="decoded-frame cache")
    ap.add_argument("--quick", action="store_true", help="32x32, 60 steps: a smoke run")
    args = ap.parse_args(argv)
    if args.quick:
        args.size, args.steps, args.log_every = 32, 60, 20

    t0 = time.perf_counter()
    train, test, root = load_data(args.data, args.size, args.cache_dir)
    print(
        f"data {root}: {len(train)} training videos, {len(test)} test videos, "
        f"{args.size}x{args.size}, {args.steps} steps of {args.batch_size} clips, seed {args.seed}"
    )
    results = [run(args, p, train, test) for p in (0.0, args.p)]
    for r in results:
        print(
            f"RESULT p={r['p']:.2f} pseudo_fraction={r['pseudo_fraction']:.3f} "
            f"final_loss={r['final_loss']:.5f} micro_auc={r['micro_auc']:.4f} "
            f"macro_auc={r['macro_auc']:.4f} scored_frames={r['n_scored']} "
            f"train_s={r['train_s']:.1f}"
        )
    print(f"total {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
