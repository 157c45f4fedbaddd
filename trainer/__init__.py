"""Keras trainer for clip-level pseudo anomalies (Astrid et al., BMVC 2021).

The package is split into one module per concept (see ``docs/architecture.md``):
``trainer.data`` (dataset readers and the decoded-frame cache), ``trainer.synthetic`` (the
embedded synthetic dataset), ``trainer.evaluation`` (sliding-window PSNR scoring and AUCs),
``trainer.plots`` and the TensorFlow modules (``pipeline``, ``model``, ``losses``, ...).

This ``__init__`` stays light on purpose: it imports neither TensorFlow nor any submodule, so
``import trainer.data`` does not pay for TensorFlow.
"""

__all__: list[str] = []
