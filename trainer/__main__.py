"""``python -m trainer``: see :mod:`trainer.cli`."""

import os
import sys
import traceback

# Before TensorFlow is imported anywhere: keep its C++ logging to warnings and errors.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from trainer.cli import main  # noqa: E402

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
