"""The learning rate over a run: constant, then (with `lr_decay_start` < 1) straight down towards zero.

At a constant rate a GAN's weights keep orbiting the point they would settle at: the FID of a
Transformer run is level from about 2,800 of its 3,600 steps on, moving a few points up and down
from one measurement to the next. Lowering both rates to zero over the last part of the run (as
pix2pix and CycleGAN do over their second half) is meant to let the two networks settle where they are
instead; the moving average of G's weights (`g_ema`) smooths the same orbit, over ~100 steps.
Measured on the Transformer section (docs/models.md, round four): from half the run on it ended 2.4
and 2.6 FID behind on two seeds, because the FID still falls when the rate is halved; so it is off.
"""
from __future__ import annotations

import keras
from keras import ops


class LinearDecayTail(keras.optimizers.schedules.LearningRateSchedule):
    """`learning_rate` up to update `decay_start`, then linearly down to 0 at update `total_steps`.

    Keras calls it with the optimizer's update count, 0 for the first update, so the last of
    `total_steps` updates still moves, at `learning_rate / (total_steps - decay_start)`.
    """

    def __init__(self, learning_rate: float, decay_start: int, total_steps: int):
        if not 0 <= decay_start < total_steps:
            raise ValueError(f"decay_start={decay_start}: must be in [0, total_steps={total_steps})")
        self.learning_rate = learning_rate
        self.decay_start = decay_start
        self.total_steps = total_steps

    def __call__(self, step):
        # lr(t) = lr * clip((T - t) / (T - t0), 0, 1)
        left = (self.total_steps - ops.cast(step, "float32")) / float(self.total_steps - self.decay_start)
        return self.learning_rate * ops.clip(left, 0.0, 1.0)

    def get_config(self) -> dict:
        return {"learning_rate": self.learning_rate, "decay_start": self.decay_start, "total_steps": self.total_steps}


def learning_rate(base: float, decay_start: float, steps: int) -> float | LinearDecayTail:
    """The rate of a section: `base` throughout when `decay_start` (a fraction of `steps`) is 1,
    else `base` until that fraction of the steps and then linearly down to 0 at the last step."""
    start = int(round(decay_start * steps))
    return base if start >= steps else LinearDecayTail(base, start, steps)
