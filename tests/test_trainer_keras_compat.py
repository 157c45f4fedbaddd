"""The Keras internals of :mod:`trainer.keras_compat` still exist with the signatures used.

A Keras upgrade that removes or renames one of them fails here, naming it, rather than inside
a distributed ``fit``.
"""

from __future__ import annotations

import inspect

import pytest

keras = pytest.importorskip("keras")

from trainer import keras_compat  # noqa: E402
from trainer.losses import DualLossAutoencoder, build_dual_loss_autoencoder  # noqa: E402

on_tensorflow = pytest.mark.skipif(
    keras.config.backend() != "tensorflow", reason="tf.distribute internals"
)


def _params(function) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_aggregate_additional_loss_exists():
    name = "_aggregate_additional_loss"
    assert hasattr(keras.Model, name), f"keras.Model.{name} is gone: update trainer.keras_compat"
    assert _params(getattr(keras.Model, name)) == ["self", "loss"]
    model = build_dual_loss_autoencoder((8, 16, 16, 1), width=0.25)
    loss = keras_compat.aggregate_additional_loss(model, keras.ops.convert_to_tensor(2.0))
    assert float(keras.ops.convert_to_numpy(loss)) == pytest.approx(2.0)  # one replica


@on_tensorflow
def test_symbolic_build_is_overridden_with_keras_signature():
    name = keras_compat.SYMBOLIC_BUILD
    base = getattr(keras.Model, name, None)
    assert base is not None, f"keras.Model.{name} is gone: update trainer.keras_compat"
    assert _params(base) == ["self", "iterator", "data_batch"]
    assert name in vars(DualLossAutoencoder)


@on_tensorflow
def test_strategy_internals_exist():
    import tensorflow as tf

    assert keras_compat.model_strategy(build_dual_loss_autoencoder((8, 16, 16, 1), 0.25)) is None
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        model = build_dual_loss_autoencoder((8, 16, 16, 1), width=0.25)
    assert keras_compat.model_strategy(model) is strategy
    assert callable(getattr(strategy.extended, "_in_multi_worker_mode", None))
    assert keras_compat.in_multi_worker_mode(strategy) is False
    assert keras_compat.in_multi_worker_mode(None) is False
