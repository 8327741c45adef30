"""DVC stage `evaluate`: FID, KID, IS, precision/recall, density/coverage and digit coverage of every
trained generator, with real data (the floor) and an untrained generator (the ceiling) scored the same way.

Writes under --out: summary.json (the DVC metrics: FID, KID, confident share, coverage and digits per
trained model), metrics.json (every metric of every generator, `real` and `untrained`),
class_histograms.json (share of samples read as each digit) and timing.json (wall time, device).
"""
import argparse
import os
from pathlib import Path

from gan_lab.config import load_evaluate
from gan_lab.data import load_prepared
from gan_lab.errors import DataError, exit_on_user_error
from gan_lab.evaluation.evaluate import generator_files, summary
from gan_lab.model_io import write_json


@exit_on_user_error
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--prepared", type=Path, default=Path("data/prepared"))
    parser.add_argument("--models", type=Path, default=Path("models"), help="holds <section>/generator.keras")
    parser.add_argument("--classifier", type=Path, default=Path("models/classifier/classifier.keras"))
    parser.add_argument("--out", type=Path, default=Path("reports/evaluation"))
    args = parser.parse_args()
    params = load_evaluate(args.params)  # every input is checked before TensorFlow loads
    files = generator_files(args.models)
    if not args.classifier.is_file():
        raise DataError(f"{args.classifier}: classifier not found; run `dvc repro train_classifier` first")
    mnist = load_prepared(args.prepared)

    import tensorflow as tf

    from gan_lab.evaluation.classifier import MnistClassifier
    from gan_lab.evaluation.evaluate import compute_device, evaluate_all
    from gan_lab.models import load_generator

    tf.get_logger().setLevel("ERROR")  # five models each trace a predict function: TF's retracing notice is expected
    generators = {name: load_generator(path) for name, path in files.items()}
    result = evaluate_all(MnistClassifier.load(args.classifier), mnist, generators, params.evaluate, params.seed)
    write_json(args.out / "metrics.json", result.metrics)
    write_json(args.out / "summary.json", summary(result.metrics))
    write_json(args.out / "class_histograms.json", result.class_histograms)
    write_json(args.out / "timing.json", {"seconds": result.seconds, "device": compute_device(), "cpu_count": os.cpu_count()})
    for name, scores in result.metrics.items():
        print(f"{name:>12}: FID {scores['fid']:8.2f}  IS {scores['inception_score']:5.2f}  "
              f"coverage {scores['coverage']:.3f}  digits {scores['digits_covered']:>2}  ({result.seconds[name]:.0f} s)")


if __name__ == "__main__":
    main()
