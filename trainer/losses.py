"""The dual reconstruction loss of Astrid et al. (BMVC 2021), Eq. (4) and (5).

Every training sample is a triple ``(x, y, is_pseudo)``:

* a normal sample has ``x = y = X^N`` and costs ``MSE(AE(X^N), X^N)`` (Eq. 4);
* a pseudo anomaly has ``x = X^P`` and ``y = X^N`` and costs ``MSE(AE(X^P), X^N)`` (Eq. 5):
  the model is taught *not* to reconstruct the anomaly.

So both kinds are the same per-sample MSE against the target ``y``; ``is_pseudo`` only decides
which tracker (``normal_loss`` / ``pseudo_loss``) a sample is reported under. It is not a weight:
every sample weighs the same in the batch mean.

Only ``keras.ops`` is used, so :class:`DualLossAutoencoder` trains under the TensorFlow, JAX and
torch backends with the stock ``train_step``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import keras
import numpy as np
from keras import ops

from trainer import keras_compat
from trainer.model import build_autoencoder

if TYPE_CHECKING:
    from trainer.config import TrainConfig
    from trainer.distribute import Distribution


def per_sample_mse(y_true, y_pred):
    """Mean squared error of each sample over all its (T, H, W, C) values, in float32.

    Parameters
    ----------
    y_true, y_pred : tensor
        ``(B, ...)`` targets and reconstructions (any float dtype).

    Returns
    -------
    tensor
        float32 ``(B,)``.
    """
    # float32 even under mixed_float16: squared errors of 4M float16 values lose precision.
    diff = ops.cast(y_pred, "float32") - ops.cast(y_true, "float32")
    return ops.mean(ops.square(diff), axis=tuple(range(1, len(diff.shape))))


@keras.saving.register_keras_serializable(package="trainer")
class PerSampleMSE(keras.losses.Loss):
    """``keras.losses.Loss`` whose per-sample value is the MSE over the whole clip.

    Going through ``Loss.__call__`` (reduction ``"sum_over_batch_size"``) gives the mean over
    samples *and* Keras' division by the number of replicas under ``tf.distribute``, so the
    gradients summed over replicas equal the single-device gradient of the global batch mean.
    """

    def __init__(self, name: str = "per_sample_mse", **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        return per_sample_mse(y_true, y_pred)


@keras.saving.register_keras_serializable(package="trainer")
class DualLossAutoencoder(keras.Model):
    """Autoencoder trained with the dual loss of Eq. (4)/(5).

    Build it with :func:`build_dual_loss_autoencoder` (or ``DualLossAutoencoder(inputs=...,
    outputs=...)``), compile with only an optimizer, and ``fit`` on ``(x, y, is_pseudo)``
    batches. The logs hold ``loss`` (mean per-sample MSE over all samples), ``normal_loss`` and
    ``pseudo_loss`` (mean per-sample MSE over the normal / pseudo-anomaly samples).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reconstruction_loss = PerSampleMSE()
        self.normal_loss_tracker = keras.metrics.Mean(name="normal_loss")
        self.pseudo_loss_tracker = keras.metrics.Mean(name="pseudo_loss")

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        # Keras unpacks the third element of (x, y, is_pseudo) as `sample_weight`; here it is
        # only the pseudo-anomaly flag, so it is never used to weight the loss.
        is_pseudo = sample_weight
        if y is None:  # plain (x,) data: reconstruct the input (Eq. 4 only)
            y = x
        loss = self.reconstruction_loss(y, y_pred)
        # Regularisation losses, if a subclass adds any; Keras scales these for tf.distribute.
        for extra in self.losses:
            loss = loss + keras_compat.aggregate_additional_loss(self, extra)

        errors = ops.stop_gradient(per_sample_mse(y, y_pred))
        pseudo = (
            ops.zeros_like(errors)
            if is_pseudo is None
            else ops.cast(ops.reshape(is_pseudo, (-1,)), "float32")
        )
        self.normal_loss_tracker.update_state(errors, sample_weight=1.0 - pseudo)
        self.pseudo_loss_tracker.update_state(errors, sample_weight=pseudo)
        return loss

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # keras_compat.SYMBOLIC_BUILD: under a strategy, build from a one-clip zero batch of
        # the model's input shape instead of a batch reduced across replicas.
        if data_batch is None and keras_compat.model_strategy(self) is not None:
            clip = np.zeros((1, *self.input_shape[1:]), np.float32)
            data_batch, iterator = (clip, clip, np.zeros((1,), np.float32)), None
        return getattr(super(), keras_compat.SYMBOLIC_BUILD)(
            iterator=iterator, data_batch=data_batch
        )

    def train_step(self, *args, **kwargs):
        logs = super().train_step(*args, **kwargs)
        if keras_compat.in_multi_worker_mode(keras_compat.model_strategy(self)):
            # Keras 3 averages each replica's logs with `reduce("MEAN", v, axis=0)` across
            # workers, which rejects scalars (keras-team/keras#20585): give them an axis.
            logs = {k: ops.reshape(v, (1,)) for k, v in logs.items()}
        return logs

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        # The flag must not reach compiled metrics as a weight either.
        return super().compute_metrics(x, y, y_pred, sample_weight=None)


def build_dual_loss_autoencoder(
    input_shape: tuple[int, int, int, int] = (16, 256, 256, 1),
    width: float = 1.0,
    name: str = "dual_loss_autoencoder",
    sync_batchnorm: bool = False,
) -> DualLossAutoencoder:
    """The Conv3D autoencoder of :mod:`trainer.model` as a :class:`DualLossAutoencoder`.

    Parameters
    ----------
    input_shape : tuple of int
        ``(T, H, W, C)`` of one clip.
    width : float
        Channel multiplier (1.0 = paper).
    name : str
        Model name.
    sync_batchnorm : bool
        Synchronised BatchNorm across ``tf.distribute`` replicas (see
        :func:`trainer.model.build_autoencoder`).

    Returns
    -------
    DualLossAutoencoder
        Not yet compiled: call ``model.compile(optimizer=...)`` (no ``loss`` argument).
    """
    return build_autoencoder(
        input_shape,
        width=width,
        name=name,
        model_class=DualLossAutoencoder,
        sync_batchnorm=sync_batchnorm,
    )


def build_model(config: TrainConfig, dist: Distribution | None = None) -> DualLossAutoencoder:
    """The compiled, freshly initialised :class:`~trainer.losses.DualLossAutoencoder` of
    ``config``: what :func:`trainer.train.train` fits when it does not resume.

    Parameters
    ----------
    config : TrainConfig
        Reads ``clip_length``, ``size``, ``channels``, ``width`` and ``lr`` (Adam).
    dist : trainer.distribute.Distribution or None
        The strategy the model trains under; synchronised BatchNorm when it has several
        replicas. ``None``: one device. Build the model inside ``dist.scope()``.

    Returns
    -------
    DualLossAutoencoder
        Compiled with ``keras.optimizers.Adam(config.lr)`` and no ``loss`` (the dual loss is
        the model's own).
    """
    input_shape = (config.clip_length, *config.size, config.channels)
    replicas = 1 if dist is None else dist.replicas
    model = build_dual_loss_autoencoder(
        input_shape, width=config.width, sync_batchnorm=replicas > 1
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=config.lr))
    return model


def portable_model(model: keras.Model) -> keras.Model:
    """A copy of ``model`` built outside any strategy, with plain (unsynchronised) BatchNorm.

    Synchronised BatchNorm only exists under TensorFlow and only matters while training on
    several replicas; the copy (what a run evaluates and saves as ``model.keras`` after
    training under a strategy) predicts on one device without the strategy.
    """
    config = model.get_config()
    for layer in config["layers"]:
        if layer["class_name"] == "BatchNormalization":
            layer["config"]["synchronized"] = False
    copy = type(model).from_config(config)
    copy.set_weights([np.asarray(w) for w in model.get_weights()])
    if model.optimizer is not None:  # same optimizer settings; its state stays in checkpoints
        copy.compile(optimizer=type(model.optimizer).from_config(model.optimizer.get_config()))
    return copy
