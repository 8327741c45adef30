"""DVC stage `train_classifier`: train the MNIST classifier whose features the evaluation metrics use."""
import argparse
import os
import time
from pathlib import Path

from gan_lab.config import load_classifier
from gan_lab.data import load_prepared
from gan_lab.errors import exit_on_user_error
from gan_lab.model_io import save_model, write_json


@exit_on_user_error
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--data", type=Path, default=Path("data/prepared"))
    parser.add_argument("--model", type=Path, default=Path("models/classifier/classifier.keras"))
    parser.add_argument("--reports", type=Path, default=Path("reports/classifier"))
    args = parser.parse_args()
    params = load_classifier(args.params)
    mnist = load_prepared(args.data)

    from gan_lab.evaluation.classifier import train_classifier  # imports TensorFlow (seconds): check inputs first

    start = time.perf_counter()
    model, scores = train_classifier(mnist, params.classifier, params.seed)
    train_seconds = time.perf_counter() - start
    save_model(model, args.model)
    epochs = params.classifier.epochs
    scores = {k: round(v, 6) for k, v in scores.items()}
    write_json(args.reports / "metrics.json", {**scores, "epochs": epochs})
    write_json(args.reports / "summary.json", {"test_accuracy": scores["test_accuracy"]})  # the DVC metric
    write_json(
        args.reports / "timing.json",
        {
            "train_and_test_seconds": round(train_seconds, 1),
            "seconds_per_epoch": round(train_seconds / epochs, 1),
            "cpu_count": os.cpu_count(),
        },
    )
    print(f"test accuracy {scores['test_accuracy']:.4f} after {epochs} epochs, {train_seconds:.0f} s -> {args.model}")


if __name__ == "__main__":
    main()
