"""The training side of the quality curve: every `train.quality_every` steps the averaged generator
draws one fixed latent batch, kept as uint8 images with the step and the training seconds so far.

Training never scores them: the `quality` stage does (gan_lab/evaluation/quality.py), with the
project's classifier, so that a change to the classifier re-scores the samples without retraining
a GAN. The samples travel in the checkpoint, so a resumed run writes the same file.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tensorflow as tf

from gan_lab.config import TrainingParams
from gan_lab.data import NUM_CLASSES
from gan_lab.model_io import save_arrays
from gan_lab.plots import to_uint8

QUALITY_SAMPLES = 2000  # images per quality point: FID on 2,000 is noisier than evaluate's 10,000, and 5x cheaper
DRAW_BATCH = 500  # generator batch while drawing them: bounds the Transformer generator's attention memory


def quality_inputs(params: TrainingParams, n: int = QUALITY_SAMPLES) -> tuple[tf.Tensor, tf.Tensor]:
    """The fixed latent batch of every quality point (labels 0..9 in turn for conditional generators)."""
    z = tf.random.stateless_normal((n, params.gan.latent_dim), seed=[params.seed, -2])
    return z, tf.range(n, dtype=tf.int32) % NUM_CLASSES


def draw(gan, z: tf.Tensor, labels: tf.Tensor) -> np.ndarray:
    """The averaged generator's images of (z, labels), as uint8 (N, 28, 28): what the stage would save."""
    with gan.averaged_generator():
        return np.concatenate([
            to_uint8(gan.generate(z[i:i + DRAW_BATCH], labels[i:i + DRAW_BATCH], training=False).numpy())
            for i in range(0, len(z), DRAW_BATCH)
        ])


def pixel_spread(images: np.ndarray) -> float:
    """Mean over pixels of the standard deviation across images: a classifier-free sign of variety.
    A generator that draws one image scores 0; 2,000 real MNIST digits 0.19 of full scale."""
    return float((np.asarray(images, np.float32) / 255.0).std(axis=0).mean())


@dataclass
class QualitySamples:
    """The quality points so far: step, training seconds (quality sampling excluded) and images of each.

    The file holds the steps and images only, byte-reproducibly; the seconds, wall-clock figures, go
    to timing.json (and the checkpoint's progress.json), so that two identical runs hash the same.
    """

    steps: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    images: list[np.ndarray] = field(default_factory=list)

    def add(self, step: int, seconds: float, images: np.ndarray) -> None:
        self.steps.append(step)
        self.seconds.append(round(seconds, 2))
        self.images.append(images)

    def save(self, path: Path, compress: bool = True) -> None:
        """One .npz of `step` (P,) and `images` (P, N, 28, 28) uint8."""
        images = np.stack(self.images) if self.images else np.zeros((0, 0, 28, 28), np.uint8)
        save_arrays(path, {"step": np.asarray(self.steps, np.int64), "images": images}, compress=compress)

    @classmethod
    def load(cls, path: Path, seconds: list[float]) -> QualitySamples:
        with np.load(path) as saved:
            return cls([int(s) for s in saved["step"]], list(seconds), list(saved["images"]))
