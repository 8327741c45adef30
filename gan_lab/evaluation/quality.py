"""The scoring side of the quality curve: FID, confident share, precision, coverage, digits covered
and the rarest digit's share of each quality point's samples, and what the curve says (the
`quality` stage and bench/time_to_quality.py).

Scored on the evaluator's metrics (gan_lab/evaluation/metrics.py) against QUALITY_SAMPLES test
images, as many as the samples: noisier than the evaluate stage's 10,000, so compare curves with
each other, and their last point with evaluate's numbers only roughly.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from gan_lab.evaluation.metrics import (
    ReferenceStats,
    ball_hits,
    class_fractions,
    confident_fraction,
    digits_covered,
    frechet_distance,
    gaussian_fit,
)
from gan_lab.names import COLLAPSED_COVERAGE

if TYPE_CHECKING:
    from gan_lab.evaluation.classifier import MnistClassifier

QUALITY_COLUMNS = ["step", "train_seconds", "fid", "confident", "precision", "coverage", "digits", "rarest"]
# The collapse warning: coverage below COLLAPSED_COVERAGE, or fewer digits covered than all ten, at
# COLLAPSE_POINTS scoring points in a row.
COLLAPSE_POINTS = 2
CONVERGED_WITHIN = 0.10  # "came within 10 % of its final FID"
IMPROVING_BY = 0.02  # still improving: the last FID is over 2 % below each of the two before it


def score(classifier: MnistClassifier, images: np.ndarray, reference: ReferenceStats) -> dict:
    """FID, confident share, precision, coverage, digits covered and the rarest digit's share.

    Precision and coverage share one pass over the sample-to-real distances; recall (which needs the
    samples' own k-NN radii) and KID are left to the evaluate stage. `rarest` is the share of the
    samples whose top class is the least drawn digit (MNIST's test set: 0.089; 0.1 if even): a
    generator can read well and cover every digit yet draw one of them five times too rarely,
    which FID counts and the other columns hardly see.
    """
    features, probabilities = classifier.embed(images)
    counts, filled = ball_hits(features, reference.features, reference.radii)
    return {
        "fid": round(frechet_distance(*gaussian_fit(features), reference.mean, reference.cov), 3),
        "confident": round(confident_fraction(probabilities), 4),
        "precision": round(float((counts > 0).mean()), 4),
        "coverage": round(float(filled.mean()), 4),  # real balls holding a sample (density_coverage's)
        "digits": digits_covered(probabilities),
        "rarest": round(float(class_fractions(probabilities).min()), 4),
    }


def score_points(classifier: MnistClassifier, steps, seconds, images, reference: ReferenceStats) -> list[dict]:
    """One QUALITY_COLUMNS row per quality point."""
    return [{"step": int(step), "train_seconds": float(sec), **score(classifier, batch, reference)}
            for step, sec, batch in zip(steps, seconds, images)]


def collapse(rows: list[dict]) -> dict | None:
    """The first point that ends COLLAPSE_POINTS in a row with coverage < COLLAPSED_COVERAGE or digits < 10."""
    run = 0
    for row in rows:
        run = run + 1 if row["coverage"] < COLLAPSED_COVERAGE or row["digits"] < 10 else 0
        if run >= COLLAPSE_POINTS:
            return {"step": row["step"], "coverage": row["coverage"], "digits": row["digits"]}
    return None


def summary(rows: list[dict]) -> dict:
    """What a curve says: its final FID, the first step within 10 % of it, whether it still fell at
    the end, and the collapse warning (None: none)."""
    final = rows[-1]["fid"]
    within = next(row["step"] for row in rows if row["fid"] <= final * (1 + CONVERGED_WITHIN))
    last = [row["fid"] for row in rows[-3:]]
    improving = len(last) == 3 and all(final < fid * (1 - IMPROVING_BY) for fid in last[:2])
    return {"points": len(rows), "final_step": rows[-1]["step"], "final_fid": final, "best_fid": min(r["fid"] for r in rows),
            "within_10_percent_step": within, "still_improving": improving, "collapse": collapse(rows)}


def collapse_line(name: str, warning: dict) -> str:
    return (f"[{name}] COLLAPSE WARNING at step {warning['step']}: coverage {warning['coverage']:.3f}, "
            f"digits covered {warning['digits']} (coverage < {COLLAPSED_COVERAGE} or digits < 10 at "
            f"{COLLAPSE_POINTS} scoring points in a row)")
