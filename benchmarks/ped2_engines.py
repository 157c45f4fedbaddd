"""Ped2 test split scored by every inference engine: PSNR differences and micro AUC.

    python benchmarks/ped2_engines.py --model runs/ped2-cpu-1ep/model.keras \
        --data ../shared/datasets/ped2 --out results/perf/ped2_engines.json

Exports the model to ONNX and OpenVINO beside it when it has no up-to-date export (as
``python -m trainer export`` does), then evaluates the test split with Keras (the reference),
ONNX Runtime, OpenVINO at float32 and OpenVINO at the CPU plugin's own default precision
(bfloat16 on CPUs with AVX512_BF16 or AMX), with :func:`trainer.evaluation.evaluate` and the
evaluate command's settings (batch 8, the paper's centred window). Prints and writes, per
engine: the largest absolute PSNR difference to Keras (dB), the micro AUC and frames/s.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from trainer import evaluation  # noqa: E402
from trainer.datasets import load_split  # noqa: E402
from trainer.engines.base import installed_engines  # noqa: E402
from trainer.inference import open_engine  # noqa: E402
from trainer.model_files import file_sha256  # noqa: E402
from trainer.writers import git_commit  # noqa: E402


def exported(model: Path, fmt: str) -> Path:
    """The up-to-date ``fmt`` export beside ``model``, made when missing."""
    from trainer.export import default_output, export_model
    from trainer.model_files import read_sidecar

    path = default_output(model, fmt)
    meta = read_sidecar(path) if path.is_file() else None
    if meta is not None and meta["source_model_sha256"] == file_sha256(model):
        return path
    return export_model(model, fmt)


def engines(model: Path) -> list[tuple[str, object]]:
    """``(label, engine)`` for every installed engine; Keras first."""
    out: list[tuple[str, object]] = [("keras", open_engine(model, "keras"))]
    if "onnxruntime" in installed_engines():
        out.append(("onnxruntime", open_engine(exported(model, "onnx"))))
    if "openvino" in installed_engines():
        xml = exported(model, "openvino")
        out.append(("openvino-f32", open_engine(xml, "openvino")))
        from trainer.engines.openvino_engine import OpenVinoEngine

        default = OpenVinoEngine(xml, precision=None)  # the plugin's own precision
        out.append((f"openvino-default-{default.precision}", default))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", required=True, help="a run's model.keras")
    p.add_argument("--data", required=True, help="the Ped2 dataset root")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--out", help="JSON results file")
    args = p.parse_args(argv)
    model = Path(args.model)
    runs = engines(model)
    t, h, w, c = runs[0][1].input_shape
    videos = load_split(args.data, "testing", size=(h, w), channels=c)
    rows, reference = [], None
    for label, engine in runs:
        result = evaluation.evaluate(
            videos, engine, clip_len=t, batch_size=args.batch_size, fixed_batch=engine.fixed_batch
        )
        psnr = np.concatenate([v.psnr for v in result.videos])
        reference = psnr if reference is None else reference
        row = {
            "engine": label,
            "info": engine.info(),
            "micro_auc": result.micro_auc,
            "macro_auc": result.macro_auc,
            "psnr_max_abs_diff_db": float(np.max(np.abs(psnr - reference))),
            "frames": int(psnr.size),
            "frames_per_second": result.frames_per_second,
        }
        rows.append(row)
        print(
            f"{label:24s} micro AUC {row['micro_auc']:.6f}  max |dPSNR| "
            f"{row['psnr_max_abs_diff_db']:.2e} dB  {row['frames_per_second']:.1f} frames/s",
            flush=True,
        )
    report = {
        "command": "python benchmarks/ped2_engines.py " + " ".join(argv or sys.argv[1:]),
        "model": str(model),
        "dataset": str(args.data),
        "split": "testing",
        "batch_size": args.batch_size,
        "cpu_threads": os.cpu_count(),
        "commit": git_commit(),
        "engines": rows,
    }
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=1, allow_nan=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
