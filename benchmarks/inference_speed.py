"""Frames/s of `evaluate` and `watch` through each inference engine, side by side.

    python benchmarks/inference_speed.py --data ../shared/datasets/ped2 \
        --video ../shared/datasets/videos/vtest.avi \
        --cpu-model runs/ped2-cpu-1ep/model.keras --out results/perf/inference_speed.json

Two models: the ``cpu`` preset's (``--cpu-model``, else a random-init one) and the ``paper``
preset's (16 x 256 x 256, full width; random init: speed does not depend on the weights). Each
is exported to ONNX and OpenVINO in a temporary folder and run by every installed engine
(OpenVINO at float32):

* **evaluate**: :func:`trainer.evaluation.evaluate` on the Ped2 test split (batch 8, the
  evaluate command's), frames scored per second; the decoding and resizing of the split
  (:func:`trainer.datasets.load_split`, once per input size) is timed on its own. The paper model
  scores the first ``--paper-frames`` frames of the first test video (Keras needs about a
  second per frame there).
* **watch**: :func:`trainer.stream.watch` on ``--video`` frame by frame as the watch command
  runs it (batch 4, no annotated video), up to ``--watch-frames`` frames; the time goes to
  decoding (``VideoCapture.read``), the model (the engine's ``predict``) and the rest
  (colour conversion and resize, measured alone as ``resize``, window stacking, PSNR and error
  maps).

Prints a table and writes the JSON (``--out``) with the speed-up of each engine over Keras in
the same run and the issue's targets (ONNX Runtime >= 2x Keras; watch >= 100 frames/s with the
cpu model and >= 4 frames/s with the paper model).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from trainer import evaluation  # noqa: E402
from trainer.data import Video, to_model_range  # noqa: E402
from trainer.datasets import load_split  # noqa: E402
from trainer.engines import installed_engines  # noqa: E402
from trainer.inference import open_engine  # noqa: E402
from trainer.stream import prepare_frame, watch  # noqa: E402
from trainer.writers import git_commit  # noqa: E402

PRESETS = {"cpu": ((16, 64, 64, 1), 0.25), "paper": ((16, 256, 256, 1), 1.0)}
TARGETS = {"onnx_speedup": 2.0, "watch_cpu_fps": 100.0, "watch_paper_fps": 4.0}


class Timed:
    """An engine whose ``predict`` time is summed in ``seconds``."""

    def __init__(self, engine) -> None:
        self.engine, self.seconds = engine, 0.0
        self.fixed_batch = engine.fixed_batch

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        out = self.engine(batch)
        self.seconds += time.perf_counter() - t0
        return out


class TimedCapture:
    """``cv2.VideoCapture`` whose ``read`` time is summed in ``seconds``."""

    def __init__(self, path: str) -> None:
        self.cap, self.seconds = cv2.VideoCapture(path), 0.0

    def read(self):
        t0 = time.perf_counter()
        ok, frame = self.cap.read()
        self.seconds += time.perf_counter() - t0
        return ok, frame

    def get(self, prop: int) -> float:
        return self.cap.get(prop)

    def release(self) -> None:
        self.cap.release()


def models(cpu_model: str | None, folder: Path) -> dict[str, tuple[Path, bool]]:
    """``{preset: (model.keras, random_init)}``."""
    import keras

    from trainer.checkpoint import save_model_atomic
    from trainer.model import build_autoencoder, to_plain_keras

    out = {}
    for name, (shape, width) in PRESETS.items():
        if name == "cpu" and cpu_model:
            out[name] = (Path(cpu_model), False)
            continue
        keras.utils.set_random_seed(0)
        path = folder / name / "model.keras"
        path.parent.mkdir(parents=True)
        save_model_atomic(to_plain_keras(build_autoencoder(shape, width=width)), path)
        out[name] = (path, True)
    return out


def engines_for(model: Path, folder: Path) -> dict[str, object]:
    """Every installed engine on ``model`` (exports made in ``folder``)."""
    from trainer.export import export_model

    found = {"keras": open_engine(model, "keras")}
    if "onnxruntime" in installed_engines():
        onnx = export_model(model, "onnx", folder / "model.onnx")
        found["onnxruntime"] = open_engine(onnx, "onnxruntime")
    if "openvino" in installed_engines():
        xml = export_model(model, "openvino", folder / "model.xml")
        found["openvino"] = open_engine(xml, "openvino")
    return found


def warm_up(engine, batch: int) -> None:
    x = np.zeros((batch, *engine.input_shape), np.float32)
    engine(x)
    engine(x)


def bench_evaluate(engine, videos: list[Video]) -> dict:
    timed = Timed(engine)
    warm_up(engine, 8)
    t0 = time.perf_counter()
    result = evaluation.evaluate(
        videos,
        timed,
        clip_len=engine.input_shape[0],
        batch_size=8,
        fixed_batch=engine.fixed_batch,
        require_labels=False,
    )
    seconds = time.perf_counter() - t0
    return {
        "frames": result.n_scored,
        "seconds": seconds,
        "frames_per_second": result.n_scored / seconds,
        "model_s": timed.seconds,
        "other_s": seconds - timed.seconds,
    }


def bench_watch(engine, video: str, max_frames: int) -> dict:
    timed, capture = Timed(engine), TimedCapture(video)
    warm_up(engine, 4)
    try:
        res = watch(
            capture,
            timed,
            engine.input_shape,
            out=None,
            video=False,
            batch=4,
            max_frames=max_frames,
            fixed_batch=engine.fixed_batch,
        )
    finally:
        capture.release()
    return {
        "frames": res.frames_scored,
        "seconds": res.seconds,
        "frames_per_second": res.frames_per_second,
        "decode_s": capture.seconds,
        "model_s": timed.seconds,
        "other_s": res.seconds - capture.seconds - timed.seconds,
    }


def resize_seconds(video: str, shape: tuple[int, ...], n: int) -> float:
    """Seconds per frame of the watch command's conversion (colour, INTER_AREA, range)."""
    cap = cv2.VideoCapture(video)
    frames = [f for ok, f in iter(cap.read, (False, None)) if ok][:n] if n else []
    cap.release()
    t0 = time.perf_counter()
    for f in frames:
        to_model_range(prepare_frame(f, shape[1:3], shape[3]))
    return (time.perf_counter() - t0) / max(len(frames), 1)


def first_frames(videos: list[Video], n: int) -> list[Video]:
    v = videos[0]
    labels = None if v.labels is None else v.labels[:n]
    return [Video(v.name, np.ascontiguousarray(v.frames[:n]), labels, None, v.path)]


def run_model(name, model, random_init, args, folder) -> list[dict]:
    engines = engines_for(model, folder)
    shape = next(iter(engines.values())).input_shape
    t0 = time.perf_counter()
    videos = load_split(args.data, "testing", size=shape[1:3], channels=shape[3])
    load_s = time.perf_counter() - t0
    n_frames = sum(len(v) for v in videos)
    if name == "paper":
        videos = first_frames(videos, args.paper_frames)
    watch_frames = args.watch_frames if name == "cpu" else args.paper_watch_frames
    resize = resize_seconds(args.video, shape, min(watch_frames, 100))
    rows = []
    for label, engine in engines.items():
        for task in ("evaluate", "watch"):
            row = (
                bench_evaluate(engine, videos)
                if task == "evaluate"
                else bench_watch(engine, args.video, watch_frames)
            )
            row.update(model=name, random_init=random_init, task=task, engine=label)
            if task == "evaluate":
                row["split_decode_resize_s_per_frame"] = load_s / n_frames
            else:
                row["resize_s"] = resize * row["frames"]
            row["info"] = engine.info()
            rows.append(row)
            print(
                f"{name:5s} {task:8s} {label:11s} {row['frames_per_second']:8.1f} frames/s "
                f"({row['frames']} frames, model {row['model_s']:.1f} s of {row['seconds']:.1f})",
                flush=True,
            )
    return rows


def speedups(rows: list[dict]) -> None:
    keras_fps = {(r["model"], r["task"]): r["frames_per_second"] for r in rows
                 if r["engine"] == "keras"}  # fmt: skip
    for r in rows:
        r["speedup_vs_keras"] = r["frames_per_second"] / keras_fps[(r["model"], r["task"])]


def targets(rows: list[dict]) -> dict:
    by = {(r["model"], r["task"], r["engine"]): r for r in rows}
    fast = [r for r in rows if r["engine"] != "keras"]
    best = {m: max((r["frames_per_second"] for r in fast if r["model"] == m and
                    r["task"] == "watch"), default=None) for m in PRESETS}  # fmt: skip
    onnx = [r["speedup_vs_keras"] for r in rows if r["engine"] == "onnxruntime"]
    return {
        "onnx_speedup_min": min(onnx) if onnx else None,
        "onnx_speedup_target": TARGETS["onnx_speedup"],
        "watch_cpu_best_fps": best["cpu"],
        "watch_cpu_target": TARGETS["watch_cpu_fps"],
        "watch_paper_best_fps": best["paper"],
        "watch_paper_target": TARGETS["watch_paper_fps"],
        "watch_keras_fps": {m: by[(m, "watch", "keras")]["frames_per_second"] for m in PRESETS},
    }


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", required=True, help="Ped2 dataset root")
    p.add_argument("--video", required=True, help="video file watch reads")
    p.add_argument("--cpu-model", help="a cpu-preset model.keras (default: random init)")
    p.add_argument("--watch-frames", type=int, default=400, help="frames watched, cpu model")
    p.add_argument("--paper-frames", type=int, default=40, help="Ped2 frames, paper model")
    p.add_argument("--paper-watch-frames", type=int, default=40, help="frames watched, paper")
    p.add_argument("--out", help="JSON results file")
    args = p.parse_args(argv)
    rows, load_at_start = [], os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    with tempfile.TemporaryDirectory(prefix="inference-speed-") as tmp:
        for name, (model, random_init) in models(args.cpu_model, Path(tmp)).items():
            folder = Path(tmp) / f"{name}-exports"
            folder.mkdir()
            rows += run_model(name, model, random_init, args, folder)
    speedups(rows)
    report = {
        "command": "python benchmarks/inference_speed.py " + " ".join(argv or sys.argv[1:]),
        "cpu": cpu_name(),
        "cpu_threads": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_average_1min_at_start": load_at_start,
        "load_average_1min_at_end": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "commit": git_commit(),
        "targets": targets(rows),
        "rows": rows,
    }
    print(json.dumps(report["targets"], indent=1))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=1, allow_nan=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
