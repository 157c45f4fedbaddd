"""The alarm table of docs/own-videos.md, step 2: holdout calibration against separate video.

Runs the page's commands as written, on its stand-in camera (cut from the OpenCV sample
``vtest.avi``, as the page's Python block does), in a work folder:

1. ``train --preset cpu --data my_camera --set val_fraction=0.25`` (trains on both training
   videos less their last quarter, calibrates on those tails);
2. ``train --preset cpu --data my_camera --set val_fraction=0.5 --set val_holdout=videos``
   (trains on one video, calibrates on the other);
3. ``calibrate`` of the first model on ``held_out/evening.mp4`` (step 3 of the page);

then ``watch --fpr 0.05`` of ``new_videos/next_day.mp4`` and ``held_out/evening.mp4`` with each
model and calibration, and counts the alarms. ``--no-video`` skips the annotated MP4, which does
not change the scores. Writes ``alarms.json`` (the table, commands, versions) and, per run,
the training history and config, the calibration and the watch summaries into ``--results``.

    python benchmarks/own_videos_alarms.py                 # about 12 min on 2 CPU cores
    python benchmarks/own_videos_alarms.py --work /tmp/own --results results/own_videos
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FPR = 0.05
TRAIN = "python -m trainer train --preset cpu --data my_camera"
ROWS = {
    "tails": {
        "what": "trained on both videos less their tails, calibrated on the tails",
        "train": f"{TRAIN} --set val_fraction=0.25 --out runs/my_camera_validated",
        "model": "runs/my_camera_validated/model.keras",
        "calibration": "runs/my_camera_validated/calibration.json",
    },
    "videos": {
        "what": "trained on one training video, calibrated on the other",
        "train": f"{TRAIN} --set val_fraction=0.5 --set val_holdout=videos "
        "--out runs/my_camera_videos",
        "model": "runs/my_camera_videos/model.keras",
        "calibration": "runs/my_camera_videos/calibration.json",
    },
    "held_out": {
        "what": "the first row's model, recalibrated on held_out/evening.mp4 (step 3)",
        "calibrate": "python -m trainer calibrate runs/my_camera_validated/model.keras "
        "--normal held_out --out runs/my_camera_validated/calibration-held_out.json",
        "model": "runs/my_camera_validated/model.keras",
        "calibration": "runs/my_camera_validated/calibration-held_out.json",
    },
}
VIDEOS = ("new_videos/next_day.mp4", "held_out/evening.mp4")


def make_stand_in(work: Path, vtest: Path) -> None:
    """The page's stand-in camera: vtest.avi at 192 x 144, cut into four videos."""
    import cv2

    cap = cv2.VideoCapture(str(vtest))
    fps = cap.get(cv2.CAP_PROP_FPS) or 10.0
    frames = []
    ok, frame = cap.read()
    while ok:
        frames.append(cv2.resize(frame, (192, 144), interpolation=cv2.INTER_AREA))
        ok, frame = cap.read()
    if not frames:
        raise SystemExit(f"no frames read from {vtest}")
    parts = {
        "my_camera/training/morning.mp4": frames[0:200],
        "my_camera/training/noon.mp4": frames[200:400],
        "held_out/evening.mp4": frames[400:600],
        "new_videos/next_day.mp4": frames[600:],
    }
    for name, part in parts.items():
        path = work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (192, 144))
        for f in part:
            writer.write(f)
        writer.release()


def run(command: str, work: Path) -> float:
    """Run one documented command in ``work``; its wall time in seconds."""
    argv = shlex.split(command)
    argv[0] = sys.executable
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    print(f"$ {command}", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    subprocess.run(argv, cwd=work, env=env, check=True, stdout=subprocess.DEVNULL)
    return round(time.perf_counter() - t0, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=ROOT / "runs" / "own_videos")
    ap.add_argument("--results", type=Path, default=ROOT / "results" / "own_videos")
    ap.add_argument(
        "--vtest",
        type=Path,
        default=Path(os.environ.get("PSEUDOANOM_DATASETS", ROOT.parent / "shared" / "datasets"))
        / "videos"
        / "vtest.avi",
    )
    args = ap.parse_args()
    if args.work.exists() and any(args.work.iterdir()):
        raise SystemExit(f"--work {args.work} is not empty: give a new folder")
    args.work.mkdir(parents=True, exist_ok=True)
    args.results.mkdir(parents=True, exist_ok=True)
    make_stand_in(args.work, args.vtest)

    table = {}
    for row, spec in ROWS.items():
        seconds = run(spec["train"] if "train" in spec else spec["calibrate"], args.work)
        calibration = json.loads((args.work / spec["calibration"]).read_text())
        shutil.copy(args.work / spec["calibration"], args.results / f"{row}.calibration.json")
        cells = {}
        for video in VIDEOS:
            out = f"runs/watch-{row}-{Path(video).stem}"
            command = (
                f"python -m trainer watch {video} --model {spec['model']} --calibration "
                f"{spec['calibration']} --fpr {FPR} --no-video --out {out}"
            )
            run(command, args.work)
            summary = json.loads((args.work / out / "summary.json").read_text())
            target = args.results / f"{row}.watch-{Path(video).stem}.summary.json"
            shutil.copy(args.work / out / "summary.json", target)
            cells[video] = {"command": command, "summary": summary}
        run_dir = args.work / Path(spec["model"]).parent
        if "train" in spec:
            for name in ("history.json", "config.yaml"):
                if (run_dir / name).exists():
                    shutil.copy(run_dir / name, args.results / f"{row}.{name}")
        table[row] = {
            "what": spec["what"],
            "command": spec.get("train") or spec["calibrate"],
            "seconds": seconds,
            "calibration": spec["calibration"],
            "calibration_frames": calibration["n_frames"],
            "watch": cells,
        }
    report = {
        "what": "docs/own-videos.md step 2: alarms at --fpr 0.05 by calibration source",
        "fpr": FPR,
        "rows": table,
        "python": platform.python_version(),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
    }
    (args.results / "alarms.json").write_text(json.dumps(report, indent=1) + "\n")
    for row, r in table.items():
        cells = ", ".join(
            f"{Path(v).name}: {c['summary'].get('alarms')} of {c['summary'].get('frames_scored')}"
            for v, c in r["watch"].items()
        )
        print(f"{row}: calibration {r['calibration_frames']} frames; alarms {cells}")


if __name__ == "__main__":
    main()
