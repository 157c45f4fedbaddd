"""The Conv3D autoencoder, the dual loss of Eq. (4)/(5), distribution and mixed precision.

These tests need only Keras/TensorFlow, not pseudoanom or the data modules.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from keras import layers  # noqa: E402

from trainer import checkpoint  # noqa: E402
from trainer.losses import (  # noqa: E402
    DualLossAutoencoder,
    build_dual_loss_autoencoder,
    per_sample_mse,
)
from trainer.model import (  # noqa: E402
    BatchNormalization,
    SymmetricPadConv3D,
    SymmetricPadConv3DTranspose,
    build_autoencoder,
    check_input_shape,
    from_plain_keras,
    to_plain_keras,
)

REPO = Path(__file__).resolve().parents[1]
SMALL = (16, 32, 32, 1)
TINY = (8, 16, 16, 1)  # the smallest clip the strides allow


def affine_model(scale: float = 0.5, bias: float = 0.1) -> DualLossAutoencoder:
    """A DualLossAutoencoder whose output is known: ``scale * x + bias`` (a 1x1x1 Conv3D)."""
    inputs = keras.Input(shape=(8, 4, 4, 1))
    conv = layers.Conv3D(1, 1, name="affine")
    model = DualLossAutoencoder(inputs=inputs, outputs=conv(inputs))
    conv.set_weights([np.full((1, 1, 1, 1, 1), scale, np.float32), np.array([bias], np.float32)])
    return model


def dual_loss_by_hand(pred: np.ndarray, y: np.ndarray, flags: np.ndarray):
    per_sample = ((pred.astype(np.float64) - y) ** 2).reshape(len(y), -1).mean(axis=1)
    return per_sample.mean(), per_sample[flags == 0].mean(), per_sample[flags == 1].mean()


# ---------------------------------------------------------------------- architecture


def test_output_shape_equals_input_shape_and_range():
    model = build_autoencoder(SMALL, width=0.125)
    x = np.random.default_rng(0).uniform(-1, 1, (2, *SMALL)).astype(np.float32)
    y = np.asarray(model(x, training=False))
    assert y.shape == x.shape
    assert y.dtype == np.float32
    assert np.all(np.abs(y) <= 1.0)


def test_rgb_and_other_sizes():
    model = build_autoencoder((8, 48, 64, 3), width=0.125)
    assert model.output_shape == (None, 8, 48, 64, 3)


def test_paper_channels_and_strides():
    model = build_autoencoder((16, 32, 32, 1), width=1.0)
    convs = [lyr for lyr in model.layers if isinstance(lyr, layers.Conv3D)]
    deconvs = [lyr for lyr in model.layers if isinstance(lyr, layers.Conv3DTranspose)]
    # Conv3DTranspose subclasses Conv3D in Keras, so keep the plain convs only.
    convs = [c for c in convs if c not in deconvs]
    assert [c.filters for c in convs] == [96, 128, 256, 256]
    assert [tuple(c.strides) for c in convs] == [(1, 2, 2), (2, 2, 2), (2, 2, 2), (2, 2, 2)]
    assert [c.filters for c in deconvs] == [256, 128, 96, 1]
    assert [tuple(c.strides) for c in deconvs] == [(2, 2, 2), (2, 2, 2), (2, 2, 2), (1, 2, 2)]
    assert all(tuple(c.kernel_size) == (3, 3, 3) for c in convs + deconvs)
    bns = [lyr for lyr in model.layers if isinstance(lyr, layers.BatchNormalization)]
    assert len(bns) == 7  # every conv but the output one
    assert model.layers[-1].get_config()["activation"] == "tanh"


def test_width_scales_channels():
    model = build_autoencoder(SMALL, width=0.25)
    enc = [model.get_layer(f"enc{i}").filters for i in range(1, 5)]
    assert enc == [24, 32, 64, 64]


def test_batchnorm_uses_the_reference_constants():
    model = build_autoencoder(TINY, width=0.125)
    bns = [lyr for lyr in model.layers if isinstance(lyr, layers.BatchNormalization)]
    # torch.nn.BatchNorm3d defaults: momentum 0.1 (torch convention) and eps 1e-5.
    assert {(b.momentum, b.epsilon) for b in bns} == {(0.9, 1e-5)}


# ------------------------------------------- equality with the reference PyTorch network


def torch_reference(torch, channels: int, width: float):
    """Gong et al.'s AutoEncoderCov3D plus tanh, written with plain torch.nn (biases included)."""
    nn = torch.nn
    f96, f128, f256 = (max(1, round(f * width)) for f in (96, 128, 256))

    def block(conv):
        return [conv, nn.BatchNorm3d(conv.out_channels), nn.LeakyReLU(0.2)]

    def down(cin, cout, stride):
        return block(nn.Conv3d(cin, cout, 3, stride=stride, padding=1))

    def up(cin, cout):
        return block(nn.ConvTranspose3d(cin, cout, 3, stride=2, padding=1, output_padding=1))

    last = nn.ConvTranspose3d(f96, channels, 3, (1, 2, 2), padding=1, output_padding=(0, 1, 1))
    return nn.Sequential(
        *down(channels, f96, (1, 2, 2)),
        *down(f96, f128, 2),
        *down(f128, f256, 2),
        *down(f256, f256, 2),
        *up(f256, f256),
        *up(f256, f128),
        *up(f128, f96),
        last,
        nn.Tanh(),
    )


def copy_keras_into_torch(torch, model, net, rng):
    """Copy every Keras weight into ``net``; give ``net``'s pre-BatchNorm convs random biases.

    Keras kernels are (kd, kh, kw, in, out) for Conv3D and (kd, kh, kw, out, in) for
    Conv3DTranspose; torch wants (out, in, kd, kh, kw) and (in, out, kd, kh, kw): the same axis
    permutation, no spatial flip. The Keras model has no bias before BatchNorm, so its moving
    mean is set to torch's running mean minus torch's bias, the same function in inference.
    """
    convs = [m for m in net if isinstance(m, (torch.nn.Conv3d, torch.nn.ConvTranspose3d))]
    bns = [m for m in net if isinstance(m, torch.nn.BatchNorm3d)]
    names = ["enc1", "enc2", "enc3", "enc4", "dec1", "dec2", "dec3", "dec_out"]
    with torch.no_grad():
        for i, (name, conv) in enumerate(zip(names, convs, strict=True)):
            layer = model.get_layer(name)
            fan_in = np.prod(layer.kernel.shape[:3]) * (
                layer.kernel.shape[3] if name.startswith("enc") else layer.kernel.shape[4]
            )
            kernel = rng.normal(0, 1.5 / np.sqrt(fan_in), layer.kernel.shape).astype(np.float32)
            layer.kernel.assign(kernel)
            conv.weight.copy_(torch.from_numpy(kernel.transpose(4, 3, 0, 1, 2).copy()))
            bias = rng.normal(0, 0.5, conv.out_channels).astype(np.float32)
            conv.bias.copy_(torch.from_numpy(bias))
            if name == "dec_out":
                layer.bias.assign(bias)
                continue
            bn, tbn = model.get_layer(f"{name}_bn"), bns[i]
            c = conv.out_channels
            gamma, beta = rng.uniform(0.5, 1.5, c), rng.normal(0, 0.2, c)
            mean, var = rng.normal(0, 0.5, c), rng.uniform(0.5, 2.0, c)
            bn.set_weights([a.astype(np.float32) for a in (gamma, beta, mean - bias, var)])
            for t, a in zip(
                (tbn.weight, tbn.bias, tbn.running_mean, tbn.running_var),
                (gamma, beta, mean, var),
                strict=True,
            ):
                t.copy_(torch.from_numpy(a.astype(np.float32)))


@pytest.mark.parametrize("shape", [(16, 32, 32, 1), (8, 16, 48, 3)])
def test_equals_the_reference_pytorch_network(shape):
    """Same weights, same outputs, in inference and in training mode (batch statistics)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    model = build_autoencoder(shape, width=0.125)
    net = torch_reference(torch, shape[-1], 0.125)
    copy_keras_into_torch(torch, model, net, rng)
    x = rng.uniform(-1, 1, (2, *shape)).astype(np.float32)
    xt = torch.from_numpy(x.transpose(0, 4, 1, 2, 3).copy())  # torch is (B, C, T, H, W)

    def to_keras_layout(t):
        return t.detach().numpy().transpose(0, 2, 3, 4, 1)

    net.eval()
    with torch.no_grad():
        want = to_keras_layout(net(xt))
    got = np.asarray(model(x, training=False))
    assert np.abs(want).max() > 0.1  # a non-trivial output
    np.testing.assert_allclose(got, want, atol=1e-4)

    # Training mode: batch statistics, and one update of the moving statistics each.
    bn_names = [lyr.name for lyr in model.layers if isinstance(lyr, layers.BatchNormalization)]
    net.train()
    out_t = net(xt)
    loss_t = torch.mean((out_t - torch.from_numpy(np.zeros_like(xt.numpy()) + 0.25)) ** 2)
    loss_t.backward()
    with tf.GradientTape() as tape:
        out_k = model(x, training=True)
        loss_k = tf.reduce_mean((out_k - 0.25) ** 2)
    np.testing.assert_allclose(np.asarray(out_k), to_keras_layout(out_t), atol=1e-4)
    np.testing.assert_allclose(float(loss_k), loss_t.item(), rtol=1e-5)
    # The gradients agree too (first and last kernel, in torch's layout).
    grads = dict(
        zip(
            [v.path for v in model.trainable_variables],
            tape.gradient(loss_k, model.trainable_variables),
            strict=True,
        )
    )
    convs = [m for m in net if isinstance(m, (torch.nn.Conv3d, torch.nn.ConvTranspose3d))]
    for name, conv in (("enc1", convs[0]), ("dec_out", convs[-1])):
        g = np.asarray(grads[f"{name}/kernel"]).transpose(4, 3, 0, 1, 2)
        np.testing.assert_allclose(g, conv.weight.grad.numpy(), rtol=1e-3, atol=1e-5)

    # One update of the moving statistics, torch's: unbiased variance, momentum 0.1.
    tbns = [m for m in net if isinstance(m, torch.nn.BatchNorm3d)]
    for name, tbn, conv in zip(bn_names, tbns, convs[:-1], strict=True):
        bn = model.get_layer(name)
        bias = conv.bias.detach().numpy()
        np.testing.assert_allclose(
            bn.moving_mean.numpy(), tbn.running_mean.numpy() - bias, atol=1e-5
        )
        np.testing.assert_allclose(bn.moving_variance.numpy(), tbn.running_var.numpy(), rtol=1e-4)


# The same checks under the torch backend, where the layers call torch's own kernels
# (F.conv3d, F.conv_transpose3d, F.batch_norm) on (B, C, T, H, W) views, in both internal
# layouts; then weights go from one layout to the other, and a model file to TensorFlow.
TORCH_BACKEND_SCRIPT = """
import json, os, sys
os.environ["KERAS_BACKEND"] = "torch"
import numpy as np
import torch
import keras
from trainer.losses import DualLossAutoencoder
from trainer.model import build_autoencoder

{helpers}

out = sys.argv[1]
shape = (8, 16, 32, 1)
report = {{}}
for fmt in ("channels_last", "channels_first"):
    rng = np.random.default_rng(11)
    model = build_autoencoder(shape, width=0.125, data_format=fmt)
    net = torch_reference(torch, 1, 0.125)
    copy_keras_into_torch(torch, model, net, rng)
    x = rng.uniform(-1, 1, (2, *shape)).astype(np.float32)
    xt = torch.from_numpy(x.transpose(0, 4, 1, 2, 3).copy())
    net.eval()
    with torch.no_grad():
        want = net(xt).numpy().transpose(0, 2, 3, 4, 1)
    got = keras.ops.convert_to_numpy(model(x, training=False))
    net.train()
    out_t = net(xt)
    out_k = model(torch.from_numpy(x), training=True)
    ((out_t - 0.25) ** 2).mean().backward()
    ((out_k - 0.25) ** 2).mean().backward()
    g_t = net[0].weight.grad.numpy()
    g_k = model.get_layer("enc1").kernel.value.grad.numpy().transpose(4, 3, 0, 1, 2)
    out_t = out_t.detach().numpy().transpose(0, 2, 3, 4, 1)
    tbns = [m for m in net if isinstance(m, torch.nn.BatchNorm3d)]
    names = ("enc1", "enc2", "enc3", "enc4", "dec1", "dec2", "dec3")
    bns = [model.get_layer(n + "_bn") for n in names]
    report[fmt] = {{
        "eval": float(np.abs(got - want).max()),
        "train": float(np.abs(out_k.detach().numpy() - out_t).max()),
        "grad": float(np.abs(g_k - g_t).max() / np.abs(g_t).max()),
        "running_var": max(
            float(np.abs(b.moving_variance.numpy() - t.running_var.numpy()).max())
            for b, t in zip(bns, tbns)
        ),
    }}

# Three Adam steps from the same weights in each layout; the last model is saved.
rng = np.random.default_rng(5)
x = rng.uniform(-1, 1, (4, *shape)).astype(np.float32)
y = np.clip(x + 0.1, -1, 1)
flags = np.array([0, 1, 0, 0], np.float32)
keras.utils.set_random_seed(0)
init = build_autoencoder(shape, width=0.125).get_weights()
models = {{}}
for fmt in ("channels_first", "channels_last"):
    m = build_autoencoder(shape, width=0.125, data_format=fmt, model_class=DualLossAutoencoder)
    m.set_weights(init)
    m.compile(optimizer=keras.optimizers.Adam(1e-4))
    report["losses_" + fmt] = [
        float(m.train_on_batch(x, y, sample_weight=flags, return_dict=True)["loss"])
        for _ in range(3)
    ]
    models[fmt] = m
# Weights trained channels_first, loaded into a channels_last model: the same predictions.
cl = build_autoencoder(shape, width=0.125, data_format="channels_last")
models["channels_first"].save_weights(os.path.join(out, "cf.weights.h5"))
cl.load_weights(os.path.join(out, "cf.weights.h5"))
pred_cf = keras.ops.convert_to_numpy(models["channels_first"](x, training=False))
pred_cl = keras.ops.convert_to_numpy(cl(x, training=False))
report["cross_layout"] = float(np.abs(pred_cl - pred_cf).max())
# The portable keras.ops path of the same layers (what TensorFlow runs) equals torch's kernels.
import trainer.model as tm
m = models["channels_last"]
fast = keras.ops.convert_to_numpy(m(x, training=False))
torch_kernels = tm.set_torch_kernels(False)
report["portable"] = float(np.abs(keras.ops.convert_to_numpy(m(x, training=False)) - fast).max())
tm.set_torch_kernels(torch_kernels)
models["channels_last"].save(os.path.join(out, "torch.keras"))
pred = keras.ops.convert_to_numpy(models["channels_last"](x, training=False))
np.savez(os.path.join(out, "torch.npz"), x=x, y=y, flags=flags, pred=pred)
np.savez(os.path.join(out, "init.npz"), *init)
print(json.dumps(report))
"""


def run_json(script: Path, *args: str, env: dict[str, str], cwd: Path | None = None) -> dict:
    """Run ``script`` with this Python in a fresh process; its last line of output, as JSON."""
    proc = subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_torch_backend_equals_reference_in_both_layouts_and_tensorflow(tmp_path):
    """Under KERAS_BACKEND=torch (a subprocess): the reference's outputs, gradients and
    running statistics in both internal layouts; the same weights and training losses in both;
    its model file predicts the same under TensorFlow, and TensorFlow trains to the same losses.
    """
    pytest.importorskip("torch")
    import inspect

    helpers = inspect.getsource(torch_reference) + "\n\n" + inspect.getsource(copy_keras_into_torch)
    script = tmp_path / "torch_backend.py"
    script.write_text(TORCH_BACKEND_SCRIPT.format(helpers=helpers))
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    r = run_json(script, str(tmp_path), env=env)
    for fmt in ("channels_last", "channels_first"):
        assert r[fmt]["eval"] < 1e-4, r
        assert r[fmt]["train"] < 1e-4, r
        assert r[fmt]["grad"] < 1e-4, r
        assert r[fmt]["running_var"] < 1e-5, r
    np.testing.assert_allclose(r["losses_channels_first"], r["losses_channels_last"], rtol=1e-5)
    assert r["cross_layout"] < 1e-5
    assert r["portable"] < 1e-5

    # The torch-saved model under TensorFlow: same predictions, and the same three losses.
    data = np.load(tmp_path / "torch.npz")
    loaded = keras.saving.load_model(tmp_path / "torch.keras", safe_mode=True)
    assert isinstance(loaded, DualLossAutoencoder)
    np.testing.assert_allclose(loaded.predict(data["x"], verbose=0), data["pred"], atol=1e-5)
    init = np.load(tmp_path / "init.npz")
    model = build_dual_loss_autoencoder(data["x"].shape[1:], width=0.125)
    model.set_weights([init[f"arr_{i}"] for i in range(len(init.files))])
    model.compile(optimizer=keras.optimizers.Adam(1e-4))
    losses = [
        float(
            model.train_on_batch(
                data["x"], data["y"], sample_weight=data["flags"], return_dict=True
            )["loss"]
        )
        for _ in range(3)
    ]
    np.testing.assert_allclose(losses, r["losses_channels_last"], rtol=1e-5)


@pytest.mark.parametrize("shape", [(12, 32, 32, 1), (16, 40, 32, 1), (16, 32, 32), (16, 32, 32, 0)])
def test_bad_input_shape_is_rejected(shape):
    with pytest.raises(ValueError, match="input_shape"):
        check_input_shape(shape)


# ---------------------------------------------------------------------- the dual loss


def batches_with_targets(rng, n_batches=2, b=4):
    """Batches where pseudo samples have x != y (the target is the *normal* clip)."""
    out = []
    for _ in range(n_batches):
        y = rng.uniform(-1, 1, (b, 8, 4, 4, 1)).astype(np.float32)
        flags = np.array([0, 1, 0, 1], np.float32)[:b]
        x = y.copy()
        x[flags == 1] = rng.uniform(-1, 1, x[flags == 1].shape)  # the "pseudo anomaly"
        out.append((x, y, flags))
    return out


def test_compute_loss_matches_hand_computation():
    model = affine_model()
    (x, y, flags), _ = batches_with_targets(np.random.default_rng(1))
    pred = 0.5 * x + 0.1
    loss = model.compute_loss(x=x, y=y, y_pred=pred, sample_weight=flags)
    want, want_normal, want_pseudo = dual_loss_by_hand(pred, y, flags)
    np.testing.assert_allclose(float(loss), want, rtol=1e-6)
    np.testing.assert_allclose(float(model.normal_loss_tracker.result()), want_normal, rtol=1e-6)
    np.testing.assert_allclose(float(model.pseudo_loss_tracker.result()), want_pseudo, rtol=1e-6)
    # The pseudo sample's loss is against the target, not its own input:
    wrong = dual_loss_by_hand(pred, x, flags)[0]
    assert abs(float(loss) - wrong) > 1e-3


def test_fit_unpacks_x_y_is_pseudo_and_does_not_weight():
    """fit on (x, y, is_pseudo) logs exactly the hand-computed epoch means (weights frozen)."""
    model = affine_model()
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0))
    batches = batches_with_targets(np.random.default_rng(2), n_batches=3)
    x, y, flags = (np.concatenate(a) for a in zip(*batches, strict=True))
    ds = tf.data.Dataset.from_tensor_slices((x, y, flags)).batch(4)
    history = model.fit(ds, epochs=1, verbose=0, shuffle=False).history
    want, want_normal, want_pseudo = dual_loss_by_hand(0.5 * x + 0.1, y, flags)
    np.testing.assert_allclose(history["loss"][0], want, rtol=1e-6)
    np.testing.assert_allclose(history["normal_loss"][0], want_normal, rtol=1e-6)
    np.testing.assert_allclose(history["pseudo_loss"][0], want_pseudo, rtol=1e-6)
    # Had is_pseudo been used as a sample weight the loss would be the pseudo mean alone.
    assert abs(history["loss"][0] - want_pseudo) > 1e-3


def test_gradient_is_that_of_the_mean_per_sample_mse():
    model = affine_model(scale=2.0, bias=0.0)
    (x, y, flags), _ = batches_with_targets(np.random.default_rng(3))
    with tf.GradientTape() as tape:
        pred = model(x, training=True)
        loss = model.compute_loss(x=x, y=y, y_pred=pred, sample_weight=flags)
    g_scale, g_bias = tape.gradient(loss, model.trainable_weights)
    n = x[0].size
    resid = (2.0 * x - y).astype(np.float64)
    want_scale = (2 * resid * x).reshape(4, -1).sum(axis=1).mean() / n
    want_bias = (2 * resid).reshape(4, -1).sum(axis=1).mean() / n
    np.testing.assert_allclose(float(np.ravel(g_scale)[0]), want_scale, rtol=1e-5)
    np.testing.assert_allclose(float(np.ravel(g_bias)[0]), want_bias, rtol=1e-5)


def test_all_normal_batch_reports_zero_pseudo_loss_and_no_nan():
    model = affine_model()
    x = np.zeros((2, 8, 4, 4, 1), np.float32)
    loss = model.compute_loss(x=x, y=x, y_pred=x + 1.0, sample_weight=np.zeros(2, np.float32))
    assert float(loss) == pytest.approx(1.0)
    assert float(model.pseudo_loss_tracker.result()) == 0.0
    assert float(model.normal_loss_tracker.result()) == pytest.approx(1.0)


def _tiny_batch():
    """Two 8x4x4x1 samples, the second a pseudo anomaly: x = X^P = 1, y = X^N = 0."""
    y = np.zeros((2, 8, 4, 4, 1), np.float32)
    x = y.copy()
    x[1] = 1.0
    return x, y, np.array([0, 1], np.float32)


def test_reconstruct_normal_on_a_tiny_batch_by_hand():
    # pred = 0.5 x + 0.1: normal 0.1 vs 0 -> 0.01; pseudo 0.6 vs X^N = 0 -> 0.36.
    model = affine_model()
    x, y, flags = _tiny_batch()
    loss = model.compute_loss(x=x, y=y, y_pred=0.5 * x + 0.1, sample_weight=flags)
    assert float(loss) == pytest.approx((0.01 + 0.36) / 2, rel=1e-6)
    assert float(model.pseudo_loss_tracker.result()) == pytest.approx(0.36, rel=1e-6)


@pytest.mark.parametrize(
    ("margin", "pseudo_term"),
    [(None, -0.16), (0.1, -0.1), (1.0, -0.16)],  # pseudo: 0.6 vs X^P = 1 -> MSE 0.16
)
def test_push_away_on_a_tiny_batch_by_hand(margin, pseudo_term):
    model = affine_model()
    model.set_pseudo_objective("push_away", margin)
    x, y, flags = _tiny_batch()
    loss = model.compute_loss(x=x, y=y, y_pred=0.5 * x + 0.1, sample_weight=flags)
    assert float(loss) == pytest.approx((0.01 + pseudo_term) / 2, rel=1e-6)
    assert float(model.normal_loss_tracker.result()) == pytest.approx(0.01, rel=1e-6)
    assert float(model.pseudo_loss_tracker.result()) == pytest.approx(pseudo_term, rel=1e-6)


def test_push_away_gradient_pushes_the_pseudo_reconstruction_away():
    """Only the pseudo sample, bias only: d(-MSE(pred, 1))/d bias = 2 mean(1 - pred) > 0."""
    model = affine_model(scale=0.5, bias=0.1)
    model.set_pseudo_objective("push_away")
    x, y, flags = (a[1:] for a in _tiny_batch())
    with tf.GradientTape() as tape:
        loss = model.compute_loss(x=x, y=y, y_pred=model(x), sample_weight=flags)
    _, g_bias = tape.gradient(loss, model.trainable_weights)
    assert float(np.ravel(g_bias)[0]) == pytest.approx(2 * (1 - 0.6), rel=1e-5)
    # and clipped past the margin: no gradient at all
    model.set_pseudo_objective("push_away", 0.1)
    with tf.GradientTape() as tape:
        loss = model.compute_loss(x=x, y=y, y_pred=model(x), sample_weight=flags)
    assert float(np.ravel(tape.gradient(loss, model.trainable_weights)[1])[0]) == 0.0


def test_pseudo_objective_rejects_unknown_names():
    with pytest.raises(ValueError, match="objective"):
        affine_model().set_pseudo_objective("push")
    with pytest.raises(ValueError, match="margin"):
        affine_model().set_pseudo_objective("push_away", 0.0)


def test_per_sample_mse_is_float32_for_float16_inputs():
    a = np.full((3, 2, 2), 0.5, np.float16)
    out = per_sample_mse(a, np.zeros_like(a))
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    np.testing.assert_allclose(np.asarray(out), [0.25, 0.25, 0.25])


# ---------------------------------------------------------------------- saving


@pytest.mark.slow
def test_keras_file_loads_with_safe_mode(tmp_path):
    model = build_dual_loss_autoencoder(TINY, width=0.125)
    model.compile(optimizer=keras.optimizers.Adam(1e-4))
    x = np.random.default_rng(4).uniform(-1, 1, (4, *TINY)).astype(np.float32)
    model.fit(x, x, sample_weight=np.array([0, 1, 0, 0], np.float32), epochs=1, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded, DualLossAutoencoder)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert int(loaded.optimizer.iterations) == 1  # the optimizer state travels too
    # and it trains again with the dual loss (the trackers were rebuilt)
    logs = loaded.fit(x, x, sample_weight=np.ones(4, np.float32), epochs=1, verbose=0).history
    assert set(logs) == {"loss", "normal_loss", "pseudo_loss"}


# ---------------------------------------------------------------------- the model file

# Only Keras: no trainer, no pseudoanom, no custom_objects.
LOADER = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import keras

    model = keras.saving.load_model(sys.argv[1])
    x = np.load(sys.argv[2])
    np.save(sys.argv[3], keras.ops.convert_to_numpy(model(x, training=False)))
    ours = sorted(m for m in sys.modules if m.split(".")[0] in ("trainer", "pseudoanom"))
    print(json.dumps({"backend": keras.config.backend(), "ours": ours}))
    """
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, DualLossAutoencoder, np.ndarray]:
    """A tiny dual-loss model after one training step, saved as a run saves it."""
    run = tmp_path_factory.mktemp("run")
    keras.utils.set_random_seed(0)
    model = build_dual_loss_autoencoder(TINY, width=0.125)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (4, *TINY)).astype(np.float32)
    model.fit(x, x, sample_weight=np.array([0, 1, 0, 1], np.float32), epochs=1, verbose=0)
    checkpoint.save_final_model(model, run)
    return run / checkpoint.FINAL_MODEL, model, rng.uniform(-1, 1, (2, *TINY)).astype(np.float32)


def predict(model: keras.Model, x: np.ndarray) -> np.ndarray:
    return keras.ops.convert_to_numpy(model(x, training=False))


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "torch"])
def test_model_keras_loads_with_plain_keras_in_a_fresh_process(trained, backend, tmp_path):
    pytest.importorskip(backend)
    path, model, x = trained
    np.save(tmp_path / "x.npy", x)
    script = tmp_path / "load.py"
    script.write_text(LOADER)
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("PYTHONPATH", None)
    report = run_json(
        script, str(path), str(tmp_path / "x.npy"), str(tmp_path / "y"), env=env, cwd=tmp_path
    )
    assert report == {"backend": backend, "ours": []}
    loaded = np.load(tmp_path / "y.npy")
    if backend == keras.config.backend():  # the same operations: the same numbers
        np.testing.assert_array_equal(loaded, predict(model, x))
    else:  # another backend's kernels
        np.testing.assert_allclose(loaded, predict(model, x), atol=1e-5)


@pytest.mark.slow
def test_load_model_gives_back_the_trained_layers(trained):
    path, model, x = trained
    loaded = checkpoint.load_model(path)
    kinds = {type(layer) for layer in loaded.layers}
    assert {SymmetricPadConv3D, SymmetricPadConv3DTranspose, BatchNormalization} <= kinds
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    np.testing.assert_array_equal(predict(loaded, x), predict(model, x))
    for a, b in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_a_model_keras_of_the_training_class_still_loads_as_it_is(trained, tmp_path):
    """Runs from before plain saving (and checkpoints) hold the DualLossAutoencoder."""
    _, model, x = trained
    model.save(tmp_path / "model.keras")
    loaded = checkpoint.load_model(tmp_path / "model.keras")
    assert isinstance(loaded, DualLossAutoencoder)
    assert int(loaded.optimizer.iterations) == 1
    np.testing.assert_array_equal(predict(loaded, x), predict(model, x))


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_plain_copy_has_only_keras_layers_and_converts_back(data_format):
    model = build_autoencoder(TINY, width=0.125, data_format=data_format, sync_batchnorm=True)
    plain = to_plain_keras(model)
    assert all(type(layer).__module__.startswith("keras.") for layer in plain.layers)
    names = [layer.name for layer in plain.layers]
    assert "enc1_pad" in names and "dec_out_crop" in names
    assert not any(layer.get_config().get("synchronized") for layer in plain.layers)
    back = from_plain_keras(plain)
    assert [type(layer) for layer in back.layers] == [type(layer) for layer in model.layers]
    assert not any(layer.get_config().get("synchronized") for layer in back.layers)
    x = np.random.default_rng(1).uniform(-1, 1, (1, *TINY)).astype(np.float32)
    np.testing.assert_allclose(predict(plain, x), predict(model, x), atol=1e-6)
    np.testing.assert_allclose(predict(back, x), predict(model, x), atol=1e-6)


def test_plain_copy_keeps_mixed_precision():
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = build_autoencoder(TINY, width=0.125)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    plain = to_plain_keras(model)
    policies = {layer.name: layer.dtype_policy.name for layer in plain.layers}
    assert policies["enc1_pad"] == policies["enc1"] == "mixed_float16"
    assert policies["reconstruction"] == "float32"
    x = np.zeros((1, *TINY), np.float32)
    assert keras.backend.standardize_dtype(plain(x).dtype) == "float32"


def test_a_model_that_is_no_chain_is_refused():
    inputs = keras.Input((4,))
    a, b = keras.layers.Dense(2)(inputs), keras.layers.Dense(2)(inputs)
    model = keras.Model(inputs, keras.layers.Add()([a, b]))
    with pytest.raises(ValueError, match="chain"):
        to_plain_keras(model)


# ---------------------------------------------------------------------- mixed precision


@pytest.mark.slow
def test_mixed_precision_loss_is_float32_and_close_to_float32():
    x = np.random.default_rng(5).uniform(-1, 1, (4, *TINY)).astype(np.float32)
    y = np.clip(x + 0.1, -1, 1)
    flags = np.array([0, 1, 0, 1], np.float32)
    keras.utils.set_random_seed(0)
    ref = build_dual_loss_autoencoder(TINY, width=0.125)
    ref_loss = float(ref.compute_loss(x=x, y=y, y_pred=ref(x, training=False), sample_weight=flags))
    try:
        keras.mixed_precision.set_global_policy("mixed_float16")
        mixed = build_dual_loss_autoencoder(TINY, width=0.125)
        mixed.set_weights(ref.get_weights())
        assert mixed.layers[1].compute_dtype == "float16"
        pred = mixed(x, training=False)
        assert keras.backend.standardize_dtype(pred.dtype) == "float32"  # tanh layer in fp32
        loss = mixed.compute_loss(x=x, y=y, y_pred=pred, sample_weight=flags)
        assert keras.backend.standardize_dtype(loss.dtype) == "float32"
        np.testing.assert_allclose(float(loss), ref_loss, rtol=5e-3)
        mixed.compile(optimizer=keras.optimizers.Adam(1e-4))
        assert isinstance(mixed.optimizer, keras.optimizers.LossScaleOptimizer)
        logs = mixed.fit(x, y, sample_weight=flags, epochs=1, verbose=0).history
        assert np.isfinite(logs["loss"][0])
    finally:
        keras.mixed_precision.set_global_policy("float32")


# ---------------------------------------------------------------------- tf.distribute

MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json, os
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )
    import keras
    from keras import layers
    from trainer.losses import DualLossAutoencoder

    def model_and_data():
        inputs = keras.Input(shape=(8, 4, 4, 1))
        x = layers.Conv3D(2, 3, padding="same", name="c1")(inputs)
        out = layers.Conv3D(1, 1, name="c2")(layers.LeakyReLU(0.2)(x))
        return DualLossAutoencoder(inputs=inputs, outputs=out)

    rng = np.random.default_rng(0)
    y = rng.uniform(-1, 1, (4, 8, 4, 4, 1)).astype("float32")
    flags = np.array([0, 1, 1, 0], "float32")
    x = y.copy()
    x[flags == 1] = rng.uniform(-1, 1, x[flags == 1].shape)
    ds = tf.data.Dataset.from_tensors((x, y, flags))

    keras.utils.set_random_seed(0)
    single = model_and_data()
    w0 = single.get_weights()
    single.compile(optimizer=keras.optimizers.SGD(learning_rate=0.5))
    h1 = single.fit(ds, epochs=1, verbose=0).history

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        mirrored = model_and_data()
        mirrored.set_weights(w0)
        mirrored.compile(optimizer=keras.optimizers.SGD(learning_rate=0.5))
    h2 = mirrored.fit(ds, epochs=1, verbose=0).history
    delta = [np.abs(a - b).max() for a, b in zip(single.get_weights(), mirrored.get_weights())]
    moved = [np.abs(a - b).max() for a, b in zip(w0, single.get_weights())]
    print(json.dumps({
        "replicas": strategy.num_replicas_in_sync,
        "single": {k: float(v[0]) for k, v in h1.items()},
        "mirrored": {k: float(v[0]) for k, v in h2.items()},
        "max_weight_delta": float(max(delta)),
        "max_weight_move": float(max(moved)),
    }))
    """
)


@pytest.mark.slow
def test_mirrored_strategy_matches_single_device(tmp_path):
    """Global-batch loss scaling: one SGD step on 2 replicas == one step on one device."""
    script = tmp_path / "mirrored.py"
    script.write_text(MIRRORED_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert r["replicas"] == 2
    for key in ("loss", "normal_loss", "pseudo_loss"):
        np.testing.assert_allclose(r["mirrored"][key], r["single"][key], rtol=1e-5)
    assert r["max_weight_move"] > 1e-3  # the step did something...
    assert r["max_weight_delta"] < 1e-5  # ...and the same thing on both
