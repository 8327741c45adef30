"""DVC stage `quality`: the quality curve of each training run, scored from the samples it drew.

Each training stage writes reports/<section>/quality_samples.npz (the averaged generator's 2,000
fixed-noise images every `train.quality_every` steps); this stage scores them with the project's
classifier into reports/<section>/quality.csv, a DVC plot: step, training seconds (from
reports/<section>/timing.json), FID, confident share, precision, coverage, digits covered and the
rarest digit's share. It also writes reports/quality/metrics.json (per model: final FID, the first
step within 10 % of it, still improving at the end, the collapse warning).
A change to the classifier re-runs this stage, not the GANs.
"""
import argparse
from pathlib import Path

from gan_lab.config import TRAINING_SECTIONS, load_evaluate
from gan_lab.data import load_prepared
from gan_lab.errors import DataError, exit_on_user_error
from gan_lab.model_io import write_json
from gan_lab.names import QUALITY_FILE, QUALITY_SAMPLES_FILE, QUALITY_SECONDS_KEY, QUALITY_SUMMARY_FILE


@exit_on_user_error
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--prepared", type=Path, default=Path("data/prepared"))
    parser.add_argument("--reports", type=Path, default=Path("reports"), help="holds <section>/" + QUALITY_SAMPLES_FILE)
    parser.add_argument("--classifier", type=Path, default=Path("models/classifier/classifier.keras"))
    args = parser.parse_args()
    params = load_evaluate(args.params)
    files = {name: args.reports / name / QUALITY_SAMPLES_FILE for name in TRAINING_SECTIONS}
    timings = {name: args.reports / name / "timing.json" for name in TRAINING_SECTIONS}
    for path in [*files.values(), *timings.values(), args.classifier]:
        if not path.is_file():
            raise DataError(f"{path}: not found; run `dvc repro` (the stage that writes it) first")
    mnist = load_prepared(args.prepared)

    import json

    import numpy as np
    import pandas as pd

    from gan_lab.evaluation.classifier import MnistClassifier
    from gan_lab.evaluation.metrics import reference_stats
    from gan_lab.evaluation.quality import QUALITY_COLUMNS, collapse_line, score_points, summary

    classifier = MnistClassifier.load(args.classifier)
    summaries, reference = {}, None
    for name, path in files.items():
        with np.load(path) as saved:
            steps, images = saved["step"], saved["images"]
        seconds = json.loads(timings[name].read_text())[QUALITY_SECONDS_KEY]  # wall clock: kept out of the npz
        if reference is None or len(reference.features) != images.shape[1]:  # as many test images as samples
            reference = reference_stats(classifier, mnist.x_test[: images.shape[1]], params.evaluate.nearest_k)
        rows = score_points(classifier, steps, seconds, images, reference)
        pd.DataFrame(rows, columns=QUALITY_COLUMNS).to_csv(
            args.reports / name / QUALITY_FILE, index=False, float_format="%.6g", lineterminator="\n")
        summaries[name] = summary(rows)
        for row in rows:
            print(f"[{name}] step {row['step']:>6}  {row['train_seconds']:7.1f} s  FID {row['fid']:7.2f}  "
                  f"confident {row['confident']:.2f}  coverage {row['coverage']:.3f}  digits {row['digits']:>2}  "
                  f"rarest {row['rarest']:.3f}")
        if summaries[name]["collapse"]:
            print(collapse_line(name, summaries[name]["collapse"]))
    write_json(args.reports / "quality" / QUALITY_SUMMARY_FILE, summaries)


if __name__ == "__main__":
    main()
