"""Pseudo anomalies after an albumentations pipeline, for users who already augment with it.

albumentations works on images; a clip needs the **same** spatial parameters on every frame, or
the augmentation itself becomes temporal noise (and frame-to-frame jitter looks like an
anomaly). Two consistent ways, both checked here:

* ``aug(images=clip)``: albumentations >= 1.4 applies one parameter draw to a stack of images;
* ``A.ReplayCompose``: draw once, then ``ReplayCompose.replay(params, image=frame)`` per frame
  (the per-frame way for code written against older albumentations, or to log the params).

Then the pseudo anomaly is drawn on the augmented clip, so its target is the *augmented normal
clip*: augmentation changes what "normal" looks like, the pseudo anomaly is what the model must
learn to remove. For ``skip_frame`` the transform needs the frames after the clip, so the
augmentation is applied to the whole window it may read (``start .. start + (T - 1) * 5``) with
one parameter draw, and the pseudo anomaly is taken from that augmented window.

Run::

    python examples/albumentations_pipeline.py --quick
    python examples/albumentations_pipeline.py --data ../shared/datasets/ped2

Printed: ``CHECK`` lines (consistency across frames, target = augmented normal clip, pixels
changed only under the mask) and a ``RESULT`` line with the pseudo-anomaly count and timing.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import albumentations as A
import numpy as np

import pseudoanom
from trainer.datasets import load_split

T = 16
MAX_STEP = 5  # largest skip of skip_frame: the window it may read is (T - 1) * MAX_STEP + 1


def spatial_augmentation() -> list[A.BasicTransform]:
    """Ordinary per-image augmentations (what a user already has)."""
    return [
        A.HorizontalFlip(p=0.5),
        A.Affine(scale=(0.9, 1.1), translate_percent=(-0.05, 0.05), rotate=(-5, 5), p=1.0),
        A.RandomBrightnessContrast(brightness_limit=0.1, contrast_limit=0.1, p=0.5),
    ]


class ClipAugment:
    """albumentations (one draw per clip) followed by a pseudoanom pipeline.

    Parameters
    ----------
    aug : albumentations.Compose
        Applied with ``aug(images=window)``: the same parameters for every frame.
    pseudo : pseudoanom.Pipeline
        Draws the pseudo anomaly (or none) from the augmented window.
    """

    def __init__(self, aug: A.Compose, pseudo: pseudoanom.Pipeline) -> None:
        self.aug = aug
        self.pseudo = pseudo

    def __call__(
        self, video: np.ndarray, start: int, rng: np.random.Generator
    ) -> pseudoanom.PseudoAnomaly:
        # The frames the pseudo anomaly may read: the clip plus what skip_frame needs after it
        # (near the end of a video skip_frame moves the start back, so the window does too).
        w0, w1 = window_bounds(len(video), start)
        window = self.aug(images=np.ascontiguousarray(video[w0:w1]))["images"]
        return self.pseudo.from_video(window, start - w0, length=T, rng=rng)


def window_bounds(k: int, start: int) -> tuple[int, int]:
    """``[w0, w1)``: the frames of a K-frame video that skip_frame may read for ``start``."""
    size = min(k, (T - 1) * MAX_STEP + 1)
    w0 = max(0, min(start, k - size))
    return w0, w0 + size


def load_videos(data: str | None, size: int, cache_dir: str) -> list[np.ndarray]:
    if data is None:
        from trainer.synthetic import make_synthetic_dataset

        data = str(make_synthetic_dataset(Path(cache_dir) / "synthetic"))
    videos = load_split(data, "training", size=(size, size), cache_dir=cache_dir, min_frames=T)
    return [v.frames for v in videos]


def check(name: str, ok: bool, detail: str) -> bool:
    print(f"CHECK {name}: {'OK' if ok else 'FAILED'} ({detail})")
    return ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=None, help="dataset root (default: synthetic dataset)")
    ap.add_argument("--size", type=int, default=128, help="frame side in pixels")
    ap.add_argument("--clips", type=int, default=200, help="clips to draw for the statistics")
    ap.add_argument("--p", type=float, default=0.5, help="pseudo-anomaly probability")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache-dir", default=".cache/pseudoanom")
    ap.add_argument("--quick", action="store_true", help="64x64, 40 clips")
    args = ap.parse_args(argv)
    if args.quick:
        args.size, args.clips = 64, 40

    videos = load_videos(args.data, args.size, args.cache_dir)
    video = videos[0]
    ok = True

    # 1. One parameter draw for all frames: a clip of identical frames stays identical.
    aug = A.Compose(spatial_augmentation(), seed=args.seed)
    frozen = np.repeat(video[:1], T, axis=0)
    out = aug(images=frozen)["images"]
    diff = int(np.abs(out.astype(np.int16) - out[:1]).max())
    changed = int(np.abs(out[0].astype(np.int16) - frozen[0]).max())
    detail = f"max |frame_t - frame_0| after augmentation = {diff}, change vs input {changed}"
    ok &= check("same params on every frame", diff == 0 and changed > 0, detail)

    # 2. ReplayCompose: per-frame replay of the recorded params equals the images= call.
    replay = A.ReplayCompose(spatial_augmentation())
    replay.set_random_seed(args.seed)
    clip = np.ascontiguousarray(video[:T])
    drawn = replay(images=clip)
    per_frame = np.stack([A.ReplayCompose.replay(drawn["replay"], image=f)["image"] for f in clip])
    diff = int(np.abs(per_frame.astype(np.int16) - drawn["images"]).max())
    applied = [t["__class_fullname__"] for t in drawn["replay"]["transforms"] if t["applied"]]
    detail = f"max abs diff {diff}; applied {', '.join(applied)}"
    ok &= check("ReplayCompose per frame == images=", diff == 0, detail)

    # 3. Augmentation, then pseudo anomalies (patch or skip frame) with the normal clip as target.
    pseudo = pseudoanom.Pipeline(
        [
            pseudoanom.create("smoothmix_s", alpha=0.5, beta=args.size / 25.6),
            pseudoanom.create("skip_frame", steps=tuple(range(2, MAX_STEP + 1))),
        ],
        p=args.p,
    )
    clip_aug = ClipAugment(A.Compose(spatial_augmentation(), seed=args.seed), pseudo)
    rng = np.random.default_rng(args.seed)
    counts = {"normal": 0, "smoothmix_s": 0, "skip_frame": 0}
    outside_mask = 0
    t0 = time.perf_counter()
    for _ in range(args.clips):
        v = videos[int(rng.integers(len(videos)))]
        start = int(rng.integers(len(v) - T + 1))
        res = clip_aug(v, start, rng)
        counts[res.params["transform"] or "normal"] += 1
        assert res.clip.shape == res.target.shape == (T, args.size, args.size, 1)
        if res.params["transform"] == "smoothmix_s":  # pixels change only where the mask is > 0
            moved = np.abs(res.clip.astype(np.int16) - res.target).max(axis=-1) > 0
            outside_mask += int((moved & (res.mask == 0)).sum())
    seconds = time.perf_counter() - t0
    detail = f"{outside_mask} changed pixels outside the mask"
    ok &= check("patch changes pixels only under its mask", outside_mask == 0, detail)

    # The target is the augmented normal clip: replaying the same draw reproduces it exactly.
    for t in pseudo.transforms:
        only_t = pseudoanom.Pipeline([t], p=1.0)  # always a pseudo anomaly of this kind
        start = len(video) - T  # near the end: skip_frame has to move its start back
        res = ClipAugment(A.Compose(spatial_augmentation(), seed=7), only_t)(video, start, rng)
        w0, w1 = window_bounds(len(video), start)
        window = A.Compose(spatial_augmentation(), seed=7)(images=video[w0:w1].copy())["images"]
        n = res.params["params"].get("start", start - w0)  # skip_frame reports where it started
        same = res.label == 1 and np.array_equal(res.target, window[n : n + T])
        detail = f"label {res.label}, clip starts at window frame {n}"
        ok &= check(f"{t.name}: target == augmented normal clip", same, detail)

    print(
        f"RESULT clips={args.clips} normal={counts['normal']} smoothmix_s={counts['smoothmix_s']} "
        f"skip_frame={counts['skip_frame']} size={args.size} "
        f"ms_per_clip={1000 * seconds / args.clips:.2f}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
