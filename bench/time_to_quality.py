"""Quality per CPU minute: the evaluator's FID against training wall time, for each training section,
and for the lab's own recipe given eight minutes.

    python bench/time_to_quality.py [--sections cnn transformer combined] [--every 500] [--samples 2000]
                                    [--reference-minutes 8] [--set cnn.batch_size=128 ...]

Trains each section's default params exactly as `dvc repro` does (same seed, same batches, same
compiled step) and, every `--every` steps, pauses the clock to score `--samples` images from a
fixed latent batch: FID on the `train_classifier` features against as many test images, the share
the classifier reads with >= 90 % confidence (cells readable at a glance), precision, coverage and
digits covered. The batch, the drawing (gan_lab/training/quality.py) and the scores
(gan_lab/evaluation/quality.py) are the pipeline's own: with `--every` set to `train.quality_every`
and 2,000 samples, a section's curve is the `quality` stage's reports/<name>/quality.csv. Needs
`models/classifier/classifier.keras` (`dvc repro train_classifier`). FID on 2,000 samples (and
2,000 test images) is a noisier estimate than the evaluate stage's 10,000, so compare the curves
with each other rather than with the report. `--set` changes params as `dvc exp run -S` would (for
trying other defaults per CPU minute; each is checked by the stages' own loader).

The reference is the best of the lab's recipes measured in issue 7: the handout's CNN networks
(bench/lab_networks.py), batch 128, Adam(2e-4, beta1 0.5) for both, images in [-1, 1], in a
compiled step, trained for `--reference-minutes`. It runs on this project's train step, which is
faster than the tutorial's two-tape step, so in eight minutes it gets more steps than the lab's
code would, and its target is the best FID it scores in the budget, not its last: the comparison
favours the reference. Writes a JSON table and a PNG of the curves.
Not part of the test suite: it takes about as long as the three training stages plus the budget.
"""
from __future__ import annotations

import argparse
import dataclasses
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

from bench.lab_networks import handout_gan  # noqa: E402
from gan_lab.config import TRAINING_SECTIONS, load_evaluate, load_training  # noqa: E402
from gan_lab.data import load_prepared  # noqa: E402
from gan_lab.evaluation.classifier import MnistClassifier  # noqa: E402
from gan_lab.evaluation.metrics import reference_stats  # noqa: E402
from gan_lab.evaluation.quality import score  # noqa: E402
from gan_lab.overrides import load_training_with_overrides  # noqa: E402
from gan_lab.plots import PNG_METADATA  # noqa: E402
from gan_lab.training.distribute import make_distribution  # noqa: E402
from gan_lab.training.loop import Run, make_deterministic  # noqa: E402
from gan_lab.training.quality import draw, quality_inputs  # noqa: E402

REFERENCE = "lab reference"


def lab_reference(minutes: float) -> Run:
    """The handout's networks and optimizer settings in this project's step, with steps for `minutes`."""
    params = load_training("cnn")
    params = dataclasses.replace(params, name=REFERENCE, gan=dataclasses.replace(
        params.gan, batch_size=128, steps=int(minutes * 60 * 10)))  # more than it can do: the clock stops it
    make_deterministic(params.seed)
    gan = handout_gan(params.seed)
    return Run(params, make_distribution("none"), gan, tf.function(gan.train_step))


def quality_curve(run: Run, every: int, samples: int, classifier: MnistClassifier, reference, data,
              budget_seconds: float = float("inf")) -> list[dict]:
    """(step, training seconds, FID, confident share, precision, coverage, digits) every `every` steps,
    until the last step or the time budget: the training stage's samples and the `quality` stage's scores."""
    params = run.params
    z, labels = quality_inputs(params, samples)
    rows, trained = [], 0.0
    start = time.perf_counter()
    for step, batch in zip(range(1, params.gan.steps + 1), run.batches(data)):
        logs = run.step(batch)
        out_of_time = trained + time.perf_counter() - start >= budget_seconds
        if step % every and step != params.gan.steps and not out_of_time:
            continue
        float(logs["g_loss"])  # wait for the step to finish before reading the clock
        trained += time.perf_counter() - start
        scores = score(classifier, draw(run.gan, z, labels), reference)  # the averaged generator, as the stage saves it
        rows.append({"section": params.name, "step": step, "train_seconds": round(trained, 1), **scores})
        print(f"[{params.name}] step {step:>5}  {trained:6.0f} s  FID {scores['fid']:7.2f}  "
              f"confident {scores['confident']:.2f}  precision {scores['precision']:.2f}", flush=True)
        if out_of_time:
            break
        start = time.perf_counter()
    return rows


def time_to_reach(rows: list[dict], section: str, fid: float) -> float | None:
    """Training seconds until `section` first scores an FID at or below `fid` (None: never)."""
    return next((r["train_seconds"] for r in rows if r["section"] == section and r["fid"] <= fid), None)


def summarize(rows: list[dict], sections: list[str]) -> dict:
    """The reference's best score in its budget (its curve zig-zags, so not merely its last) and
    how long each section took to reach it."""
    target = min((r for r in rows if r["section"] == REFERENCE), key=lambda r: r["fid"])
    return {"reference_fid": target["fid"], "reference_seconds": target["train_seconds"],
            "seconds_to_reach_it": {s: time_to_reach(rows, s, target["fid"]) for s in sections}}


def plot(rows: list[dict], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6.4, 4))
    for section in dict.fromkeys(r["section"] for r in rows):
        mine = [r for r in rows if r["section"] == section]
        style = {"color": "grey", "linestyle": "--"} if section == REFERENCE else {}
        ax.plot([r["train_seconds"] / 60 for r in mine], [r["fid"] for r in mine], marker="o", label=section, **style)
    ax.set(xlabel="training wall time (min, 2-core CPU)", ylabel="FID (classifier features)", yscale="log",
           title="Quality per CPU minute")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata=PNG_METADATA)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sections", nargs="*", default=list(TRAINING_SECTIONS), choices=TRAINING_SECTIONS)
    parser.add_argument("--every", type=int, default=500, help="score every N steps (default 500)")
    parser.add_argument("--samples", type=int, default=2000, help="images per score (default 2000)")
    parser.add_argument("--reference-minutes", type=float, default=8.0, help="the lab reference's budget (0: skip it)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a param")
    parser.add_argument("--out", type=Path, default=Path("bench/results/time_to_quality"))
    args = parser.parse_args()
    heads = {a: a.split("=")[0].split(".")[0] for a in args.set}
    unread = [a for a, head in heads.items() if head not in ("seed", "train", *args.sections)]
    if unread:
        parser.error(f"--set {unread[0]}: no section given in --sections reads it")
    sections = [
        load_training_with_overrides(s, Path("params.yaml"), [a for a, head in heads.items() if head in ("seed", "train", s)])
        for s in args.sections
    ]

    data = load_prepared(Path("data/prepared"))
    classifier = MnistClassifier.load(Path("models/classifier/classifier.keras"))
    reference = reference_stats(classifier, data.x_test[: args.samples], load_evaluate(Path("params.yaml")).evaluate.nearest_k)
    rows = [row for params in sections
            for row in quality_curve(Run.start(params), args.every, args.samples, classifier, reference, data)]
    summary = {}
    if args.reference_minutes > 0:
        rows += quality_curve(lab_reference(args.reference_minutes), args.every, args.samples, classifier, reference, data,
                          budget_seconds=args.reference_minutes * 60)
        summary = summarize(rows, args.sections)
        print(f"{REFERENCE}: best FID {summary['reference_fid']} (at {summary['reference_seconds']} s); reached "
              "it at " + ", ".join(f"{s} {t} s" for s, t in summary["seconds_to_reach_it"].items()))

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(
        json.dumps({"samples": args.samples, "every": args.every, "rows": rows, **summary}, indent=2) + "\n")
    plot(rows, args.out.with_suffix(".png"))
    print(f"wrote {args.out.with_suffix('.json')} and {args.out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
