"""The CNN (DCGAN-style) family of lab Part 1.

Generator: Dense(7*7*256) -> Reshape(7, 7, 256) -> two stride-2 Conv2DTranspose (7->14->28) with
ReLU -> Conv2DTranspose to one channel with Tanh (as `OneChannelConvTranspose`: the same layer, fast
on CPU). Discriminator: two stride-2 Conv2D with LeakyReLU(0.2) -> Flatten -> Dense(1) with Sigmoid.
These are the lab's layer types and activations; batch normalisation in the generator and dropout in
the discriminator are the tuning that makes them give readable digits in a few CPU minutes (see
docs/architecture.md).
"""
from __future__ import annotations

import keras
from keras import layers

from gan_lab.config import CnnArch
from gan_lab.models.conditioning import discriminator_inputs, generator_inputs, output_dtype
from gan_lab.models.one_channel import OneChannelConvTranspose


def _norm(kind: str, name: str) -> layers.Layer:
    return layers.BatchNormalization(momentum=0.9, name=name) if kind == "batch" else layers.Identity(name=name)


def build_generator(arch: CnnArch, latent_dim: int, num_classes: int | None = None) -> keras.Model:
    inputs, x = generator_inputs(latent_dim, num_classes)
    x = layers.Dense(7 * 7 * 256, use_bias=arch.g_norm == "none", name="project")(x)
    x = _norm(arch.g_norm, "project_norm")(x)
    x = layers.ReLU(name="project_relu")(x)
    x = layers.Reshape((7, 7, 256), name="to_7x7")(x)
    for i, filters in enumerate(arch.g_filters):  # 7 -> 14 -> 28
        x = layers.Conv2DTranspose(
            filters, 4, strides=2, padding="same", use_bias=arch.g_norm == "none", name=f"up{i}"
        )(x)
        x = _norm(arch.g_norm, f"up{i}_norm")(x)
        x = layers.ReLU(name=f"up{i}_relu")(x)
    image = OneChannelConvTranspose(7, activation="tanh", name="to_image", dtype=output_dtype())(x)
    return keras.Model(inputs, image, name="cnn_generator")


def build_discriminator(arch: CnnArch, num_classes: int | None = None) -> keras.Model:
    inputs, x = discriminator_inputs(num_classes)
    for i, filters in enumerate(arch.d_filters):  # 28 -> 14 -> 7 -> ...
        x = layers.Conv2D(filters, 4, strides=2, padding="same", name=f"down{i}")(x)
        x = layers.LeakyReLU(negative_slope=0.2, name=f"down{i}_lrelu")(x)
        x = layers.Dropout(arch.d_dropout, name=f"down{i}_dropout")(x)
    x = layers.Flatten(name="flatten")(x)
    probability = layers.Dense(1, activation="sigmoid", name="real_probability", dtype=output_dtype())(x)
    return keras.Model(inputs, probability, name="cnn_discriminator")
