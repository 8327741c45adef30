"""The classic fully connected GAN (Goodfellow et al. 2014): the baseline the other families beat.

Generator: (z[, label]) -> one Dense + LeakyReLU(0.2) per entry of `hidden_units` -> Dense(784)
with Tanh -> Reshape to 28x28x1. Discriminator: (image[, label plane]) -> Flatten -> the same
widths in reverse order (the mirror of the generator), each Dense + LeakyReLU(0.2) + Dropout ->
Dense(1) with Sigmoid. No layer knows that neighbouring pixels are related, which is why this
family needs more steps than the CNN for the same digit quality.
"""
from __future__ import annotations

import math

import keras
from keras import layers

from gan_lab.config import MlpArch
from gan_lab.models.conditioning import IMAGE_SHAPE, discriminator_inputs, generator_inputs, output_dtype


def build_generator(arch: MlpArch, latent_dim: int, num_classes: int | None = None) -> keras.Model:
    inputs, x = generator_inputs(latent_dim, num_classes)
    for i, units in enumerate(arch.hidden_units):
        x = layers.Dense(units, name=f"dense{i}")(x)
        x = layers.LeakyReLU(negative_slope=0.2, name=f"dense{i}_lrelu")(x)
    x = layers.Dense(math.prod(IMAGE_SHAPE), activation="tanh", name="to_pixels", dtype=output_dtype())(x)
    image = layers.Reshape(IMAGE_SHAPE, name="to_image", dtype=output_dtype())(x)
    return keras.Model(inputs, image, name="mlp_generator")


def build_discriminator(arch: MlpArch, num_classes: int | None = None) -> keras.Model:
    inputs, x = discriminator_inputs(num_classes)
    x = layers.Flatten(name="flatten")(x)
    for i, units in enumerate(reversed(arch.hidden_units)):
        x = layers.Dense(units, name=f"dense{i}")(x)
        x = layers.LeakyReLU(negative_slope=0.2, name=f"dense{i}_lrelu")(x)
        x = layers.Dropout(arch.mlp_dropout, name=f"dense{i}_dropout")(x)
    probability = layers.Dense(1, activation="sigmoid", name="real_probability", dtype=output_dtype())(x)
    return keras.Model(inputs, probability, name="mlp_discriminator")
