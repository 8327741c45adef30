"""The evaluator: metrics on real MNIST slices seen through a tiny classifier, and reproducible model files.

The tiny classifier (10,000 images, two short epochs, ~96 %) stands in for the DVC-trained one:
the behaviours tested here — real is near real, noise is far, degradation grows FID — hold for any
classifier that reads digits, and training the full one would take minutes.
"""
from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import yaml

from gan_lab.config import ClassifierConfig, load_classifier, load_evaluate, read_params
from gan_lab.data import Mnist, load_prepared, read_mnist
from gan_lab.errors import DataError
from gan_lab.evaluation import metrics as evaluation
from gan_lab.evaluation.classifier import MnistClassifier, train_classifier
from gan_lab.model_io import load_model, save_model
from stages import train_classifier as stage

ROOT = Path(__file__).resolve().parents[1]
TINY = ClassifierConfig(
    epochs=2, batch_size=64, learning_rate=0.002, conv_filters=(16, 32), feature_units=64, dropout=0.1
)
# Disjoint random halves of the test split: its first and last 5,000 images come from different
# writers (MNIST's SD-3 and SD-1) and are measurably different distributions.
_ORDER = np.random.default_rng(0).permutation(10_000)
REFERENCE = _ORDER[:5000]  # test images the reference statistics come from
SAMPLE = _ORDER[5000:7000]  # disjoint test images playing a perfect generator
SETTINGS = load_evaluate(ROOT / "params.yaml").evaluate  # the evaluate stage's k and KID subsets
KID = {"kid_subsets": SETTINGS.kid_subsets, "kid_subset_size": SETTINGS.kid_subset_size}
FEW_SUBSETS = 10  # KID subsets where a test is not about KID
FEW = {**KID, "kid_subsets": FEW_SUBSETS}


@pytest.fixture(scope="module")
def mnist() -> Mnist:
    prepared = ROOT / "data/prepared"
    return load_prepared(prepared) if prepared.is_dir() else read_mnist(ROOT / "data/mnist")


@pytest.fixture(scope="module")
def trained(mnist) -> tuple[MnistClassifier, dict]:
    few = Mnist(mnist.x_train[:10_000], mnist.y_train[:10_000], mnist.x_test, mnist.y_test)
    model, scores = train_classifier(few, TINY, seed=0)
    return MnistClassifier(model), scores


@pytest.fixture(scope="module")
def classifier(trained) -> MnistClassifier:
    return trained[0]


@pytest.fixture(scope="module")
def reference(classifier, mnist) -> evaluation.ReferenceStats:
    return evaluation.reference_stats(classifier, mnist.x_test[REFERENCE], SETTINGS.nearest_k)


@pytest.fixture(scope="module")
def real_report(classifier, mnist, reference) -> dict:
    return evaluation.evaluate_images(classifier, mnist.x_test[SAMPLE], reference, **KID)


def as_float(images: np.ndarray) -> np.ndarray:
    return images.astype(np.float64) / 127.5 - 1.0


def box_blur(images: np.ndarray, passes: int) -> np.ndarray:
    """`passes` edge-padded 3x3 box filters over float images (N, 28, 28)."""
    for _ in range(passes):
        padded = np.pad(images, ((0, 0), (1, 1), (1, 1)), mode="edge")
        images = sum(padded[:, i:i + 28, j:j + 28] for i in range(3) for j in range(3)) / 9.0
    return images


def gaussian_noise(images: np.ndarray, sigma: float) -> np.ndarray:
    noise = np.random.default_rng(0).normal(0.0, sigma, images.shape)
    return np.clip(images + noise, -1.0, 1.0)


# --- the classifier ------------------------------------------------------------------------------

def test_tiny_classifier_reads_digits(trained):
    assert trained[1]["test_accuracy"] >= 0.95


def test_features_and_probabilities_shapes(classifier, mnist):
    images = mnist.x_test[:7]
    assert classifier.features(images).shape == (7, TINY.feature_units)
    np.testing.assert_allclose(classifier.probabilities(images).sum(axis=1), 1.0, rtol=1e-5)
    # uint8 MNIST and the same images in the generators' [-1, 1] range embed identically
    np.testing.assert_allclose(classifier.features(images), classifier.features(as_float(images)[..., None]), atol=1e-4)


def test_float_images_outside_tanh_range_are_rejected(classifier, mnist):
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        classifier.features(mnist.x_test[:4].astype(np.float32))  # [0, 255] floats


# --- real against real, noise and constant images --------------------------------------------

def test_real_against_real_is_close(real_report):
    # k=3 balls do not quite cover a manifold: about 0.9 is what real data scores against itself
    assert real_report["recall"] >= 0.85
    assert real_report["precision"] >= 0.85
    # density's expectation is 1 for two samples of one distribution; coverage's is about
    # 1 - (N / (N + M))^k for N real and M generated samples: 0.64 for 5,000 and 2,000 at k=3
    assert real_report["density"] == pytest.approx(1.0, abs=0.2)
    expected_coverage = 1 - (len(REFERENCE) / (len(REFERENCE) + len(SAMPLE))) ** SETTINGS.nearest_k
    assert real_report["coverage"] == pytest.approx(expected_coverage, abs=0.05)
    assert real_report["digits_covered"] == 10
    assert real_report["confident_fraction"] >= 0.8


def test_noise_and_constant_images_are_far(classifier, mnist, reference, real_report):
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (2000, 28, 28), dtype=np.uint8)
    black = np.full((2000, 28, 28, 1), -1.0, dtype=np.float32)
    for far in (noise, black):
        report = evaluation.evaluate_images(classifier, far, reference, **FEW)
        assert real_report["fid"] < 0.05 * report["fid"]
        assert abs(real_report["kid"]) < 0.05 * report["kid"]
        assert report["recall"] <= 0.05
        assert report["coverage"] <= 0.05
        assert report["digits_covered"] <= 1


def test_kid_is_near_zero_for_the_same_distribution(real_report):
    assert abs(real_report["kid"]) <= 3 * real_report["kid_std"]


@pytest.mark.parametrize(
    "degrade, strengths",
    [(box_blur, [0, 1, 2, 4]), (gaussian_noise, [0.0, 0.2, 0.5, 1.0])],
    ids=["blur", "additive-noise"],
)
def test_fid_grows_with_degradation(classifier, mnist, reference, degrade, strengths):
    clean = as_float(mnist.x_test[SAMPLE])
    fids = [
        evaluation.evaluate_images(classifier, degrade(clean, s), reference, **FEW)["fid"] for s in strengths
    ]
    assert fids == sorted(fids) and len(set(fids)) == len(fids), fids


# --- mode collapse ---------------------------------------------------------------------------------

def test_two_digits_cover_two_and_lose_recall(classifier, mnist, reference, real_report):
    labels = mnist.y_test[SAMPLE]
    two_digits = mnist.x_test[SAMPLE][np.isin(labels, [3, 7])]
    report = evaluation.evaluate_images(classifier, two_digits, reference, **FEW)
    assert report["digits_covered"] == 2
    assert report["recall"] <= 0.4 < real_report["recall"]
    assert report["coverage"] <= 0.4 < real_report["coverage"]
    assert report["precision"] >= 0.9  # what it draws is real
    histogram = report["class_histogram"]
    assert histogram["3"] + histogram["7"] >= 0.95


def test_inception_score_is_at_most_ten_and_rewards_variety(classifier, mnist, real_report):
    ones = mnist.x_test[SAMPLE][mnist.y_test[SAMPLE] == 1]
    one_digit = evaluation.inception_score(classifier.probabilities(ones))
    assert 1.0 <= one_digit < 1.5
    assert 8.0 <= real_report["inception_score"] <= 10.0 + 1e-9


def test_inception_score_bounds_on_fixed_probabilities():
    assert evaluation.inception_score(np.eye(10)) == pytest.approx(10.0)
    assert evaluation.inception_score(np.full((5, 10), 0.1)) == pytest.approx(1.0)
    assert evaluation.inception_score(np.tile(np.eye(10)[3], (5, 1))) == pytest.approx(1.0)


# --- the report ------------------------------------------------------------------------------------

def test_conditional_accuracy_and_json_ready_report(classifier, mnist, reference):
    images, labels = mnist.x_test[SAMPLE], mnist.y_test[SAMPLE]
    right = evaluation.evaluate_images(classifier, images, reference, requested_labels=labels, **FEW)
    wrong = evaluation.evaluate_images(classifier, images, reference, requested_labels=(labels + 1) % 10, **FEW)
    assert right["conditional_accuracy"] >= 0.9 and wrong["conditional_accuracy"] <= 0.1
    assert json.loads(json.dumps(right)) == right
    assert {type(v) for k, v in right.items() if k != "class_histogram"} <= {int, float}
    assert sum(right["class_histogram"].values()) == pytest.approx(1.0)


def test_unconditional_report_has_no_conditional_accuracy(real_report):
    assert "conditional_accuracy" not in real_report


# --- the metrics on fixed features -----------------------------------------------------------------

def test_frechet_distance_matches_closed_forms():
    rng = np.random.default_rng(1)
    d = 6
    mean = rng.normal(size=d)
    # N(0, I) against N(m, 4 I): |m|^2 + d (1 + 4 - 2 * 2)
    assert evaluation.frechet_distance(np.zeros(d), np.eye(d), mean, 4 * np.eye(d)) == pytest.approx(mean @ mean + d)
    # non-commuting covariances: tr (A B)^1/2 from the (real, positive) eigenvalues of A B
    a, b = (m @ m.T + 0.1 * np.eye(d) for m in rng.normal(size=(2, d, d)))
    expected = mean @ mean + np.trace(a) + np.trace(b) - 2 * np.sqrt(np.linalg.eigvals(a @ b).real).sum()
    assert evaluation.frechet_distance(np.zeros(d), a, mean, b) == pytest.approx(expected)
    assert evaluation.frechet_distance(mean, a, mean, a) == pytest.approx(0.0, abs=1e-9)


def test_precision_recall_of_identical_sets_is_one(reference):
    assert evaluation.precision_recall(reference.features, reference.features, k=reference.k) == (1.0, 1.0)
    duplicated = np.repeat(reference.features[:50], 4, axis=0)  # k-NN radii of 0
    assert evaluation.precision_recall(duplicated, duplicated, k=reference.k) == (1.0, 1.0)


def test_density_and_coverage_of_one_distribution():
    """Two independent samples of one Gaussian: density about 1 (Naeem et al.: E = 1), and coverage
    about 1 - 2^-k, the expectation for equal sample sizes (0.875 at k = 3); a shifted sample scores
    lower on both."""
    rng = np.random.default_rng(5)
    real, fake = rng.normal(size=(2, 2000, 16))
    density, coverage = evaluation.density_coverage(real, fake, k=3)
    assert density == pytest.approx(1.0, abs=0.1)
    assert coverage == pytest.approx(1 - 2**-3, abs=0.04)
    shifted_density, shifted_coverage = evaluation.density_coverage(real, fake + 1.0, k=3)
    assert shifted_density < 0.5 * density and shifted_coverage < 0.5 * coverage


def test_a_collapsed_sample_near_an_outlier_has_precision_one_and_no_coverage():
    """Every fake sample is one point near an outlier real sample, inside only that outlier's large
    k-NN ball: precision 1, but one real ball of 1,001 covered and density 1/k."""
    rng = np.random.default_rng(6)
    outlier = np.zeros(8)
    outlier[0] = 30.0
    real = np.vstack([rng.normal(size=(1000, 8)), outlier])
    fake = np.tile(outlier - np.eye(8)[0], (500, 1))  # 1 from the outlier, about 28 from the rest
    precision, _ = evaluation.precision_recall(real, fake, k=3)
    density, coverage = evaluation.density_coverage(real, fake, k=3)
    assert precision == 1.0
    assert coverage == 1 / 1001
    assert density == pytest.approx(1 / 3)
    metrics = evaluation.knn_metrics(real, fake, k=3)
    assert (metrics["precision"], metrics["density"], metrics["coverage"]) == (precision, density, coverage)


@pytest.mark.parametrize("k, density, coverage", [(1, 1.0, 0.75), (2, 2 / 3, 1.0)])
def test_density_and_coverage_by_hand(monkeypatch, k, density, coverage):
    """Real 0, 1, 3, 7 on a line; fake 0.5, 6.2, 20.
    k=1: radii 1, 1, 2, 4. 0.5 lies in the balls of 0 and 1, 6.2 in that of 7, 20 in none: density
         (2 + 1 + 0) / (1 * 3) = 1; the ball of 3 (nearest fake 0.5, at 2.5 > 2) is the only one
         empty: coverage 3/4.
    k=2: radii 3, 2, 3, 6. 0.5 lies in the balls of 0, 1 and 3, 6.2 in that of 7: density
         (3 + 1 + 0) / (2 * 3) = 2/3; every ball holds a fake sample: coverage 1.
    """
    monkeypatch.setattr(evaluation, "DISTANCE_CHUNK", 2)  # the three fake rows span two chunks
    real = np.array([[0.0], [1.0], [3.0], [7.0]])
    fake = np.array([[0.5], [6.2], [20.0]])
    assert evaluation.density_coverage(real, fake, k=k) == (density, coverage)
    assert evaluation.knn_metrics(real, fake, k=k)["precision"] == 2 / 3


def test_density_and_coverage_in_chunks_match_brute_force(monkeypatch):
    rng = np.random.default_rng(7)
    real, fake = rng.normal(size=(40, 3)), rng.normal(0.3, 1.2, size=(30, 3))
    monkeypatch.setattr(evaluation, "DISTANCE_CHUNK", 7)
    k = 3
    radii = np.sort(np.linalg.norm(real[:, None] - real[None], axis=-1), axis=1)[:, k]
    inside = np.linalg.norm(fake[:, None] - real[None], axis=-1) <= radii[None, :]  # fake x real
    density, coverage = evaluation.density_coverage(real, fake, k=k)
    assert density == pytest.approx(inside.sum() / (k * len(fake)))
    assert coverage == pytest.approx(inside.any(axis=0).mean())
    assert 0 < coverage < 1 and density > 0  # a case where the counts are not trivial


def test_knn_radii_in_chunks_match_brute_force(monkeypatch):
    points = np.random.default_rng(2).normal(size=(40, 3))
    monkeypatch.setattr(evaluation, "DISTANCE_CHUNK", 7)
    distances = np.linalg.norm(points[:, None] - points[None], axis=-1)
    np.testing.assert_allclose(evaluation.knn_radii(points, k=3), np.sort(distances, axis=1)[:, 3])


# --- deterministic model files ---------------------------------------------------------------------

def small_model() -> keras.Model:
    keras.utils.set_random_seed(3)
    return keras.Sequential(
        [keras.Input((4,), name="x"), keras.layers.Dense(5, name="hidden"), keras.layers.Dense(2, name="out")], name="small"
    )


def test_model_files_are_byte_identical_and_round_trip(tmp_path):
    first, second = tmp_path / "first.keras", tmp_path / "second.keras"
    save_model(small_model(), first)
    time.sleep(1.1)  # Keras's save date has one-second resolution
    save_model(small_model(), second)  # new Python objects, so new object ids in the config
    assert first.read_bytes() == second.read_bytes()
    x = np.random.default_rng(4).normal(size=(3, 4)).astype(np.float32)
    np.testing.assert_array_equal(load_model(first)(x), small_model()(x))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["first.keras", "second.keras"]  # no temp files left


def test_model_file_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_model(tmp_path / "missing.keras")
    (tmp_path / "broken.keras").write_text("not a zip")
    with pytest.raises(DataError, match="not a readable"):
        load_model(tmp_path / "broken.keras")


# --- the stage's params and user errors --------------------------------------------------------

def test_repository_params_parse_to_exactly_their_values():
    raw = read_params(ROOT / "params.yaml")
    parsed = load_classifier(ROOT / "params.yaml")
    assert parsed.seed == raw["seed"]
    assert dataclasses.asdict(parsed.classifier) == {
        k: tuple(v) if isinstance(v, list) else v for k, v in raw["classifier"].items()
    }


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"epochs": 0}, "classifier.epochs=0: must be > 0"),
        ({"epoch": 3}, "unknown key classifier.epoch; did you mean classifier.epochs?"),
        ({}, "prepared file not found"),  # valid params, no prepared data
    ],
    ids=["bad-value", "typo", "missing-data"],
)
def test_stage_reports_user_errors_in_one_line(tmp_path, monkeypatch, capsys, changes, message):
    section = {**read_params(ROOT / "params.yaml")["classifier"], **changes}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"seed": 1, "classifier": section}))
    out = tmp_path / "out"
    monkeypatch.setattr(sys, "argv", [
        "train_classifier", "--params", str(tmp_path / "params.yaml"), "--data", str(tmp_path / "nowhere"),
        "--model", str(out / "classifier.keras"), "--reports", str(out),
    ])
    with pytest.raises(SystemExit) as exit_info:
        stage.main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert not out.exists()
