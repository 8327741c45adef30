"""The lab handout's CNN generator and discriminator, layer for layer as its reference code builds them.

The benchmarks compare recipes on these networks. They are not `gan_lab.models.cnn` with the
handout's widths: that generator puts a ReLU after its Dense projection (DCGAN's pattern, made for
the batch normalisation in between), and without batch normalisation it collapses to an all-black
image within 50 steps (seeds 0-3 measured); the handout's projection is linear and trains.
"""
from __future__ import annotations

import keras
from keras import layers

from gan_lab.models.one_channel import OneChannelConvTranspose
from gan_lab.training.gan import GAN

LATENT = 100


def handout_generator(project_layers: bool = False) -> keras.Model:
    """Dense(7*7*256) -> Reshape -> Conv2DTranspose 128, 64 (ReLU) -> Conv2DTranspose to 1 channel (Tanh).

    `project_layers`: the last layer as this project computes it (`OneChannelConvTranspose`, same maths).
    """
    to_image = (OneChannelConvTranspose(7, activation="tanh", name="to_image") if project_layers
                else layers.Conv2DTranspose(1, 7, activation="tanh", padding="same", name="to_image"))
    return keras.Sequential([
        keras.Input((LATENT,)),
        layers.Dense(7 * 7 * 256, name="project"),
        layers.Reshape((7, 7, 256)),
        layers.Conv2DTranspose(128, 4, strides=2, padding="same", activation="relu", name="up0"),
        layers.Conv2DTranspose(64, 4, strides=2, padding="same", activation="relu", name="up1"),
        to_image,
    ], name="handout_generator")


def handout_discriminator() -> keras.Model:
    """Conv2D 64, 128 (stride 2, LeakyReLU 0.2) -> Flatten -> Dense(1, Sigmoid)."""
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(64, 4, strides=2, padding="same", name="down0"),
        layers.LeakyReLU(0.2),
        layers.Conv2D(128, 4, strides=2, padding="same", name="down1"),
        layers.LeakyReLU(0.2),
        layers.Flatten(),
        layers.Dense(1, activation="sigmoid", name="real_probability"),
    ], name="handout_discriminator")


def handout_gan(seed: int = 0) -> GAN:
    """The handout's networks in this project's train step, with the lab's Adam(2e-4, beta1 0.5) for both."""
    gan = GAN(handout_generator(project_layers=True), handout_discriminator(), LATENT, seed=seed)
    gan.compile(keras.optimizers.Adam(2e-4, beta_1=0.5), keras.optimizers.Adam(2e-4, beta_1=0.5))
    return gan
