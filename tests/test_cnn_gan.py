"""The CNN family's networks and the shared adversarial train step."""
from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_lab.config import CnnArch
from gan_lab.data import to_tanh_range
from gan_lab.models import build_discriminator, build_generator
from gan_lab.training.gan import GAN

ARCH = CnnArch(g_filters=(32, 16), d_filters=(16, 32), g_norm="batch", d_dropout=0.3)


@pytest.mark.parametrize("classes", [None, 10])
def test_generator_shapes_layers_and_range(classes):
    keras.utils.set_random_seed(0)
    g = build_generator("cnn", ARCH, latent_dim=100, num_classes=classes)
    z = np.random.default_rng(0).normal(size=(5, 100)).astype("float32") * 3
    images = g([z, np.arange(5)] if classes else z, training=False).numpy()
    assert images.shape == (5, 28, 28, 1)
    assert images.min() >= -1.0 and images.max() <= 1.0
    project = g.get_layer("project")
    assert project.units == 7 * 7 * 256
    ups = [layer for layer in g.layers if isinstance(layer, keras.layers.Conv2DTranspose)]
    assert [tuple(layer.output.shape[1:3]) for layer in ups] == [(14, 14), (28, 28), (28, 28)]
    assert all(layer.strides == (2, 2) for layer in ups[:2])
    assert ups[-1].activation.__name__ == "tanh"
    assert sum(isinstance(layer, keras.layers.ReLU) for layer in g.layers) == 3


@pytest.mark.parametrize("classes", [None, 10])
def test_discriminator_shapes_layers_and_range(classes, mnist):
    keras.utils.set_random_seed(0)
    d = build_discriminator("cnn", ARCH, num_classes=classes)
    real = to_tanh_range(mnist.x_test[:6])
    labels = tf.constant(mnist.y_test[:6], tf.int32)
    scores = d([real, labels] if classes else real, training=False).numpy()
    assert scores.shape == (6, 1)
    assert ((scores > 0) & (scores < 1)).all()
    convs = [layer for layer in d.layers if isinstance(layer, keras.layers.Conv2D)]
    assert all(layer.strides == (2, 2) for layer in convs)
    lrelus = [layer for layer in d.layers if isinstance(layer, keras.layers.LeakyReLU)]
    assert len(lrelus) == len(convs) and all(layer.negative_slope == pytest.approx(0.2) for layer in lrelus)
    assert d.layers[-1].activation.__name__ == "sigmoid"


def _gan(g_lr: float, d_lr: float, conditional: bool = False, r1_gamma: float = 0.0) -> GAN:
    keras.utils.set_random_seed(1)
    classes = 10 if conditional else None
    gan = GAN(
        build_generator("cnn", ARCH, 16, classes), build_discriminator("cnn", ARCH, classes), 16,
        conditional=conditional, seed=1, r1_gamma=r1_gamma,
    )
    gan.compile(keras.optimizers.Adam(g_lr, beta_1=0.5), keras.optimizers.Adam(d_lr, beta_1=0.5))
    return gan


def _changed(variables, before) -> list[bool]:
    return [not np.array_equal(v.numpy(), b) for v, b in zip(variables, before)]


@pytest.mark.parametrize(
    "g_lr, d_lr, g_moves, d_moves",
    [(2e-4, 2e-4, True, True), (0.0, 2e-4, False, True), (2e-4, 0.0, True, False)],
)
def test_train_step_updates_each_network_only_through_its_own_optimizer(mnist, g_lr, d_lr, g_moves, d_moves):
    gan = _gan(g_lr, d_lr)
    g_vars, d_vars = gan.generator.trainable_variables, gan.discriminator.trainable_variables
    g_before, d_before = [v.numpy() for v in g_vars], [v.numpy() for v in d_vars]
    batch = (to_tanh_range(mnist.x_train[:8]), tf.constant(mnist.y_train[:8], tf.int32))
    logs = tf.function(gan.train_step)(batch)
    assert all(_changed(g_vars, g_before)) if g_moves else not any(_changed(g_vars, g_before))
    assert all(_changed(d_vars, d_before)) if d_moves else not any(_changed(d_vars, d_before))
    assert set(logs) == {"d_loss", "g_loss", "d_real", "d_fake", "d_real_accuracy", "d_fake_accuracy"}
    assert all(np.isfinite(float(v)) for v in logs.values())


def test_conditional_train_step_runs_and_uses_labels(mnist):
    gan = _gan(2e-4, 2e-4, conditional=True)
    batch = (to_tanh_range(mnist.x_train[:8]), tf.constant(mnist.y_train[:8], tf.int32))
    before = gan.generator.get_layer("label_embedding").embeddings.numpy()
    tf.function(gan.train_step)(batch)
    assert not np.array_equal(before, gan.generator.get_layer("label_embedding").embeddings.numpy())


def test_r1_penalty_is_the_squared_logit_gradient_at_real_images(mnist):
    """For D(x) = sigmoid(w.x + b) the logit's gradient is w at every image, so R1 = |w|^2 exactly."""
    keras.utils.set_random_seed(3)
    linear = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(1, activation="sigmoid")])
    images = tf.constant(to_tanh_range(mnist.x_train[:4]))
    with tf.GradientTape() as tape:
        tape.watch(images)
        scores = linear(images)
    penalty = GAN.r1_penalty(tape, images, scores, 4)
    np.testing.assert_allclose(float(penalty), float(tf.reduce_sum(linear.layers[-1].kernel ** 2)), rtol=1e-4)


def test_r1_penalty_changes_only_the_discriminator_update(mnist):
    batch = (to_tanh_range(mnist.x_train[:8]), tf.constant(mnist.y_train[:8], tf.int32))
    after = {}
    for gamma in (0.0, 10.0):
        gan = _gan(2e-4, 2e-4, r1_gamma=gamma)
        logs = tf.function(gan.train_step)(batch)
        after[gamma] = ([v.numpy() for v in gan.generator.trainable_variables],
                        [v.numpy() for v in gan.discriminator.trainable_variables], float(logs["d_loss"]))
    assert all(np.array_equal(a, b) for a, b in zip(after[0.0][0], after[10.0][0]))  # G: same update
    assert not all(np.array_equal(a, b) for a, b in zip(after[0.0][1], after[10.0][1]))  # D: penalised
    assert after[10.0][2] > after[0.0][2]
