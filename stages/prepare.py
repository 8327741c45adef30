"""DVC stage `prepare`: verify the vendored MNIST IDX files and write them as arrays."""
import argparse
from pathlib import Path

from gan_lab.data import read_mnist, write_prepared
from gan_lab.errors import exit_on_user_error


@exit_on_user_error
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--raw", type=Path, default=Path("data/mnist"))
    parser.add_argument("--out", type=Path, default=Path("data/prepared"))
    args = parser.parse_args()
    mnist = read_mnist(args.raw)
    write_prepared(mnist, args.out)
    print(f"prepared {len(mnist.x_train)} train and {len(mnist.x_test)} test images -> {args.out}")


if __name__ == "__main__":
    main()
