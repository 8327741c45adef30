"""DVC stages `train_cnn`, `train_transformer`, `train_combined`: one script, the section name picks the GAN.

    python -m stages.train cnn
"""
import argparse
from pathlib import Path

from gan_lab.config import TRAINING_SECTIONS, load_training
from gan_lab.errors import exit_on_user_error
from gan_lab.footprint import check_fits


@exit_on_user_error
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("section", choices=TRAINING_SECTIONS, help="params.yaml section to train")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--prepared", type=Path, default=Path("data/prepared"))
    args = parser.parse_args()
    params = load_training(args.section, args.params)  # a bad value fails here, before TensorFlow loads
    check_fits(params.gan, args.section)  # and networks too large for this machine, before anything is built

    from gan_lab.data import load_prepared

    data = load_prepared(args.prepared)  # and missing data, before TensorFlow loads
    from gan_lab.training.loop import OutputPaths, train

    train(params, data, OutputPaths.for_stage(args.section))


if __name__ == "__main__":
    main()
