"""A training stage killed mid-run resumes from its checkpoint and ends bit-identical to an uninterrupted run."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import yaml

from conftest import tiny_params

OUTPUTS = [
    "models/cnn/generator.keras",
    "models/cnn/discriminator.keras",
    "reports/cnn/losses.csv",
    "reports/cnn/progress.gif",
    "reports/cnn/samples.png",
    "reports/cnn/metrics.json",
    "reports/cnn/quality_samples.npz",  # steps and images; their training seconds (timing.json) are wall clock
]


def digests(root) -> dict[str, str]:
    return {name: hashlib.sha256((root / name).read_bytes()).hexdigest() for name in OUTPUTS}


def train_command() -> list[str]:
    return [sys.executable, "-m", "stages.train", "cnn"]


def test_sigkill_then_rerun_gives_identical_outputs(project):
    params = tiny_params(yaml.safe_load((project / "params.yaml").read_text()))
    params["cnn"].update(steps=60, batch_size=8)
    params["train"].update(snapshot_every=4, checkpoint_every=8, quality_every=8)
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    subprocess.run([sys.executable, "-m", "stages.prepare"], cwd=project, check=True)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}

    subprocess.run(train_command(), cwd=project, check=True, env=env, capture_output=True)
    uninterrupted = digests(project)
    with np.load(project / "reports/cnn/quality_samples.npz") as saved:
        assert saved["step"].tolist() == [*range(8, 57, 8), 60]
    shutil.rmtree(project / "models")
    shutil.rmtree(project / "reports" / "cnn")

    progress = project / "checkpoints/cnn/progress.json"
    proc = subprocess.Popen(train_command(), cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not progress.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "training finished before it could be killed"
    assert not (project / "models/cnn").exists()  # nothing half-written where DVC looks

    resumed = subprocess.run(train_command(), cwd=project, check=True, env=env, capture_output=True, text=True)
    assert "resuming from checkpoint at step" in resumed.stdout
    assert json.loads((project / "reports/cnn/timing.json").read_text())["resumed_from_step"] > 0
    assert digests(project) == uninterrupted
    # so the quality stage scores the same images: the same quality.csv but for its train_seconds
    assert not (project / "checkpoints/cnn").exists()
