"""``python -m trainer``: see :mod:`trainer.cli`."""

import sys

import trainer.tf_logging  # noqa: F401  (first: TensorFlow's C++ log lines)
from trainer.cli import main

if __name__ == "__main__":
    sys.exit(main())
