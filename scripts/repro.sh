#!/usr/bin/env bash
# Set up (if needed) and run the whole pipeline on the default params.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL=3
export PATH="$PWD/.venv/bin:$PATH"  # stage commands call `python` and `dvc`: use the venv's
exec dvc repro "$@"
