"""The evaluate stage's work: every trained generator scored against the test split, on a scale.

A FID of 30 says little on its own, so two more entries are scored exactly like a generator:
  real       `n_samples` distinct train images (a seeded random slice): the floor, what a perfect
             generator would score, since train and test are drawn from one distribution;
  untrained  the cnn generator's architecture with freshly initialised, seeded weights: the
             ceiling, what no training at all scores.
Conditional generators are asked for the digits 0, 1, ..., 9 in turn, and also report how often
the classifier reads the digit that was asked for (`conditional_accuracy`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from gan_lab.config import TRAINING_SECTIONS, EvaluateConfig
from gan_lab.data import Mnist
from gan_lab.errors import DataError
from gan_lab.evaluation.metrics import evaluate_images, reference_stats
from gan_lab.evaluation.sampling import sample
from gan_lab.names import GENERATOR_FILE, REAL, UNTRAINED, UNTRAINED_ARCHITECTURE

if TYPE_CHECKING:
    import keras

    from gan_lab.evaluation.classifier import MnistClassifier

SIGNIFICANT_DIGITS = 6  # enough for KID near 1e-5, short enough to read in `dvc metrics show`
# summary.json, the stage's DVC metrics: per trained model, the numbers experiments are compared on,
# under short names, for `dvc exp show`'s columns (`cnn.fid`, `cnn.confident`, ...): metrics.json, a
# plain output the report reads, has every metric of every entry.
SUMMARY_KEYS = {"fid": "fid", "kid": "kid", "confident": "confident_fraction", "coverage": "coverage",
                "digits": "digits_covered"}

Draw = Callable[[], tuple[np.ndarray, "np.ndarray | None"]]


@dataclass(frozen=True)
class Evaluation:
    """What the stage writes: scalar metrics per entry (DVC metrics), class histograms, and timing."""

    metrics: dict[str, dict]
    class_histograms: dict[str, dict[str, float]]
    seconds: dict[str, float]


def generator_files(models_dir: Path) -> dict[str, Path]:
    """`<models_dir>/<section>/generator.keras` for every training section; a missing one is a DataError."""
    files = {name: Path(models_dir) / name / GENERATOR_FILE for name in TRAINING_SECTIONS}
    for name, path in files.items():
        if not path.is_file():
            raise DataError(f"{path}: generator not found; run `dvc repro train_{name}` first")
    return files


def summary(metrics: dict[str, dict]) -> dict[str, dict]:
    """The trained models' SUMMARY_KEYS, out of every entry's metrics."""
    return {name: {short: metrics[name][key] for short, key in SUMMARY_KEYS.items()} for name in TRAINING_SECTIONS}


def real_slice(mnist: Mnist, n: int, seed: int) -> np.ndarray:
    """`n` distinct train images in a seeded random order: real data scored as if generated."""
    return mnist.x_train[np.random.default_rng(seed).choice(len(mnist.x_train), n, replace=False)]


def untrained_copy(generator: keras.Model, seed: int) -> keras.Model:
    """The same architecture with freshly initialised weights (and batch-norm statistics), seeded."""
    import keras

    keras.utils.set_random_seed(seed)
    return keras.models.clone_model(generator)


def compute_device() -> str:
    """The GPUs TensorFlow sees, by model name, or "CPU"."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    names = [tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name) for gpu in gpus]
    return ", ".join(names) or "CPU"


def _rounded(value: float | int) -> float | int:
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}") if isinstance(value, float) else value


def evaluate_all(
    classifier: MnistClassifier,
    mnist: Mnist,
    generators: dict[str, keras.Model],
    config: EvaluateConfig,
    seed: int,
) -> Evaluation:
    """Score each generator, then the real floor and the untrained ceiling, against the test split."""
    started = time.perf_counter()
    reference = reference_stats(classifier, mnist.x_test, config.nearest_k)
    seconds = {"reference": round(time.perf_counter() - started, 2)}

    def draw_from(generator: keras.Model) -> Draw:
        return lambda: sample(generator, config.n_samples, seed, batch_size=config.batch_size)

    sources: dict[str, Draw] = {name: draw_from(generator) for name, generator in generators.items()}
    sources[REAL] = lambda: (real_slice(mnist, config.n_samples, seed), None)
    sources[UNTRAINED] = draw_from(untrained_copy(generators[UNTRAINED_ARCHITECTURE], seed))

    metrics, histograms = {}, {}
    for name, draw in sources.items():
        start = time.perf_counter()
        images, labels = draw()
        report = evaluate_images(
            classifier, images, reference, requested_labels=labels,
            kid_subsets=config.kid_subsets, kid_subset_size=config.kid_subset_size,
        )
        histograms[name] = {digit: _rounded(share) for digit, share in report.pop("class_histogram").items()}
        metrics[name] = {key: _rounded(value) for key, value in report.items()}
        seconds[name] = round(time.perf_counter() - start, 2)
    seconds["total"] = round(time.perf_counter() - started, 2)
    return Evaluation(metrics, histograms, seconds)
