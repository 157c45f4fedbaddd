"""``python -m pseudoanom.bench``: clips/s of each transform on one CPU core.

Measures ``transform(clip, rng=rng)`` (validation, parameter draw, intruder fit, blend and
the output clip: everything a training loop pays) on a float32 clip ``(T, H, W, 1)`` in
[-1, 1] with the paper's defaults (alpha = 0.5, beta = 10, embedded intruders), and
``skip_frame.from_video`` on a ``(K, H, W, 1)`` video with a random start per call. Each patch
transform is timed with ``content="window"`` (the paper's, its default; row ``name``) and
``content="object"`` (row ``name (object)``), next to each other.

Before importing NumPy/OpenCV it re-executes itself with OMP/OpenBLAS/MKL threads set to 1
and pins the process to one core, and calls ``cv2.setNumThreads(1)``.

The mask is built only when a result's ``.mask`` is read (see
:class:`~pseudoanom.result.LazyMask`), which a training loop does not do; ``--read-mask``
reads it after every call, for consumers that do.

Allocator: every call returns a fresh 4 MiB clip (and a 4 MiB mask once it is read). glibc
serves blocks of that size with mmap until its adaptive threshold has grown past them, so a
fresh process pays ~2000 page faults per call that a long-running trainer does not. By
default the bench raises the threshold (``mallopt(M_MMAP_THRESHOLD, 64 MiB)``) to measure that
steady state; ``--malloc-default`` keeps glibc's defaults (the cold, slower figure).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def _single_thread_env() -> None:
    """Re-exec with one-thread BLAS/OpenMP (must be set before NumPy loads them)."""
    if all(os.environ.get(v) == "1" for v in _THREAD_VARS):
        return
    env = dict(os.environ, **{v: "1" for v in _THREAD_VARS})
    os.execve(sys.executable, [sys.executable, "-m", "pseudoanom.bench", *sys.argv[1:]], env)


def _raise_mmap_threshold() -> bool:
    """glibc only: serve blocks up to 64 MiB from the heap (see module doc). True if applied."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        ok = libc.mallopt(m_mmap_threshold, 64 << 20) == 1
        return ok and libc.mallopt(m_trim_threshold, 256 << 20) == 1
    except (OSError, AttributeError):
        return False


def run(
    names: list[str] | None = None,
    seconds: float = 3.0,
    t: int = 16,
    size: int = 256,
    video_frames: int = 64,
    dtype: str = "float32",
    seed: int = 0,
    floor: bool = True,
    repeat: int = 1,
    detailed: bool = False,
    read_mask: bool = False,
    contents: tuple[str, ...] = ("window", "object"),
) -> list[tuple[str, float]] | list[tuple[str, list[tuple[float, float]]]]:
    """Benchmark transforms; returns ``[(name, clips_per_second), ...]``.

    Parameters
    ----------
    names : list of str, optional
        Transforms to time (default: every built-in).
    seconds : float
        Seconds per timing of each row (after a few untimed warm-up calls).
    t, size : int
        Clip length and square frame side.
    video_frames : int
        K of the video ``skip_frame`` reads from.
    dtype : {"float32", "uint8"}
        Clip dtype.
    seed : int
        Seed of the clip and of the draws.
    floor : bool
        Also time ``(floor)``: only what every transform must do (check and copy the clip),
        the memory-bound lower limit on this machine; ``(floor+mask)``, the same plus a
        zeroed float32 ``(T, H, W)`` mask (the floor before masks were built lazily, kept to
        compare with earlier figures); and, for float32, ``(blend floor)``: the check plus an
        exact blend of every pixel with fixed weights, the least a transform that changes
        every pixel (``smoothmix_c``) can do.
    repeat : int
        Timings per transform (``seconds`` each), taken round robin: every row once, then
        every row again, so that a slow spell of a shared machine hits all rows alike. The
        plain result is the best of them.
    detailed : bool
        Return ``[(name, [(wall_rate, cpu_rate), ...]), ...]`` with every timing: the wall-clock
        rate and the rate per second of CPU time this thread got (less sensitive to other jobs
        taking the core; still sensitive to them sharing caches and memory bandwidth).
    read_mask : bool
        Read ``.mask`` of every result (builds the lazily described mask).
    contents : tuple of str
        ``content`` values to time each patch transform with: ``"window"`` gives the row
        ``name``, ``"object"`` the row ``name (object)``.
    """
    import cv2
    import numpy as np

    import pseudoanom

    cv2.setNumThreads(1)
    rng = np.random.default_rng(seed)
    video = rng.uniform(-1.0, 1.0, (video_frames, size, size, 1)).astype(np.float32)
    if dtype == "uint8":
        video = np.round((video + 1.0) * 127.5).astype(np.uint8)
    clip = np.ascontiguousarray(video[:t])
    names = names or ["smoothmix_s", "smoothmix_c", "cutmix", "mixup_patch", "skip_frame"]
    calls: list[tuple[str, Callable[[int], object]]] = []
    if floor:
        from .validation import copy_checked

        def mandatory(i: int) -> object:  # what any transform must do: check + copy the clip
            return copy_checked(clip, "clip", (-1.0, 1.0))

        def with_mask(i: int) -> object:  # the floor up to 2026-11-28: also a zeroed mask
            return _copy_checked_zero_mask(clip, "clip", (-1.0, 1.0))

        calls += [("(floor)", mandatory), ("(floor+mask)", with_mask)]
        if clip.dtype == np.float32:
            weights = _fixed_blend_weights(clip.shape[1:3], np.random.default_rng([seed, 1]))
            calls.append(("(blend floor)", lambda i: _check_blend_frames(clip, *weights)))
    rows = []
    for name in names:
        if isinstance(pseudoanom.create(name), pseudoanom.PatchTransform):
            for content in contents:
                row = name if content == "window" else f"{name} ({content})"
                rows.append((row, pseudoanom.create(name, alpha=0.5, beta=10.0, content=content)))
        else:
            rows.append((name, pseudoanom.create(name)))
    for name, tr in rows:
        if tr.needs_video:
            starts = rng.integers(0, video_frames - t + 1, 4096)

            def call(i: int, tr=tr, starts=starts) -> object:
                res = tr.from_video(video, int(starts[i % 4096]), t, rng=rng)
                return res.mask if read_mask else res
        else:

            def call(i: int, tr=tr) -> object:
                res = tr(clip, rng=rng)
                return res.mask if read_mask else res

        calls.append((name, call))
    # Round robin (every row once, then every row again...), so that a slow spell of this
    # shared machine spreads over all rows instead of sinking the one timed during it.
    for _, call in calls:
        _warm_up(call)
    timings: list[list[tuple[float, float]]] = [[] for _ in calls]
    for _ in range(repeat):
        for (_, call), rates in zip(calls, timings, strict=True):
            rates.append(_rate(call, seconds))
    results = [(name, rates) for (name, _), rates in zip(calls, timings, strict=True)]
    if detailed:
        return results
    return [(name, max(w for w, _ in rates)) for name, rates in results]


def _fixed_blend_weights(
    hw: tuple[int, int], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``(1 - w, w * src)`` float32 ``(H, W)`` for :func:`_check_blend_frames` (any values)."""
    import numpy as np

    w = rng.uniform(0.0, 1.0, hw).astype(np.float32)
    return np.float32(1.0) - w, w * rng.uniform(-1.0, 1.0, hw).astype(np.float32)


def _check_blend_frames(clip: np.ndarray, inv: np.ndarray, content: np.ndarray) -> np.ndarray:
    """The ``(blend floor)`` row: check the clip and blend every pixel of every frame.

    ``out = clip * inv + content`` frame by frame (``transforms.functional.blend_exact``, as the
    transforms do) after the clip's NaN/range check, a ~512 KiB chunk at a time; the weights
    are fixed, nothing is drawn. No exact blend that changes every pixel (``smoothmix_c``,
    whose Gaussian mask covers the whole frame, as in the paper) can do less with
    NumPy/OpenCV.
    """
    import numpy as np

    from .transforms.functional import blend_exact
    from .validation import ExtremaTracker, chunk_frames

    out = np.empty(clip.shape, np.float32)
    src, dst = clip[..., 0], out[..., 0]
    per = chunk_frames(clip)
    tracker = ExtremaTracker("clip", (-1.0, 1.0))
    for i0 in range(0, clip.shape[0], per):
        tracker.add(clip[i0 : i0 + per])
        for i in range(i0, min(i0 + per, clip.shape[0])):
            blend_exact(dst[i], src[i], inv, content)
    tracker.check()
    return out


def _copy_checked_zero_mask(
    arr: np.ndarray, name: str, value_range: tuple[float, float] | None
) -> tuple[np.ndarray, np.ndarray]:
    """``(copy_checked(arr), float32 zeros (T, H, W))``, a chunk of ~512 KiB at a time.

    What every patch transform did before its mask became a
    :class:`~pseudoanom.result.LazyMask` (the ``(floor+mask)`` row).
    """
    import numpy as np

    from .validation import ExtremaTracker, chunk_frames

    out = np.empty(arr.shape, arr.dtype)
    mask = np.empty(arr.shape[:3], np.float32)
    if arr.dtype != np.float32:
        np.copyto(out, arr)
        mask.fill(0.0)
        return out, mask
    per = chunk_frames(arr)
    tracker = ExtremaTracker(name, value_range)
    for i in range(0, arr.shape[0], per):
        chunk = out[i : i + per]
        np.copyto(chunk, arr[i : i + per])
        tracker.add(chunk)
        mask[i : i + per].fill(0.0)
    tracker.check()
    return out, mask


def _warm_up(call: Callable[[int], object]) -> None:
    """A few untimed calls: intruder bank, memoised profiles, caches."""
    for i in range(20):
        call(i)


def _rate(call: Callable[[int], object], seconds: float) -> tuple[float, float]:
    """``(calls per wall-clock second, calls per CPU second)`` of ``call(i)``."""
    import time

    n, start, cpu0 = 0, time.perf_counter(), time.thread_time()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(10):
            call(n)
            n += 1
    cpu = time.thread_time() - cpu0
    return n / elapsed, n / max(cpu, 1e-9)


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The options of the bench (also those of ``pseudoanom bench``)."""
    ap.add_argument("transforms", nargs="*", help="names to time (default: all built-ins)")
    ap.add_argument("--seconds", type=float, default=3.0, help="seconds per transform")
    ap.add_argument("--frames", type=int, default=16, help="T, frames per clip")
    ap.add_argument("--size", type=int, default=256, help="frame side in pixels")
    ap.add_argument("--video-frames", type=int, default=64, help="K for skip_frame")
    ap.add_argument(
        "--dtype",
        choices=("float32", "uint8"),
        default="float32",
        help="dtype of the clips (default float32)",
    )
    ap.add_argument("--seed", type=int, default=0, help="seed of the clips and draws (default 0)")
    ap.add_argument(
        "--repeat", type=int, default=1, help="timings per transform (best and median shown)"
    )
    ap.add_argument(
        "--read-mask", action="store_true", help="read .mask of every result (builds it)"
    )
    ap.add_argument("--no-pin", action="store_true", help="do not pin to one CPU core")
    ap.add_argument(
        "--malloc-default", action="store_true", help="keep glibc's mmap threshold (cold figure)"
    )


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see ``python -m pseudoanom.bench --help``)."""
    ap = argparse.ArgumentParser(prog="python -m pseudoanom.bench", description=__doc__)
    add_arguments(ap)
    args = ap.parse_args(argv)
    tuned = False if args.malloc_default else _raise_mmap_threshold()
    if not args.no_pin and hasattr(os, "sched_setaffinity"):
        cores = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cores[-1]})
    load_before = _loadavg()
    res = run(
        args.transforms or None,
        args.seconds,
        args.frames,
        args.size,
        args.video_frames,
        args.dtype,
        args.seed,
        repeat=max(1, args.repeat),
        detailed=True,
        read_mask=args.read_mask,
    )
    shape = f"{args.frames}x{args.size}x{args.size}x1 {args.dtype}"
    alloc = "mmap threshold 64 MiB" if tuned else "glibc default malloc"
    mask = ", mask read" if args.read_mask else ""
    print(
        f"pseudoanom.bench: {shape}, one core, beta=10, skip_frame K={args.video_frames}, "
        f"{alloc}{mask}"
    )
    print(f"load average before: {load_before}")
    print(
        f"{'transform':<22}{'clips/s':>9}{'median':>9}{'ms/clip':>9}"
        f"{'cpu clips/s':>13}{'median':>9}   (best / median of {max(1, args.repeat)})"
    )
    for name, rates in res:
        wall = sorted(r[0] for r in rates)
        cpu = sorted(r[1] for r in rates)
        print(
            f"{name:<22}{wall[-1]:>9.0f}{_median(wall):>9.0f}{1000.0 / wall[-1]:>9.2f}"
            f"{cpu[-1]:>13.0f}{_median(cpu):>9.0f}"
        )
    print(f"load average after: {_loadavg()}")
    return 0


def _median(xs: list[float]) -> float:
    n = len(xs)
    return xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2])


def _loadavg() -> str:
    try:
        with open("/proc/loadavg", encoding="ascii") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "n/a"


if __name__ == "__main__":
    _single_thread_env()
    raise SystemExit(main())
