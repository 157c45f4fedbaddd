"""Keras trainer for clip-level pseudo anomalies (Astrid et al., BMVC 2021).

The package is split into one module per concept (see ``docs/architecture.md``):
``trainer.data`` (dataset readers and the decoded-frame cache), ``trainer.synthetic`` (the
embedded synthetic dataset), ``trainer.evaluation`` (sliding-window PSNR scoring and AUCs),
``trainer.frame_metrics``, ``trainer.labels`` and ``trainer.localisation`` (metrics beside the
frame AUC), ``trainer.plots``, ``trainer.backend`` (which Keras backend) and the Keras modules
(``pipeline``, ``model``, ``losses``, ...).

This ``__init__`` stays light on purpose: it imports neither Keras nor any framework, so
``import trainer.data`` does not pay for them. It only quiets TensorFlow's C++ start-up lines
(:mod:`trainer.tf_logging`) and settles the Keras backend, which must happen before Keras is
first imported: ``KERAS_BACKEND`` when the user set it, else tensorflow
on a CPU and torch on a machine with an NVIDIA GPU (see :mod:`trainer.backend`).
"""

# First, before anything imports TensorFlow: its C++ log lines (trainer.tf_logging).
from trainer import tf_logging as _tf_logging  # noqa: F401, I001
from trainer import backend as _backend

_backend.select()

__all__: list[str] = []
