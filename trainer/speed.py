"""Is training input-bound? Clips/s of the input pipeline against clips/s of the model.

    python -m trainer.speed --preset cpu                       # embedded synthetic dataset
    python -m trainer.speed --preset cpu --data ../shared/datasets/ped2

Prints the Keras backend and device first (``keras backend ... on ...``, see
:mod:`trainer.backend`), then the clips/s the input pipeline delivers (with the config's pseudo
anomalies, p = 0.2 by default; tf.data under TensorFlow, the threaded generator that training
uses under the other backends), the clips/s the model trains at (timed ``fit`` steps on cached
batches, after a warm-up), their ratio (>= 3 means the input pipeline is never the bottleneck),
and the frames/s of evaluation (sliding-window PSNR scoring). What it is doing meanwhile goes to
stderr.

Under JAX the warm-up steps compile the whole train step with XLA first; for the ``paper``
model on a CPU that takes minutes, and the bench says so before it starts.
"""

from __future__ import annotations

import argparse  # noqa: E402
import os
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator, Sequence  # noqa: E402
from typing import Any  # noqa: E402

from trainer import backend  # noqa: E402
from trainer.config import PRESETS, TrainConfig, load_config, parse_override  # noqa: E402

__all__ = ["bench_eval", "bench_input", "bench_model", "main", "run_bench", "training_sampler"]


def _say(*args: Any) -> None:
    print(*args, file=sys.stderr, flush=True)


def _on_tensorflow() -> bool:
    import keras

    return keras.config.backend() == "tensorflow"


def bench_input(sampler, config: TrainConfig, batches: int = 30, warmup: int = 3) -> float:
    """Clips/s of the input training uses: the tf.data pipeline of
    :func:`trainer.input.make_dataset` under TensorFlow, the threaded generator of
    :func:`trainer.input.iterate_epochs` under the other backends."""
    from trainer.input import iterate_epochs, make_dataset

    steps = warmup + batches
    if _on_tensorflow():
        ds = make_dataset(
            sampler,
            config.batch_size,
            epochs=1,
            steps_per_epoch=steps,
            num_parallel_calls=config.num_parallel_calls or None,
        )
    else:
        workers = config.num_parallel_calls or os.cpu_count() or 1
        ds = iterate_epochs(sampler, config.batch_size, 1, 0, steps, workers=workers)
    it = iter(ds)
    for _ in range(warmup):
        next(it)
    t0 = time.perf_counter()
    n = 0
    for _ in range(batches):
        x, _, _ = next(it)
        n += int(x.shape[0])
    return n / (time.perf_counter() - t0)


def _repeat(batch: tuple) -> Iterator[tuple]:
    while True:
        yield batch


def bench_model(
    sampler, config: TrainConfig, steps: int = 10, warmup: int = 3, verbose: bool = False
) -> float:
    """Clips/s of training steps on batches already in memory (the model alone)."""
    from trainer.input import iterate_batches
    from trainer.losses import build_model

    batch = next(iterate_batches(sampler, 0, config.batch_size, steps=1))
    if _on_tensorflow():
        import tensorflow as tf

        ds = tf.data.Dataset.from_tensors(batch).repeat()
    else:
        ds = _repeat(batch)
    model = build_model(config)
    t0 = time.perf_counter()
    model.fit(ds, steps_per_epoch=warmup, epochs=1, verbose=0, shuffle=False)  # traces and warms up
    if verbose:
        _say(f"  warm-up ({warmup} steps) took {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)
    return steps * config.batch_size / (time.perf_counter() - t0)


def bench_eval(root, config: TrainConfig, max_videos: int = 1) -> float:
    """Frames/s of :func:`trainer.evaluation.evaluate` on the first test videos."""
    from trainer.datasets import load_split
    from trainer.evaluation import evaluate
    from trainer.inference import predict_fn
    from trainer.losses import build_model

    videos = load_split(
        root, config.test_split, size=config.size, channels=config.channels,
        cache_dir=config.cache_dir,
    )[:max_videos]  # fmt: skip
    model = build_model(config)
    evaluate(
        videos,
        predict_fn(model),
        clip_len=config.clip_length,
        batch_size=config.eval_batch_size,
        require_labels=False,
    )  # warm-up: traces predict
    result = evaluate(
        videos,
        predict_fn(model),
        clip_len=config.clip_length,
        batch_size=config.eval_batch_size,
        require_labels=False,
    )
    return result.frames_per_second


def training_sampler(config: TrainConfig):
    """The :class:`~trainer.input.ClipSampler` of ``config``'s whole training split (no
    holdout), with its pseudo-anomaly pipeline: what the speed benchmarks time."""
    from trainer.datasets import load_split
    from trainer.input import ClipSampler, build_pseudo_pipeline
    from trainer.synthetic import resolve_dataset

    root = resolve_dataset(config.data, config.cache_dir)
    videos = load_split(
        root, config.train_split, size=config.size, channels=config.channels,
        cache_dir=config.cache_dir, min_frames=config.clip_length,
    )  # fmt: skip
    return ClipSampler(
        [v.frames for v in videos], config.clip_length, build_pseudo_pipeline(config), config.seed
    )


def run_bench(
    config: TrainConfig,
    steps: int = 10,
    batches: int = 30,
    eval_videos: int = 1,
    verbose: bool = False,
) -> dict[str, Any]:
    """Measure input clips/s, train clips/s, their ratio and evaluation frames/s.

    Parameters
    ----------
    config : TrainConfig
        Data, frame size, model width, batch size and pseudo anomalies to measure.
    steps : int
        Timed training steps (after 3 warm-up steps).
    batches : int
        Timed input batches (after 3 warm-up batches).
    eval_videos : int
        Test videos scored for the evaluation speed (0 = skip).
    verbose : bool
        Say on stderr what is being measured, and how long the warm-up took.

    Returns
    -------
    dict
        ``input_clips_per_s``, ``train_clips_per_s``, ``ratio``, ``eval_frames_per_s``,
        ``train_seconds_per_epoch``, ``clips_per_epoch``.
    """
    from trainer.synthetic import resolve_dataset

    root = resolve_dataset(config.data, config.cache_dir)
    sampler = training_sampler(config)
    if verbose:
        _say(f"input pipeline: {batches} batches of {config.batch_size} clips ...")
    inp = bench_input(sampler, config, batches=batches)
    if verbose:
        note = ""
        if not _on_tensorflow():
            import keras

            if keras.config.backend() == "jax":
                note = " (jax: the first step compiles the train step with XLA; minutes on a CPU)"
        _say(f"training: 3 warm-up steps{note}, then {steps} timed steps ...")
    train = bench_model(sampler, config, steps=steps, verbose=verbose)
    clips = sampler.steps_per_epoch(config.batch_size, config.steps_per_epoch) * config.batch_size
    out = {
        "dataset": str(root),
        "clips_per_epoch": clips,
        "input_clips_per_s": inp,
        "train_clips_per_s": train,
        "ratio": inp / train,
        "train_seconds_per_epoch": clips / train,
    }
    if eval_videos:
        if verbose:
            _say(f"evaluation: {eval_videos} test video(s), twice (warm-up, then timed) ...")
        out["eval_frames_per_s"] = bench_eval(root, config, eval_videos)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m trainer.speed``; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m trainer.speed", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    parser.add_argument("--config", help="YAML config (as for train)")
    parser.add_argument("--data", help="dataset root (default: the embedded synthetic dataset)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--steps", type=int, default=10, help="timed training steps")
    parser.add_argument("--batches", type=int, default=30, help="timed input batches")
    parser.add_argument("--eval-videos", type=int, default=1, help="test videos to score (0: skip)")
    parser.add_argument("--quiet", action="store_true", help="only the results (no progress)")
    args = parser.parse_args(argv)
    try:
        overrides = dict(parse_override(s) for s in args.set)
        if args.data:
            overrides["data"] = args.data
        config = load_config(args.preset, args.config, overrides)
        backend.check_installed()
        print(backend.describe(), flush=True)
        r = run_bench(
            config,
            steps=args.steps,
            batches=args.batches,
            eval_videos=args.eval_videos,
            verbose=not args.quiet,
        )
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    h, w = config.size
    print(
        f"{args.preset}: {h}x{w}x{config.channels}, T={config.clip_length}, "
        f"width {config.width}, batch {config.batch_size}, p={config.p}, {os.cpu_count()} CPUs"
    )
    print(f"dataset                {r['dataset']} ({r['clips_per_epoch']} clips/epoch)")
    print(f"input pipeline         {r['input_clips_per_s']:8.1f} clips/s")
    print(f"training               {r['train_clips_per_s']:8.1f} clips/s")
    print(f"ratio input/train      {r['ratio']:8.1f}  (>= 3: not input-bound)")
    print(f"epoch time (training)  {r['train_seconds_per_epoch']:8.1f} s")
    if "eval_frames_per_s" in r:
        print(f"evaluation             {r['eval_frames_per_s']:8.1f} frames/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
