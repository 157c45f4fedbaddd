"""Training-step speed: our Keras model under each Keras backend against plain PyTorch.

    python benchmarks/train_step_vs_torch.py                        # 64 and 256, width 1, batch 4
    python benchmarks/train_step_vs_torch.py --sizes 64 256 --width 1 --batch 4 --rounds 5
    python benchmarks/train_step_vs_torch.py --sizes 64 --no-cpu-preset \\
        --impls keras-tensorflow keras-tensorflow+xla keras-tensorflow+onednn0 torch

Rows (``--impls``):

* ``keras-<backend>``: the trainer's step, :class:`trainer.losses.DualLossAutoencoder` compiled
  with ``Adam(1e-4)`` and trained with ``train_on_batch(x, y, is_pseudo)`` under that Keras
  backend (``tensorflow``, ``torch``, ``jax``); each backend lives in its own worker process,
  since ``KERAS_BACKEND`` is fixed at import.
* ``torch``: the authors' step in plain PyTorch, written here: the same network (Gong et al.'s
  ``AutoEncoderCov3D`` + tanh, biases included, ``Conv3d`` / ``ConvTranspose3d`` /
  ``BatchNorm3d``) on ``(B, C, T, H, W)`` tensors, ``MSELoss``, ``torch.optim.Adam(lr=1e-4)``.

Options after ``+`` (several allowed, e.g. ``keras-tensorflow+xla+threads1``): ``xla``
(``jit_compile=True``: XLA under TensorFlow, ``torch.compile`` under torch), ``onednn0`` /
``onednn1`` (``TF_ENABLE_ONEDNN_OPTS``), ``threadsN`` (intra-op threads: TensorFlow's, or
``torch.set_num_threads``), ``interN`` (TensorFlow inter-op threads), ``cl`` / ``cf`` (Keras
rows: build the model with ``data_format="channels_last"`` / ``"channels_first"`` inside; plain
torch: ``cl`` runs the network in torch's ``channels_last_3d`` memory format), ``precN`` where N
is ``highest``/``high``/``medium`` (``torch.set_float32_matmul_precision``), ``portable``
(Keras on torch: the model's layers take their ``keras.ops`` path, as under TensorFlow, instead
of calling torch's kernels; what Keras' own layers cost on torch), ``passive``
(``OMP_WAIT_POLICY=PASSIVE``: OpenMP threads sleep instead of spinning at barriers).

Every row of one shape runs in its own worker, all alive at once and driven round robin over
pipes (``run N`` -> seconds), ``--rounds`` slices of about ``--slice-seconds`` each, so a slow
or busy spell of the machine hits every row alike. The table gives clips/s (best and median
slice) and each Keras row's median and best against the plain PyTorch row of the same shape
and the same run options (threads, OpenMP wait policy). Shapes: 16 x S x S
for each ``--sizes`` S at ``--width`` / ``--batch``, and the ``cpu`` preset's (16 x 64 x 64,
width 0.25, batch 8) unless ``--no-cpu-preset``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KERAS_BACKENDS = ("tensorflow", "torch", "jax")
PROTOCOL = "@@ "  # worker lines that carry the protocol; everything else is ignored
OPTION_PREFIXES = ("threads", "inter", "prec")
FLAG_OPTIONS = ("xla", "onednn0", "onednn1", "cl", "cf", "portable", "passive")

__all__ = [
    "Row",
    "Shape",
    "available_keras_backends",
    "default_impls",
    "format_table",
    "machine_info",
    "main",
    "parse_impl",
    "reference_row",
    "summarize",
]


@dataclass(frozen=True)
class Shape:
    """One clip shape and model size: ``batch`` clips of ``frames x size x size x 1``."""

    frames: int
    size: int
    width: float
    batch: int
    label: str = ""

    def describe(self) -> str:
        name = f"{self.frames}x{self.size}x{self.size}, width {self.width:g}, batch {self.batch}"
        return f"{self.label}: {name}" if self.label else name


@dataclass(frozen=True)
class Row:
    """One implementation: ``impl`` is ``"keras"`` or ``"torch"`` (plain PyTorch)."""

    impl: str
    backend: str
    options: tuple[str, ...] = field(default=())

    @property
    def name(self) -> str:
        base = "torch" if self.impl == "torch" else f"keras-{self.backend}"
        return "+".join((base, *self.options))


def parse_impl(spec: str) -> Row:
    """``"keras-torch+threads1"`` -> ``Row("keras", "torch", ("threads1",))``; ``"torch"``."""
    base, *options = spec.strip().split("+")
    for opt in options:
        ok = opt in FLAG_OPTIONS or any(
            opt.startswith(p) and opt[len(p) :] for p in OPTION_PREFIXES
        )
        if not ok:
            raise ValueError(f"unknown option {opt!r} in {spec!r}")
    if base == "torch":
        return Row("torch", "torch", tuple(options))
    if base.startswith("keras-") and base[6:] in KERAS_BACKENDS:
        return Row("keras", base[6:], tuple(options))
    raise ValueError(
        f"unknown implementation {spec!r}: torch or keras-{{{','.join(KERAS_BACKENDS)}}}"
    )


def available_keras_backends() -> list[str]:
    """The Keras backends whose package is installed (without importing them)."""
    return [b for b in KERAS_BACKENDS if importlib.util.find_spec(b) is not None]


def default_impls() -> list[str]:
    """Every installed Keras backend, plus plain torch when torch is installed."""
    rows = [f"keras-{b}" for b in available_keras_backends()]
    if importlib.util.find_spec("torch") is not None:
        rows.append("torch")
    return rows


def summarize(seconds: Sequence[float], clips: Sequence[int]) -> dict:
    """Best and median clips/s over slices (``clips[i]`` clips took ``seconds[i]``)."""
    rates = [c / s for c, s in zip(clips, seconds, strict=True) if s > 0]
    if not rates:
        return {"best": float("nan"), "median": float("nan"), "slices": 0}
    return {"best": max(rates), "median": statistics.median(rates), "slices": len(rates)}


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "-"


def machine_info() -> dict:
    """CPU model, core counts and library versions, without importing any framework."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    try:
        load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        load = "-"
    tf = _version("tensorflow")
    if tf == "-":
        tf = _version("tensorflow-cpu")
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "load_average": load,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": _version("torch"),
        "tensorflow": tf,
        "keras": _version("keras"),
        "jax": _version("jax"),
    }


# ---------------------------------------------------------------------- parent side


class Worker:
    """One worker process: builds its row's model, then runs ``N`` steps per request."""

    def __init__(self, row: Row, shape: Shape, warmup: int, seed: int):
        self.row = row
        self.log = tempfile.TemporaryFile(mode="w+")
        env = dict(os.environ)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        if row.impl == "keras":
            env["KERAS_BACKEND"] = row.backend
        for opt in row.options:
            if opt.startswith("onednn"):
                env["TF_ENABLE_ONEDNN_OPTS"] = opt[-1]
            if opt == "passive":
                env["OMP_WAIT_POLICY"] = "PASSIVE"
        argv = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--worker",
            row.name,
            "--frames",
            str(shape.frames),
            "--size",
            str(shape.size),
            "--width",
            str(shape.width),
            "--batch",
            str(shape.batch),
            "--warmup",
            str(warmup),
            "--seed",
            str(seed),
        ]
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True, env=env
        )
        self.info = self._read()

    def _read(self) -> dict:
        while True:
            line = self.proc.stdout.readline()
            if not line:
                self.log.seek(0)
                tail = self.log.read()[-3000:]
                raise RuntimeError(f"worker {self.row.name} died:\n{tail}")
            if line.startswith(PROTOCOL):
                return json.loads(line[len(PROTOCOL) :])

    def run(self, steps: int) -> dict:
        self.proc.stdin.write(f"run {steps}\n")
        self.proc.stdin.flush()
        return self._read()

    def profile(self, rows: int) -> str:
        self.proc.stdin.write(f"profile {rows}\n")
        self.proc.stdin.flush()
        return self._read()["profile"]

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=60)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def bench_shape(
    shape: Shape,
    rows: Sequence[Row],
    rounds: int,
    slice_seconds: float,
    steps: int | None,
    warmup: int,
    seed: int = 0,
    echo=print,
    profile_rows: int = 0,
) -> list[dict]:
    """Time every row on ``shape``, round robin; one result dict per row."""
    workers: list[Worker] = []
    try:
        for row in rows:
            t0 = time.perf_counter()
            workers.append(Worker(row, shape, warmup, seed))
            echo(f"  started {row.name} ({time.perf_counter() - t0:.1f} s to build and warm up)")
        plan = []
        for w in workers:
            step_s = max(w.info["warm_step_s"], 1e-3)
            plan.append(steps or max(1, round(slice_seconds / step_s)))
        times: list[list[float]] = [[] for _ in workers]
        for r in range(rounds):
            order = list(range(len(workers)))
            order = order[r % len(order) :] + order[: r % len(order)]  # rotate who goes first
            for i in order:
                times[i].append(workers[i].run(plan[i])["seconds"])
            echo(f"  round {r + 1}/{rounds} done")
        for w in workers if profile_rows else ():
            echo(f"\n  profile of one {w.row.name} step:\n{w.profile(profile_rows)}")
        results = []
        for w, n, ts in zip(workers, plan, times, strict=True):
            stats = summarize(ts, [n * shape.batch] * len(ts))
            results.append({"row": w.row.name, "steps": n, "seconds": ts, **w.info, **stats})
        return results
    finally:
        for w in workers:
            w.close()


def reference_row(name: str, names: Sequence[str]) -> str | None:
    """The plain-torch row ``name`` is compared with: ``torch`` with the same run options.

    The options both kinds of row share (``threadsN``, ``passive``, ``precN``, ``xla``) pick
    it: ``keras-torch+threads1`` -> ``torch+threads1`` when that row ran, else ``torch``;
    ``None`` for the plain-torch rows themselves (and when no plain-torch row ran).
    """
    row = parse_impl(name)
    if row.impl == "torch":
        return None
    shared = [
        o for o in row.options if o in ("passive", "xla") or o.startswith(("threads", "prec"))
    ]
    same = "+".join(["torch", *shared])
    if same in names:
        return same
    return "torch" if "torch" in names else None


def format_table(shape: Shape, results: Sequence[dict]) -> str:
    """The printed table for one shape.

    The last columns compare each Keras row's median and best clips/s with those of the plain
    PyTorch row that ran with the same run options (see :func:`reference_row`).
    """
    by_name = {r["row"]: r for r in results}
    head = (
        f"{'row':<30} {'threads':>9} {'steps/slice':>11} {'best clips/s':>12} "
        f"{'median clips/s':>14} {'vs torch (median, best)':>24}"
    )
    lines = [shape.describe(), head, "-" * len(head)]
    for r in results:
        ratio = "-"
        ref = by_name.get(reference_row(r["row"], list(by_name)) or "")
        if ref is not None and ref["median"] > 0 and ref["best"] > 0:
            ratio = (
                f"{r['median'] / ref['median']:.2f}x, {r['best'] / ref['best']:.2f}x "
                f"of {ref['row']}"
            )
        lines.append(
            f"{r['row']:<30} {r.get('threads', '-')!s:>9} {r['steps']:>11} "
            f"{r['best']:>12.3f} {r['median']:>14.3f}   {ratio}"
        )
    return "\n".join(lines)


def build_shapes(args) -> list[Shape]:
    shapes = [Shape(args.frames, s, args.width, args.batch) for s in args.sizes]
    if args.cpu_preset:
        shapes.append(Shape(16, 64, 0.25, 8, label="cpu preset"))
    return shapes


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--sizes", type=int, nargs="*", default=[64, 256], help="H = W of the clips")
    p.add_argument("--frames", type=int, default=16, help="T of the clips")
    p.add_argument("--width", type=float, default=1.0, help="channel multiplier (1 = paper)")
    p.add_argument("--batch", type=int, default=4, help="clips per step (paper: 4)")
    p.add_argument("--rounds", type=int, default=5, help="timed slices per row")
    p.add_argument("--slice-seconds", type=float, default=3.0, help="target length of a slice")
    p.add_argument("--steps", type=int, default=None, help="steps per slice (default: auto)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps per worker")
    p.add_argument("--impls", nargs="+", default=None, help="rows (default: all installed)")
    p.add_argument("--cpu-preset", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    p.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="after timing, profile one step per row (torch.profiler / cProfile), top N lines",
    )
    p.add_argument("--seed", type=int, default=0)
    # worker mode (internal)
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, default=64, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return worker_main(args)
    rows = [parse_impl(s) for s in (args.impls or default_impls())]
    info = machine_info()
    print(
        f"machine: {info['cpu']}, {info['cores']} cores ({info['usable_cores']} usable), "
        f"load {info['load_average']}, {info['platform']}, python {info['python']}"
    )
    print(
        f"versions: torch {info['torch']}, tensorflow {info['tensorflow']}, "
        f"keras {info['keras']}, jax {info['jax']}"
    )
    print(
        f"rows: {', '.join(r.name for r in rows)}; {args.rounds} rounds of ~{args.slice_seconds:g} "
        f"s slices, round robin, {args.warmup} warm-up steps"
    )
    report = {"machine": info, "shapes": []}
    for shape in build_shapes(args):
        print(f"\n{shape.describe()}", flush=True)
        results = bench_shape(
            shape,
            rows,
            args.rounds,
            args.slice_seconds,
            args.steps,
            args.warmup,
            args.seed,
            echo=lambda s: print(s, flush=True),
            profile_rows=args.profile,
        )
        print("\n" + format_table(shape, results), flush=True)
        report["shapes"].append({"shape": shape.__dict__, "results": results})
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


# ---------------------------------------------------------------------- worker side


def _reply(obj: dict) -> None:
    sys.stdout.write(PROTOCOL + json.dumps(obj) + "\n")
    sys.stdout.flush()


def _option(options: Sequence[str], prefix: str) -> str | None:
    return next((o[len(prefix) :] for o in options if o.startswith(prefix)), None)


def torch_reference_net(channels: int, width: float):
    """Gong et al.'s ``AutoEncoderCov3D`` + tanh in plain ``torch.nn`` (the authors' network)."""
    from torch import nn

    f96, f128, f256 = (max(1, round(f * width)) for f in (96, 128, 256))

    def block(conv):
        return [conv, nn.BatchNorm3d(conv.out_channels), nn.LeakyReLU(0.2, inplace=True)]

    def down(cin, cout, stride):
        return block(nn.Conv3d(cin, cout, 3, stride=stride, padding=1))

    def up(cin, cout):
        return block(nn.ConvTranspose3d(cin, cout, 3, stride=2, padding=1, output_padding=1))

    return nn.Sequential(
        *down(channels, f96, (1, 2, 2)),
        *down(f96, f128, 2),
        *down(f128, f256, 2),
        *down(f256, f256, 2),
        *up(f256, f256),
        *up(f256, f128),
        *up(f128, f96),
        nn.ConvTranspose3d(f96, channels, 3, (1, 2, 2), padding=1, output_padding=(0, 1, 1)),
        nn.Tanh(),
    )


def _batch(args, rng):
    """Deterministic (x, y, is_pseudo): float32 (B, T, H, W, 1) in [-1, 1], a quarter pseudo."""
    import numpy as np

    shape = (args.batch, args.frames, args.size, args.size, 1)
    y = rng.uniform(-1, 1, shape).astype(np.float32)
    flags = (np.arange(args.batch) % 4 == 3).astype(np.float32)
    x = y.copy()
    x[flags == 1] = rng.uniform(-1, 1, x[flags == 1].shape)
    return x, y, flags


def _torch_settings(torch, options) -> None:
    threads = _option(options, "threads")
    if threads:
        torch.set_num_threads(int(threads))
    prec = _option(options, "prec")
    if prec:
        torch.set_float32_matmul_precision(prec)


def _plain_torch_worker(args, options):
    import numpy as np
    import torch

    _torch_settings(torch, options)
    torch.manual_seed(args.seed)
    x, y, _ = _batch(args, np.random.default_rng(args.seed))
    # The authors' DataLoader hands the network (B, C, T, H, W) tensors.
    xt = torch.from_numpy(x.transpose(0, 4, 1, 2, 3).copy())
    yt = torch.from_numpy(y.transpose(0, 4, 1, 2, 3).copy())
    net = torch_reference_net(1, args.width)
    data_format = "channels_first"
    if "cl" in options:  # torch's channels_last_3d memory format (NDHWC in memory)
        fmt = torch.channels_last_3d
        net = net.to(memory_format=fmt)
        xt, yt = xt.contiguous(memory_format=fmt), yt.contiguous(memory_format=fmt)
        data_format = "channels_last_3d"
    if "xla" in options:
        net = torch.compile(net)
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    loss_fn = torch.nn.MSELoss()

    def step():
        out = net(xt)
        loss = loss_fn(out, yt)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    return step, {"threads": torch.get_num_threads(), "data_format": data_format}


def _keras_worker(args, options):
    import inspect

    import numpy as np

    if args.backend == "tensorflow":
        import tensorflow as tf

        threads, inter = _option(options, "threads"), _option(options, "inter")
        if threads:
            tf.config.threading.set_intra_op_parallelism_threads(int(threads))
        if inter:
            tf.config.threading.set_inter_op_parallelism_threads(int(inter))
    import keras

    import trainer.model
    from trainer.losses import DualLossAutoencoder
    from trainer.model import build_autoencoder

    if "portable" in options:
        trainer.model.set_torch_kernels(False)

    info = {}
    if args.backend == "torch":
        import torch

        _torch_settings(torch, options)
        info["threads"] = torch.get_num_threads()
    elif args.backend == "tensorflow":
        import tensorflow as tf

        intra = tf.config.threading.get_intra_op_parallelism_threads()
        inter = tf.config.threading.get_inter_op_parallelism_threads()
        info["threads"] = f"{intra or 'auto'}/{inter or 'auto'}"
    keras.utils.set_random_seed(args.seed)
    kwargs = {"width": args.width, "model_class": DualLossAutoencoder}
    layout = {"cl": "channels_last", "cf": "channels_first"}
    forced = [layout[o] for o in options if o in layout]
    if forced:
        if "data_format" not in inspect.signature(build_autoencoder).parameters:
            raise ValueError("this trainer.model has no data_format argument")
        kwargs["data_format"] = forced[-1]
    model = build_autoencoder((args.frames, args.size, args.size, 1), **kwargs)
    model.compile(optimizer=keras.optimizers.Adam(1e-4), jit_compile="xla" in options)
    info["data_format"] = forced[-1] if forced else "default"
    x, y, flags = _batch(args, np.random.default_rng(args.seed))

    def step():
        logs = model.train_on_batch(x, y, sample_weight=flags, return_dict=True)
        return float(logs["loss"])

    return step, info


def _profile(step, row: Row, rows: int) -> str:
    """One step under torch.profiler (torch-based rows) or cProfile; the top ``rows`` lines."""
    if row.backend == "torch":
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            step()
        return prof.key_averages().table(
            sort_by="self_cpu_time_total", row_limit=rows, max_name_column_width=44
        )
    import cProfile
    import io
    import pstats

    pr = cProfile.Profile()
    pr.enable()
    step()
    pr.disable()
    buf = io.StringIO()
    pstats.Stats(pr, stream=buf).sort_stats("tottime").print_stats(rows)
    return buf.getvalue()


def worker_main(args) -> int:
    row = parse_impl(args.worker)
    args.backend = row.backend
    t0 = time.perf_counter()
    make = _plain_torch_worker if row.impl == "torch" else _keras_worker
    step, info = make(args, row.options)
    build_s = time.perf_counter() - t0
    warm = 0.0
    for _ in range(max(1, args.warmup)):
        t = time.perf_counter()
        step()
        warm = time.perf_counter() - t
    _reply({"build_s": build_s, "warm_step_s": warm, **info})
    for line in sys.stdin:
        cmd = line.split()
        if not cmd or cmd[0] == "quit":
            break
        if cmd[0] == "profile":
            _reply({"profile": _profile(step, row, int(cmd[1]))})
            continue
        n = int(cmd[1])
        t = time.perf_counter()
        for _ in range(n):
            loss = step()
        _reply({"seconds": time.perf_counter() - t, "loss": loss})
    return 0


if __name__ == "__main__":
    sys.exit(main())
