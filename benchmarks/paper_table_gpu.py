"""The paper's Table 1 for one dataset on one GPU: baseline, patch and skip frame, 60 epochs.

    python benchmarks/paper_table_gpu.py --dataset ped2 --data /data/ped2
    python benchmarks/paper_table_gpu.py --dataset avenue --data /data/avenue
    python benchmarks/paper_table_gpu.py --dataset shanghaitech --data /data/shanghaitech

The three rows of Table 1 (``configs/paper_<dataset>_{baseline,patch,skip}.yaml``: the ``paper``
preset, 16x256x256 grayscale clips, width 1, batch 4, Adam 1e-4, 60 epochs) are trained side by
side, one ``python -m trainer train`` process per model (Keras on the torch backend by default),
sharing the GPU. Each model trains ``--eval-every K`` epochs at a time: the trainer checkpoints
every epoch, evaluates its saved model on the test split when the chunk ends, and ``--resume``
continues it, so the micro AUC after K, 2K, ... epochs is in the report as soon as it is known.
These test AUCs are for reporting only; nothing is chosen with them.

Interrupted (Ctrl-C, a job's time limit, a crash)? Run the same command again: every model
continues from its last complete epoch, and the report keeps the earlier rows. ``--budget-s S``
is an optional wall-clock limit: chunks are sized to end within it, a trainer still running at
the end is stopped, and the next run of the command continues.

Output, in ``--runs`` (default ``runs/paper_table/<dataset>``): one run folder per model
(``config.yaml``, checkpoints, ``model.keras``, ``evaluation/summary.json``), ``paper_table.json``
(plan, settings, every evaluated checkpoint, the measured time per epoch and the estimate for the
rest), ``paper_table.csv`` (model, epoch, micro AUC, seconds, ...), one ``<model>.log`` per model
and ``gpu.csv`` (``nvidia-smi`` every 5 s, when there is one).

Speed settings that leave the method alone: ``mixed_precision`` (on when torch sees a GPU;
``--mixed-precision off`` for float32), ``torch.backends.cudnn.benchmark`` (``--cudnn-benchmark
off`` to leave it), a larger ``eval_batch_size`` (32), ``num_parallel_calls`` = CPU cores /
models, and one decoded-frame cache shared by the three processes. ``--tiny`` runs the same
orchestration on the CPU at 32x32, width 0.125, 2 steps per epoch on a small synthetic dataset
(tests/test_paper_table_gpu.py).
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

DATASETS = ("ped2", "avenue", "shanghaitech")
ROWS = ("baseline", "patch", "skip")


def model_configs(dataset: str) -> dict[str, str]:
    """The config of each Table 1 row for ``dataset`` (repository-relative paths)."""
    return {row: f"configs/paper_{dataset}_{row}.yaml" for row in ROWS}


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
# The trainer's CLI, with torch.backends.cudnn.benchmark set first when asked (the trainer has
# no key for it). Run as `python -c LAUNCHER <trainer arguments>` from the repository root.
LAUNCHER = """\
import os, runpy, sys
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


# ---------------------------------------------------------------------- run


class Orchestra:
    """The shared state of one run: the optional budget, report rows, the reports on disk."""

    def __init__(self, args: argparse.Namespace, plan: dict[str, Any], t0: float) -> None:
        self.args = args
        self.plan = plan
        self.t0 = t0  # the budget counts from here (the plan included)
        self.deadline = None if args.budget_s is None else t0 + args.budget_s - args.margin_s
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
        """Seconds left in the budget (infinite without ``--budget-s``)."""
        return math.inf if self.deadline is None else self.deadline - time.monotonic()

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
                "epochs_per_budget": None
                if self.args.budget_s is None
                else fits(self.args.budget_s - self.args.margin_s, cap=m.epochs),
                "remaining_epochs": remaining,
                "seconds_for_remaining": round(need(remaining)),
            }
        known = [v for v in per.values() if "epoch_s" in v]
        out: dict[str, Any] = {"models": per, "eval_every": k, "budget_s": self.args.budget_s}
        if known and len(known) == len(per):
            total = max(v["seconds_for_remaining"] for v in known)
            out["seconds_for_all_remaining"] = total
            if self.args.budget_s is not None:
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
            per_budget = (
                ""
                if v["epochs_per_budget"] is None
                else f" -> {v['epochs_per_budget']} epochs per {self.args.budget_s:g}-s budget"
            )
            lines.append(
                f"  {name}: {v['epoch_s']:.2f} s/epoch ({v['step_ms']} ms/step x "
                f"{v['steps_per_epoch']} steps), {v['overhead_s_per_chunk']:.0f} s overhead per "
                f"chunk of {est['eval_every']} epochs{per_budget}; {v['epochs_done']}/"
                f"{v['epochs']} done, the rest needs ~{v['seconds_for_remaining']} s"
            )
        if "seconds_for_all_remaining" in est:
            lines.append(
                f"  all three to {max(m.epochs for m in self.models.values())} epochs: "
                f"~{est['seconds_for_all_remaining']} s more, side by side"
            )
        return lines

    def write(self) -> None:
        """Rewrite the JSON and CSV reports (and the copy in --runs when --report is elsewhere);
        call under the lock."""
        self.report.mkdir(parents=True, exist_ok=True)
        doc = {
            "call": self.call,
            "elapsed_s": round(self.now(), 1),
            "plan": self.plan,
            "models": {n: m.status_dict() for n, m in self.models.items()},
            "estimate": self.estimate(),
            "table": table_rows(self.rows),
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

    def command(self, target: int, time_limit: float | None) -> list[str]:
        """The trainer command of the next chunk (``time_limit_s`` only under a budget)."""
        resume = (self.out / "config.yaml").is_file()
        cmd = [sys.executable, "-c", LAUNCHER, "train", "--config", self.config]
        cmd += [*self.trainer_args, "--epochs", str(target)]
        if time_limit is not None:
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
                rc = proc.wait(timeout=None if math.isinf(timeout) else max(1.0, timeout))
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
                limit = None if math.isinf(left) else left - overhead
                rc, killed = self.launch(self.command(target, limit), left)
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


def table_rows(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per model: the micro AUC of its last evaluated epoch (the fixed-epoch figure, the one
    to report), and the best of its evaluated epochs on test labels, which is how the paper's
    authors selected Table 1 (for comparison with it only; nothing is chosen with it)."""
    out: dict[str, dict[str, Any]] = {}
    for name in dict.fromkeys(r["model"] for r in rows):
        evaluated = [r for r in rows if r["model"] == name and r["micro_auc"] is not None]
        if not evaluated:
            continue
        last = max(evaluated, key=lambda r: r["epoch"])
        best = max(evaluated, key=lambda r: r["micro_auc"])
        out[name] = {
            "epoch": last["epoch"],
            "micro_auc": last["micro_auc"],
            "best_epoch": best["epoch"],
            "best_epoch_micro_auc": best["micro_auc"],
            "evaluated_epochs": sorted({r["epoch"] for r in evaluated}),
        }
    return out


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


def _trainer_env(args: argparse.Namespace, workers: int) -> dict[str, str]:
    env = {
        "KERAS_BACKEND": args.backend,
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONUNBUFFERED": "1",
        "PAPER_GPU_CUDNN_BENCHMARK": "1" if args.cudnn_benchmark == "on" else "0",
    }
    if "OMP_NUM_THREADS" not in os.environ:
        env["OMP_NUM_THREADS"] = str(workers)
    return env


def _model_plan(
    name: str, config: str, data: str, out: str, sets: list[str], epochs: int | None
) -> tuple[tuple[str, int, list], dict[str, Any]]:
    """One model's trainer arguments and the settings the report records."""
    from trainer.config import load_config, parse_override

    overrides = {"data": data, "out": out, **dict(parse_override(s) for s in sets)}
    cfg = load_config(None, REPO / config, overrides)
    epochs = epochs or cfg.epochs
    # Intruder folders named by the pipeline's transforms (a source dict is not checked).
    specs = [
        t["params"]["intruders"]
        for t in (cfg.pipeline["params"]["transforms"] if cfg.p > 0 else [])
        if isinstance(t["params"].get("intruders"), str)
    ]
    for spec in specs:
        if not _abs(spec).exists():
            raise SystemExit(
                f"{name}: intruder folder {spec} of {config} does not exist; pass "
                f"--intruders (a folder of images, or a CIFAR-100 archive, docs/datasets.md)"
            )
    trainer_args = ["--data", data, "--out", out]
    for s in sets:
        trainer_args += ["--set", s]
    summary = {
        "config": config, "epochs": epochs, "size": list(cfg.size), "width": cfg.width,
        "batch_size": cfg.batch_size, "lr": cfg.lr, "p": cfg.p, "seed": cfg.seed,
        "pipeline": cfg.pipeline, "intruders": specs[0] if specs else None,
        "mixed_precision": cfg.mixed_precision, "steps_per_epoch": cfg.steps_per_epoch,
    }  # fmt: skip
    return (config, epochs, trainer_args), summary


def _plan(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, tuple[str, int, list]]]:
    """Resolve every model's config (as the trainer will) and the trainer arguments."""

    runs = _abs(args.runs)
    if args.tiny and args.data is None:
        from trainer.synthetic import make_synthetic_dataset

        args.data = _repo_path(make_synthetic_dataset(runs / "synthetic", **TINY_SYNTHETIC))
    if args.epochs is None and args.tiny:
        args.epochs = 2
    if args.data is None:
        raise SystemExit(f"--data: the {args.dataset} folder to train on (docs/datasets.md)")
    if not _abs(args.data).is_dir():
        raise SystemExit(f"--data {args.data}: no such folder")
    data = _repo_path(_abs(args.data))
    intruders = args.intruders
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
        config = model_configs(args.dataset)[name]
        models[name], configs[name] = _model_plan(name, config, data, _repo_path(runs / name),
                                                  sets, args.epochs)  # fmt: skip
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
        "dataset": args.dataset,
        "sets": sets,
    }
    return plan, models


def cmd_run(args: argparse.Namespace) -> int:
    t_start = time.monotonic()
    if importlib.util.find_spec("keras") is None:
        raise SystemExit('keras is not installed: pip install ".[gpu]" (docs/gpu.md)')
    plan, models = _plan(args)
    jobs = plan["jobs"]
    plan["env"] = _trainer_env(args, plan["workers"])
    if args.report is None:
        args.report = str(_abs(args.runs))
    orch = Orchestra(args, plan, t_start)
    for name, (config, epochs, trainer_args) in models.items():
        orch.models[name] = ModelRun(orch, name, config, epochs, trainer_args)

    budget = "no time limit" if args.budget_s is None else f"budget {args.budget_s:g} s"
    _say(
        f"paper Table 1, {args.dataset} ({plan['orchestrator_device_check'] or 'see the logs'}): "
        f"{', '.join(models)} side by side ({jobs} at a time), {budget}, "
        f"evaluation every {args.eval_every} epochs, runs in {plan['runs']}, report in "
        f"{args.report}"
    )
    for name, m in orch.models.items():
        if m.done >= m.epochs:
            _say(f"  {name}: {m.done}/{m.epochs} epochs done")
            continue
        limit = None if args.budget_s is None else args.budget_s - args.overhead_s
        cmd = m.command(m.next_target(), limit)
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
    table = table_rows(orch.rows)
    for name, m in orch.models.items():
        t = table.get(name)
        last = "-" if t is None else f"epoch {t['epoch']} micro AUC {t['micro_auc']:.4f}"
        best = "" if t is None else (
            f"; best evaluated epoch on test labels (the paper's selection): epoch "
            f"{t['best_epoch']} micro AUC {t['best_epoch_micro_auc']:.4f}"
        )  # fmt: skip
        _say(f"  {name}: {m.status}; last evaluation: {last}{best}")
    _say(f"report: {orch.report / REPORT_JSON}, {orch.report / REPORT_CSV}")
    failed = [n for n, m in orch.models.items() if m.status.startswith("failed")]
    return 1 if failed else 0


# ---------------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--dataset", choices=DATASETS, default="ped2",
                    help="the Table 1 column: configs/paper_<dataset>_*.yaml")  # fmt: skip
    ap.add_argument("--data", help="the dataset folder, in any layout the trainer reads")
    ap.add_argument("--models", nargs="+", choices=ROWS, default=list(ROWS))
    ap.add_argument("--epochs", type=int, help="train up to this many (default: the configs', 60)")
    ap.add_argument(
        "--eval-every", type=int, help="epochs per chunk, K >= 1 (default 5; --tiny: 1)"
    )
    ap.add_argument("--budget-s", type=float, default=None,
                    help="optional wall-clock limit (s); run again to continue")  # fmt: skip
    ap.add_argument("--runs", help="run folders and report (default runs/paper_table/<dataset>)")
    ap.add_argument("--report", help="report folder (default: --runs)")
    ap.add_argument("--jobs", type=int, default=0, help="trainer processes at a time (0: all)")
    ap.add_argument("--backend", default="torch", help="KERAS_BACKEND of the trainers")
    ap.add_argument("--mixed-precision", choices=("auto", "on", "off"), default="auto",
                    help="mixed_float16 (auto: when torch sees a CUDA device)")  # fmt: skip
    ap.add_argument("--cudnn-benchmark", choices=("on", "off"), default="on")
    ap.add_argument(
        "--eval-batch-size", type=int, help="clips per scoring pass (default 32; --tiny: 16)"
    )
    ap.add_argument("--intruders", help="intruder images for the patch model (default: config's)")
    ap.add_argument("--set", action="append", default=[], help="extra trainer --set KEY=VALUE")
    ap.add_argument("--overhead-s", type=float, default=60.0,
                    help="with --budget-s: guess of a chunk's time outside training (start, "
                    "load, evaluation) until one is measured")  # fmt: skip
    ap.add_argument("--min-first-s", type=float, default=30.0,
                    help="with --budget-s: training time a first chunk needs at least")  # fmt: skip
    ap.add_argument("--margin-s", type=float, default=5.0, help="kept free at the budget's end")
    ap.add_argument("--tiny", action="store_true",
                    help="CPU wiring check: 32x32, width 0.125, 2 steps/epoch, small synthetic "
                    "data (unless --data)")  # fmt: skip
    ap.add_argument("--dry-run", action="store_true", help="print the plan and commands only")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.eval_every is None:
        args.eval_every = 1 if args.tiny else 5
    if args.eval_every < 1:
        raise SystemExit("--eval-every must be >= 1")
    if args.eval_batch_size is None:
        args.eval_batch_size = 16 if args.tiny else 32
    if args.runs is None:
        args.runs = f"runs/paper_table{'_tiny' if args.tiny else ''}/{args.dataset}"
    return cmd_run(args)


if __name__ == "__main__":
    sys.exit(main())
