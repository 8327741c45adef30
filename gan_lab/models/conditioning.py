"""Inputs shared by every family, with the classic conditional-GAN label embedding.

Unconditional models take `z` (generator) or an image (discriminator). Conditional ones also take
an integer label: the generator concatenates a learned label embedding to `z`; the discriminator
appends a learned 28x28 label plane to the image as a second channel, so any family can condition
without changing its body.
"""
from __future__ import annotations

import keras
from keras import layers

from gan_lab.data import IMAGE_SHAPE


Inputs = keras.KerasTensor | list[keras.KerasTensor]


def generator_inputs(latent_dim: int, num_classes: int | None) -> tuple[Inputs, keras.KerasTensor]:
    """Return the model inputs (one tensor, or [z, label]) and the vector the generator body starts from.

    An unconditional model's input is the bare tensor, not a one-element list, so that calling it on
    a tensor matches the structure Keras recorded.
    """
    z = keras.Input((latent_dim,), name="z")
    if num_classes is None:
        return z, z
    label = keras.Input((), dtype="int32", name="label")
    embedded = layers.Embedding(num_classes, latent_dim, name="label_embedding")(label)
    return [z, label], layers.Concatenate(name="z_and_label")([z, embedded])


def discriminator_inputs(num_classes: int | None) -> tuple[Inputs, keras.KerasTensor]:
    """Return the model inputs (one tensor, or [image, label]) and the (28, 28, C) tensor the body starts from."""
    image = keras.Input(IMAGE_SHAPE, name="image")
    if num_classes is None:
        return image, image
    label = keras.Input((), dtype="int32", name="label")
    plane = layers.Embedding(num_classes, 28 * 28, name="label_embedding")(label)
    plane = layers.Reshape(IMAGE_SHAPE, name="label_plane")(plane)
    return [image, label], layers.Concatenate(name="image_and_label")([image, plane])


def output_dtype() -> str | None:
    """dtype of a network's last layer (the generator's tanh image, the discriminator's sigmoid).

    Under a mixed-precision policy (`train.precision`) "float32", so that images, probabilities and
    the losses stay float32 while the body computes in 16 bits. Under float32 None, the global
    policy: the same float32 maths, and the saved model files stay byte for byte what they were.
    """
    return None if keras.config.dtype_policy().name == "float32" else "float32"
