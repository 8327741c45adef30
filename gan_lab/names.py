"""Names one stage writes and another reads, importable without NumPy or TensorFlow.

The `evaluate` stage writes them and the `report` stage (no TensorFlow) and `python -m gan_lab
generate` read them: keeping them here lets those depend on this file, not on the evaluator's code.
"""
from __future__ import annotations

GENERATOR_FILE = "generator.keras"  # models/<section>/GENERATOR_FILE, written by the training stages
REAL, UNTRAINED = "real", "untrained"  # the evaluation's floor and ceiling entries, beside each model's
UNTRAINED_ARCHITECTURE = "cnn"  # the training section whose generator, re-initialised, is the ceiling
