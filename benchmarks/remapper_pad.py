"""Does grappler's failing remapper cost training speed? (TensorFlow backend, CPU)

During training TensorFlow logs ``meta_optimizer.cc:967] remapper failed: INVALID_ARGUMENT:
Mutation::Apply error: fanout '.../convolution/ShapeN' exist for missing node '.../Pad'``: the
remapper tries to fold the explicit ``Pad`` of :class:`trainer.model.SymmetricPadConv3D` into
the convolution, but the gradient still reads the padded tensor, so the rewrite is abandoned
and the graph runs as built. This script times the model's training step (``fit`` on a cached
batch, :func:`trainer.speed.bench_model`) in three fresh processes:

* ``default``: as the trainer runs (the remapper on, failing);
* ``remapping-off``: ``tf.config.optimizer.set_experimental_options({"remapping": False})``;
* ``concat-pad``: the zeros added by ``tf.concat`` instead of a ``Pad`` op (the same tensor,
  so the same convolution input), which the remapper does not try to fold. It still fails, on
  the ``Pad`` that is the gradient of :class:`trainer.model.SymmetricPadConv3DTranspose`'s crop,
  so a graph fix would have to replace both.

Measured (``results/perf/remapper_pad.txt``, 2 busy CPU cores): the modes overlap within the
noise (15-41 clips/s with the failing remapper, 16-36 with it off), so the message is silenced
(:mod:`trainer.tf_logging`) rather than the graph changed.

    python benchmarks/remapper_pad.py                     # cpu preset, 10 timed steps, 3 repeats
    python benchmarks/remapper_pad.py --preset paper --steps 3

The modes take turns. It prints clips/s per mode (best of the repeats) and whether the
remapper error was logged.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODES = ("default", "remapping-off", "concat-pad")


def _concat_pad(inputs, pads):
    import tensorflow as tf

    x = inputs
    for axis, (before, after) in enumerate(pads):
        parts = []
        for width in (before, after):
            shape = tf.unstack(tf.shape(x))
            shape[axis] = width
            parts.append(tf.zeros(tf.stack(shape), x.dtype))
        if before or after:
            x = tf.concat([parts[0], x, parts[1]], axis=axis)
    return x


def _child(mode: str, preset: str, steps: int) -> None:
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
    import tensorflow as tf

    from trainer import model as model_mod
    from trainer.config import load_config
    from trainer.speed import bench_model, training_sampler

    if mode == "remapping-off":
        tf.config.optimizer.set_experimental_options({"remapping": False})
    if mode == "concat-pad":
        original = model_mod.ops.pad
        model_mod.ops.pad = _concat_pad
    config = load_config(preset)
    sampler = training_sampler(config)
    clips_per_s = bench_model(sampler, config, steps=steps)
    if mode == "concat-pad":
        model_mod.ops.pad = original
    print(json.dumps({"mode": mode, "clips_per_s": clips_per_s}), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", default="cpu")
    p.add_argument("--steps", type=int, default=10, help="timed training steps per measurement")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    p.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        _child(args.child, args.preset, args.steps)
        return
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "PYTHONPATH": str(ROOT)}
    print(f"preset {args.preset}, {args.steps} timed steps, best of {args.repeats}, clips/s")
    rates: dict[str, list[float]] = {m: [] for m in args.modes}
    errors = dict.fromkeys(args.modes, False)
    for _ in range(args.repeats):  # modes interleaved, so a change in machine load hits all
        for mode in args.modes:
            out = subprocess.run(
                [sys.executable, __file__, "--child", mode, "--preset", args.preset,
                 "--steps", str(args.steps)],
                env=env, capture_output=True, text=True, check=True,
            )  # fmt: skip
            rates[mode].append(json.loads(out.stdout.strip().splitlines()[-1])["clips_per_s"])
            errors[mode] |= "remapper failed" in out.stderr
    for mode in args.modes:
        r = rates[mode]
        print(
            f"{mode:14s} {max(r):7.1f}  (all: {', '.join(f'{x:.1f}' for x in r)}; "
            f"remapper error logged: {'yes' if errors[mode] else 'no'})",
            flush=True,
        )


if __name__ == "__main__":
    main()
