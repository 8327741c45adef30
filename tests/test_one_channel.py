"""OneChannelConvTranspose is Conv2DTranspose(1, k, padding="same"), computed another way."""
from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_lab.model_io import load_model, save_model
from gan_lab.models.one_channel import OneChannelConvTranspose


def twin_layers(kernel: int, channels: int) -> tuple[keras.layers.Layer, keras.layers.Layer]:
    """The stock layer and the project's, holding the same random weights."""
    stock = keras.layers.Conv2DTranspose(1, kernel, padding="same", activation="tanh")
    mine = OneChannelConvTranspose(kernel, activation="tanh")
    for layer in (stock, mine):
        layer.build((None, 28, 28, channels))
    rng = np.random.default_rng(0)
    weights = [rng.normal(scale=0.1, size=w.shape).astype("float32") for w in stock.weights]
    stock.set_weights(weights)
    mine.set_weights(weights)
    return stock, mine


@pytest.mark.parametrize("kernel, channels", [(7, 64), (3, 5), (1, 8)])
def test_outputs_and_gradients_match_conv2d_transpose(kernel, channels):
    stock, mine = twin_layers(kernel, channels)
    x = tf.constant(np.random.default_rng(1).normal(size=(4, 28, 28, channels)), tf.float32)
    upstream = tf.constant(np.random.default_rng(2).normal(size=(4, 28, 28, 1)), tf.float32)
    results = []
    for layer in (stock, mine):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(y * upstream)
        results.append([y.numpy(), *(g.numpy() for g in tape.gradient(loss, [x, *layer.trainable_variables]))])
    for want, got in zip(*results):  # float rounding differs: the sums run in another order
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * np.abs(want).max())


def test_saved_and_reloaded_inside_a_model(tmp_path):
    inputs = keras.Input((28, 28, 3))
    model = keras.Model(inputs, OneChannelConvTranspose(5, name="to_image")(inputs))
    save_model(model, tmp_path / "m.keras")
    again = load_model(tmp_path / "m.keras")
    x = np.random.default_rng(0).normal(size=(2, 28, 28, 3)).astype("float32")
    assert isinstance(again.get_layer("to_image"), OneChannelConvTranspose)
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("options", [{"filters": 2}, {"strides": 2}, {"padding": "valid"}], ids=str)
def test_refuses_what_it_does_not_compute(options):
    with pytest.raises(ValueError, match="OneChannelConvTranspose is for filters=1"):
        OneChannelConvTranspose(7, **options)


def test_even_kernel_refused():
    with pytest.raises(ValueError, match="odd kernel"):
        OneChannelConvTranspose(4)
