"""The dual reconstruction loss of Astrid et al. (BMVC 2021), Eq. (4) and (5), and STEAL's.

Every training sample is a triple ``(x, y, is_pseudo)``:

* a normal sample has ``x = y = X^N`` and costs ``MSE(AE(X^N), X^N)`` (Eq. 4);
* a pseudo anomaly has ``x = X^P`` and ``y = X^N``. What it costs is the config key
  ``pseudo_objective``:

  - ``reconstruct_normal`` (default, the paper's Eq. 5): ``MSE(AE(X^P), X^N)``, the model is
    taught *not* to reconstruct the anomaly;
  - ``push_away`` (STEAL, Astrid et al. ICCVW 2021, its ``train.py``): ``-MSE(AE(X^P), X^P)``,
    the model is taught to reconstruct the anomaly *badly*; its target is its own input. STEAL
    does not clip the term; with our tanh output and [-1, 1] inputs it is at least -4. Ours,
    as an option: ``push_away_margin = m`` makes it ``-min(MSE(AE(X^P), X^P), m)``.

Both are one per-sample value with one sign (:class:`PseudoObjectiveLoss`), averaged over the
batch with equal weights, as in both papers. ``is_pseudo`` decides which objective a sample
gets and which tracker (``normal_loss`` / ``pseudo_loss``) it is reported under.

Only ``keras.ops`` is used, so :class:`DualLossAutoencoder` trains under the TensorFlow, JAX and
torch backends with the stock ``train_step``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import keras
import numpy as np
from keras import ops

from trainer import keras_compat
from trainer.config import PSEUDO_OBJECTIVES
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
class PseudoObjectiveLoss(keras.losses.Loss):
    """Per-sample loss of a ``{"input", "target", "pseudo"}`` batch under ``objective``.

    A normal sample costs ``MSE(y_pred, target)``. A pseudo anomaly costs the same under
    ``reconstruct_normal``, and ``-min(MSE(y_pred, input), margin)`` under ``push_away``
    (``margin=None``: no clip, STEAL's form). Reduced like :class:`PerSampleMSE` (batch mean,
    divided by the replicas under ``tf.distribute``).
    """

    def __init__(
        self,
        objective: str = "reconstruct_normal",
        margin: float | None = None,
        name: str = "pseudo_objective_loss",
        **kwargs,
    ):
        if objective not in PSEUDO_OBJECTIVES:
            raise ValueError(f"objective must be one of {PSEUDO_OBJECTIVES}, got {objective!r}")
        if margin is not None and not margin > 0:
            raise ValueError(f"margin must be > 0 or None, got {margin!r}")
        kwargs.setdefault("dtype", "float32")
        super().__init__(name=name, **kwargs)
        self.objective, self.margin = objective, margin

    def call(self, y_true, y_pred):
        pseudo = y_true["pseudo"]
        if self.objective == "reconstruct_normal":
            return per_sample_mse(y_true["target"], y_pred)
        push = ops.reshape(pseudo > 0.5, (-1,) + (1,) * (len(y_pred.shape) - 1))
        errors = per_sample_mse(ops.where(push, y_true["input"], y_true["target"]), y_pred)
        if self.margin is not None:
            errors = ops.where(pseudo > 0.5, ops.minimum(errors, self.margin), errors)
        return errors * (1.0 - 2.0 * pseudo)

    def get_config(self):
        return {**super().get_config(), "objective": self.objective, "margin": self.margin}


@keras.saving.register_keras_serializable(package="trainer")
class DualLossAutoencoder(keras.Model):
    """Autoencoder trained with the dual loss of Eq. (4)/(5).

    Build it with :func:`build_dual_loss_autoencoder` (or ``DualLossAutoencoder(inputs=...,
    outputs=...)``), pick the pseudo anomalies' objective with :meth:`set_pseudo_objective`
    (default ``reconstruct_normal``), compile with only an optimizer, and ``fit`` on
    ``(x, y, is_pseudo)`` batches. The logs hold ``loss`` (mean per-sample loss over all
    samples), ``normal_loss`` and ``pseudo_loss`` (mean per-sample loss over the normal /
    pseudo-anomaly samples: negative under ``push_away``).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.objective_loss = PseudoObjectiveLoss()
        self.normal_loss_tracker = keras.metrics.Mean(name="normal_loss")
        self.pseudo_loss_tracker = keras.metrics.Mean(name="pseudo_loss")

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        # Keras unpacks the third element of (x, y, is_pseudo) as `sample_weight`; here it is
        # only the pseudo-anomaly flag, so it is never used to weight the loss.
        is_pseudo = sample_weight
        if y is None:  # plain (x,) data: reconstruct the input (Eq. 4 only)
            y = x
        pseudo = (
            ops.zeros((ops.shape(y_pred)[0],), "float32")
            if is_pseudo is None
            else ops.cast(ops.reshape(is_pseudo, (-1,)), "float32")
        )
        batch = {"input": x, "target": y, "pseudo": pseudo}
        loss = self.objective_loss(batch, y_pred)
        # Regularisation losses, if a subclass adds any; Keras scales these for tf.distribute.
        for extra in self.losses:
            loss = loss + keras_compat.aggregate_additional_loss(self, extra)

        errors = ops.stop_gradient(self.objective_loss.call(batch, y_pred))
        self.normal_loss_tracker.update_state(errors, sample_weight=1.0 - pseudo)
        self.pseudo_loss_tracker.update_state(errors, sample_weight=pseudo)
        return loss

    def set_pseudo_objective(
        self, objective: str = "reconstruct_normal", margin: float | None = None
    ) -> None:
        """What a pseudo anomaly costs from the next ``fit`` on (see :class:`PseudoObjectiveLoss`;
        config keys ``pseudo_objective`` and ``push_away_margin``)."""
        self.objective_loss = PseudoObjectiveLoss(objective, margin)
        self.train_function = None  # a compiled step holds the old loss

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
        Reads ``clip_length``, ``size``, ``channels``, ``width``, ``lr`` (Adam),
        ``pseudo_objective`` and ``push_away_margin``.
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
    model.set_pseudo_objective(config.pseudo_objective, config.push_away_margin)
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
