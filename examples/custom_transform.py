"""Write and register a new pseudo anomaly, then train with it from a trainer config.

A transform is a class with two methods: ``sample_params`` draws everything random from the
Generator it is given, ``apply`` replays those parameters (pure, deterministic). Registering it
under a name with ``@pseudoanom.register`` makes it usable everywhere a built-in is: in
``pseudoanom.create``, in pipeline YAML files and in the trainer config's ``transforms`` list.

``frame_freeze`` below is a temporal pseudo anomaly: a few frames of the clip repeat the frame
before them (a stalled camera, or a person who stops dead), while the target is still the normal
clip.

Run::

    python examples/custom_transform.py --quick   # library demo + a seconds-long smoke training
    python examples/custom_transform.py           # same, with the config's own epochs/steps
    # the trainer's command line alone, from the repository root:
    python -m trainer train --config examples/custom_transform.yaml --out runs/frame_freeze

The training uses ``examples/custom_transform.yaml``, which names ``frame_freeze`` and lists
this module under ``imports:`` (``--import MODULE`` on the command line does the same): the
trainer imports it before building the transforms, so the registration runs in the training
process. A package can instead declare its transforms under the ``pseudoanom.transforms``
entry-point group, which the registry loads on the first unknown name::

    [project.entry-points."pseudoanom.transforms"]
    frame_freeze = "my_package.transforms:FrameFreeze"
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import pseudoanom

HERE = Path(__file__).resolve().parent


@pseudoanom.register("frame_freeze")
class FrameFreeze(pseudoanom.Transform):
    """Frames ``start .. start + frames - 1`` of the clip repeat frame ``start - 1``.

    Parameters
    ----------
    min_frames, max_frames : int
        Range of the number of frozen frames (drawn uniformly, capped at T - 1).
    value_range : tuple of float
        ``(lo, hi)`` of float32 clips (only needed to share a pipeline with other transforms).
    """

    def __init__(
        self,
        min_frames: int = 2,
        max_frames: int = 8,
        value_range: tuple[float, float] = (-1.0, 1.0),
    ) -> None:
        if not 1 <= min_frames <= max_frames:
            raise ValueError(f"need 1 <= min_frames <= max_frames, got {min_frames}, {max_frames}")
        self.min_frames = int(min_frames)  # attributes named like the arguments: to_dict()
        self.max_frames = int(max_frames)
        self.value_range = (float(value_range[0]), float(value_range[1]))

    def sample_params(self, shape: tuple[int, ...], rng: np.random.Generator) -> dict[str, Any]:
        t = shape[0]
        n = int(rng.integers(min(self.min_frames, t - 1), min(self.max_frames, t - 1) + 1))
        return {"start": int(rng.integers(1, t - n + 1)), "frames": n}

    def apply(self, clip: np.ndarray, start: int, frames: int) -> tuple[np.ndarray, np.ndarray]:
        out = clip.copy()
        out[start : start + frames] = clip[start - 1]
        mask = np.zeros(clip.shape[:3], np.float32)
        mask[start : start + frames] = 1.0
        return out, mask


def library_demo(seed: int) -> None:
    """The new name works like a built-in: create, call, replay, serialise, pipelines."""
    print(f"registered transforms: {', '.join(pseudoanom.available())}")
    t = pseudoanom.create("frame_freeze", min_frames=3, max_frames=5)
    video = np.random.default_rng(seed).integers(0, 256, (40, 32, 32, 1), dtype=np.uint8)
    res = t.from_video(video, start=10, length=16, rng=seed)
    s, n = res.params["start"], res.params["frames"]
    frozen = all(np.array_equal(res.clip[i], res.target[s - 1]) for i in range(s, s + n))
    replay, _ = t.apply(res.target, **res.params)
    same = np.array_equal(replay, res.clip)
    print(f"frame_freeze: froze frames {s}..{s + n - 1} (label {res.label}), ", end="")
    print(f"frozen={frozen}, replay identical={same}")
    pipe = pseudoanom.Pipeline([t, "skip_frame"], weights=[3, 1], p=0.5)
    again = pseudoanom.from_dict(pipe.to_dict())
    print(f"pipeline round trip through to_dict: {again!r}")


def _shown(arg: str) -> str:
    """An argument as the printed command shows it: paths relative to the repository root (the
    command's working directory), a temporary folder as ``$TMPDIR``."""
    for root, name in ((HERE.parent, ""), (Path(tempfile.gettempdir()).resolve(), "$TMPDIR/")):
        try:
            return name + Path(arg).relative_to(root).as_posix()
        except ValueError:
            continue
    return arg


def smoke_train(config_path: Path, quick: bool, out: Path, data: str | None) -> dict[str, Any]:
    """Train with ``python -m trainer train --config <yaml>``; returns the run's summary.

    The YAML's ``imports: [examples.custom_transform]`` makes the trainer import this module
    (from the repository root) before it builds the transforms, so ``frame_freeze`` resolves.
    """
    cmd = [sys.executable, "-m", "trainer", "train", "--config", str(config_path)]
    cmd += ["--out", str(out), "--overwrite", "--quiet"]
    if quick:
        cmd += ["--epochs", "1", "--set", "steps_per_epoch=2"]
    if data is not None:
        cmd += ["--data", data]
    print("$ python", " ".join(_shown(c) for c in cmd[1:]))
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=HERE.parent, check=True)
    seconds = time.perf_counter() - t0
    summary_file = out / "evaluation" / "summary.json"
    summary = json.loads(summary_file.read_text()) if summary_file.is_file() else {}
    return {"run_dir": out, "seconds": seconds, **summary}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", type=Path, default=HERE / "custom_transform.yaml")
    ap.add_argument("--data", default=None, help="dataset root (default: the config's)")
    ap.add_argument("--out", type=Path, default=None, help="run directory (default: a temp dir)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-train", action="store_true", help="only the library part")
    ap.add_argument("--quick", action="store_true", help="1 epoch of 2 steps")
    args = ap.parse_args(argv)

    library_demo(args.seed)
    if args.no_train:
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        out = (args.out or Path(tmp) / "run").resolve()
        r = smoke_train(args.config.resolve(), args.quick, out, args.data)
        auc = "None" if r.get("micro_auc") is None else f"{r['micro_auc']:.4f}"
        print(
            f"RESULT trained with frame_freeze: micro_auc={auc} "
            f"scored_frames={r.get('n_scored_frames')} seconds={r['seconds']:.1f} "
            f"run_dir={r['run_dir'] if args.out else '(temporary)'}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
