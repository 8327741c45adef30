"""Mixed precision (`train.precision`): most maths in 16-bit floats, weights kept in float32.

- `float32`: everything in float32.
- `auto` (the default): mixed_bfloat16 where bench/train_speed.py and two seeds of the quality
  curve showed it pays, float32 elsewhere (`resolve`). On a CPU with bfloat16 units (AVX512-BF16
  or AMX) the CNN step ran 1.45x faster in mixed_bfloat16 at the same FID (README, *Mixed
  precision*); the Transformer's and combined steps were not faster (0.99x, 1.16x), so they
  stay float32, as does everything on CPUs without such units and on GPUs.
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
from collections.abc import Collection
from pathlib import Path
from typing import Iterator

import keras

FLOAT32, BFLOAT16, FLOAT16, AUTO = "float32", "mixed_bfloat16", "mixed_float16", "auto"
BFLOAT16_FLAGS = ("avx512_bf16", "amx_bf16")  # CPU features that run bfloat16 maths natively (oneDNN uses them)
# Families whose networks train faster in mixed_bfloat16 on such a CPU, at equal quality (measured:
# the cnn section's step 1.45x, FID within the seed-to-seed spread on two seeds; docs/models.md).
BFLOAT16_PAYS = frozenset({"cnn"})


def cpu_flags(wanted: tuple[str, ...] = BFLOAT16_FLAGS) -> list[str]:
    """Which of `wanted` the CPU lists in /proc/cpuinfo (Linux; elsewhere none are known)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                present = set(line.split(":", 1)[1].split())
                return [flag for flag in wanted if flag in present]
    except OSError:
        pass
    return []


def resolve(precision: str, families: Collection[str], flags: list[str] | None = None, gpus: int | None = None) -> str:
    """The precision `train.precision` means for a GAN of these `families` on this machine.

    Anything but `auto` is taken as written. `auto` is mixed_bfloat16 when the CPU has bfloat16
    units, no GPU is in use and every family is one measured to gain (BFLOAT16_PAYS); else float32.
    """
    if precision != AUTO:
        return precision
    if gpus is None:
        import tensorflow as tf

        gpus = len(tf.config.list_logical_devices("GPU"))
    flags = cpu_flags() if flags is None else flags
    return BFLOAT16 if flags and not gpus and set(families) <= BFLOAT16_PAYS else FLOAT32


@contextlib.contextmanager
def dtype_policy(precision: str) -> Iterator[None]:
    """Layers created inside take `precision` as their dtype policy; the global policy is restored after."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def adam(
    precision: str,
    learning_rate: float | keras.optimizers.schedules.LearningRateSchedule,
    beta_1: float,
    beta_2: float,
    ema: float = 0.0,
) -> keras.optimizers.Optimizer:
    """Adam, wrapped in dynamic loss scaling under mixed_float16; `ema` > 0: it also keeps a moving
    average of the weights it updates, with that momentum (Keras' `use_ema`)."""
    averaging = {"use_ema": True, "ema_momentum": ema} if ema > 0 else {}
    optimizer = keras.optimizers.Adam(learning_rate, beta_1=beta_1, beta_2=beta_2, **averaging)
    return keras.optimizers.LossScaleOptimizer(optimizer) if precision == FLOAT16 else optimizer
