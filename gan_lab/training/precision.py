"""Mixed precision (`train.precision`): most maths in 16-bit floats, weights kept in float32.

- `float32`: everything in float32 (the default, and what every measured number in this project uses).
- `mixed_bfloat16`: layers compute in bfloat16. bfloat16 keeps float32's exponent range, so
  gradients cannot underflow and no loss scaling is needed. Fast on CPUs with AVX512-BF16 or AMX
  and on TPUs; on other CPUs TensorFlow emulates it, which is slower than float32.
- `mixed_float16`: layers compute in float16, for GPUs' tensor cores. float16's range is narrow:
  small gradients underflow to zero, so each optimizer is wrapped in a `LossScaleOptimizer`. The
  loss's gradient is multiplied by a large scale before back-propagation and divided back before
  the update; a step whose gradients overflow is skipped and the scale halved (see
  `GAN.gradients`). Runs on CPUs too, slowly.

In every mode the variables stay float32 (Keras keeps a float32 master copy and casts it for each
layer), and the layers that end a network (the generator's tanh image, the discriminator's sigmoid
probability) compute in float32, so the losses, logs and saved outputs are float32.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import keras

FLOAT16 = "mixed_float16"


@contextlib.contextmanager
def dtype_policy(precision: str) -> Iterator[None]:
    """Layers created inside take `precision` as their dtype policy; the global policy is restored after."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def adam(precision: str, learning_rate: float, beta_1: float, beta_2: float, ema: float = 0.0) -> keras.optimizers.Optimizer:
    """Adam, wrapped in dynamic loss scaling under mixed_float16; `ema` > 0: it also keeps a moving
    average of the weights it updates, with that momentum (Keras' `use_ema`)."""
    averaging = {"use_ema": True, "ema_momentum": ema} if ema > 0 else {}
    optimizer = keras.optimizers.Adam(learning_rate, beta_1=beta_1, beta_2=beta_2, **averaging)
    return keras.optimizers.LossScaleOptimizer(optimizer) if precision == FLOAT16 else optimizer
