"""Quality per CPU minute: the evaluator's FID against training wall time, for each training section.

    python bench/time_to_quality.py [--sections cnn transformer combined] [--every 500] [--samples 2000]

Trains each section's default params exactly as `dvc repro` does (same seed, same batches, same
compiled step) and, every `--every` steps, pauses the clock to score `--samples` images from a
fixed latent batch: FID on the `train_classifier` features against as many test images. Needs
`models/classifier/classifier.keras` (`dvc repro train_classifier`). FID on 2,000 samples (and
2,000 test images) is a noisier estimate than the evaluate stage's 10,000, so compare the curves
with each other rather than with the report. Writes a JSON table and a PNG of the curves. Not part of the test suite: it takes
about as long as the three training stages.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import tensorflow as tf  # noqa: E402

from gan_lab.classifier import MnistClassifier  # noqa: E402
from gan_lab.config import TRAINING_SECTIONS, load_training  # noqa: E402
from gan_lab.data import load_prepared, training_batches  # noqa: E402
from gan_lab.evaluation import frechet_distance, gaussian_fit, reference_stats  # noqa: E402
from gan_lab.plots import PNG_METADATA  # noqa: E402
from gan_lab.training import build_gan, make_deterministic  # noqa: E402


def fid_curve(section: str, every: int, samples: int, classifier: MnistClassifier, reference, data) -> list[dict]:
    """(step, training seconds, FID) every `every` steps of one section's default run."""
    params = load_training(section)
    make_deterministic(params.seed)
    gan = build_gan(params)
    step_fn = tf.function(gan.train_step)
    z = tf.random.stateless_normal((samples, params.gan.latent_dim), seed=[params.seed, -2])
    labels = tf.range(samples) % 10
    batches = training_batches(data.x_train, data.y_train, params.gan.batch_size, params.seed)
    rows, trained = [], 0.0
    start = time.perf_counter()
    for step, batch in zip(range(1, params.gan.steps + 1), batches):
        logs = step_fn(batch)
        if step % every and step != params.gan.steps:
            continue
        float(logs["g_loss"])  # wait for the step to finish before reading the clock
        trained += time.perf_counter() - start
        images = gan.generate(z, labels).numpy()
        fid = frechet_distance(*gaussian_fit(classifier.features(images)), reference.mean, reference.cov)
        rows.append({"section": section, "step": step, "train_seconds": round(trained, 1), "fid": round(fid, 2)})
        print(f"[{section}] step {step:>5}  {trained:6.0f} s  FID {fid:7.2f}", flush=True)
        start = time.perf_counter()
    return rows


def plot(rows: list[dict], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6.4, 4))
    for section in dict.fromkeys(r["section"] for r in rows):
        mine = [r for r in rows if r["section"] == section]
        ax.plot([r["train_seconds"] / 60 for r in mine], [r["fid"] for r in mine], marker="o", label=section)
    ax.set(xlabel="training wall time (min, 2-core CPU)", ylabel="FID (classifier features)", yscale="log",
           title="Quality per CPU minute")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata=PNG_METADATA)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sections", nargs="+", default=list(TRAINING_SECTIONS), choices=TRAINING_SECTIONS)
    parser.add_argument("--every", type=int, default=500, help="score every N steps (default 500)")
    parser.add_argument("--samples", type=int, default=2000, help="images per score (default 2000)")
    parser.add_argument("--out", type=Path, default=Path("bench/results/time_to_quality"))
    args = parser.parse_args()

    data = load_prepared(Path("data/prepared"))
    classifier = MnistClassifier.load(Path("models/classifier/classifier.keras"))
    reference = reference_stats(classifier, data.x_test[: args.samples])
    rows = [row for section in args.sections for row in fid_curve(section, args.every, args.samples, classifier, reference, data)]

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps({"samples": args.samples, "rows": rows}, indent=2) + "\n")
    plot(rows, args.out.with_suffix(".png"))
    print(f"wrote {args.out.with_suffix('.json')} and {args.out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
