"""Paper-scale Table 1 on one GPU in one device window: baseline, patch and skip frame on Ped2.

The three rows of the paper's Table 1 (``configs/paper_ped2_{baseline,patch,skip}.yaml``: the
``paper`` preset, 16x256x256 grayscale clips, width 1, batch 4, Adam 1e-4, 60 epochs) are trained
side by side, one ``python -m trainer train`` process per model under the Keras torch backend,
within a wall-clock budget (``--budget-s``, default 540 s: one 10-minute device call). Each model
trains ``--eval-every K`` epochs at a time: the trainer checkpoints every epoch, evaluates its
saved model on the test split when the chunk ends, and ``--resume`` continues it, so the micro
AUC after K, 2K, ... epochs lands in the report as soon as it is known. A later call with the
same ``--runs`` folder continues every model from its last complete epoch (the checkpoints stay
in ``--runs``; they are too large to travel back, see docs/gpu.md).

Subcommands::

    pack    decode Ped2 once at the training size and write the compact copy to carry
            (grayscale JPEG frames, labels, pixel masks, the intruder images)
    wheels  download the Python packages the GPU machine lacks (keras, namex, optree)
    run     train the three models in the budget and write the report

    python benchmarks/paper_table_gpu.py pack --src ../shared/datasets/ped2 --dst .cache/ped2_256
    python benchmarks/paper_table_gpu.py wheels --dst .whl
    python benchmarks/paper_table_gpu.py run --data .cache/ped2_256 --report "$OUT"
    python benchmarks/paper_table_gpu.py run --tiny --report /tmp/tiny   # CPU, seconds per step

What ``run`` writes to ``--report`` (at most 8 files, so it fits what a device call returns):
``paper_table.json`` (plan, settings, every evaluated checkpoint, the timing estimate),
``paper_table.csv`` (model, epoch, micro AUC, seconds, ...), one ``<model>.log`` per model (the
trainer's output, one line per epoch) and ``gpu.csv`` (``nvidia-smi`` every 5 s, when there is
one). Both report files are rewritten after every evaluation, so whatever ran before the budget
ended comes back. ``<runs>/paper_table.json`` keeps the rows of earlier calls, which the next
call's report includes.

Speed settings that leave the method alone: ``mixed_precision`` (on when torch sees a GPU;
``--mixed-precision off`` for float32), ``torch.backends.cudnn.benchmark`` (set before the
trainer starts, ``--cudnn-benchmark off`` to leave it), a larger ``eval_batch_size`` (32),
``num_parallel_calls`` = CPU cores / models, and one decoded-frame cache shared by the three
processes. ``--tiny`` runs the same orchestration on the CPU at 32x32, width 0.125, 2 steps per
epoch on a small synthetic dataset (tests/test_paper_table_gpu.py).
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import io
import json
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `python benchmarks/paper_table_gpu.py` from anywhere
    sys.path.insert(0, str(REPO))

MODELS: dict[str, str] = {
    "baseline": "configs/paper_ped2_baseline.yaml",
    "patch": "configs/paper_ped2_patch.yaml",
    "skip": "configs/paper_ped2_skip.yaml",
}
REPORT_JSON = "paper_table.json"
REPORT_CSV = "paper_table.csv"
CSV_FIELDS = (
    "model", "epoch", "micro_auc", "seconds", "macro_auc", "unnormalised_auc", "train_s",
    "chunk_epochs", "chunk_wall_s", "epoch_s", "step_ms", "steps_per_epoch", "overhead_s",
    "eval_s", "status", "call",
)  # fmt: skip
# --tiny: the whole orchestration on a CPU in seconds (a wiring check, not a model).
TINY_SETS = ("size=32,32", "width=0.125", "steps_per_epoch=2")
TINY_SYNTHETIC = {"n_train": 2, "n_test": 2, "frames": 40, "size": (32, 32)}
# Packages the GPU machine's Python lacks (it has torch, numpy, opencv, scikit-learn, ...).
WHEELS = ("keras", "namex", "optree")
INTRUDERS = "../shared/datasets/intruders/cifar100"

# The trainer's CLI, with torch.backends.cudnn.benchmark set first when asked (the trainer has
# no key for it), and, when asked, TensorFlow made unimportable as on the GPU machine (Keras
# imports it to serialise a model whenever it is installed: seconds per process on a CPU).
# Run as `python -c LAUNCHER <trainer arguments>` from the repository root.
LAUNCHER = """\
import os, runpy, sys
if os.environ.get("PAPER_GPU_HIDE_TENSORFLOW") == "1":
    sys.modules["tensorflow"] = None
if os.environ.get("PAPER_GPU_CUDNN_BENCHMARK") == "1":
    import torch
    torch.backends.cudnn.benchmark = True
sys.argv[0] = "trainer"
runpy.run_module("trainer", run_name="__main__", alter_sys=True)
"""

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _say(*parts: Any) -> None:
    print(*parts, flush=True)


def _repo_path(path: str | os.PathLike) -> str:
    """``path`` relative to the repository root when inside it (the trainer runs there, and a
    run's ``data`` must read the same in every later call), else absolute."""
    p = Path(path).expanduser().resolve()
    try:
        return str(p.relative_to(REPO))
    except ValueError:
        return str(p)


def _abs(path: str) -> Path:
    return Path(path) if os.path.isabs(path) else REPO / path


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def _mib(n: float) -> float:
    return round(n / 2**20, 2)


def _dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


# ---------------------------------------------------------------------- pack


def cmd_pack(args: argparse.Namespace) -> int:
    """Decode ``--src`` at ``--size`` and write the compact frames-folder copy ``--dst``."""
    import cv2
    import numpy as np

    from trainer.data import load_split

    src, dst = Path(args.src), Path(args.dst)
    size = tuple(int(v) for v in args.size.split(","))
    if dst.exists() and not args.overwrite:
        raise SystemExit(f"{dst} exists; pass --overwrite to replace it")
    tmp = dst.with_name(f"{dst.name}.tmp-pack")
    shutil.rmtree(tmp, ignore_errors=True)
    jpeg = [cv2.IMWRITE_JPEG_QUALITY, args.quality, cv2.IMWRITE_JPEG_OPTIMIZE, 1]
    info: dict[str, Any] = {
        "source": str(src), "size": list(size), "channels": 1, "format": "jpeg",
        "quality": args.quality, "splits": {},
    }  # fmt: skip
    t0 = time.perf_counter()
    for split in ("training", "testing"):
        videos = load_split(src, split, size=size, channels=1, cache_dir=args.cache_dir)
        frames = sq_err = mask_bytes = 0
        labels = []
        for v in videos:
            folder = tmp / split / "frames" / v.name
            folder.mkdir(parents=True)
            for i, frame in enumerate(v.frames):
                ok, buf = cv2.imencode(".jpg", frame[..., 0], jpeg)
                assert ok
                buf.tofile(folder / f"{i:05d}.jpg")
                back = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE).astype(np.float64)
                sq_err += float(np.mean((back - frame[..., 0]) ** 2))
            frames += len(v)
            if v.masks is not None and not args.no_masks:
                mfolder = tmp / split / "pixel_masks" / v.name
                mfolder.mkdir(parents=True)
                for i, m in enumerate(v.masks):
                    ok, buf = cv2.imencode(".png", m.astype(np.uint8) * 255)
                    buf.tofile(mfolder / f"{i:05d}.png")
                    mask_bytes += buf.size
            labels.append(v.labels)
        if split == "testing" and labels and all(lab is not None for lab in labels):
            np.save(tmp / f"frame_labels_{dst.name}.npy", np.concatenate(labels)[None])
        mse = sq_err / max(frames, 1)
        info["splits"][split] = {
            "videos": len(videos),
            "frames": frames,
            "frames_mib": _mib(_dir_bytes(tmp / split / "frames")),
            "masks_mib": _mib(mask_bytes),
            "raw_uint8_mib": _mib(frames * size[0] * size[1]),
            "psnr_db_vs_decoded_source": round(10 * math.log10(255**2 / mse), 2) if mse else None,
        }
    intruders = Path(args.intruders) if args.intruders else None
    if intruders is not None and intruders.is_dir():
        shutil.copytree(intruders, tmp / "intruders")
        info["intruders"] = {"source": str(intruders), "mib": _mib(_dir_bytes(tmp / "intruders"))}
    elif intruders is not None:
        _say(f"note: no intruder folder {intruders}; the pack holds none")
    info["total_mib"] = _mib(_dir_bytes(tmp))
    info["seconds"] = round(time.perf_counter() - t0, 1)
    (tmp / "pack.json").write_text(json.dumps(info, indent=2) + "\n")
    if dst.exists():
        shutil.rmtree(dst)
    os.replace(tmp, dst)
    for split, s in info["splits"].items():
        _say(
            f"{split}: {s['videos']} videos, {s['frames']} frames -> {s['frames_mib']} MiB JPEG "
            f"q{args.quality} (raw uint8 {s['raw_uint8_mib']} MiB), masks {s['masks_mib']} MiB, "
            f"PSNR {s['psnr_db_vs_decoded_source']} dB against the decoded source"
        )
    _say(f"{dst}: {info['total_mib']} MiB in all ({info['seconds']} s); carry it: {dst}")
    return 0


# ---------------------------------------------------------------------- wheels


def cmd_wheels(args: argparse.Namespace) -> int:
    """``pip download`` the installed versions of :data:`WHEELS` for the GPU machine's Python."""
    from importlib.metadata import version

    specs = [f"{name}=={version(name)}" for name in WHEELS]
    platforms = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
                 "manylinux2014_x86_64", "manylinux1_x86_64"]  # fmt: skip
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--python-version", args.python_version, "--implementation", "cp",
           "-d", args.dst]  # fmt: skip
    for p in platforms:
        cmd += ["--platform", p]
    _say(" ".join(cmd + specs))
    rc = subprocess.call(cmd + specs)
    if rc == 0:
        files = sorted(Path(args.dst).glob("*.whl"))
        _say(f"{args.dst}: {len(files)} wheels, {_mib(sum(f.stat().st_size for f in files))} MiB")
    return rc


def _install_wheels(folder: Path, target: Path) -> str:
    """Install the wheels of ``folder`` into ``target`` (for PYTHONPATH); returns ``target``."""
    wheels = sorted(str(p) for p in folder.glob("*.whl"))
    if not wheels:
        raise SystemExit(f"keras is not installed and {folder} holds no wheels (see `wheels`)")
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
           "--no-cache-dir", "--upgrade", "--target", str(target), *wheels]  # fmt: skip
    subprocess.check_call(cmd)
    return str(target)


# ---------------------------------------------------------------------- run


class Orchestra:
    """The shared state of one ``run``: budget, report rows, and the reports on disk."""

    def __init__(self, args: argparse.Namespace, plan: dict[str, Any], t0: float) -> None:
        self.args = args
        self.plan = plan
        self.t0 = t0  # the budget counts from here (the wheel install and the plan included)
        self.deadline = self.t0 + args.budget_s - args.margin_s
        self.lock = threading.Lock()
        self.slots = threading.Semaphore(plan["jobs"])
        self.report = Path(args.report)
        self.runs = _abs(args.runs)
        self.call = time.strftime("%Y%m%dT%H%M%S")
        self.rows: list[dict[str, Any]] = self._earlier_rows()
        self.models: dict[str, ModelRun] = {}
        self.estimated = False

    def _earlier_rows(self) -> list[dict[str, Any]]:
        kept = self.runs / REPORT_JSON
        if not kept.is_file():
            return []
        try:
            return list(json.loads(kept.read_text()).get("rows", []))
        except (OSError, ValueError):
            return []

    def now(self) -> float:
        return time.monotonic() - self.t0

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def add_row(self, row: dict[str, Any]) -> None:
        with self.lock:
            self.rows.append(row)
            self.write()
            measured = all(m.epoch_estimate() is not None for m in self.models.values())
            if measured and not self.estimated:  # once: as soon as every model has a rate
                self.estimated = True
                _say(f"[{self.now():6.1f} s] estimate from the first chunks:")
                for line in self.estimate_lines():
                    _say(line)

    def estimate(self) -> dict[str, Any]:
        """Measured epoch time and overhead per model, and what fits in the budget."""
        k = self.args.eval_every
        per: dict[str, Any] = {}
        for name, m in self.models.items():
            e, o = m.epoch_estimate(), m.overhead_estimate()
            if e is None:
                per[name] = {"epochs_done": m.done, "epochs": m.epochs}
                continue
            remaining = max(0, m.epochs - m.done)

            def need(n: int, e: float = e, o: float = o) -> float:
                return n * e + math.ceil(n / k) * o

            def fits(seconds: float, need=need, cap: int = 10**6) -> int:
                n = 0
                while n < cap and need(n + 1) <= seconds:
                    n += 1
                return n

            per[name] = {
                "epochs_done": m.done,
                "epochs": m.epochs,
                "epoch_s": round(e, 2),
                "step_ms": round(1000 * e / m.steps, 2) if m.steps else None,
                "steps_per_epoch": m.steps,
                "overhead_s_per_chunk": round(o, 1),
                "epochs_per_budget": fits(self.args.budget_s - self.args.margin_s, cap=m.epochs),
                "remaining_epochs": remaining,
                "seconds_for_remaining": round(need(remaining)),
            }
        known = [v for v in per.values() if "epoch_s" in v]
        out: dict[str, Any] = {"models": per, "eval_every": k, "budget_s": self.args.budget_s}
        if known and len(known) == len(per):
            total = max(v["seconds_for_remaining"] for v in known)
            out["seconds_for_all_remaining"] = total
            out["budget_calls_for_all_remaining"] = math.ceil(
                total / max(1, self.args.budget_s - self.args.margin_s)
            )
            out["note"] = (
                "epoch times measured with the models training side by side; each model's "
                "remaining epochs at its rate plus one chunk overhead (start, load, save, "
                "evaluation) per --eval-every epochs"
            )
        return out

    def estimate_lines(self) -> list[str]:
        est = self.estimate()
        lines = []
        for name, v in est["models"].items():
            if "epoch_s" not in v:
                lines.append(f"  {name}: no epoch measured yet ({v['epochs_done']} done)")
                continue
            lines.append(
                f"  {name}: {v['epoch_s']:.2f} s/epoch ({v['step_ms']} ms/step x "
                f"{v['steps_per_epoch']} steps), {v['overhead_s_per_chunk']:.0f} s overhead per "
                f"chunk of {est['eval_every']} epochs -> {v['epochs_per_budget']} epochs per "
                f"{self.args.budget_s:g}-s budget; {v['epochs_done']}/{v['epochs']} done, the "
                f"rest needs ~{v['seconds_for_remaining']} s"
            )
        if "seconds_for_all_remaining" in est:
            lines.append(
                f"  all three to {max(m.epochs for m in self.models.values())} epochs: "
                f"~{est['seconds_for_all_remaining']} s more, side by side "
                f"(~{est['budget_calls_for_all_remaining']} calls of {self.args.budget_s:g} s)"
            )
        return lines

    def write(self) -> None:
        """Rewrite the JSON and CSV reports (and the copy in --runs); call under the lock."""
        self.report.mkdir(parents=True, exist_ok=True)
        doc = {
            "call": self.call,
            "elapsed_s": round(self.now(), 1),
            "plan": self.plan,
            "models": {n: m.status_dict() for n, m in self.models.items()},
            "estimate": self.estimate(),
            "rows": self.rows,
        }
        text = json.dumps(doc, indent=2) + "\n"
        _atomic_write(self.report / REPORT_JSON, text)
        self.runs.mkdir(parents=True, exist_ok=True)
        _atomic_write(self.runs / REPORT_JSON, text)
        buf = io.StringIO()
        w = csv.DictWriter(buf, CSV_FIELDS, extrasaction="ignore")
        w.writeheader()
        w.writerows(self.rows)
        _atomic_write(self.report / REPORT_CSV, buf.getvalue())


class ModelRun:
    """One model's chunks: train K epochs (resuming), evaluate, record, repeat."""

    def __init__(self, orch: Orchestra, name: str, config: str, epochs: int, trainer_args: list):
        self.o = orch
        self.name = name
        self.config = config
        self.epochs = epochs
        self.trainer_args = trainer_args  # everything but --epochs / --resume / time_limit_s
        self.out = orch.runs / name
        self.log = orch.report / f"{name}.log"
        self.status = "waiting"
        self.steps: int | None = None
        self.device: str | None = None
        self.epoch_times: list[float] = []  # this call's epochs, warm-up epochs left out
        self.overheads: list[float] = []
        self.proc: subprocess.Popen | None = None
        self.done = self._epochs_done()

    # -------------------------------------------------------------- state on disk

    def _state(self) -> dict[str, Any] | None:
        path = self.out / "checkpoint" / "state.json"
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None

    def _epochs_done(self) -> int:
        state = self._state()
        return int(state["epoch"]) if state else 0

    def _epoch_seconds(self) -> list[float]:
        state = self._state()
        return list(state["history"].get("epoch_seconds", [])) if state else []

    # -------------------------------------------------------------- estimates

    def epoch_estimate(self) -> float | None:
        if self.epoch_times:
            return statistics.median(self.epoch_times)
        earlier = self._epoch_seconds()
        return statistics.median(earlier[-5:]) if earlier else None

    def overhead_estimate(self) -> float:
        return max(self.overheads) if self.overheads else self.o.args.overhead_s

    def status_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "epochs_done": self.done,
            "epochs": self.epochs,
            "steps_per_epoch": self.steps,
            "device": self.device,
            "run_dir": _repo_path(self.out),
        }

    # -------------------------------------------------------------- one chunk

    def next_target(self) -> int:
        """The epoch the next chunk trains to: the next multiple of K (or the last epoch)."""
        return min(self.epochs, (self.done // self.o.args.eval_every + 1) * self.o.args.eval_every)

    def command(self, target: int, time_limit: float) -> list[str]:
        resume = (self.out / "config.yaml").is_file()
        cmd = [sys.executable, "-c", LAUNCHER, "train", "--config", self.config]
        cmd += [*self.trainer_args, "--epochs", str(target)]
        cmd += ["--set", f"time_limit_s={max(1, int(time_limit))}"]
        return cmd + (["--resume"] if resume else [])

    def _pump(self, proc: subprocess.Popen, fh) -> None:
        """Copy the trainer's output to the log: one line per progress bar (its last state)."""
        assert proc.stdout is not None
        for raw in proc.stdout:
            text = raw.decode("utf-8", "replace").rstrip("\n")
            line = _ANSI.sub("", text.split("\r")[-1]).replace("\b", "").rstrip()
            if not line:
                continue
            fh.write(f"[{self.o.now():7.1f} s] {line}\n")
            fh.flush()
            if self.steps is None and (m := re.search(r"(\d+) steps/epoch", line)):
                self.steps = int(m.group(1))
            if self.device is None and line.startswith("keras backend"):
                self.device = line

    def launch(self, cmd: list[str], timeout: float) -> tuple[int | None, bool]:
        """Run one trainer process; kill its process group at ``timeout``. (rc, killed)."""
        env = {**os.environ, **self.o.plan["env"]}
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "a") as fh:
            fh.write(f"[{self.o.now():7.1f} s] $ {shell_line(cmd, self.o.plan['env'])}\n")
            fh.flush()
            proc = subprocess.Popen(
                cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
            self.proc = proc
            pump = threading.Thread(target=self._pump, args=(proc, fh), daemon=True)
            pump.start()
            killed = False
            try:
                rc = proc.wait(timeout=max(1.0, timeout))
            except subprocess.TimeoutExpired:
                killed = True
                fh.write(f"[{self.o.now():7.1f} s] budget over: stopping the trainer\n")
                for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 15)):
                    try:
                        os.killpg(proc.pid, sig)  # the trainer's own process group only
                    except ProcessLookupError:
                        break
                    try:
                        proc.wait(timeout=wait)
                        break
                    except subprocess.TimeoutExpired:
                        continue
                rc = proc.poll()
            pump.join(timeout=10)
            self.proc = None
        return rc, killed

    def stop(self) -> None:
        """Stop the trainer process group if one is running (the orchestrator is exiting)."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def run(self) -> None:
        try:
            self._run()
        except Exception as e:  # noqa: BLE001  (keep the other models and the report going)
            self.status = f"failed: {type(e).__name__}: {e}"
            _say(f"[{self.o.now():6.1f} s] {self.name}: {self.status}")

    def _run(self) -> None:
        args = self.o.args
        while True:
            self.done = self._epochs_done()
            if self.done >= self.epochs:
                self.status = "done"
                return
            with self.o.slots:
                left = self.o.left()
                overhead, epoch = self.overhead_estimate(), self.epoch_estimate()
                if left < overhead + (epoch if epoch is not None else args.min_first_s):
                    self.status = f"stopped: {left:.0f} s left < one epoch + overhead"
                    return
                target = self.next_target()
                before = self._epoch_seconds()
                self.status = f"training to epoch {target}"
                started = time.monotonic()
                rc, killed = self.launch(self.command(target, left - overhead), left)
                wall = time.monotonic() - started
            if not self._record(target, before, started, wall, rc, killed):
                return

    def _record(
        self, target: int, before: list[float], started: float, wall: float, rc, killed: bool
    ) -> bool:
        """Add the chunk's row; whether to go on with another chunk."""
        done_before = self.done
        self.done = self._epochs_done()
        new = self._epoch_seconds()[len(before) :] if self.done > done_before else []
        steady = new[1:] if len(new) > 1 else new  # the first epoch of a process warms up
        if killed:
            steady = new  # the interrupted chunk: keep what it measured
        self.epoch_times.extend(steady)
        summary_path = self.out / "evaluation" / "summary.json"
        summary: dict[str, Any] = {}
        if summary_path.is_file() and summary_path.stat().st_mtime >= time.time() - wall - 1:
            try:
                summary = json.loads(summary_path.read_text())
            except ValueError:
                summary = {}
        if not killed and rc == 0:
            self.overheads.append(max(0.0, wall - sum(new)))
        status = "ok" if rc == 0 and not killed else ("killed" if killed else f"failed rc={rc}")
        if rc == 0 and not killed and self.done < target:
            status = "ok, stopped by time_limit_s"

        def r(x, n=4):
            return None if x is None else round(float(x), n)

        row = {
            "model": self.name,
            "epoch": self.done,
            "micro_auc": r(summary.get("micro_auc"), 6),
            "seconds": round(self.o.now(), 1),
            "macro_auc": r(summary.get("macro_auc"), 6),
            "unnormalised_auc": r(summary.get("unnormalised_auc"), 6),
            "train_s": r(sum(self._epoch_seconds()), 1),
            "chunk_epochs": self.done - done_before,
            "chunk_wall_s": r(wall, 1),
            "epoch_s": r(statistics.median(steady), 3) if steady else None,
            "step_ms": r(1000 * statistics.median(steady) / self.steps, 2)
            if steady and self.steps
            else None,
            "overhead_s": r(wall - sum(new), 1) if not killed else None,
            "steps_per_epoch": self.steps,
            "eval_s": r(summary.get("eval_seconds"), 1),
            "status": status,
            "call": self.o.call,
        }
        self.o.add_row(row)
        auc = "-" if row["micro_auc"] is None else f"{row['micro_auc']:.4f}"
        _say(
            f"[{self.o.now():6.1f} s] {self.name}: epoch {self.done}/{self.epochs}, micro AUC "
            f"{auc}; {row['epoch_s']} s/epoch, {row['step_ms']} ms/step x {self.steps} steps, "
            f"chunk {row['chunk_wall_s']} s ({row['overhead_s']} s outside training) [{status}]"
        )
        if killed or rc != 0:
            self.status = status + f" (see {self.log.name})"
            return False
        if self.done < target:
            self.status = "stopped: budget (time_limit_s)"
            return False
        return True


def shell_line(cmd: list[str], env: dict[str, str]) -> str:
    """What a trainer command amounts to in a shell (the launcher shown as ``-m trainer``)."""
    import shlex

    args = ["-m", "trainer", *cmd[3:]] if cmd[1:3] == ["-c", LAUNCHER] else cmd[1:]
    shown = [f"{k}={env[k]}" for k in ("KERAS_BACKEND", "PAPER_GPU_CUDNN_BENCHMARK") if k in env]
    return " ".join([*shown, "python", *(shlex.quote(a) for a in args)])


def _cuda_available() -> tuple[bool, str]:
    try:
        import torch
    except ImportError:
        return False, "no torch"
    if not torch.cuda.is_available():
        return False, f"torch {torch.__version__}, no CUDA device"
    return True, f"torch {torch.__version__}, {torch.cuda.get_device_name(0)}"


def _trainer_env(args: argparse.Namespace, workers: int, site: str | None) -> dict[str, str]:
    env = {
        "KERAS_BACKEND": args.backend,
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONUNBUFFERED": "1",
        "PAPER_GPU_CUDNN_BENCHMARK": "1" if args.cudnn_benchmark == "on" else "0",
        "PAPER_GPU_HIDE_TENSORFLOW": "1" if args.backend != "tensorflow" else "0",
    }
    if "OMP_NUM_THREADS" not in os.environ:
        env["OMP_NUM_THREADS"] = str(workers)
    if site:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (site, os.environ.get("PYTHONPATH")) if p)
    return env


def _plan(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, tuple[str, int, list]]]:
    """Resolve every model's config (as the trainer will) and the trainer arguments."""
    from trainer.config import load_config, parse_override

    runs = _abs(args.runs)
    if args.tiny and args.data is None:
        from trainer.synthetic import make_synthetic_dataset

        args.data = _repo_path(make_synthetic_dataset(runs / "synthetic", **TINY_SYNTHETIC))
    if args.epochs is None and args.tiny:
        args.epochs = 2
    if args.data is None:
        raise SystemExit("--data: the Ped2 folder to train on (see `pack`), or --tiny")
    if not _abs(args.data).is_dir():
        raise SystemExit(f"--data {args.data}: no such folder")
    data = _repo_path(_abs(args.data))
    intruders = args.intruders
    if intruders is None and (_abs(data) / "intruders").is_dir():
        intruders = _repo_path(_abs(data) / "intruders")
    if intruders is None and args.tiny:
        intruders = "embedded"

    # --tiny is a CPU check: no torch import here to ask for a GPU.
    check = args.mixed_precision == "auto" and not args.tiny
    cuda, device = _cuda_available() if check else (None, "")
    mixed = args.mixed_precision == "on" or (args.mixed_precision == "auto" and bool(cuda))
    jobs = max(1, min(args.jobs or len(args.models), len(args.models)))
    workers = max(1, (os.cpu_count() or 1) // jobs)
    sets = [
        f"cache_dir={_repo_path(runs / 'cache')}",
        f"num_parallel_calls={workers}",
        f"mixed_precision={'true' if mixed else 'false'}",
        f"eval_batch_size={args.eval_batch_size}",
    ]
    if args.tiny:
        sets += TINY_SETS
    sets += args.set
    if intruders is not None:
        sets.append(f"intruders={intruders}")

    models: dict[str, tuple[str, int, list]] = {}
    configs: dict[str, Any] = {}
    for name in args.models:
        config = MODELS[name]
        out = _repo_path(runs / name)
        overrides = {"data": data, "out": out, **dict(parse_override(s) for s in sets)}
        cfg = load_config(None, REPO / config, overrides)
        epochs = args.epochs or cfg.epochs
        # Intruder folders named by the pipeline's transforms (a source dict is not checked).
        specs = [
            t["params"]["intruders"]
            for t in (cfg.pipeline["params"]["transforms"] if cfg.p > 0 else [])
            if isinstance(t["params"].get("intruders"), str)
        ]
        for spec in specs:
            if not _abs(spec).exists():
                raise SystemExit(
                    f"{name}: intruder folder {spec} does not exist here; pack it with the data "
                    f"(`pack --intruders ...`) or pass --intruders"
                )
        trainer_args = ["--data", data, "--out", out]
        for s in sets:
            trainer_args += ["--set", s]
        models[name] = (config, epochs, trainer_args)
        configs[name] = {
            "config": config, "epochs": epochs, "size": list(cfg.size), "width": cfg.width,
            "batch_size": cfg.batch_size, "lr": cfg.lr, "p": cfg.p, "seed": cfg.seed,
            "pipeline": cfg.pipeline, "intruders": specs[0] if specs else None,
            "mixed_precision": cfg.mixed_precision, "steps_per_epoch": cfg.steps_per_epoch,
        }  # fmt: skip
    plan = {
        "models": configs,
        "data": data,
        "runs": _repo_path(runs),
        "budget_s": args.budget_s,
        "eval_every": args.eval_every,
        "jobs": jobs,
        "workers": workers,
        "backend": args.backend,
        "cudnn_benchmark": args.cudnn_benchmark == "on",
        "orchestrator_device_check": device,
        "tiny": args.tiny,
        "sets": sets,
    }
    return plan, models


def cmd_run(args: argparse.Namespace) -> int:
    t_start = time.monotonic()
    site = None
    if importlib.util.find_spec("keras") is None and not args.dry_run:
        wheels = _abs(args.wheels)
        site = _install_wheels(wheels, Path(args.site))
        _say(f"installed the wheels of {args.wheels} into {site} (PYTHONPATH of the trainers)")
    plan, models = _plan(args)
    jobs = plan["jobs"]
    plan["env"] = _trainer_env(args, plan["workers"], site)
    if args.report is None:
        args.report = str(_abs(args.runs) / "report")
    orch = Orchestra(args, plan, t_start)
    for name, (config, epochs, trainer_args) in models.items():
        orch.models[name] = ModelRun(orch, name, config, epochs, trainer_args)

    _say(
        f"paper Table 1 ({plan['orchestrator_device_check'] or 'device: see the logs'}): "
        f"{', '.join(models)} side by side ({jobs} at a time), budget {args.budget_s:g} s, "
        f"evaluation every {args.eval_every} epochs, runs in {plan['runs']}, report in "
        f"{args.report}"
    )
    for name, m in orch.models.items():
        if m.done >= m.epochs:
            _say(f"  {name}: {m.done}/{m.epochs} epochs done")
            continue
        cmd = m.command(m.next_target(), args.budget_s - args.overhead_s)
        _say(f"  {name}: {m.done}/{m.epochs} epochs done; next: {shell_line(cmd, plan['env'])}")
    if args.dry_run:
        return 0
    with orch.lock:
        orch.write()
    monitor = None
    if shutil.which("nvidia-smi") and not args.tiny:
        gpu_log = open(orch.report / "gpu.csv", "w")  # noqa: SIM115  (closed below)
        monitor = subprocess.Popen(
            ["nvidia-smi", "--query-gpu=timestamp,utilization.gpu,memory.used,power.draw",
             "--format=csv", "-l", "5"],
            stdout=gpu_log, stderr=subprocess.DEVNULL,
        )  # fmt: skip
    threads = [threading.Thread(target=m.run, name=n, daemon=True) for n, m in orch.models.items()]

    def on_term(signum, frame):  # a killed orchestrator stops its trainers too
        raise SystemExit(128 + signum)

    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, on_term) if main_thread else None
    try:
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(timeout=1.0)
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
        for m in orch.models.values():
            m.stop()
        if monitor is not None:
            monitor.terminate()
            monitor.wait(timeout=10)
            gpu_log.close()
    with orch.lock:
        orch.write()
    _say(f"[{orch.now():6.1f} s] finished; measured:")
    for line in orch.estimate_lines():
        _say(line)
    for name, m in orch.models.items():
        rows = [r for r in orch.rows if r["model"] == name and r["micro_auc"] is not None]
        last = f"epoch {rows[-1]['epoch']} micro AUC {rows[-1]['micro_auc']:.4f}" if rows else "-"
        _say(f"  {name}: {m.status}; last evaluation: {last}")
    _say(f"report: {orch.report / REPORT_JSON}, {orch.report / REPORT_CSV}")
    failed = [n for n, m in orch.models.items() if m.status.startswith("failed")]
    return 1 if failed else 0


# ---------------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("pack", help="write the compact Ped2 copy to carry to the GPU machine")
    p.add_argument("--src", default="../shared/datasets/ped2", help="Ped2 root")
    p.add_argument("--dst", default=".cache/ped2_256", help="output folder (carry it)")
    p.add_argument("--size", default="256,256", help="H,W the trainer uses (paper: 256,256)")
    p.add_argument("--quality", type=int, default=90, help="JPEG quality (90: ~51 MiB at 256)")
    p.add_argument("--intruders", default=INTRUDERS, help="intruder image folder to copy along")
    p.add_argument("--no-masks", action="store_true", help="leave the pixel masks out")
    p.add_argument("--cache-dir", default=None, help="the trainer's decoded-frame cache")
    p.add_argument("--overwrite", action="store_true")

    w = sub.add_parser("wheels", help="download the packages the GPU machine lacks")
    w.add_argument("--dst", default=".whl")
    w.add_argument("--python-version", default="3.12", help="the GPU machine's Python")

    r = sub.add_parser("run", help="train the three models within the budget")
    r.add_argument(
        "--data",
        help="dataset root: the `pack` output, or any Ped2 layout (relative paths: "
        "from the repository root, as every path here)",
    )
    r.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    r.add_argument("--budget-s", type=float, default=540.0, help="wall-clock budget (s)")
    r.add_argument("--eval-every", type=int, help="epochs per chunk, K >= 1 (default 5; --tiny: 1)")
    r.add_argument("--epochs", type=int, help="train up to this many (default: the configs', 60)")
    r.add_argument(
        "--runs", help="run directories, checkpoints (default runs/paper_gpu; --tiny: _tiny)"
    )
    r.add_argument("--report", help="report folder, e.g. $OUT (default: <runs>/report)")
    r.add_argument("--jobs", type=int, default=0, help="trainer processes at a time (0: all)")
    r.add_argument("--backend", default="torch", help="KERAS_BACKEND of the trainers")
    r.add_argument("--mixed-precision", choices=("auto", "on", "off"), default="auto",
                   help="mixed_float16 (auto: when torch sees a CUDA device)")  # fmt: skip
    r.add_argument("--cudnn-benchmark", choices=("on", "off"), default="on")
    r.add_argument(
        "--eval-batch-size", type=int, help="clips per scoring pass (default 32; --tiny: 16)"
    )
    r.add_argument("--intruders", help="intruder spec (default: <data>/intruders if present)")
    r.add_argument("--set", action="append", default=[], help="extra trainer --set KEY=VALUE")
    r.add_argument("--overhead-s", type=float, default=60.0,
                   help="guess of a chunk's time outside training (start, load, evaluation) "
                   "until one is measured")  # fmt: skip
    r.add_argument("--min-first-s", type=float, default=30.0,
                   help="training time a first chunk needs at least, before any is "
                   "measured")  # fmt: skip
    r.add_argument("--margin-s", type=float, default=5.0, help="kept free at the budget's end")
    r.add_argument("--wheels", default=".whl", help="wheels to install when keras is missing")
    r.add_argument("--site", default="/tmp/paper_table_site", help="where to install them")
    r.add_argument("--tiny", action="store_true",
                   help="CPU wiring check: 32x32, width 0.125, 2 steps/epoch, small synthetic "
                   "data (unless --data)")  # fmt: skip
    r.add_argument("--dry-run", action="store_true", help="print the plan and commands only")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "run" and args.eval_every is None:
        args.eval_every = 1 if args.tiny else 5
    if args.command == "run" and args.eval_batch_size is None:
        args.eval_batch_size = 16 if args.tiny else 32
    if args.command == "run" and args.runs is None:
        args.runs = "runs/paper_gpu_tiny" if args.tiny else "runs/paper_gpu"
    if getattr(args, "eval_every", 1) < 1:
        raise SystemExit("--eval-every must be >= 1")
    return {"pack": cmd_pack, "wheels": cmd_wheels, "run": cmd_run}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
