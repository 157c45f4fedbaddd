"""Pseudo anomalies in a PyTorch ``Dataset`` / ``DataLoader`` with several workers.

``pseudoanom`` is NumPy only, so it drops into a PyTorch input pipeline. The one thing to get
right is randomness with worker processes: every worker starts as a copy of the main process,
so a Generator (or the global NumPy state) created before the workers start is *duplicated*,
and worker 0 and worker 1 draw the same "random" pseudo anomalies.

This example draws everything random about sample ``i`` of epoch ``e`` from its own
``numpy.random.default_rng([seed, e, i])`` (a per-index Generator). The draws then depend on
neither the worker that serves the sample nor the number of workers, and a ``worker_init_fn``
still reseeds the global NumPy / ``random`` state per worker for third-party code that uses
them. Printed checks prove it: no duplicated draw across workers, identical samples with 0 and
with N workers, and the same check failing for a naive dataset that holds one Generator.

A small Conv3D autoencoder is then trained on (pseudo anomaly -> normal clip) pairs and, when
scikit-learn is installed, scored with :func:`trainer.evaluation.evaluate` (frame-level AUC).

PyTorch is optional; docs/getting-started.md ("torch on a CPU-only machine") says how to install
its CPU build (``pip install torch --index-url https://download.pytorch.org/whl/cpu``). Without it
the script prints "PyTorch not installed, skipping" and exits 0.

Run::

    python examples/torch_dataloader.py --quick
    python examples/torch_dataloader.py --data ../shared/datasets/ped2 --workers 2
"""

from __future__ import annotations

import argparse
import hashlib
import pickle
import random
import time
from pathlib import Path
from typing import Any

import numpy as np

import pseudoanom
from trainer.data import Video, to_model_range
from trainer.datasets import load_split

try:
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, Dataset, get_worker_info
except ImportError:  # the optional extra is not installed
    torch = None
    Dataset = object  # keeps the class definitions below importable

T = 16


class PseudoAnomalyClips(Dataset):
    """Every T-frame clip of the training videos; with probability p a pseudo anomaly.

    ``__getitem__`` returns ``(x, y, label, worker, fingerprint)``: the model input and the
    normal target as float32 ``(C, T, H, W)`` in [-1, 1], 1 for a pseudo anomaly, the id of the
    worker that made it and a hash of the drawn parameters (for the checks).
    """

    def __init__(self, videos: list[np.ndarray], pipe: pseudoanom.Pipeline, seed: int) -> None:
        self.videos = videos
        self.pipe = pipe
        self.seed = seed
        self.epoch = 0
        self.index = [(v, s) for v, frames in enumerate(videos) for s in range(len(frames) - T + 1)]

    def __len__(self) -> int:
        return len(self.index)

    def set_epoch(self, epoch: int) -> None:
        """New draws each epoch (workers are re-created per epoch: persistent_workers=False)."""
        self.epoch = epoch

    def rng_for(self, i: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, i])  # per-index Generator

    def __getitem__(self, i: int) -> tuple[Any, ...]:
        v, start = self.index[i]
        res = self.pipe.from_video(self.videos[v], start, length=T, rng=self.rng_for(i))
        x = torch.from_numpy(to_model_range(res.clip)).permute(3, 0, 1, 2)  # (C, T, H, W)
        y = torch.from_numpy(to_model_range(res.target)).permute(3, 0, 1, 2)
        info = get_worker_info()
        return x, y, int(res.label), -1 if info is None else info.id, fingerprint(res.params)


class NaiveClips(PseudoAnomalyClips):
    """The common bug: one Generator made in ``__init__``, copied into every worker."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rng = np.random.default_rng(self.seed)

    def rng_for(self, i: int) -> np.random.Generator:
        return self.rng


def fingerprint(params: dict) -> str:
    """Hash of the drawn parameters of a pseudo anomaly ('' for a normal clip)."""
    if params.get("transform") is None:
        return ""
    return hashlib.sha1(pickle.dumps(params)).hexdigest()[:16]


def worker_init_fn(worker_id: int) -> None:
    """Seed the global NumPy and ``random`` state of a worker from PyTorch's per-worker seed.

    Not needed by pseudoanom (it only reads the Generator it is given), but code that draws
    from ``np.random.*`` would otherwise repeat itself in every worker.
    """
    seed = torch.initial_seed() % 2**32  # base_seed + worker_id, set by the DataLoader
    np.random.seed(seed)  # noqa: NPY002  (the legacy global state is what it is for)
    random.seed(seed)


def loader(ds: Dataset, batch_size: int, workers: int, seed: int, shuffle: bool = True):
    g = torch.Generator().manual_seed(seed)  # the clip order
    return DataLoader(
        ds,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=workers,
        worker_init_fn=worker_init_fn if workers else None,
        generator=g,
        drop_last=shuffle,
    )


def draws(ds: Dataset, workers: int, n: int, seed: int) -> dict[int, tuple[str, int]]:
    """``{sample index: (fingerprint, worker)}`` for the first n samples, loaded in order."""
    sub = torch.utils.data.Subset(ds, range(n))
    out, i = {}, 0
    for _, _, _, worker, fps in loader(sub, 8, workers, seed, shuffle=False):
        for w, fp in zip(worker.tolist(), fps, strict=True):
            out[i] = (fp, w)
            i += 1
    return out


def duplicates(d: dict[int, tuple[str, int]]) -> int:
    """Pseudo anomalies whose drawn parameters repeat an earlier sample's."""
    fps = [fp for fp, _ in d.values() if fp]
    return len(fps) - len(set(fps))


class TinyAE(nn.Module if torch is not None else object):
    """Conv3D autoencoder, (B, 1, T, H, W) in [-1, 1] -> same (a miniature of Gong et al.)."""

    def __init__(self, width: int = 8) -> None:
        super().__init__()
        enc = [(1, width, (1, 2, 2)), (width, 2 * width, 2), (2 * width, 4 * width, 2)]
        layers: list[nn.Module] = []
        for c_in, c_out, stride in enc:
            layers += [nn.Conv3d(c_in, c_out, 3, stride=stride, padding=1)]
            layers += [nn.BatchNorm3d(c_out), nn.LeakyReLU(0.2)]
        for c_in, c_out, kernel, stride in [
            (4 * width, 2 * width, 4, 2),
            (2 * width, width, 4, 2),
            (width, 1, (3, 4, 4), (1, 2, 2)),
        ]:
            layers += [nn.ConvTranspose3d(c_in, c_out, kernel, stride=stride, padding=1)]
            layers += [nn.LeakyReLU(0.2)] if c_out > 1 else [nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


def load_videos(data: str | None, size: int, cache_dir: str) -> tuple[list[Video], Path]:
    if data is None:
        from trainer.synthetic import make_synthetic_dataset

        root = make_synthetic_dataset(Path(cache_dir) / "synthetic")
    else:
        root = Path(data)
    kw = {"size": (size, size), "channels": 1, "cache_dir": cache_dir}
    return load_split(root, "training", min_frames=T, **kw), root


def evaluate_auc(model: TinyAE, root: Path, size: int, cache_dir: str) -> str:
    try:
        from trainer.evaluation import evaluate
    except ImportError as e:  # scikit-learn is part of the trainer extra
        return f"AUC skipped ({e.name} not installed)"
    test = load_split(root, "testing", size=(size, size), cache_dir=cache_dir)
    model.eval()

    def predict(batch: np.ndarray) -> np.ndarray:  # (B, T, H, W, C) <-> (B, C, T, H, W)
        with torch.no_grad():
            out = model(torch.from_numpy(batch).permute(0, 4, 1, 2, 3))
        return out.permute(0, 2, 3, 4, 1).numpy()

    r = evaluate(test, predict, clip_len=T, batch_size=16)
    return f"micro_auc={r.micro_auc:.4f} macro_auc={r.macro_auc:.4f} scored_frames={r.n_scored}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=None, help="dataset root (default: synthetic dataset)")
    ap.add_argument("--size", type=int, default=64, help="frame side (multiple of 8)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--steps", type=int, default=60, help="batches per epoch")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--p", type=float, default=0.5, help="pseudo-anomaly probability")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--check-samples", type=int, default=64)
    ap.add_argument("--cache-dir", default=".cache/pseudoanom")
    ap.add_argument("--quick", action="store_true", help="32x32, 1 epoch of 10 steps")
    args = ap.parse_args(argv)
    if torch is None:
        print(
            "PyTorch not installed, skipping (CPU build: "
            "pip install torch --index-url https://download.pytorch.org/whl/cpu)"
        )
        return 0
    if args.quick:
        args.size, args.epochs, args.steps, args.check_samples = 32, 1, 10, 32
    torch.manual_seed(args.seed)
    t0 = time.perf_counter()

    videos, root = load_videos(args.data, args.size, args.cache_dir)
    pipe = pseudoanom.Pipeline(
        [pseudoanom.create("smoothmix_s", beta=args.size / 25.6), pseudoanom.create("skip_frame")],
        p=args.p,
    )
    frames = [v.frames for v in videos]
    ds = PseudoAnomalyClips(frames, pipe, args.seed)
    print(f"data {root}: {len(videos)} videos, {len(ds)} clips of {T} frames, {args.size}px")

    # Checks: the randomness is per sample, not per worker.
    n, w = args.check_samples, args.workers
    multi, single = draws(ds, w, n, args.seed), draws(ds, 0, n, args.seed)
    n_pseudo = sum(1 for fp, _ in multi.values() if fp)
    workers_seen = sorted({wk for _, wk in multi.values()})
    same = all(multi[i][0] == single[i][0] for i in range(n))
    naive = duplicates(draws(NaiveClips(frames, pipe, args.seed), w, n, args.seed))
    print(f"CHECK workers used: {workers_seen} for {n} samples")
    print(f"CHECK duplicated draws across {w} workers: {duplicates(multi)} of {n_pseudo} pseudo")
    print(f"CHECK same draws with 0 and {w} workers: {same}")
    print(f"CHECK naive dataset (one Generator copied into each worker): {naive} duplicated draws")
    ok = duplicates(multi) == 0 and same and (w < 2 or naive > 0)

    model = TinyAE()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(args.epochs):
        ds.set_epoch(epoch)
        model.train()
        sums = {0: [0.0, 0], 1: [0.0, 0]}
        batches = loader(ds, args.batch_size, w, args.seed + epoch)
        for step, (x, y, label, _, _) in enumerate(batches):
            if step == args.steps:
                break
            per_sample = ((model(x) - y) ** 2).mean(dim=(1, 2, 3, 4))  # MSE to the NORMAL clip
            opt.zero_grad()
            per_sample.mean().backward()
            opt.step()
            for lab, loss in zip(label.tolist(), per_sample.tolist(), strict=True):
                sums[lab][0] += loss
                sums[lab][1] += 1
        mean = {k: s / max(c, 1) for k, (s, c) in sums.items()}
        print(
            f"epoch {epoch + 1}/{args.epochs}: loss normal {mean[0]:.5f} ({sums[0][1]} clips), "
            f"pseudo {mean[1]:.5f} ({sums[1][1]} clips)",
            flush=True,
        )
    auc = evaluate_auc(model, root, args.size, args.cache_dir)
    print(f"RESULT {auc} seconds={time.perf_counter() - t0:.1f}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
