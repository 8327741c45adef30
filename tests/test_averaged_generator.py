"""`g_ema`: samples and the saved generator come from the moving average of G's weights.

Training must never see the average: the raw weights come back after every look, bit for bit.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from conftest import ROOT
from gan_lab.config import CnnArch, load_training
from gan_lab.data import to_tanh_range
from gan_lab.training import build_gan, make_deterministic

TINY = CnnArch(g_filters=(8, 4), d_filters=(4, 8), g_norm="batch", d_dropout=0.0)


def tiny_gan(g_ema: float, precision: str = "float32"):
    params = load_training("cnn", ROOT / "params.yaml")
    params = dataclasses.replace(
        params,
        loop=dataclasses.replace(params.loop, precision=precision),
        gan=dataclasses.replace(params.gan, latent_dim=16, batch_size=8, g_ema=g_ema, arch={"cnn": TINY}),
    )
    make_deterministic(0)
    return build_gan(params)


def values(variables) -> list[np.ndarray]:
    return [v.numpy() for v in variables]


@pytest.mark.parametrize("precision", ["float32", "mixed_float16"])
def test_the_average_is_the_momentum_recursion_and_the_raw_weights_come_back(precision, mnist):
    momentum = 0.5
    gan = tiny_gan(momentum, precision)
    weights = gan.generator.trainable_variables
    step = tf.function(gan.train_step)
    batch = to_tanh_range(mnist.x_train[:8]), tf.constant(mnist.y_train[:8], tf.int32)
    average = None
    for _ in range(4):
        step(batch)
        raw = values(weights)
        # Keras' use_ema: the first update copies the weights, each later one mixes them in
        average = raw if average is None else [momentum * a + (1 - momentum) * w for a, w in zip(average, raw)]

    z = tf.random.stateless_normal((4, 16), seed=[0, 1])
    with gan.averaged_generator():
        for got, want in zip(values(weights), average):
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
        averaged_images = gan.generate(z).numpy()
    for got, want in zip(values(weights), raw):
        np.testing.assert_array_equal(got, want)
    assert np.abs(averaged_images - gan.generate(z).numpy()).max() > 1e-4  # the look used other weights


def test_without_g_ema_the_generator_is_left_as_it_is(mnist):
    gan = tiny_gan(0.0)
    step = tf.function(gan.train_step)
    step((to_tanh_range(mnist.x_train[:8]), tf.constant(mnist.y_train[:8], tf.int32)))
    before = values(gan.generator.trainable_variables)
    with gan.averaged_generator():
        inside = values(gan.generator.trainable_variables)
    for a, b in zip(before, inside):
        np.testing.assert_array_equal(a, b)
