"""`g_ema`: samples and the saved generator come from the moving average of G's weights.

Training must never see the average: the raw weights come back after every look, bit for bit.
"""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from conftest import mnist_batch, tiny_cnn_params
from gan_lab.training.loop import build_gan, make_deterministic


def tiny_gan(g_ema: float, precision: str = "float32"):
    make_deterministic(0)
    return build_gan(tiny_cnn_params(precision, g_ema=g_ema))


def values(variables) -> list[np.ndarray]:
    return [v.numpy() for v in variables]


@pytest.mark.parametrize("precision", ["float32", "mixed_float16"])
def test_the_average_is_the_momentum_recursion_and_the_raw_weights_come_back(precision, mnist):
    momentum = 0.5
    gan = tiny_gan(momentum, precision)
    weights = gan.generator.trainable_variables
    step = tf.function(gan.train_step)
    batch = mnist_batch(mnist)
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
    tf.function(gan.train_step)(mnist_batch(mnist))
    before = values(gan.generator.trainable_variables)
    with gan.averaged_generator():
        inside = values(gan.generator.trainable_variables)
    for a, b in zip(before, inside):
        np.testing.assert_array_equal(a, b)
