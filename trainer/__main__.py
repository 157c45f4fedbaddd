"""``python -m trainer``: see :mod:`trainer.cli`."""

import os
import sys

# Before TensorFlow is imported anywhere: keep its C++ logging to warnings and errors.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from trainer.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
