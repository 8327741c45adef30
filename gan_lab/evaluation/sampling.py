"""Drawing images from a saved generator: the one path the evaluate stage and `python -m gan_lab
generate` share, so the command line shows exactly what the metrics measured.

A generator is conditional when it has two inputs, `[z, label]` (gan_lab/models/conditioning.py);
its file says so, so no params are needed to sample from it. The noise is a NumPy draw keyed by the
seed alone: the same seed gives every generator of a given latent size the same z.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gan_lab.data import NUM_CLASSES
from gan_lab.errors import ConfigError
from gan_lab.model_io import atomic_write

if TYPE_CHECKING:
    import keras

GRID_FORMAT, ARRAY_FORMAT = ".png", ".npy"
OUTPUT_FORMATS = (GRID_FORMAT, ARRAY_FORMAT)


def is_conditional(generator: keras.Model) -> bool:
    return len(generator.inputs) == 2


def check_digit(digit: int) -> None:
    if not 0 <= digit < NUM_CLASSES:
        raise ConfigError(f"--digit {digit}: must be a digit, 0 to {NUM_CLASSES - 1}")


def requested_labels(n: int, digit: int | None = None) -> np.ndarray:
    """`n` copies of `digit`, or 0, 1, ..., 9, 0, 1, ... (every digit equally often when 10 divides n)."""
    if digit is not None:
        check_digit(digit)
    labels = np.arange(n) % NUM_CLASSES if digit is None else np.full(n, digit)
    return labels.astype(np.int32)


def sample(
    generator: keras.Model, n: int, seed: int, *, digit: int | None = None, batch_size: int = 500
) -> tuple[np.ndarray, np.ndarray | None]:
    """`n` images, float32 (n, 28, 28, 1) in [-1, 1], and the labels requested of a conditional generator.

    An unconditional generator returns None for the labels and refuses a `digit`.
    """
    if digit is not None and not is_conditional(generator):
        raise ConfigError(f"--digit {digit}: {generator.name} is unconditional; it cannot be asked for a digit")
    latent_dim = generator.inputs[0].shape[-1]
    z = np.random.default_rng(seed).standard_normal((n, latent_dim)).astype(np.float32)
    labels = requested_labels(n, digit) if is_conditional(generator) else None
    inputs = z if labels is None else [z, labels]
    images = generator.predict(inputs, batch_size=batch_size, verbose=0)
    return images.astype(np.float32), labels


def check_output_path(path: Path) -> None:
    """Fail before any sampling if `path` names a format `save_samples` cannot write."""
    if path.suffix.lower() not in OUTPUT_FORMATS:
        raise ConfigError(f"--out {path}: unknown extension {path.suffix!r}; use {' or '.join(OUTPUT_FORMATS)}")


def save_samples(images: np.ndarray, path: Path, cols: int) -> None:
    """A `.png` grid of `cols` columns, or the `.npy` array itself; written atomically."""
    from gan_lab.plots import image_grid, save_png

    check_output_path(path)
    with atomic_write(path) as tmp:
        if path.suffix.lower() == GRID_FORMAT:
            save_png(image_grid(images, cols), tmp)
        else:
            with tmp.open("wb") as file:  # a file object: np.save would append .npy to a `.NPY` name
                np.save(file, images, allow_pickle=False)
