"""Shared fixtures: the repository root, real MNIST, and a scratch copy of the project for stage runs."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gan_lab.config import CnnArch  # no TensorFlow: plain dataclasses

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
TINY_CNN = CnnArch(g_filters=(8, 4), d_filters=(4, 8), g_norm="batch", d_dropout=0.0)  # trains in milliseconds


@pytest.fixture(scope="session")
def mnist():
    """The real MNIST arrays, read and checksum-verified from the vendored IDX files."""
    from gan_lab.data import read_mnist

    return read_mnist(ROOT / "data" / "mnist")


def project_files() -> list[str]:
    """Files a fresh clone would have: tracked plus untracked-but-not-ignored (so tests see edits)."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    return [f for f in out.splitlines() if (ROOT / f).is_file()]


def copy_project(dest: Path) -> Path:
    for name in project_files():
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    return dest


def run(cmd: list[str], cwd: Path, check: bool = True, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run a command with the test interpreter's environment (its venv's python and dvc first on PATH)."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A scratch copy of the working tree (no outputs), for running stage scripts."""
    return copy_project(tmp_path / "project")


def tiny_params(params: dict) -> dict:
    """Shrink every training section so a stage runs in seconds: same code paths, tiny budgets."""
    params = {**params, "train": {**params["train"], "log_every": 2, "snapshot_every": 2, "checkpoint_every": 4, "grid_size": 4,
                                      "quality_every": 4}}
    for section in ("cnn", "transformer", "combined"):
        if section in params:
            small = {**params[section], "steps": 6, "batch_size": 8}
            for key, value in {"g_filters": [8, 4], "d_filters": [4, 8], "embed_dim": 8, "num_heads": 2,
                               "depth": 1, "hidden_units": [16, 16]}.items():
                if key in small:
                    small[key] = value
            params[section] = small
    if "attention" in params:
        params["attention"] = {**params["attention"], "embed_dims": [16], "num_heads": [2], "train_steps": 20}
    if "evaluate" in params:
        params["evaluate"] = {**params["evaluate"], "n_samples": 200, "batch_size": 100,
                              "kid_subsets": 5, "kid_subset_size": 50}
    if "classifier" in params:
        params["classifier"] = {**params["classifier"], "epochs": 1, "conv_filters": [4, 8], "feature_units": 16}
    return params


def tiny_cnn_params(precision: str = "float32", **gan):
    """The cnn section of params.yaml, shrunk for in-process train steps: 8 images (unless `gan`
    says otherwise), 16 latents, `TINY_CNN` widths."""
    import dataclasses

    from gan_lab.config import load_training

    params = load_training("cnn", ROOT / "params.yaml")
    return dataclasses.replace(
        params,
        loop=dataclasses.replace(params.loop, precision=precision),
        gan=dataclasses.replace(params.gan, **{"latent_dim": 16, "batch_size": 8, "arch": {"cnn": TINY_CNN}, **gan}),
    )


def mnist_batch(mnist, n: int = 8):
    """The first n real training images in [-1, 1] with their labels: one train step's input."""
    import tensorflow as tf

    from gan_lab.data import to_tanh_range

    return to_tanh_range(mnist.x_train[:n]), tf.constant(mnist.y_train[:n], tf.int32)


def commit_all(repo: Path, message: str) -> None:
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", message], repo)


def make_dvc_project(repo: Path) -> Path:
    """A scratch git + DVC repository holding the working tree, with tiny params committed."""
    import yaml

    copy_project(repo)
    params = tiny_params(yaml.safe_load((repo / "params.yaml").read_text()))
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "init", "-q"], repo)
    # `dvc exp run` commits experiments, so the scratch repository needs an identity of its own.
    run(["git", "config", "user.name", "test"], repo)
    run(["git", "config", "user.email", "test@example.com"], repo)
    commit_all(repo, "tiny")
    return repo


@pytest.fixture
def dvc_project(tmp_path: Path) -> Path:
    return make_dvc_project(tmp_path / "repo")


@pytest.fixture(scope="session")
def reproduced_project(tmp_path_factory) -> Path:
    """One tiny project after a whole `dvc repro`, shared by the reproduction and sharing tests.

    Tests must not change its workspace: they clone it, or add to its git history only.
    """
    repo = make_dvc_project(tmp_path_factory.mktemp("reproduced") / "repo")
    run(["dvc", "repro"], repo, timeout=1200)
    return repo
