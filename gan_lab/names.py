"""Names one stage writes and another reads, importable without NumPy or TensorFlow.

The `evaluate` stage writes them and the `report` stage (no TensorFlow) and `python -m gan_lab
generate` read them: keeping them here lets those depend on this file, not on the evaluator's code.
"""
from __future__ import annotations

GENERATOR_FILE = "generator.keras"  # models/<section>/GENERATOR_FILE, written by the training stages
REAL, UNTRAINED = "real", "untrained"  # the evaluation's floor and ceiling entries, beside each model's
UNTRAINED_ARCHITECTURE = "cnn"  # the training section whose generator, re-initialised, is the ceiling
QUALITY_SAMPLES_FILE = "quality_samples.npz"  # reports/<section>/: written by the training stages, scored by `quality`
QUALITY_SECONDS_KEY = "quality_train_seconds"  # in reports/<section>/timing.json: the training seconds of each point
QUALITY_FILE = "quality.csv"  # reports/<section>/: the `quality` stage's scores per step (a DVC plot)
QUALITY_SUMMARY_FILE = "metrics.json"  # reports/quality/: per model, convergence step, still improving, collapse
# A model is flagged as collapsed below this coverage (real data scores far above it): by the report on
# the evaluate stage's numbers, and by the `quality` stage at two scoring points in a row during training.
COLLAPSED_COVERAGE = 0.1
