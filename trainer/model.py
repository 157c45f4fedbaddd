"""The Conv3D autoencoder of Gong et al. (MemAE, ICCV 2019) without the memory module.

This is the reconstruction network Astrid et al. (BMVC 2021) train with pseudo anomalies. The
layout follows the paper's PyTorch code:

* encoder: four ``Conv3D`` (96, 128, 256, 256 channels, kernel 3, strides (1,2,2), (2,2,2),
  (2,2,2), (2,2,2)), each followed by BatchNorm and LeakyReLU(0.2);
* decoder: the mirror image with ``Conv3DTranspose`` (256 -> 256 -> 128 -> 96 -> C channels,
  strides (2,2,2), (2,2,2), (2,2,2), (1,2,2)), BatchNorm + LeakyReLU after each but the last,
  then ``tanh`` because inputs live in [-1, 1].

Only ``keras.layers`` are used so the model builds under any Keras 3 backend.
"""

from __future__ import annotations

import keras
from keras import layers

ENCODER_FILTERS = (96, 128, 256, 256)
ENCODER_STRIDES = ((1, 2, 2), (2, 2, 2), (2, 2, 2), (2, 2, 2))

# Decoder mirrors the encoder: the channels go back 256 -> 256 -> 128 -> 96 and the last
# transposed conv maps 96 -> C; the strides are the encoder's in reverse order.
DECODER_FILTERS = (256, 128, 96)
DECODER_STRIDES = tuple(reversed(ENCODER_STRIDES))


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


def conv_block(
    x, filters: int, strides: tuple[int, int, int], name: str, sync_batchnorm: bool = False
):
    """Conv3D (kernel 3, same padding) -> BatchNorm -> LeakyReLU(0.2)."""
    # No bias: BatchNorm's beta makes it redundant.
    x = layers.Conv3D(filters, 3, strides=strides, padding="same", use_bias=False, name=name)(x)
    x = layers.BatchNormalization(synchronized=sync_batchnorm, name=f"{name}_bn")(x)
    return layers.LeakyReLU(negative_slope=0.2, name=f"{name}_act")(x)


def deconv_block(
    x, filters: int, strides: tuple[int, int, int], name: str, sync_batchnorm: bool = False
):
    """Conv3DTranspose (kernel 3, same padding) -> BatchNorm -> LeakyReLU(0.2)."""
    x = layers.Conv3DTranspose(
        filters, 3, strides=strides, padding="same", use_bias=False, name=name
    )(x)
    x = layers.BatchNormalization(synchronized=sync_batchnorm, name=f"{name}_bn")(x)
    return layers.LeakyReLU(negative_slope=0.2, name=f"{name}_act")(x)


def encoder(x, width: float = 1.0, sync_batchnorm: bool = False):
    """Apply the four strided Conv3D blocks; returns the bottleneck tensor."""
    for i, (filters, strides) in enumerate(zip(ENCODER_FILTERS, ENCODER_STRIDES, strict=True)):
        f = scaled_filters(filters, width)
        x = conv_block(x, f, strides, name=f"enc{i + 1}", sync_batchnorm=sync_batchnorm)
    return x


def decoder(x, channels: int, width: float = 1.0, sync_batchnorm: bool = False):
    """Mirror of :func:`encoder`, ending in a ``channels``-channel tanh reconstruction."""
    for i, (filters, strides) in enumerate(zip(DECODER_FILTERS, DECODER_STRIDES[:-1], strict=True)):
        f = scaled_filters(filters, width)
        x = deconv_block(x, f, strides, name=f"dec{i + 1}", sync_batchnorm=sync_batchnorm)
    x = layers.Conv3DTranspose(
        channels, 3, strides=DECODER_STRIDES[-1], padding="same", name="dec_out"
    )(x)
    # float32 output under mixed precision: the reconstruction feeds the loss and PSNR.
    return layers.Activation("tanh", dtype="float32", name="reconstruction")(x)


def build_autoencoder(
    input_shape: tuple[int, int, int, int] = (16, 256, 256, 1),
    width: float = 1.0,
    name: str = "conv3d_autoencoder",
    model_class: type[keras.Model] = keras.Model,
    sync_batchnorm: bool = False,
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
    inputs = keras.Input(shape=input_shape, name="clip")
    code = encoder(inputs, width, sync_batchnorm)
    outputs = decoder(code, channels=input_shape[-1], width=width, sync_batchnorm=sync_batchnorm)
    return model_class(inputs=inputs, outputs=outputs, name=name)
