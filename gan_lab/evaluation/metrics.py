"""Sample-quality metrics for MNIST generators, in numpy on classifier features and probabilities.

Every metric takes arrays, not images, so it is testable on fixed features and costs no network
pass beyond the one `MnistClassifier.embed` makes. The real side of each comparison (the test
split's features, their Gaussian fit and k-NN radii) is a `ReferenceStats`, built once per
evaluation run and shared by every generator evaluated against it.

Definitions (features: the classifier's `features` layer; probabilities: its softmax):
  fid                  Fréchet distance between Gaussian fits of real and generated features.
  kid, kid_std         unbiased MMD² with the kernel (x·y/d + 1)³, mean and std over random
                       subsets (Bińkowski et al. 2018).
  inception_score      exp(mean KL(p(y|x) || p(y))) with the classifier's softmax; 1 to 10.
  precision, recall    Kynkäänniemi et al. 2019: the fraction of generated samples inside the
                       real k-NN balls, and of real samples inside the generated k-NN balls.
  density, coverage    Naeem et al. 2020, on the same real k-NN balls: the mean number of real
                       balls a generated sample lies in, divided by k (about 1 when generated and
                       real samples are alike); and the fraction of real balls holding at least one
                       generated sample. Precision counts a sample that lies in any ball, so a few
                       large balls around outlier real samples can give even one repeated image a
                       precision of 1; density credits such a sample 1/k per ball instead, and
                       coverage is near 0 for a collapsed generator, which fills only the few real
                       balls around the one image it draws.
  confident_fraction   fraction of samples whose top class probability is >= CONFIDENT.
  class_histogram      fraction of samples whose top class is each digit ("0" .. "9").
  digits_covered       digits that at least COVERED_FRACTION of all samples are confidently
                       classified as (so a digit drawn only as ambiguous scribbles is not covered).
  conditional_accuracy for conditional generators: fraction classified as the requested digit.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from gan_lab.data import NUM_CLASSES

if TYPE_CHECKING:
    from gan_lab.evaluation.classifier import MnistClassifier

# k of the k-NN balls and KID's subsets have no defaults here: params.yaml's `evaluate:` states them,
# and the evaluate stage, bench/ and the tests pass them on.
CONFIDENT = 0.9
COVERED_FRACTION = 0.01
DISTANCE_CHUNK = 500  # rows of the pairwise-distance matrix held at once: 500 x 10,000 float64 = 40 MB


# --- Fréchet distance ----------------------------------------------------------------------------

def gaussian_fit(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased) covariance of the rows of `features`."""
    features = np.asarray(features, dtype=np.float64)
    return features.mean(axis=0), np.cov(features, rowvar=False)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    eigenvalues, eigenvectors = np.linalg.eigh(matrix)
    return (eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ eigenvectors.T


def frechet_distance(mean_a: np.ndarray, cov_a: np.ndarray, mean_b: np.ndarray, cov_b: np.ndarray) -> float:
    """‖μa − μb‖² + tr(Σa + Σb − 2 (Σa Σb)^½).

    tr (Σa Σb)^½ is the sum of the square roots of the eigenvalues of Σa^½ Σb Σa^½, which is
    symmetric PSD, so two `eigh` calls replace a general (and complex-valued) matrix square root.
    """
    root_a = _psd_sqrt(cov_a)
    cross = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    trace_sqrt = np.sqrt(np.clip(cross, 0.0, None)).sum()
    distance = np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_sqrt
    return max(float(distance), 0.0)  # identical fits give rounding noise around 0


# --- kernel inception distance -------------------------------------------------------------------

def _cubic_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(a·b / d + 1)³, in place: the subsets' kernels are most of KID's cost."""
    kernel = a @ b.T
    kernel /= a.shape[1]
    kernel += 1.0
    cube = kernel * kernel
    cube *= kernel
    return cube


def _unbiased_mmd2(a: np.ndarray, b: np.ndarray) -> float:
    m = len(a)
    k_aa, k_bb, k_ab = _cubic_kernel(a, a), _cubic_kernel(b, b), _cubic_kernel(a, b)
    within = (k_aa.sum() - np.trace(k_aa) + k_bb.sum() - np.trace(k_bb)) / (m * (m - 1))
    return float(within - 2.0 * k_ab.mean())


def kernel_inception_distance(
    real: np.ndarray, fake: np.ndarray, *, subsets: int, subset_size: int, seed: int = 0
) -> tuple[float, float]:
    """Mean and std of the unbiased MMD² over `subsets` random subsets (without replacement) of each set.

    The subset size shrinks to the smaller set when that holds fewer than `subset_size` rows.
    """
    size = min(subset_size, len(real), len(fake))
    if size < 2:
        raise ValueError(f"KID needs at least 2 samples per set, got {len(real)} and {len(fake)}")
    rng = np.random.default_rng(seed)
    estimates = [
        _unbiased_mmd2(real[rng.choice(len(real), size, replace=False)], fake[rng.choice(len(fake), size, replace=False)])
        for _ in range(subsets)
    ]
    return float(np.mean(estimates)), float(np.std(estimates))


# --- precision and recall ------------------------------------------------------------------------

def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """‖a_i − b_j‖² as ‖a_i‖² + ‖b_j‖² − 2 a_i·b_j, built in place."""
    sq_a, sq_b = (a * a).sum(axis=1), (b * b).sum(axis=1)
    squared = a @ b.T
    squared *= -2.0
    squared += sq_a[:, None]
    squared += sq_b[None, :]
    # the expansion cancels for (near-)identical rows: snap its rounding noise to an exact 0
    squared[squared < 1e-10 * (sq_a.max() + sq_b.max())] = 0.0
    return squared


def knn_radii(features: np.ndarray, k: int) -> np.ndarray:
    """Distance from each row to its k-th nearest other row, in row chunks to bound memory."""
    features = np.asarray(features, dtype=np.float64)
    if len(features) <= k:
        raise ValueError(f"k-NN radii with k={k} need more than {k} samples, got {len(features)}")
    radii = np.empty(len(features))
    for start in range(0, len(features), DISTANCE_CHUNK):
        squared = _squared_distances(features[start:start + DISTANCE_CHUNK], features)
        radii[start:start + DISTANCE_CHUNK] = np.partition(squared, k, axis=1)[:, k]  # index 0: the row itself
    return np.sqrt(radii)


def ball_hits(points: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How many balls (`centres[i]`, `radii[i]`) hold each point, and whether each ball holds any point.

    Balls are closed (distance <= radius), so a radius of 0 (a duplicated centre) still holds a
    point on it; `(counts > 0).mean()` is the fraction of points in some ball (precision, recall).
    One pass over the point-to-centre distances, `DISTANCE_CHUNK` points at a time.
    """
    points, centres = np.asarray(points, dtype=np.float64), np.asarray(centres, dtype=np.float64)
    squared_radii = np.asarray(radii, dtype=np.float64)[None, :] ** 2
    counts = np.empty(len(points), dtype=np.int64)
    filled = np.zeros(len(centres), dtype=bool)
    for start in range(0, len(points), DISTANCE_CHUNK):
        inside = _squared_distances(points[start:start + DISTANCE_CHUNK], centres) <= squared_radii
        counts[start:start + DISTANCE_CHUNK] = inside.sum(axis=1)
        filled |= inside.any(axis=0)
    return counts, filled


def fraction_in_balls(points: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> float:
    """Fraction of `points` that lie within `radii[i]` of some `centres[i]`."""
    counts, _ = ball_hits(points, centres, radii)
    return float((counts > 0).mean())


def precision_recall(
    real: np.ndarray, fake: np.ndarray, *, k: int, real_radii: np.ndarray | None = None
) -> tuple[float, float]:
    """Kynkäänniemi et al. (2019) improved precision and recall; pass `real_radii` to reuse them."""
    if real_radii is None:
        real_radii = knn_radii(real, k)
    precision = fraction_in_balls(fake, real, real_radii)
    recall = fraction_in_balls(real, fake, knn_radii(fake, k))
    return precision, recall


# --- density and coverage ------------------------------------------------------------------------

def density_coverage(
    real: np.ndarray, fake: np.ndarray, *, k: int, real_radii: np.ndarray | None = None
) -> tuple[float, float]:
    """Naeem et al. (2020) density and coverage on the real k-NN balls; pass `real_radii` to reuse them.

    density  = (1 / kM) Σ_j #{real balls holding fake_j}, over the M fake samples. Precision counts
               a sample in one big ball around a real outlier as fully real, so such a ball can
               carry a whole collapsed sample set to precision 1; density credits it 1/k per ball.
    coverage = fraction of real samples whose ball holds a fake sample (their nearest fake sample
               lies within their k-NN radius). It measures variety on the real balls only, so
               unlike recall it is not inflated by the large balls of outlier fake samples, and a
               generator that draws one image covers only the few real balls around it: near 0.
    """
    if real_radii is None:
        real_radii = knn_radii(real, k)
    return _density_coverage(*ball_hits(fake, real, real_radii), k)


def _density_coverage(counts: np.ndarray, filled: np.ndarray, k: int) -> tuple[float, float]:
    """The two numbers from `ball_hits(fake, real, real_radii)`."""
    return float(counts.sum() / (k * len(counts))), float(filled.mean())


def knn_metrics(
    real: np.ndarray, fake: np.ndarray, *, k: int, real_radii: np.ndarray | None = None
) -> dict[str, float]:
    """Precision, recall, density and coverage, as `precision_recall` and `density_coverage` give them.

    Precision, density and coverage share one pass over the fake-to-real distances, so the two
    extra metrics cost the evaluation no extra pairwise-distance pass.
    """
    if real_radii is None:
        real_radii = knn_radii(real, k)
    counts, filled = ball_hits(fake, real, real_radii)
    density, coverage = _density_coverage(counts, filled, k)
    return {
        "precision": float((counts > 0).mean()),
        "recall": fraction_in_balls(real, fake, knn_radii(fake, k)),
        "density": density,
        "coverage": coverage,
    }


# --- metrics on the softmax ----------------------------------------------------------------------

def inception_score(probabilities: np.ndarray) -> float:
    """exp(mean KL(p(y|x) || p(y))) over all samples: 1 for one class or no confidence, 10 at best."""
    p = np.asarray(probabilities, dtype=np.float64)
    marginal = p.mean(axis=0, keepdims=True)
    safe = p > 0  # 0 · log 0 = 0, and p(y) > 0 wherever some p(y|x) > 0
    kl = np.where(safe, p * np.log(np.where(safe, p, 1.0) / np.where(safe, marginal, 1.0)), 0.0).sum(axis=1)
    return float(np.exp(kl.mean()))


def class_fractions(probabilities: np.ndarray, *, confident_only: bool = False) -> np.ndarray:
    """Fraction of all samples whose top class is each digit (counting only confident ones if asked)."""
    top = probabilities.argmax(axis=1)
    if confident_only:
        top = top[probabilities.max(axis=1) >= CONFIDENT]
    return np.bincount(top, minlength=NUM_CLASSES) / len(probabilities)


def confident_fraction(probabilities: np.ndarray) -> float:
    """Fraction of samples whose top class probability is at least CONFIDENT: read at a glance."""
    return float((np.asarray(probabilities).max(axis=1) >= CONFIDENT).mean())


def digits_covered(probabilities: np.ndarray) -> int:
    """Digits that at least COVERED_FRACTION of all samples are confidently classified as."""
    return int((class_fractions(probabilities, confident_only=True) >= COVERED_FRACTION).sum())


# --- the whole report ----------------------------------------------------------------------------

@dataclass(frozen=True)
class ReferenceStats:
    """The real set as every metric needs it: features, their Gaussian fit and k-NN radii."""

    features: np.ndarray
    mean: np.ndarray
    cov: np.ndarray
    radii: np.ndarray
    k: int

    @classmethod
    def from_features(cls, features: np.ndarray, k: int) -> ReferenceStats:
        features = np.asarray(features, dtype=np.float64)
        mean, cov = gaussian_fit(features)
        return cls(features=features, mean=mean, cov=cov, radii=knn_radii(features, k), k=k)


def reference_stats(classifier: MnistClassifier, images: np.ndarray, k: int) -> ReferenceStats:
    """Embed the real images (the test split, typically) once for a whole evaluation run."""
    return ReferenceStats.from_features(classifier.features(images), k)


def evaluate_features(
    features: np.ndarray,
    probabilities: np.ndarray,
    reference: ReferenceStats,
    *,
    requested_labels: np.ndarray | None = None,
    kid_subsets: int,
    kid_subset_size: int,
) -> dict:
    """Every metric for one sample set, as plain JSON-ready floats and ints."""
    features = np.asarray(features, dtype=np.float64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if len(features) != len(probabilities):
        raise ValueError(f"{len(features)} feature rows but {len(probabilities)} probability rows")
    kid, kid_std = kernel_inception_distance(
        reference.features, features, subsets=kid_subsets, subset_size=kid_subset_size
    )
    report = {
        "n_samples": len(features),
        "fid": frechet_distance(*gaussian_fit(features), reference.mean, reference.cov),
        "kid": kid,
        "kid_std": kid_std,
        "inception_score": inception_score(probabilities),
        **knn_metrics(reference.features, features, k=reference.k, real_radii=reference.radii),
        "confident_fraction": confident_fraction(probabilities),
        "digits_covered": digits_covered(probabilities),
        "class_histogram": {str(d): float(f) for d, f in enumerate(class_fractions(probabilities))},
    }
    if requested_labels is not None:
        requested = np.asarray(requested_labels).reshape(-1)
        if len(requested) != len(probabilities):
            raise ValueError(f"{len(requested)} requested labels for {len(probabilities)} samples")
        report["conditional_accuracy"] = float((probabilities.argmax(axis=1) == requested).mean())
    return report


def evaluate_images(
    classifier: MnistClassifier,
    images: np.ndarray,
    reference: ReferenceStats,
    *,
    requested_labels: np.ndarray | None = None,
    **options: int,
) -> dict:
    """Embed `images` (generator output in [-1, 1] or uint8 MNIST) and report every metric.

    `options` are `evaluate_features`' KID settings (kid_subsets, kid_subset_size).
    """
    features, probabilities = classifier.embed(images)
    return evaluate_features(features, probabilities, reference, requested_labels=requested_labels, **options)
