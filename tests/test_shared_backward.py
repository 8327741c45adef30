"""The train step's one backward pass through D gives the generator the gradient of its own loss.

GAN.train_step takes g_loss's gradient at the fake images from d_loss's, re-weighted per image
(`GAN.generator_over_discriminator`). These tests recompute g_loss's gradient the direct way,
from the same forward pass, for every discriminator family, and compare.
"""
from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from gan_lab.training.augment import diff_augment
from gan_lab.config import CnnArch, MlpArch, TransformerArch
from gan_lab.data import to_tanh_range
from gan_lab.training.gan import GAN
from gan_lab.models import build_discriminator, build_generator

LATENT = 16
BATCH = 8
DISCRIMINATORS = {  # no dropout: the direct recomputation must meet the same masks
    "cnn": CnnArch(g_filters=(16, 8), d_filters=(8, 16), g_norm="batch", d_dropout=0.0),
    "transformer": TransformerArch(embed_dim=16, num_heads=2, depth=2, mlp_ratio=2.0, dropout=0.0, patch_size=4),
    "mlp": MlpArch(hidden_units=(32, 64), mlp_dropout=0.0),
}


def sgd_gan(discriminator: str, classes: int | None, **options) -> GAN:
    """A CNN generator against `discriminator`, with SGD(1): one step subtracts the gradients themselves."""
    keras.utils.set_random_seed(0)
    gan = GAN(
        build_generator("cnn", DISCRIMINATORS["cnn"], LATENT, classes),
        build_discriminator(discriminator, DISCRIMINATORS[discriminator], classes),
        LATENT,
        conditional=classes is not None,
        **options,
    )
    gan.compile(keras.optimizers.SGD(1.0), keras.optimizers.SGD(1.0))
    return gan


def direct_generator_gradients(gan: GAN, real: tf.Tensor, labels: tf.Tensor) -> list[np.ndarray]:
    """d g_loss / d G's weights by back-propagating g_loss itself, as the TensorFlow DCGAN tutorial does."""
    z = gan.noise(tf.shape(real)[0])
    with tf.GradientTape() as tape:
        fake = gan.generate(z, labels, training=True)
        images = ops.concatenate([real, fake], axis=0)
        if gan.diffaugment:
            images = diff_augment(images, gan.step_seed(1))
        scores = gan.discriminate(images, ops.concatenate([labels, labels], axis=0) if gan.conditional else None, training=True)
        g_loss = ops.mean(ops.binary_crossentropy(ops.ones_like(scores[BATCH:]), scores[BATCH:]))
    return [tf.convert_to_tensor(g).numpy() for g in tape.gradient(g_loss, gan.generator.trainable_variables)]


def generator_step(gan: GAN, real: tf.Tensor, labels: tf.Tensor) -> list[np.ndarray]:
    """What one train_step subtracted from G's weights (= its gradients, under SGD(1))."""
    before = [v.numpy().copy() for v in gan.generator.trainable_variables]
    tf.function(gan.train_step)((real, labels))
    return [b - v.numpy() for b, v in zip(before, gan.generator.trainable_variables)]


@pytest.mark.parametrize("classes", [None, 10], ids=["unconditional", "conditional"])
@pytest.mark.parametrize("discriminator", list(DISCRIMINATORS))
def test_generator_gets_the_gradient_of_its_own_loss(discriminator, classes, mnist):
    real = to_tanh_range(mnist.x_train[:BATCH])
    labels = tf.constant(mnist.y_train[:BATCH], tf.int32)
    gan = sgd_gan(discriminator, classes, diffaugment=True, label_smoothing=0.1)
    expected = direct_generator_gradients(gan, real, labels)
    taken = generator_step(gan, real, labels)
    for want, got in zip(expected, taken):
        assert np.abs(want).max() > 0
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-6)  # atol: rounding of w - (w - g) for |w| ~ 1


def test_r1_penalty_leaves_the_generator_step_alone(mnist):
    """R1 is a penalty at real images: it changes D's update, not what the fakes' gradient says."""
    real = to_tanh_range(mnist.x_train[:BATCH])
    labels = tf.zeros((BATCH,), tf.int32)
    without, with_r1 = (generator_step(sgd_gan("cnn", None, r1_gamma=gamma), real, labels) for gamma in (0.0, 10.0))
    for a, b in zip(without, with_r1):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6 * np.abs(a).max())


def test_generator_over_discriminator_is_the_ratio_of_the_two_losses_slopes():
    p = tf.constant([[1e-3], [0.25], [0.5], [0.9]])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(p)
        d_fake = ops.sum(ops.binary_crossentropy(ops.zeros_like(p), p))
        g = ops.sum(ops.binary_crossentropy(ops.ones_like(p), p))
    ratio = (tape.gradient(g, p) / tape.gradient(d_fake, p)).numpy().ravel()
    np.testing.assert_allclose(GAN.generator_over_discriminator(p).numpy().ravel(), ratio, rtol=1e-5)
    np.testing.assert_allclose(ratio, [-999.0, -3.0, -1.0, -1 / 9], rtol=1e-4)
