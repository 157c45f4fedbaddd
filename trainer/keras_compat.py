"""The Keras internals the trainer relies on, in one place.

Keras 3 has no public API for three things :class:`trainer.losses.DualLossAutoencoder` needs
under ``tf.distribute``; each is reached here, by name, and nowhere else:

* :data:`SYMBOLIC_BUILD` (``Trainer._maybe_symbolic_build``): the TensorFlow trainer calls it
  before ``fit`` to learn the input shapes from a batch it reduces across replicas, which fails
  under ``MultiWorkerMirroredStrategy`` (keras-team/keras#20585). The model overrides it to
  build from its own input shape.
* :func:`aggregate_additional_loss` (``Model._aggregate_additional_loss``): scales a
  regularisation loss for the number of replicas, as Keras' own ``compute_loss`` does.
* :func:`model_strategy` (``Model._distribute_strategy``) and :func:`in_multi_worker_mode`
  (``strategy.extended._in_multi_worker_mode``): whether the model trains across workers, where
  Keras 3 cannot average scalar logs (keras-team/keras#20585).

``tests/test_trainer_keras_compat.py`` checks that each of them still exists with the
signature used here, so a Keras upgrade that removes or renames one fails there, by name,
instead of deep inside a distributed ``fit``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "SYMBOLIC_BUILD",
    "aggregate_additional_loss",
    "in_multi_worker_mode",
    "model_strategy",
]

SYMBOLIC_BUILD = "_maybe_symbolic_build"
"""Name of the Keras trainer method (``iterator=None, data_batch=None``) that builds a model
from a data batch before ``fit``; overridden by :class:`trainer.losses.DualLossAutoencoder`."""

_AGGREGATE = "_aggregate_additional_loss"
_STRATEGY = "_distribute_strategy"
_MULTI_WORKER = "_in_multi_worker_mode"


def aggregate_additional_loss(model: Any, loss: Any) -> Any:
    """``loss`` (one of ``model.losses``) scaled as Keras scales regularisation losses."""
    return getattr(model, _AGGREGATE)(loss)


def model_strategy(model: Any) -> Any:
    """The ``tf.distribute`` strategy ``model`` was built under, or ``None``."""
    return getattr(model, _STRATEGY, None)


def in_multi_worker_mode(strategy: Any) -> bool:
    """Whether ``strategy`` spans several workers (``False`` for ``None``)."""
    mode = getattr(getattr(strategy, "extended", None), _MULTI_WORKER, None)
    return bool(mode is not None and mode())
