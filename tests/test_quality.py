"""The quality curve: training draws the averaged generator's fixed samples at the right steps (and
resumes them, tests/test_resume.py), the `quality` stage scores them with the classifier, real digits
score well, a collapsed generator is warned about with its step, and the pipeline declares it all."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import ROOT, run, tiny_cnn_params
from gan_lab.config import ClassifierConfig, load_training
from gan_lab.data import Mnist
from gan_lab.evaluation.quality import QUALITY_COLUMNS, collapse, collapse_line, score, score_points, summary
from gan_lab.names import QUALITY_FILE, QUALITY_SAMPLES_FILE, QUALITY_SECONDS_KEY

STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
N = 1000  # samples per scoring point here (the stages: 2,000)


@pytest.fixture(scope="module")
def classifier(mnist):
    """A small classifier trained for two epochs on 6,000 real train images (about 95 % accurate)."""
    from gan_lab.evaluation.classifier import MnistClassifier, train_classifier

    config = ClassifierConfig(epochs=2, batch_size=64, learning_rate=0.003, conv_filters=(8, 16), feature_units=32, dropout=0.0)
    small = Mnist(mnist.x_train[:6000], mnist.y_train[:6000], mnist.x_test[:500], mnist.y_test[:500])
    model, scores = train_classifier(small, config, seed=0)
    assert scores["test_accuracy"] > 0.85
    return MnistClassifier(model)


@pytest.fixture(scope="module")
def reference(classifier, mnist):
    from gan_lab.evaluation.metrics import reference_stats

    return reference_stats(classifier, mnist.x_test[:N], 3)


def test_real_digits_score_low_fid_and_every_digit_and_a_constant_image_collapses(classifier, reference, mnist):
    real = score(classifier, mnist.x_train[10_000:10_000 + N], reference)
    constant = score(classifier, np.repeat(mnist.x_train[:1], N, axis=0), reference)
    assert real["digits"] == 10 and real["coverage"] > 0.5 and real["confident"] > 0.6
    assert constant["digits"] <= 1 and constant["coverage"] < 0.1
    assert real["fid"] < constant["fid"] / 20
    assert real["rarest"] > 0.05 and constant["rarest"] == 0.0  # every digit drawn / only one


def test_rarest_digit_share_sees_a_digit_drawn_too_rarely(classifier, reference, mnist):
    """Real images with nine in ten 1s left out: every digit is still covered, but the rarest
    share falls to the 1s' few percent, the imbalance behind a high FID with good precision."""
    images, labels = mnist.x_train[30_000:30_000 + 2 * N], mnist.y_train[30_000:30_000 + 2 * N]
    ones = np.flatnonzero(labels == 1)
    skewed = np.delete(images, ones[len(ones) // 10:], axis=0)[:N]
    even, thinned = score(classifier, images[:N], reference), score(classifier, skewed, reference)
    assert thinned["digits"] == 10 and thinned["rarest"] < 0.03 < even["rarest"]

    images = np.stack([mnist.x_train[20_000:20_000 + N], *[np.repeat(mnist.x_train[:1], N, axis=0)] * 3])
    rows = score_points(classifier, [100, 200, 300, 400], [1.0, 2.0, 3.0, 4.0], images, reference)
    assert list(rows[0]) == QUALITY_COLUMNS
    verdict = summary(rows)
    assert verdict["collapse"] == {"step": 300, "coverage": rows[2]["coverage"], "digits": rows[2]["digits"]}
    assert "COLLAPSE WARNING at step 300" in collapse_line("cnn", verdict["collapse"])
    assert summary(rows[:2])["collapse"] is None  # one bad point is not yet a warning


def row(step: int, fid: float, coverage: float = 0.5, digits: int = 10) -> dict:
    return {"step": step, "fid": fid, "coverage": coverage, "digits": digits}


def test_convergence_step_still_improving_and_warning_rules():
    falling = [row(100, 80.0), row(200, 40.0), row(300, 33.0), row(400, 31.0), row(500, 30.5)]
    verdict = summary(falling)
    assert verdict["within_10_percent_step"] == 300  # 33.0 <= 1.1 x 30.5; 40.0 is not
    assert verdict["still_improving"] is False  # 30.5 is not 2 % below 31.0
    assert summary(falling[:4])["still_improving"] is True  # 31 < 0.98 x 33 and < 0.98 x 40
    assert collapse([row(1, 9.0, digits=9), row(2, 9.0), row(3, 9.0, coverage=0.05)]) is None  # not in a row
    assert collapse([row(1, 9.0), row(2, 9.0, coverage=0.05), row(3, 9.0, digits=8)])["step"] == 3


def test_training_draws_the_averaged_generators_samples_at_every_quality_step(tmp_path, mnist):
    from gan_lab.models import load_network
    from gan_lab.plots import to_uint8
    from gan_lab.training.loop import OutputPaths, train
    from gan_lab.training.quality import QUALITY_SAMPLES, QualitySamples, quality_inputs

    params = tiny_cnn_params(steps=10, g_ema=0.9)
    params = dataclasses.replace(params, loop=dataclasses.replace(params.loop, quality_every=4, log_every=5))
    data = Mnist(mnist.x_train[:512], mnist.y_train[:512], mnist.x_test[:8], mnist.y_test[:8])
    lines = []
    train(params, data, OutputPaths.for_stage("cnn", tmp_path), write=lines.append)

    timing = json.loads((tmp_path / "reports/cnn/timing.json").read_text())
    samples = QualitySamples.load(tmp_path / "reports/cnn" / QUALITY_SAMPLES_FILE, timing[QUALITY_SECONDS_KEY])
    assert samples.steps == [4, 8, 10]  # every quality_every steps and the last
    assert all(0 < a < b for a, b in zip(samples.seconds, samples.seconds[1:]))
    assert np.stack(samples.images).shape == (3, QUALITY_SAMPLES, 28, 28) and samples.images[0].dtype == np.uint8
    assert not np.array_equal(samples.images[0], samples.images[2])
    # the last point is the saved (averaged) generator's view of the fixed quality batch
    z, _ = quality_inputs(params)
    saved = load_network(tmp_path / "models/cnn/generator.keras")
    np.testing.assert_array_equal(samples.images[-1], to_uint8(saved(z, training=False).numpy()))
    assert sum("quality samples drawn; pixel spread" in line for line in lines) == 3
    assert 0 < timing["quality_sampling_seconds"] < timing["wall_seconds"] - samples.seconds[-1] + 1


def test_the_pipeline_declares_the_quality_outputs_and_training_never_reads_the_classifier():
    quality = STAGES["quality"]
    sections = ("cnn", "transformer", "combined")
    plots = {next(iter(p)) if isinstance(p, dict) else p for p in quality["plots"]}
    assert plots == {f"reports/{name}/{QUALITY_FILE}" for name in sections}
    assert "reports/quality/metrics.json" in quality["outs"]
    assert {f"reports/{name}/{QUALITY_SAMPLES_FILE}" for name in sections} | {"models/classifier/classifier.keras"} <= set(quality["deps"])
    for name in sections:
        train = STAGES[f"train_{name}"]
        assert f"reports/{name}/{QUALITY_SAMPLES_FILE}" in train["outs"]
        assert not any("classifier" in dep for dep in train["deps"]) and "classifier" not in train["params"]
    assert {f"reports/{name}/{QUALITY_FILE}" for name in sections} <= set(STAGES["report"]["deps"])
    assert load_training("cnn", ROOT / "params.yaml").loop.quality_every * 10 <= 4000  # >= 10 points a default run


def test_a_real_repro_scores_every_quality_point_and_dvc_plots_them(reproduced_project):
    repo = reproduced_project
    params = yaml.safe_load((repo / "params.yaml").read_text())
    for name in ("cnn", "transformer", "combined"):
        curve = pd.read_csv(repo / "reports" / name / QUALITY_FILE)
        every, steps = params["train"]["quality_every"], params[name]["steps"]
        assert list(curve.columns) == QUALITY_COLUMNS
        assert curve["step"].tolist() == [*range(every, steps + 1, every), *([steps] if steps % every else [])]
    verdicts = json.loads((repo / "reports/quality/metrics.json").read_text())
    assert set(verdicts) == {"cnn", "transformer", "combined"}
    shown = json.loads(run(["dvc", "plots", "show", "--json"], repo).stdout)
    ids = {"quality_fid", "quality_fid_per_second", "quality_confident"}
    assert ids <= set(shown["data"]), sorted(shown["data"])
    assert not shown.get("errors"), shown["errors"]
    for plot in ids:  # one curve per model, each with its quality points
        (spec,) = shown["data"][plot]
        values = spec["content"]["data"]["values"]
        assert {value["rev"] for value in values} == {"workspace"} and len(values) == 3 * len(curve), plot
