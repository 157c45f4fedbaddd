"""``python -m trainer make-synthetic``: write the embedded synthetic dataset to a folder."""

from __future__ import annotations

import argparse

from trainer.commands.common import CLIError

NAME = "make-synthetic"
HELP = "write the embedded synthetic dataset"
DESCRIPTION = (
    "Writes the synthetic dataset that train and evaluate use without --data: a Ped2-like scene "
    "of walking figures, whose test videos hold a fast figure or a vehicle (frame labels and "
    "pixel masks), as training/ and testing/ frame folders."
)


def add_arguments(m: argparse.ArgumentParser) -> None:
    """The options of ``make-synthetic``."""
    m.add_argument("--out", required=True, help="dataset folder to create")
    m.add_argument("--n-train", type=int, default=8, help="training videos (default 8)")
    m.add_argument("--n-test", type=int, default=4, help="test videos (default 4)")
    m.add_argument("--frames", type=int, default=80, help="frames per video (default 80)")
    m.add_argument("--size", default="64,64", help="frame size H,W (default 64,64)")
    m.add_argument("--seed", type=int, default=0, help="seed of the rendered videos (default 0)")


def run(args: argparse.Namespace) -> int:
    """Write the dataset; prints its root."""
    from trainer.synthetic import make_synthetic_dataset

    try:
        size = tuple(int(v) for v in args.size.split(","))
    except ValueError:
        raise CLIError(f"--size {args.size!r}: expected H,W") from None
    root = make_synthetic_dataset(
        args.out,
        n_train=args.n_train,
        n_test=args.n_test,
        frames=args.frames,
        size=size,
        seed=args.seed,
    )
    print(root)
    return 0
