"""`lr_decay_start`: both learning rates constant, then straight down to zero over the last steps."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import mnist_batch, tiny_cnn_params
from gan_lab.training.loop import build_gan, make_deterministic
from gan_lab.training.schedule import LinearDecayTail, learning_rate


def test_the_rate_is_constant_until_the_start_then_falls_linearly_to_zero_at_the_last_step():
    schedule = LinearDecayTail(4e-4, decay_start=6, total_steps=10)
    rates = np.array([float(schedule(step)) for step in range(12)])  # step: updates made so far
    np.testing.assert_allclose(rates[:7], 4e-4, rtol=1e-6)
    np.testing.assert_allclose(rates[6:11], 4e-4 * np.array([4, 3, 2, 1, 0]) / 4, rtol=1e-6, atol=1e-12)
    assert rates[9] > 0  # the 10th and last update still moves
    assert rates[11] == 0.0  # and past the end it stays at zero, never negative


def test_at_one_the_section_keeps_a_plain_constant_rate():
    assert learning_rate(2e-4, 1.0, 3600) == 2e-4
    assert learning_rate(2e-4, 0.999, 100) == 2e-4  # rounds to the last step: nothing left to decay
    tail = learning_rate(2e-4, 0.5, 3600)
    assert isinstance(tail, LinearDecayTail) and tail.decay_start == 1800 and tail.total_steps == 3600
    with pytest.raises(ValueError, match="decay_start=10"):
        LinearDecayTail(1e-3, 10, 10)


def test_a_decaying_run_updates_as_a_constant_one_until_the_start_and_less_after(mnist):
    """Same seed, same batches: identical weights while both rates are equal, then the decaying run
    moves its weights less per step, and both optimizers end at a rate of zero."""
    batch = mnist_batch(mnist)

    def run(decay_start: float):
        make_deterministic(0)
        gan = build_gan(tiny_cnn_params(steps=6, lr_decay_start=decay_start))  # from update 3 (of 0-5) on
        weights = [gan.generator.trainable_variables[0].numpy().copy()]
        for _ in range(6):
            gan.train_step(batch)
            weights.append(gan.generator.trainable_variables[0].numpy().copy())
        return gan, [np.abs(b - a).sum() for a, b in zip(weights, weights[1:])]

    constant, steady = run(1.0)
    decaying, moves = run(0.5)
    np.testing.assert_array_equal(moves[:4], steady[:4])  # updates 0-3 at the full rate
    assert moves[4] < 0.8 * steady[4] and moves[5] < 0.45 * steady[5]  # at 2/3 and 1/3 of it
    for optimizer in (decaying.g_optimizer, decaying.d_optimizer):
        assert float(optimizer.learning_rate) == 0.0
    assert float(constant.g_optimizer.learning_rate) == pytest.approx(constant.g_optimizer.get_config()["learning_rate"])
