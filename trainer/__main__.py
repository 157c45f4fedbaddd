"""``python -m trainer``: see :mod:`trainer.cli`."""

import os
import sys
import traceback

import trainer.tf_logging  # noqa: F401  (first: TensorFlow's C++ log lines)
from trainer.cli import main

if __name__ == "__main__":
    try:
        code = main()
    except (Exception, KeyboardInterrupt) as e:
        # After an error inside tf.data, its map threads may still be inside Python calls;
        # interpreter shutdown can then wait on them forever. Report and leave at once.
        traceback.print_exc()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130 if isinstance(e, KeyboardInterrupt) else 1)
    sys.exit(code)
