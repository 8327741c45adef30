"""DiffAugment really shifts and cuts; one-sided label smoothing really changes D's loss."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from conftest import mnist_batch, tiny_cnn_params
from gan_lab.training.augment import SIZE, cutout, diff_augment, translate
from gan_lab.training.loop import build_gan, make_deterministic

SEED = tf.constant([3, 4], tf.int64)


def test_translate_shifts_each_image_by_at_most_the_bound_filling_with_background():
    images = tf.random.stateless_uniform((16, SIZE, SIZE, 1), [0, 1], minval=-1.0, maxval=1.0)
    shifted = translate(images, 3, SEED).numpy()
    padded = np.pad(images.numpy(), [(0, 0), (3, 3), (3, 3), (0, 0)], constant_values=-1.0)
    offsets = []
    for image, out in zip(padded, shifted):
        matches = [(dy, dx) for dy in range(7) for dx in range(7)
                   if np.array_equal(image[dy:dy + SIZE, dx:dx + SIZE], out)]
        assert len(matches) == 1, "each output is its input shifted by one offset within the bound"
        offsets.append(matches[0])
    assert len(set(offsets)) > 1 and any(o != (3, 3) for o in offsets)  # images move, and not all alike


def test_cutout_zeroes_one_clipped_square_per_image_and_nothing_else():
    ones = tf.ones((16, SIZE, SIZE, 1))
    cut = cutout(ones, 14, SEED).numpy()[..., 0]
    assert set(np.unique(cut)) <= {0.0, 1.0}
    for image in cut:
        rows, cols = np.nonzero(image == 0)
        assert len(rows) > 0
        r0, r1, c0, c1 = rows.min(), rows.max(), cols.min(), cols.max()
        assert (image[r0:r1 + 1, c0:c1 + 1] == 0).all()  # one solid rectangle
        assert len(rows) == (r1 - r0 + 1) * (c1 - c0 + 1)
        assert 7 <= r1 - r0 + 1 <= 14 and 7 <= c1 - c0 + 1 <= 14  # a 14-wide square, clipped at the border


def test_diff_augment_changes_images_and_is_seeded():
    images = tf.random.stateless_uniform((8, SIZE, SIZE, 1), [0, 2], minval=-1.0, maxval=1.0)
    once, again = diff_augment(images, SEED).numpy(), diff_augment(images, SEED).numpy()
    np.testing.assert_array_equal(once, again)
    assert (once == 0).reshape(8, -1).sum(axis=1).min() >= 49  # every image lost a cut-out
    assert not np.array_equal(once, diff_augment(images, SEED + 1).numpy())


def test_label_smoothing_raises_d_loss_by_s_times_the_mean_real_logit(mnist):
    """BCE(1 - s, p) - BCE(1, p) = s * log(p / (1 - p)): same weights, same batch, same noise."""
    batch = mnist_batch(mnist)
    losses = {}
    for smoothing in (0.0, 0.3):
        make_deterministic(0)
        gan = build_gan(tiny_cnn_params(label_smoothing=smoothing, diffaugment=False, r1_gamma=0.0))
        p = np.clip(gan.discriminate(batch[0], training=True).numpy(), 1e-7, 1 - 1e-7)
        losses[smoothing] = float(gan.train_step(batch)["d_loss"])
    expected = 0.3 * np.mean(np.log(p / (1 - p)))
    assert abs(expected) > 1e-4  # D starts near p = 0.5, so the logits are small but far above float32 noise
    np.testing.assert_allclose(losses[0.3] - losses[0.0], expected, rtol=0, atol=2e-6)
