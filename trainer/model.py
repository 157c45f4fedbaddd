"""The Conv3D autoencoder of Gong et al. (MemAE, ICCV 2019) without the memory module.

This is the reconstruction network Astrid et al. (BMVC 2021) train with pseudo anomalies. It is
the reference PyTorch network (``AutoEncoderCov3D`` of Gong et al.'s code, plus the ``tanh`` the
pseudo-anomaly code adds) layer for layer:

* encoder: four 3x3x3 convolutions (96, 128, 256, 256 channels, strides (1,2,2), (2,2,2),
  (2,2,2), (2,2,2), zero padding 1 on every side), each followed by BatchNorm and
  LeakyReLU(0.2);
* decoder: the mirror image with 3x3x3 transposed convolutions (256 -> 256 -> 128 -> 96 -> C
  channels, strides (2,2,2), (2,2,2), (2,2,2), (1,2,2); torch's ``padding=1`` and
  ``output_padding=1`` on strided axes, 0 on the last layer's stride-1 time axis), BatchNorm +
  LeakyReLU after each but the last, then ``tanh`` because inputs live in [-1, 1].

What it takes to match the reference exactly, and the one deliberate difference:

* **Alignment.** Keras' ``padding="same"`` with stride 2 on an even size pads only after the
  input, so its windows are centred on odd positions; torch's ``padding=1`` pads on both sides
  and centres them on even positions. :class:`SymmetricPadConv3D` and
  :class:`SymmetricPadConv3DTranspose` compute torch's alignment under every backend, with the
  same output shapes as ``"same"``.
* **BatchNorm** (:class:`BatchNormalization`) uses the reference's (PyTorch's default)
  constants, momentum 0.1 in torch's convention (``momentum=0.9`` in Keras') and
  ``epsilon=1e-5``, and torch's moving variance, which averages the *unbiased* batch variance
  (Keras' own layer averages the biased one).
* **No bias before BatchNorm.** The reference's convolutions all have a bias; the ones followed
  by BatchNorm here do not. Such a bias cancels in training-mode BatchNorm (it is subtracted
  with the batch mean) and is absorbed by the moving mean in inference, so the two networks
  compute the same functions; the output layer keeps its bias.

``tests/test_trainer_model.py`` copies the weights into a plain PyTorch ``AutoEncoderCov3D`` and
checks outputs (inference and training mode), loss, gradients and moving statistics.

Speed under the torch backend: these layers call torch's own kernels (``F.conv3d``,
``F.conv_transpose3d``, ``F.batch_norm``) on ``(B, C, T, H, W)`` *views* of the channels_last
tensors. Keras' torch backend instead copies every conv input to channels_first and back to
torch's channels_last memory format, crops transposed-conv outputs with a copy, and builds
BatchNorm from a dozen element-wise ops; on a 2-core CPU that made its step about half as fast
as plain PyTorch (see ``benchmarks/train_step_vs_torch.py``). Under TensorFlow and JAX the
layers use ``keras.ops`` only, so the model builds under any Keras 3 backend.

Saving: :func:`to_plain_keras` rebuilds the network from Keras' own layers (padding and
cropping layers around ``"valid"`` convolutions, Keras' BatchNorm), which is what a run saves as
``model.keras``: plain ``keras.saving.load_model`` loads it without this package.
:func:`from_plain_keras` turns it back into the layers above.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

ENCODER_FILTERS = (96, 128, 256, 256)
ENCODER_STRIDES = ((1, 2, 2), (2, 2, 2), (2, 2, 2), (2, 2, 2))

# Decoder mirrors the encoder: the channels go back 256 -> 256 -> 128 -> 96 and the last
# transposed conv maps 96 -> C; the strides are the encoder's in reverse order.
DECODER_FILTERS = (256, 128, 96)
DECODER_STRIDES = tuple(reversed(ENCODER_STRIDES))

# The reference's BatchNorm3d defaults (PyTorch momentum 0.1 == Keras momentum 0.9).
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5


def scaled_filters(filters: int, width: float) -> int:
    """Channel count ``filters * width``, rounded, at least 1."""
    return max(1, int(round(filters * width)))


def downsampling_factors() -> tuple[int, int, int]:
    """How much the encoder shrinks (T, H, W); the input must be divisible by these."""
    t = h = w = 1
    for st, sh, sw in ENCODER_STRIDES:
        t, h, w = t * st, h * sh, w * sw
    return t, h, w


def check_input_shape(input_shape: tuple[int, int, int, int]) -> None:
    """Raise ``ValueError`` unless ``(T, H, W, C)`` survives the encoder's strides exactly.

    Parameters
    ----------
    input_shape : tuple of int
        ``(T, H, W, C)`` of one clip.
    """
    if len(input_shape) != 4:
        raise ValueError(f"input_shape must be (T, H, W, C), got {tuple(input_shape)}")
    for axis, size, factor in zip("THW", input_shape[:3], downsampling_factors(), strict=True):
        if size <= 0 or size % factor:
            raise ValueError(
                f"input_shape {tuple(input_shape)}: {axis}={size} must be a positive multiple "
                f"of {factor} so the decoder output has the input's shape"
            )
    if input_shape[3] <= 0:
        raise ValueError(f"input_shape {tuple(input_shape)}: channels must be positive")


def _channel_axis(data_format: str) -> int:
    return -1 if data_format == "channels_last" else 1


def _spatial_axes(data_format: str) -> tuple[int, int, int]:
    return (1, 2, 3) if data_format == "channels_last" else (2, 3, 4)


def _reference_pads(shape, kernel_size, strides, data_format: str) -> list[list[int]]:
    """``ops.pad`` widths that give torch's ``padding=(k - 1) // 2`` result with a ``"valid"``
    convolution: ``(k - 1) // 2`` zeros before each spatial axis, and after it only as many as
    a window reaches (none for stride 2 on an even size: torch's zeros there are never read).
    """
    pads = [[0, 0] for _ in range(5)]
    axes = _spatial_axes(data_format)
    for axis, k, s in zip(axes, kernel_size, strides, strict=True):
        n, before = shape[axis], (k - 1) // 2
        out = -(-n // s)  # ceil(n / s), the output size of torch (and of "same")
        pads[axis] = [before, max(0, (out - 1) * s + k - n - before)]
    return pads


_TORCH_KERNELS = {"enabled": True}


def set_torch_kernels(enabled: bool) -> bool:
    """Let the layers of this module call torch's kernels under the torch backend (default),
    or make them run the portable ``keras.ops`` path that TensorFlow and JAX run.

    For measurements and checks (``benchmarks/train_step_vs_torch.py``'s ``portable`` rows,
    the test that both paths compute the same function); it applies to calls made after it.

    Parameters
    ----------
    enabled : bool
        True: torch's kernels where the backend is torch. False: ``keras.ops`` everywhere.

    Returns
    -------
    bool
        The previous setting, to restore it.
    """
    previous = _TORCH_KERNELS["enabled"]
    _TORCH_KERNELS["enabled"] = bool(enabled)
    return previous


def _torch_kernels() -> bool:
    """Whether to call torch's own kernels: torch backend, outside a stateless/symbolic scope,
    unless :func:`set_torch_kernels` turned them off.

    Keras traces shapes (``compute_output_spec``) and runs ``stateless_call`` inside a
    ``StatelessScope``; there the portable ``keras.ops`` path runs instead.
    """
    if keras.backend.backend() != "torch" or not _TORCH_KERNELS["enabled"]:
        return False
    try:
        from keras.src.backend.common.stateless_scope import in_stateless_scope
    except ImportError:  # pragma: no cover - a Keras without it: stay portable
        return False
    return not in_stateless_scope()


def _to_torch_layout(x, data_format: str):
    """``(B, C, T, H, W)`` view of ``x``: a permutation, no copy, for channels_last.

    A channels_last tensor viewed this way has torch's ``channels_last_3d`` strides, which
    oneDNN's convolutions and torch's BatchNorm use as they are (no reordering copy).
    """
    return x if data_format == "channels_first" else x.permute(0, 4, 1, 2, 3)


def _from_torch_layout(y, data_format: str):
    return y if data_format == "channels_first" else y.permute(0, 2, 3, 4, 1)


def _torch_kernel(kernel):
    """Keras kernel ``(kd, kh, kw, a, b)`` as torch's ``(b, a, kd, kh, kw)`` (a view)."""
    return ops.convert_to_tensor(kernel).permute(4, 3, 0, 1, 2)


@keras.saving.register_keras_serializable(package="trainer")
class SymmetricPadConv3D(layers.Conv3D):
    """``Conv3D`` with torch's ``Conv3d(padding=(k - 1) // 2)`` alignment.

    Zero padding of ``(k - 1) // 2`` on both sides of every spatial axis, then a ``"valid"``
    convolution. The output shape is that of ``padding="same"`` (``ceil(n / stride)``), but with
    stride 2 the windows are centred on even input positions, as in the reference, not on odd
    ones as Keras' ``"same"`` (which pads only after the input) does. Odd kernel sizes only.
    """

    def __init__(self, filters, kernel_size, **kwargs):
        kwargs["padding"] = "same"  # for the output shape; call() does the padding itself
        super().__init__(filters, kernel_size, **kwargs)
        if any(k % 2 == 0 for k in self.kernel_size):
            raise ValueError(f"{type(self).__name__} needs odd kernel sizes: {self.kernel_size}")

    def call(self, inputs):
        if not _torch_kernels():
            return super().call(inputs)
        import torch.nn.functional as F

        bias = ops.convert_to_tensor(self.bias) if self.use_bias else None
        y = F.conv3d(
            _to_torch_layout(inputs, self.data_format),
            _torch_kernel(self.kernel),
            bias,
            stride=tuple(self.strides),
            padding=tuple((k - 1) // 2 for k in self.kernel_size),
            dilation=tuple(self.dilation_rate),
        )
        y = _from_torch_layout(y, self.data_format)
        return y if self.activation is None else self.activation(y)

    def convolution_op(self, inputs, kernel):
        pads = _reference_pads(inputs.shape, self.kernel_size, self.strides, self.data_format)
        padded = ops.pad(inputs, pads)
        return ops.conv(
            padded,
            kernel,
            strides=list(self.strides),
            padding="valid",
            dilation_rate=self.dilation_rate,
            data_format=self.data_format,
        )


@keras.saving.register_keras_serializable(package="trainer")
class SymmetricPadConv3DTranspose(layers.Conv3DTranspose):
    """``Conv3DTranspose`` with torch's ``ConvTranspose3d`` alignment, the adjoint of
    :class:`SymmetricPadConv3D`.

    Equal to torch's ``ConvTranspose3d(padding=(k - 1) // 2, output_padding=stride - 1)`` (for
    ``stride <= (k + 1) // 2``): a ``"valid"`` transposed convolution, of size
    ``(n - 1) * s + k``, with its first ``(k - 1) // 2`` elements cropped on every spatial axis
    and ``n * s`` kept. The output shape is that of ``padding="same"``; odd kernel sizes only.
    """

    def __init__(self, filters, kernel_size, **kwargs):
        kwargs["padding"] = "same"  # for the output shape; call() does the cropping itself
        super().__init__(filters, kernel_size, **kwargs)
        if any(k % 2 == 0 for k in self.kernel_size):
            raise ValueError(f"{type(self).__name__} needs odd kernel sizes: {self.kernel_size}")
        if any(s > k - (k - 1) // 2 for k, s in zip(self.kernel_size, self.strides, strict=True)):
            raise ValueError(f"{type(self).__name__} needs strides <= (kernel_size + 1) // 2")
        if self.output_padding is not None:
            raise ValueError(f"{type(self).__name__} sets its own output padding")

    def call(self, inputs):
        if _torch_kernels():
            return self._torch_call(inputs)
        full = ops.conv_transpose(
            inputs,
            self.kernel,
            strides=list(self.strides),
            padding="valid",
            dilation_rate=self.dilation_rate,
            data_format=self.data_format,
        )
        # Keep n * s of the (n - 1) * s + k elements, from (k - 1) // 2 on. ops.slice, not
        # indexing: TensorFlow's gradient of a strided slice (StridedSliceGrad) is 20-30x
        # slower than that of a slice (a pad) on these 5-D tensors.
        start = [0] * 5
        size = list(ops.shape(full))
        for axis, k, s in zip(
            _spatial_axes(self.data_format), self.kernel_size, self.strides, strict=True
        ):
            start[axis], size[axis] = (k - 1) // 2, inputs.shape[axis] * s
        outputs = ops.slice(full, start, size)
        if self.use_bias:
            if self.data_format == "channels_last":
                bias_shape = (1, 1, 1, 1, self.filters)
            else:
                bias_shape = (1, self.filters, 1, 1, 1)
            outputs = ops.add(outputs, ops.reshape(self.bias, bias_shape))
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def _torch_call(self, inputs):
        import torch.nn.functional as F

        bias = ops.convert_to_tensor(self.bias) if self.use_bias else None
        y = F.conv_transpose3d(
            _to_torch_layout(inputs, self.data_format),
            _torch_kernel(self.kernel),
            bias,
            stride=tuple(self.strides),
            padding=tuple((k - 1) // 2 for k in self.kernel_size),
            output_padding=tuple(s - 1 for s in self.strides),
            dilation=tuple(self.dilation_rate),
        )
        y = _from_torch_layout(y, self.data_format)
        return y if self.activation is None else self.activation(y)


@keras.saving.register_keras_serializable(package="trainer")
class BatchNormalization(layers.BatchNormalization):
    """Keras' ``BatchNormalization`` with PyTorch's ``BatchNorm3d`` semantics.

    The same weights and config as ``keras.layers.BatchNormalization`` (so saved models and
    ``class_name`` checks see a BatchNormalization), and two differences, both the reference's:

    * the moving variance averages the *unbiased* batch variance (``n / (n - 1)`` times the
      biased one that normalises the batch, n = values per channel), as torch does; under
      ``synchronized=True`` n counts the values of every replica;
    * under the torch backend the layer calls ``torch.nn.functional.batch_norm``, torch's
      fused kernel, which also updates the moving statistics; Keras' portable version is a
      dozen element-wise ops (and as many in the backward pass) over the 5-D activations.

    Defaults are the reference's constants, ``momentum=0.9`` (torch's 0.1) and
    ``epsilon=1e-5``.
    """

    def __init__(self, axis=-1, momentum=BN_MOMENTUM, epsilon=BN_EPSILON, **kwargs):
        super().__init__(axis=axis, momentum=momentum, epsilon=epsilon, **kwargs)

    def call(self, inputs, training=None, mask=None):
        if mask is not None or self.renorm:
            return super().call(inputs, training=training, mask=mask)
        if _torch_kernels() and not self.synchronized:
            return self._torch_call(inputs, training)
        if not (training and self.trainable):
            return super().call(inputs, training=training, mask=mask)
        x = ops.cast(inputs, keras.backend.result_type(inputs.dtype, "float32"))
        mean, variance = self._moments(x, None)
        n = ops.cast(ops.size(x), "float32") / float(x.shape[self.axis])
        if self.synchronized:
            n = n * _replicas_in_sync()
        unbiased = variance * (n / ops.maximum(n - 1.0, 1.0))
        m = self.momentum
        self.moving_mean.assign(self.moving_mean * m + ops.cast(mean, "float32") * (1.0 - m))
        self.moving_variance.assign(
            self.moving_variance * m + ops.cast(unbiased, "float32") * (1.0 - m)
        )
        gamma = ops.cast(self.gamma, x.dtype) if self.scale else None
        beta = ops.cast(self.beta, x.dtype) if self.center else None
        outputs = ops.batch_normalization(
            x, mean, variance, axis=self.axis, offset=beta, scale=gamma, epsilon=self.epsilon
        )
        return ops.cast(outputs, self.compute_dtype)

    def _torch_call(self, inputs, training):
        import torch.nn.functional as F

        axis = self.axis % inputs.ndim
        if axis not in (1, inputs.ndim - 1):
            return super().call(inputs, training=training)
        channels_last = axis == inputs.ndim - 1 and inputs.ndim > 2
        x = ops.cast(inputs, keras.backend.result_type(inputs.dtype, "float32"))
        if channels_last:
            x = x.permute(0, x.ndim - 1, *range(1, x.ndim - 1))
        y = F.batch_norm(
            x,
            self.moving_mean.value,  # updated in place when training, as torch does
            self.moving_variance.value,
            ops.cast(self.gamma, x.dtype) if self.scale else None,
            ops.cast(self.beta, x.dtype) if self.center else None,
            training=bool(training and self.trainable),
            momentum=1.0 - self.momentum,
            eps=self.epsilon,
        )
        if channels_last:
            y = y.permute(0, *range(2, y.ndim), 1)
        return ops.cast(y, self.compute_dtype)


def _replicas_in_sync() -> float:
    """Replicas of the current ``tf.distribute`` replica context (1 outside one)."""
    if keras.backend.backend() != "tensorflow":
        return 1.0
    import tensorflow as tf

    ctx = tf.distribute.get_replica_context()
    return float(ctx.num_replicas_in_sync) if ctx is not None else 1.0


def _norm_act(
    x,
    name: str,
    sync_batchnorm: bool,
    bn_momentum: float,
    bn_epsilon: float,
    data_format: str,
):
    """BatchNorm -> LeakyReLU(0.2) after the block's convolution ``name``.

    Layer names (``<name>_bn``, ``<name>_act``) are part of saved models: keep them.
    """
    x = BatchNormalization(
        axis=_channel_axis(data_format),
        momentum=bn_momentum,
        epsilon=bn_epsilon,
        synchronized=sync_batchnorm,
        name=f"{name}_bn",
    )(x)
    return layers.LeakyReLU(negative_slope=0.2, name=f"{name}_act")(x)


def conv_block(
    x,
    filters: int,
    strides: tuple[int, int, int],
    name: str,
    sync_batchnorm: bool = False,
    bn_momentum: float = BN_MOMENTUM,
    bn_epsilon: float = BN_EPSILON,
    data_format: str = "channels_last",
):
    """Conv3D (kernel 3, torch padding 1) -> BatchNorm -> LeakyReLU(0.2)."""
    # No bias: BatchNorm's beta makes it redundant (see the module docstring).
    x = SymmetricPadConv3D(
        filters, 3, strides=strides, use_bias=False, data_format=data_format, name=name
    )(x)
    return _norm_act(x, name, sync_batchnorm, bn_momentum, bn_epsilon, data_format)


def deconv_block(
    x,
    filters: int,
    strides: tuple[int, int, int],
    name: str,
    sync_batchnorm: bool = False,
    bn_momentum: float = BN_MOMENTUM,
    bn_epsilon: float = BN_EPSILON,
    data_format: str = "channels_last",
):
    """Conv3DTranspose (kernel 3, torch padding 1 / output padding 1) -> BatchNorm -> LeakyReLU."""
    x = SymmetricPadConv3DTranspose(
        filters, 3, strides=strides, use_bias=False, data_format=data_format, name=name
    )(x)
    return _norm_act(x, name, sync_batchnorm, bn_momentum, bn_epsilon, data_format)


def encoder(
    x,
    width: float = 1.0,
    sync_batchnorm: bool = False,
    bn_momentum: float = BN_MOMENTUM,
    bn_epsilon: float = BN_EPSILON,
    data_format: str = "channels_last",
):
    """Apply the four strided Conv3D blocks; returns the bottleneck tensor."""
    for i, (filters, strides) in enumerate(zip(ENCODER_FILTERS, ENCODER_STRIDES, strict=True)):
        x = conv_block(
            x,
            scaled_filters(filters, width),
            strides,
            name=f"enc{i + 1}",
            sync_batchnorm=sync_batchnorm,
            bn_momentum=bn_momentum,
            bn_epsilon=bn_epsilon,
            data_format=data_format,
        )
    return x


def decoder(
    x,
    channels: int,
    width: float = 1.0,
    sync_batchnorm: bool = False,
    bn_momentum: float = BN_MOMENTUM,
    bn_epsilon: float = BN_EPSILON,
    data_format: str = "channels_last",
):
    """Mirror of :func:`encoder`, ending in a ``channels``-channel tanh reconstruction.

    With ``data_format="channels_first"`` the input is ``(B, C, T, H, W)`` and the output is
    turned back to ``(B, T, H, W, C)`` before the tanh.
    """
    for i, (filters, strides) in enumerate(zip(DECODER_FILTERS, DECODER_STRIDES[:-1], strict=True)):
        x = deconv_block(
            x,
            scaled_filters(filters, width),
            strides,
            name=f"dec{i + 1}",
            sync_batchnorm=sync_batchnorm,
            bn_momentum=bn_momentum,
            bn_epsilon=bn_epsilon,
            data_format=data_format,
        )
    x = SymmetricPadConv3DTranspose(
        channels, 3, strides=DECODER_STRIDES[-1], data_format=data_format, name="dec_out"
    )(x)
    if data_format == "channels_first":
        x = layers.Permute((2, 3, 4, 1), name="to_channels_last")(x)
    # float32 output under mixed precision: the reconstruction feeds the loss and PSNR.
    return layers.Activation("tanh", dtype="float32", name="reconstruction")(x)


def build_autoencoder(
    input_shape: tuple[int, int, int, int] = (16, 256, 256, 1),
    width: float = 1.0,
    name: str = "conv3d_autoencoder",
    model_class: type[keras.Model] = keras.Model,
    sync_batchnorm: bool = False,
    bn_momentum: float = BN_MOMENTUM,
    bn_epsilon: float = BN_EPSILON,
    data_format: str = "channels_last",
) -> keras.Model:
    """Build the Conv3D autoencoder as a functional model.

    Parameters
    ----------
    input_shape : tuple of int
        ``(T, H, W, C)``; T must be a multiple of 8 and H, W multiples of 16.
    width : float
        Multiplier on every hidden channel count (1.0 = the paper's 96/128/256/256).
    name : str
        Model name.
    model_class : type
        ``keras.Model`` or a subclass that accepts ``(inputs, outputs, name=...)``, e.g.
        :class:`trainer.losses.DualLossAutoencoder`.
    sync_batchnorm : bool
        BatchNorm with the statistics of the global batch across ``tf.distribute`` replicas
        (TensorFlow backend only); what training on several replicas uses.
    bn_momentum, bn_epsilon : float
        BatchNorm momentum (Keras convention: ``moving = momentum * moving + (1 - momentum) *
        batch``) and epsilon. The defaults are the reference's, PyTorch's ``BatchNorm3d``
        defaults (torch momentum 0.1, eps 1e-5).
    data_format : str
        Layout *inside* the model; its input and output are ``(B, T, H, W, C)`` either way.
        ``"channels_last"`` (default) runs under every backend (TensorFlow's CPU Conv3D only
        supports it). ``"channels_first"`` transposes once at the input and once before the
        tanh. The weights have the same shapes and meaning in both, so weights and checkpoints
        load into either.

    Returns
    -------
    keras.Model
        Maps float32 ``(B, T, H, W, C)`` in [-1, 1] to a float32 reconstruction of the same
        shape in [-1, 1].
    """
    input_shape = tuple(int(s) for s in input_shape)
    check_input_shape(input_shape)
    if not width > 0:
        raise ValueError(f"width must be > 0, got {width}")
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"data_format must be channels_last or channels_first: {data_format!r}")
    kw = {"bn_momentum": bn_momentum, "bn_epsilon": bn_epsilon, "data_format": data_format}
    inputs = keras.Input(shape=input_shape, name="clip")
    x = inputs
    if data_format == "channels_first":
        x = layers.Permute((4, 1, 2, 3), name="to_channels_first")(x)
    code = encoder(x, width, sync_batchnorm, **kw)
    outputs = decoder(code, input_shape[-1], width, sync_batchnorm, **kw)
    return model_class(inputs=inputs, outputs=outputs, name=name)


# ---------------------------------------------------------------------- plain Keras copies


def _chain(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers of a one-input, one-output functional ``model`` that is a plain chain (each
    layer feeds the next), without its input layer; ``ValueError`` otherwise."""
    layer_list = model.layers
    if (
        len(model.inputs) != 1
        or len(model.outputs) != 1
        or not layer_list
        or not isinstance(layer_list[0], layers.InputLayer)
    ):
        raise ValueError(f"model {model.name!r} is not a one-input chain of layers")
    previous = layer_list[0].output
    for layer in layer_list[1:]:
        if layer.input is not previous:
            raise ValueError(
                f"model {model.name!r}: layer {layer.name!r} does not take the previous "
                f"layer's output; only a chain of layers is supported"
            )
        previous = layer.output
    return layer_list[1:]


def _spatial_pairs(widths: list[list[int]], data_format: str) -> tuple[tuple[int, int], ...]:
    return tuple(tuple(widths[axis]) for axis in _spatial_axes(data_format))


def _transpose_crop(layer: layers.Conv3DTranspose) -> tuple[tuple[int, int], ...]:
    """What :class:`SymmetricPadConv3DTranspose` crops from the ``"valid"`` result, per axis."""
    shape = layer.input.shape
    crop = []
    for axis, k, s in zip(
        _spatial_axes(layer.data_format), layer.kernel_size, layer.strides, strict=True
    ):
        full = (shape[axis] - 1) * s + k
        crop.append(((k - 1) // 2, full - (k - 1) // 2 - shape[axis] * s))
    return tuple(crop)


def _rebuild(model: keras.Model, convert) -> keras.Model:
    """A functional copy of the chain ``model`` with ``convert(layers, i) -> (new layers,
    layers consumed)`` applied from each position ``i``, and the weights carried over by layer
    name."""
    chain = _chain(model)
    x = inputs = keras.Input(shape=model.input_shape[1:], name=model.layers[0].name)
    new_layers = []
    i = 0
    while i < len(chain):
        made, used = convert(chain, i)
        for layer in made:
            x = layer(x)
        new_layers.extend(made)
        i += used
    copy = keras.Model(inputs=inputs, outputs=x, name=model.name)
    weights = {layer.name: layer.get_weights() for layer in chain if layer.weights}
    made_names = {layer.name for layer in new_layers}
    lost = sorted(set(weights) - made_names)
    if lost:  # pragma: no cover - a convert() that renames a layer with weights
        raise ValueError(f"model {model.name!r}: no layer of the copy takes the weights of {lost}")
    for layer in new_layers:
        if layer.name in weights:
            layer.set_weights([np.asarray(w) for w in weights[layer.name]])
    return copy


def _builtin(layer: keras.layers.Layer) -> keras.layers.Layer:
    """A new layer of the same Keras built-in class and config as ``layer``."""
    if not type(layer).__module__.startswith("keras."):
        raise ValueError(
            f"layer {layer.name!r} ({type(layer).__name__}) is not a Keras built-in and has no "
            f"plain Keras equivalent here"
        )
    return type(layer).from_config(layer.get_config())


def to_plain_keras(model: keras.Model) -> keras.Model:
    """``model`` (from :func:`build_autoencoder`) rebuilt from Keras' own layers only, with
    its weights: what a run saves as ``model.keras``.

    Plain ``keras.saving.load_model`` loads the result in any Python with Keras 3, without
    this package. The layers of this module become:

    * :class:`SymmetricPadConv3D` -> ``ZeroPadding3D`` (torch's zeros, ``<name>_pad``) +
      ``Conv3D(padding="valid")``;
    * :class:`SymmetricPadConv3DTranspose` -> ``Conv3DTranspose(padding="valid")`` +
      ``Cropping3D`` (``<name>_crop``);
    * :class:`BatchNormalization` -> ``keras.layers.BatchNormalization`` with the same
      constants and ``synchronized=False``.

    Inference computes the same function (under TensorFlow the same operations, so the same
    numbers). Training the copy differs in one respect: Keras' BatchNorm accumulates the
    biased batch variance in its moving variance, where the reference (and this module)
    accumulates the unbiased one. To resume training, use the run's checkpoints;
    :func:`from_plain_keras` turns the copy back into this module's layers. The
    ``DualLossAutoencoder`` training class and the optimizer are not part of the copy.

    Parameters
    ----------
    model : keras.Model
        A one-input chain of layers, e.g. :func:`build_autoencoder`'s model or a
        :class:`trainer.losses.DualLossAutoencoder`.

    Returns
    -------
    keras.Model
        A functional ``keras.Model`` (not compiled) of the same name, input name and weights.

    Raises
    ------
    ValueError
        ``model`` is not a chain, or holds a layer with no plain Keras equivalent.
    """

    def convert(chain, i):
        layer = chain[i]
        config = layer.get_config()
        if isinstance(layer, SymmetricPadConv3D):
            widths = _reference_pads(
                layer.input.shape, layer.kernel_size, layer.strides, layer.data_format
            )
            pad = layers.ZeroPadding3D(
                _spatial_pairs(widths, layer.data_format),
                data_format=layer.data_format,
                name=f"{layer.name}_pad",
                dtype=config["dtype"],
            )
            return [pad, layers.Conv3D.from_config({**config, "padding": "valid"})], 1
        if isinstance(layer, SymmetricPadConv3DTranspose):
            crop = layers.Cropping3D(
                _transpose_crop(layer),
                data_format=layer.data_format,
                name=f"{layer.name}_crop",
                dtype=config["dtype"],
            )
            conv = layers.Conv3DTranspose.from_config({**config, "padding": "valid"})
            return [conv, crop], 1
        if isinstance(layer, BatchNormalization):
            config["synchronized"] = False
            return [layers.BatchNormalization.from_config(config)], 1
        return [_builtin(layer)], 1

    return _rebuild(model, convert)


def from_plain_keras(model: keras.Model) -> keras.Model:
    """The inverse of :func:`to_plain_keras`: this module's layers, with ``model``'s weights.

    ``ZeroPadding3D`` + ``Conv3D(padding="valid")`` with torch's padding becomes
    :class:`SymmetricPadConv3D`, ``Conv3DTranspose(padding="valid")`` + its ``Cropping3D``
    becomes :class:`SymmetricPadConv3DTranspose`, and Keras' ``BatchNormalization`` becomes
    :class:`BatchNormalization`, so that the model runs torch's kernels under the torch
    backend, as the trained model did. Other layers are copied as they are.

    Parameters
    ----------
    model : keras.Model
        A one-input chain of layers, e.g. a run's ``model.keras`` loaded with
        ``keras.saving.load_model``.

    Returns
    -------
    keras.Model
        A functional ``keras.Model`` (not compiled) of the same name, input name and weights.
    """

    def convert(chain, i):
        layer, after = chain[i], chain[i + 1] if i + 1 < len(chain) else None
        if isinstance(layer, layers.ZeroPadding3D) and type(after) is layers.Conv3D:
            widths = _reference_pads(  # for the unpadded input, that of the pad layer
                layer.input.shape, after.kernel_size, after.strides, after.data_format
            )
            reference = _spatial_pairs(widths, after.data_format)
            if after.padding == "valid" and _padding(layer) == reference:
                return [SymmetricPadConv3D.from_config(after.get_config())], 2
        if type(layer) is layers.Conv3DTranspose and isinstance(after, layers.Cropping3D):
            if layer.padding == "valid" and layer.output_padding is None:
                if tuple(map(tuple, after.cropping)) == _transpose_crop(layer):
                    return [SymmetricPadConv3DTranspose.from_config(layer.get_config())], 2
        if type(layer) is layers.BatchNormalization:
            return [BatchNormalization.from_config(layer.get_config())], 1
        return [type(layer).from_config(layer.get_config())], 1

    return _rebuild(model, convert)


def _padding(layer: layers.ZeroPadding3D) -> tuple[tuple[int, int], ...]:
    return tuple(tuple(int(v) for v in pair) for pair in layer.padding)
