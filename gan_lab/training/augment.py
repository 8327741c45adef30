"""DiffAugment (Zhao et al. 2020) for 28x28 images: differentiable, seeded, applied to real and fake.

The discriminator sees every image randomly translated and with a square cut out. Because the same
augmentations are applied to generated images *inside* the gradient path, the generator is not
taught to produce shifted or holed digits; the discriminator just cannot memorise the small
training set of pixels as easily, which steadies the adversarial game (most useful for the
data-hungry Transformer discriminator).
"""
from __future__ import annotations

from typing import Callable

import tensorflow as tf

from gan_lab.data import IMAGE_SHAPE

SIZE = IMAGE_SHAPE[0]  # square images: height = width

# share(draw, n): the n rows of random numbers for this batch, given draw(rows) that draws them. On
# several devices (gan_lab/training/distribute.py) a replica draws for the whole global batch and keeps its rows.
Share = Callable[[Callable[[tf.Tensor], tf.Tensor], tf.Tensor], tf.Tensor]


def whole_batch(draw: Callable[[tf.Tensor], tf.Tensor], n: tf.Tensor) -> tf.Tensor:
    return draw(n)


def translate(images: tf.Tensor, max_shift: int, seed: tf.Tensor, share: Share = whole_batch) -> tf.Tensor:
    """Shift each image by up to `max_shift` pixels in x and y, filling with background (-1)."""
    batch = tf.shape(images)[0]
    offsets = share(
        lambda n: tf.random.stateless_uniform((n, 2), seed, minval=0, maxval=2 * max_shift + 1, dtype=tf.int32), batch
    )
    padded = tf.pad(images, [[0, 0], [max_shift, max_shift], [max_shift, max_shift], [0, 0]], constant_values=-1.0)
    rows = offsets[:, :1] + tf.range(SIZE)[None]
    cols = offsets[:, 1:] + tf.range(SIZE)[None]
    shifted = tf.gather(padded, rows, axis=1, batch_dims=1)
    return tf.gather(shifted, cols, axis=2, batch_dims=1)


def cutout(images: tf.Tensor, size: int, seed: tf.Tensor, share: Share = whole_batch) -> tf.Tensor:
    """Zero a `size` x `size` square at a random centre in each image."""
    batch = tf.shape(images)[0]
    centres = share(lambda n: tf.random.stateless_uniform((n, 2), seed, minval=0, maxval=SIZE, dtype=tf.int32), batch)
    grid = tf.range(SIZE)[None]
    in_rows = tf.abs(grid - centres[:, :1]) < size // 2 + size % 2
    in_cols = tf.abs(grid - centres[:, 1:]) < size // 2 + size % 2
    hole = tf.cast(in_rows[:, :, None] & in_cols[:, None, :], images.dtype)
    return images * (1.0 - hole)[..., None]


def diff_augment(images: tf.Tensor, seed: tf.Tensor, share: Share = whole_batch) -> tf.Tensor:
    """Translation by up to 1/8 of the image, then a cutout of half its size (the paper's policy)."""
    seeds = tf.random.experimental.stateless_split(seed, 2)
    return cutout(translate(images, SIZE // 8, seeds[0], share), SIZE // 2, seeds[1], share)
