"""The MNIST classifier the evaluator measures generators with: a small seeded CNN and its two views.

Its input is what the generators output, (28, 28, 1) in [-1, 1], so generated batches go straight
in. The penultimate Dense layer, named `features`, is the embedding FID, KID and precision/recall
compare; the softmax head gives the Inception-Score analogue, digit coverage and confidence.
"""
from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from gan_lab.config import ClassifierConfig
from gan_lab.data import IMAGE_SHAPE, NUM_CLASSES, Mnist, to_tanh_range, training_batches
from gan_lab.model_io import load_model

FEATURE_LAYER = "features"
PREDICT_BATCH = 500


def build_classifier(config: ClassifierConfig) -> keras.Model:
    """conv 3x3 + 2x2 max-pool per `conv_filters` entry, then the feature layer and a softmax."""
    inputs = keras.Input(IMAGE_SHAPE, name="image")
    x = inputs
    for filters in config.conv_filters:
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(config.feature_units, activation="relu", name=FEATURE_LAYER)(x)
    x = keras.layers.Dropout(config.dropout)(x)
    outputs = keras.layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="mnist_classifier")


def classifier_input(images: np.ndarray) -> np.ndarray:
    """uint8 MNIST in [0, 255] or generator output in [-1, 1], channel axis optional -> float32 (N, 28, 28, 1)."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        images = np.asarray(to_tanh_range(images))
    images = images.astype(np.float32).reshape((-1, *IMAGE_SHAPE))
    if images.size and (images.min() < -1.001 or images.max() > 1.001):
        raise ValueError(f"float images must lie in [-1, 1], got [{images.min():.3f}, {images.max():.3f}]")
    return images


def train_classifier(mnist: Mnist, config: ClassifierConfig, seed: int) -> tuple[keras.Model, dict[str, float]]:
    """Train on the train split (Adam, cosine-decayed learning rate); return the model and its test scores.

    Deterministic on CPU for a given seed: seeded initialisers and dropout, op determinism, and the
    stateless per-epoch shuffle of `training_batches`.
    """
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    steps_per_epoch = len(mnist.x_train) // config.batch_size
    batches = training_batches(mnist.x_train, mnist.y_train, config.batch_size, seed)
    model = build_classifier(config)
    schedule = keras.optimizers.schedules.CosineDecay(config.learning_rate, steps_per_epoch * config.epochs)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(batches, epochs=config.epochs, steps_per_epoch=steps_per_epoch, shuffle=False, verbose=2)
    scores = model.evaluate(
        classifier_input(mnist.x_test), mnist.y_test, batch_size=PREDICT_BATCH, verbose=0, return_dict=True
    )
    return model, {"test_accuracy": float(scores["accuracy"]), "test_loss": float(scores["loss"])}


class MnistClassifier:
    """A trained classifier seen from the evaluator: one forward pass gives features and probabilities."""

    def __init__(self, model: keras.Model):
        self.model = model
        self._both = keras.Model(model.inputs, [model.get_layer(FEATURE_LAYER).output, model.outputs[0]])

    @classmethod
    def load(cls, path: str | Path) -> MnistClassifier:
        return cls(load_model(path))

    def embed(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(features, probabilities) as float64, for images in either form `classifier_input` takes."""
        features, probabilities = self._both.predict(
            classifier_input(images), batch_size=PREDICT_BATCH, verbose=0
        )
        return features.astype(np.float64), probabilities.astype(np.float64)

    def features(self, images: np.ndarray) -> np.ndarray:
        """Penultimate-layer activations, (N, feature_units)."""
        return self.embed(images)[0]

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """Softmax over the ten digits, (N, 10)."""
        return self.embed(images)[1]
