"""`python -m gan_lab`: train and sample without DVC, with the code the DVC stages run.

    python -m gan_lab train cnn --set cnn.steps=500 --out runs/short
    python -m gan_lab generate --model cnn --n 64 --seed 1 --out samples.png
    python -m gan_lab generate --model combined --digit 7 --n 16 --out sevens.npy

`train` reads params.yaml like `dvc repro train_<section>` does; `--set` replaces single values
(checked by the same schema). Outputs go to <out>/models/<section> and <out>/reports/<section>.
`generate` takes a training section (its models/<section>/generator.keras) or any generator file,
and writes a .png grid or a .npy float32 array of shape (n, 28, 28, 1) in [-1, 1].
"""
from __future__ import annotations

import argparse
import contextlib
import math
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # as the stages: an error after TensorFlow loads stays one line

from gan_lab.config import TRAINING_SECTIONS, parse_seed  # noqa: E402
from gan_lab.data import NUM_CLASSES  # noqa: E402
from gan_lab.errors import ConfigError, DataError, exit_on_user_error  # noqa: E402
from gan_lab.evaluation.sampling import OUTPUT_FORMATS, check_digit, check_output_path  # noqa: E402
from gan_lab.model_io import check_writable  # noqa: E402
from gan_lab.names import GENERATOR_FILE  # noqa: E402

MAX_SAMPLES = 10_000  # a 100 x 100 grid; more is a data set, not a look at the samples
CONDITIONAL_COLUMNS = NUM_CLASSES  # labels cycle 0..9, so each column of the grid holds one digit


class ArgumentParser(argparse.ArgumentParser):
    """argparse, with usage mistakes reported like every other user error: one line, exit 2."""

    def error(self, message: str) -> None:
        raise ConfigError(message)


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with stderr closed at the file-descriptor level: TF 2.21 writes its
    start-up lines (absl's notice, oneDNN, CPU features) from C++ whatever TF_CPP_MIN_LOG_LEVEL says,
    and a command that then fails must still print one line."""
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        for fd in (saved, null):
            with contextlib.suppress(OSError):
                os.close(fd)


def generator_path(model: str) -> Path:
    """A training section names its generator file; anything else is taken as a path."""
    return Path("models") / model / GENERATOR_FILE if model in TRAINING_SECTIONS else Path(model)


def train_command(args: argparse.Namespace) -> None:
    from gan_lab.data import read_mnist
    from gan_lab.footprint import check_fits
    from gan_lab.overrides import load_training_with_overrides

    params = load_training_with_overrides(args.section, args.params, args.set)
    check_fits(params.gan, args.section)
    for folder in ("models", "reports", "checkpoints", "tensorboard"):  # training.OutputPaths' folders
        check_writable(args.out / folder / args.section, "--out", folder=True)
    data = read_mnist(args.data)
    import_tensorflow_quietly()
    from gan_lab.training.loop import OutputPaths, train  # TensorFlow: once params, outputs and data are known good

    train(params, data, OutputPaths.for_stage(args.section, args.out))


def generate_command(args: argparse.Namespace) -> None:
    if not 1 <= args.n <= MAX_SAMPLES:
        raise ConfigError(f"--n {args.n}: must be 1 to {MAX_SAMPLES}")
    if args.digit is not None:
        check_digit(args.digit)
    seed = parse_seed(args.seed)
    check_output_path(args.out)
    check_writable(args.out, "--out")
    path = generator_path(args.model)
    if not path.is_file():
        raise DataError(
            f"{path}: model file not found; give a training section ({', '.join(TRAINING_SECTIONS)}) "
            "or the path of a generator .keras file"
        )
    import_tensorflow_quietly()
    from gan_lab.evaluation.sampling import sample, save_samples
    from gan_lab.models import load_generator

    images, labels = sample(load_generator(path), args.n, seed, digit=args.digit)
    cycling = labels is not None and args.digit is None
    save_samples(images, args.out, CONDITIONAL_COLUMNS if cycling else math.ceil(math.sqrt(args.n)))
    print(f"{args.n} samples from {path} -> {args.out}")


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m gan_lab", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train one GAN from its params.yaml section")
    train.add_argument("section", choices=TRAINING_SECTIONS)
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="replace one params value, e.g. cnn.steps=100 (repeatable)")
    train.add_argument("--params", type=Path, default=Path("params.yaml"))
    train.add_argument("--data", type=Path, default=Path("data/mnist"), help="the vendored MNIST IDX files")
    train.add_argument("--out", type=Path, default=Path("."), help="root of models/ and reports/")
    train.set_defaults(run=train_command)

    generate = commands.add_parser("generate", help="draw samples from a trained generator")
    generate.add_argument("--model", required=True,
                          help=f"a training section ({', '.join(TRAINING_SECTIONS)}) or a generator .keras file")
    generate.add_argument("--n", type=int, default=64, help=f"number of samples, 1 to {MAX_SAMPLES}")
    generate.add_argument("--digit", type=int, help="the digit a conditional generator draws (default: 0-9 in turn)")
    generate.add_argument("--seed", type=int, default=0, help="seed of the latent noise")
    generate.add_argument("--out", type=Path, required=True, help=f"output file: {' or '.join(OUTPUT_FORMATS)}")
    generate.set_defaults(run=generate_command)
    return parser


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
