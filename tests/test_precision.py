"""`train.precision`: mixed bfloat16 and float16 train on a CPU, with float32 weights, float32 outputs
and, for float16, loss scaling that gives the same update as unscaled float32 gradients; `auto`
picks bfloat16 only where it was measured to pay, and the stage records what it picked."""
from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
import yaml

from conftest import ROOT, TINY_CNN, mnist_batch, tiny_cnn_params, tiny_params
from gan_lab.config import MlpArch, TransformerArch, load_training
from gan_lab.models import build_discriminator, build_generator, load_network
from gan_lab.models.conditioning import output_dtype
from gan_lab.training.gan import GAN
from gan_lab.training.loop import OutputPaths, build_gan, make_deterministic, train
from gan_lab.training.precision import cpu_flags, dtype_policy, resolve

TINY = {
    "cnn": TINY_CNN,
    "transformer": TransformerArch(embed_dim=8, num_heads=2, depth=1, mlp_ratio=2.0, dropout=0.0, patch_size=7),
    "mlp": MlpArch(hidden_units=(16, 16), mlp_dropout=0.0),
}
COMPUTE_DTYPE = {"mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}


@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_train_steps_on_cpu(precision, mnist):
    make_deterministic(0)
    gan = build_gan(tiny_cnn_params(precision, conditional=True))
    assert keras.config.dtype_policy().name == "float32"  # the global policy is left as it was
    assert gan.generator.get_layer("up0").compute_dtype == COMPUTE_DTYPE[precision]
    assert gan.discriminator.get_layer("down0").compute_dtype == COMPUTE_DTYPE[precision]
    scaled = precision == "mixed_float16"
    for optimizer in (gan.g_optimizer, gan.d_optimizer):
        assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer) == scaled

    step = tf.function(gan.train_step)
    for _ in range(3):
        logs = step(mnist_batch(mnist))
    assert all(np.isfinite(float(v)) for v in logs.values())
    assert {v.dtype for v in gan.generator.weights + gan.discriminator.weights} == {"float32"}
    assert int(gan.d_optimizer.iterations) == 3  # no step skipped for overflowing gradients
    if scaled:
        assert float(gan.d_optimizer.dynamic_scale) == 2.0**15
    z, labels = tf.zeros((2, 16)), tf.constant([3, 7])
    images = gan.generate(z, labels)
    assert images.dtype == tf.float32
    assert gan.discriminate(images, labels).dtype == tf.float32


@pytest.mark.parametrize("family", ["cnn", "transformer", "mlp"])
def test_every_family_ends_in_float32_under_a_mixed_policy(family):
    assert output_dtype() is None  # float32 policy: the last layers follow it, saved files unchanged
    with dtype_policy("mixed_bfloat16"):
        assert output_dtype() == "float32"
        generator = build_generator(family, TINY[family], 16, 10)
        discriminator = build_discriminator(family, TINY[family], 10)
    labels = tf.constant([1, 2])
    images = generator([tf.zeros((2, 16)), labels])
    assert images.dtype == tf.float32 and images.shape == (2, 28, 28, 1)
    assert discriminator([images, labels]).dtype == tf.float32
    assert {layer.compute_dtype for layer in generator.layers if layer.weights} >= {"bfloat16", "float32"}


def test_loss_scaling_gives_the_update_of_unscaled_gradients():
    """GAN.gradients multiplies the loss's gradient by the loss scale; LossScaleOptimizer divides it
    back out before Adam. A power-of-two scale makes both exact in float32."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(1)])
    x = tf.constant(np.random.default_rng(0).normal(size=(8, 4)), tf.float32)
    plain, scaled = keras.optimizers.Adam(1e-2), keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(1e-2))
    for optimizer in (plain, scaled):
        optimizer.build(model.trainable_variables)
    start = [v.numpy() for v in model.trainable_variables]

    def gradients(optimizer):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(model(x) ** 2)
        return GAN.gradients(tape, loss, model.trainable_variables, optimizer, GAN.gradient_scale(optimizer))

    unscaled, loss_scaled = gradients(plain), gradients(scaled)
    for g, s in zip(unscaled, loss_scaled):
        np.testing.assert_array_equal(s.numpy(), g.numpy() * 2.0**15)

    plain.apply(unscaled, model.trainable_variables)
    after_plain = [v.numpy() for v in model.trainable_variables]
    for v, value in zip(model.trainable_variables, start):
        v.assign(value)
    scaled.apply(loss_scaled, model.trainable_variables)
    for v, expected in zip(model.trainable_variables, after_plain):
        np.testing.assert_allclose(v.numpy(), expected, rtol=1e-6, atol=1e-7)

    # An overflowing step is skipped and the scale halved.
    before = [v.numpy() for v in model.trainable_variables]
    scaled.apply([tf.fill(g.shape, np.inf) for g in loss_scaled], model.trainable_variables)
    assert all(np.array_equal(v.numpy(), b) for v, b in zip(model.trainable_variables, before))
    assert float(scaled.dynamic_scale) == 2.0**14 and int(scaled.iterations) == 1


def tiny_cnn_stage(tmp_path, mnist, precision: str):
    """The cnn section of this repository's params.yaml, shrunk, with `train.precision`, and a small data set."""
    params_file = tmp_path / "params.yaml"
    raw = tiny_params(yaml.safe_load((ROOT / "params.yaml").read_text()))
    raw["train"]["precision"] = precision
    params_file.write_text(yaml.safe_dump(raw))
    small = type(mnist)(mnist.x_train[:256], mnist.y_train[:256], mnist.x_test[:64], mnist.y_test[:64])
    return load_training("cnn", params_file), small


def test_mixed_bfloat16_stage_writes_float32_generator_outputs(tmp_path, mnist):
    params, small = tiny_cnn_stage(tmp_path, mnist, "mixed_bfloat16")
    out = OutputPaths.for_stage("cnn", tmp_path)

    metrics = train(params, small, out, write=lambda line: None)

    assert np.isfinite(metrics["final_d_loss"]) and np.isfinite(metrics["final_g_loss"])
    assert keras.config.dtype_policy().name == "float32"
    generator = load_network(out.models / "generator.keras")
    assert generator.get_layer("up0").compute_dtype == "bfloat16"  # saved with its policy
    images = generator(np.zeros((3, params.gan.latent_dim), "float32")).numpy()
    assert images.dtype == np.float32 and images.shape == (3, 28, 28, 1)
    assert images.min() >= -1.0 and images.max() <= 1.0


@pytest.mark.parametrize("families, flags, gpus, expected", [
    ({"cnn"}, ["avx512_bf16", "amx_bf16"], 0, "mixed_bfloat16"),  # measured 1.45x at equal FID
    ({"cnn"}, ["amx_bf16"], 0, "mixed_bfloat16"),
    ({"cnn"}, [], 0, "float32"),  # no bfloat16 units: emulated, 3x slower
    ({"cnn"}, ["amx_bf16"], 1, "float32"),  # a GPU: the rule is about CPUs
    ({"transformer"}, ["amx_bf16"], 0, "float32"),  # measured 0.99x
    ({"transformer", "cnn"}, ["amx_bf16"], 0, "float32"),  # the combined default: 1.16x, quality not measured
    ({"mlp"}, ["amx_bf16"], 0, "float32"),  # not measured
])
def test_auto_precision_is_bfloat16_only_where_measured_to_pay(families, flags, gpus, expected):
    assert resolve("auto", families, flags=flags, gpus=gpus) == expected
    for written in ("float32", "mixed_bfloat16", "mixed_float16"):  # anything else is taken as written
        assert resolve(written, families, flags=flags, gpus=gpus) == written


def test_auto_precision_stage_builds_and_records_what_this_machine_picked(tmp_path, mnist):
    """On this machine `auto` means what `resolve` says for its CPU flags; the networks are built in
    it, the stage prints it and timing.json records it, so two machines' runs say why they differ."""
    params, small = tiny_cnn_stage(tmp_path, mnist, "auto")
    picked = "mixed_bfloat16" if cpu_flags() and not tf.config.list_logical_devices("GPU") else "float32"
    lines = []

    metrics = train(params, small, OutputPaths.for_stage("cnn", tmp_path), write=lines.append)

    assert metrics["dtype_policy"] == picked
    assert any(f"train.precision=auto: {picked} on this machine" in line for line in lines)
    timing = yaml.safe_load((tmp_path / "reports" / "cnn" / "timing.json").read_text())
    assert timing["dtype_policy"] == picked
    assert build_gan(params).generator.get_layer("up0").compute_dtype == COMPUTE_DTYPE.get(picked, "float32")
