"""Command line: ``pseudoanom {preview,list,bench}`` (also ``python -m pseudoanom``).

Bad input (a missing frames or intruder folder, an unreadable image, an invalid parameter)
prints one ``error: ...`` line on stderr and exits with code 2, like ``python -m trainer``.
Set ``PSEUDOANOM_DEBUG=1`` to get the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .errors import PseudoAnomError

__all__ = ["EXIT_USAGE", "build_parser", "main"]

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    """The ``argparse`` parser of ``pseudoanom`` and its subcommands."""
    ap = argparse.ArgumentParser(
        prog="pseudoanom",
        description="Preview pseudo anomalies on a video's frames, list the registered "
        "transforms, or benchmark them (also: python -m pseudoanom).",
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    pv = sub.add_parser("preview", help="PNG grid: normal clip, then each pseudo anomaly")
    pv.add_argument(
        "--frames", required=True, help="one video: a folder of its frames or a video file"
    )
    pv.add_argument(
        "--intruders",
        default=None,
        help="image folder, cifar-100-python(.tar.gz) or frames root (default: embedded)",
    )
    pv.add_argument("--out", required=True, help="PNG file to write")
    pv.add_argument(
        "--seed", type=int, default=0, help="seed of every pseudo-anomaly draw (default 0)"
    )
    pv.add_argument("--size", type=int, default=256, help="frame side after resize")
    pv.add_argument("--length", type=int, default=16, help="T, frames per clip")
    pv.add_argument("--start", type=int, default=0, help="first frame of the clip")
    pv.add_argument("--columns", type=int, default=6, help="frames shown per row")
    pv.add_argument("--tile", type=int, default=128, help="side of each shown frame")
    pv.add_argument("--transforms", nargs="*", default=None, help="names (default: all)")
    pv.add_argument(
        "--content",
        nargs="+",
        choices=("window", "object"),
        default=["window"],
        help="patch content, one row each (window: the paper's; object: ours)",
    )
    sub.add_parser("list", help="print the registered transform names")
    from .bench import add_arguments as add_bench_arguments

    add_bench_arguments(
        sub.add_parser(
            "bench",
            help="time each transform per clip (runs python -m pseudoanom.bench)",
            description="Clips/s of each transform on one CPU core, in a fresh process.",
        )
    )
    return ap


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``pseudoanom`` console script; returns the exit code (0, or 2).

    ``preview`` writes a PNG grid of a normal clip and its pseudo anomalies; ``list`` prints
    the registered transforms; ``bench`` runs ``python -m pseudoanom.bench``.
    """
    ap = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args, rest = ap.parse_known_args(argv)
    if args.cmd == "bench":
        given = argv[argv.index("bench") + 1 :]
        os.execv(sys.executable, [sys.executable, "-m", "pseudoanom.bench", *given])
    if rest:
        ap.error(f"unrecognized arguments: {' '.join(rest)}")
    from . import registry

    if args.cmd == "list":
        print("\n".join(registry.available()))
        return 0
    try:
        out = _preview(args)
    except (PseudoAnomError, OSError, ValueError) as e:
        if os.environ.get("PSEUDOANOM_DEBUG"):
            raise
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    print(f"wrote {out}")
    return 0


def _preview(args: argparse.Namespace) -> Path:
    from .preview import preview

    return preview(
        args.frames,
        args.intruders,
        args.out,
        seed=args.seed,
        size=args.size,
        length=args.length,
        start=args.start,
        columns=args.columns,
        tile=args.tile,
        names=args.transforms,
        contents=tuple(args.content),
    )


if __name__ == "__main__":
    raise SystemExit(main())
