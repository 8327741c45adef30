"""The evaluate stage end to end, in a scratch copy of the project with tiny generators and a tiny
(untrained) classifier: the metrics need no trained network to be well-formed, and real data must
still beat every random generator."""
from __future__ import annotations

import json
import math
import shutil
import sys
from pathlib import Path

import keras
import pytest
import yaml

from conftest import TINY_CNN, copy_project, run
from gan_lab.config import ClassifierConfig, TransformerArch
from gan_lab.data import write_prepared
from gan_lab.evaluation.classifier import build_classifier
from gan_lab.model_io import save_model
from gan_lab.models import build_generator

LATENT = 16
N_SAMPLES = 200
GENERATORS = {  # section -> (family, architecture, classes)
    "cnn": ("cnn", TINY_CNN, None),
    "transformer": ("transformer", TransformerArch(embed_dim=8, num_heads=2, depth=1, mlp_ratio=2.0,
                                                   dropout=0.0, patch_size=7), None),
    "combined": ("cnn", TINY_CNN, 10),
}
ENTRIES = ["cnn", "transformer", "combined", "real", "untrained"]


def save_tiny_models(models: Path) -> None:
    keras.utils.set_random_seed(0)
    tiny = ClassifierConfig(epochs=1, batch_size=64, learning_rate=0.001, conv_filters=(4,), feature_units=8, dropout=0.0)
    save_model(build_classifier(tiny), models / "classifier" / "classifier.keras")
    for name, (family, arch, classes) in GENERATORS.items():
        save_model(build_generator(family, arch, LATENT, classes), models / name / "generator.keras")


@pytest.fixture(scope="module")
def project(tmp_path_factory, mnist) -> Path:
    """A project copy with prepared data, tiny models and a small `evaluate` section, evaluated once."""
    root = copy_project(tmp_path_factory.mktemp("evaluate") / "project")
    write_prepared(mnist, root / "data" / "prepared")
    save_tiny_models(root / "models")
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["evaluate"] = {"n_samples": N_SAMPLES, "batch_size": 64, "nearest_k": 3, "kid_subsets": 5, "kid_subset_size": 100}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run([sys.executable, "-m", "stages.evaluate"], root)
    return root


def read(root: Path, name: str) -> dict:
    return json.loads((root / "reports" / "evaluation" / name).read_text())


def test_one_entry_per_generator_plus_the_floor_and_the_ceiling(project):
    metrics = read(project, "metrics.json")
    assert list(metrics) == ENTRIES
    for name, scores in metrics.items():
        assert scores["n_samples"] == N_SAMPLES
        assert all(math.isfinite(v) for v in scores.values()), name
        assert {"precision", "recall", "density", "coverage"} <= set(scores)
        assert ("conditional_accuracy" in scores) == (name == "combined")
        assert "class_histogram" not in scores and "seconds" not in json.dumps(scores)
    assert metrics["real"]["fid"] < min(metrics[name]["fid"] for name in ENTRIES if name != "real")


def test_the_dvc_metrics_are_five_numbers_per_trained_model(project):
    metrics, summary = read(project, "metrics.json"), read(project, "summary.json")
    short = {"fid": "fid", "kid": "kid", "confident": "confident_fraction", "coverage": "coverage", "digits": "digits_covered"}
    assert summary == {name: {key: metrics[name][full] for key, full in short.items()} for name in ENTRIES[:3]}


def test_class_histograms_and_timing_are_kept_apart(project):
    histograms = read(project, "class_histograms.json")
    assert list(histograms) == ENTRIES
    assert all(abs(sum(shares.values()) - 1.0) < 1e-4 and len(shares) == 10 for shares in histograms.values())
    timing = read(project, "timing.json")
    assert set(timing["seconds"]) == {"reference", *ENTRIES, "total"}
    assert timing["device"] and timing["cpu_count"] >= 1


def test_a_missing_generator_is_one_line_and_writes_nothing(project, tmp_path):
    models = tmp_path / "models"
    shutil.copytree(project / "models", models)
    (models / "transformer" / "generator.keras").unlink()
    out = tmp_path / "evaluation"
    result = run([sys.executable, "-m", "stages.evaluate", "--models", str(models), "--out", str(out)], project, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {models / 'transformer' / 'generator.keras'}: generator not found; run `dvc repro train_transformer` first"
    ]
    assert not out.exists()


def test_bad_evaluate_params_are_one_line(project, tmp_path):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["evaluate"]["nearest_k"] = N_SAMPLES
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    result = run([sys.executable, "-m", "stages.evaluate", "--params", str(tmp_path / "params.yaml"),
                  "--out", str(tmp_path / "evaluation")], project, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: evaluate.nearest_k={N_SAMPLES}: must be below evaluate.n_samples={N_SAMPLES} "
        "(each sample needs k other samples for its k-NN ball)"
    ]
