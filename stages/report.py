"""DVC stage `report`: reports/report.md and its figures (reports/figures/), from every stage's outputs.

Fast and TensorFlow-free: after a template edit, `dvc repro report` re-renders in seconds.
"""
import argparse
from pathlib import Path

from gan_lab.errors import exit_on_user_error
from gan_lab.report.loading import REPORTS
from gan_lab.report.render import TEMPLATE, render_report


@exit_on_user_error
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, default=Path("."), help="the project whose outputs to report")
    parser.add_argument("--template", type=Path, default=TEMPLATE)
    parser.add_argument("--out", type=Path, default=REPORTS / "report.md", help="relative to --root")
    parser.add_argument("--figures", type=Path, default=REPORTS / "figures", help="relative to --root")
    args = parser.parse_args()
    render_report(args.root, args.out, args.figures, args.template)
    print(f"report -> {args.root / args.out}")


if __name__ == "__main__":
    main()
