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


# --- the checkpoint itself, in-process ---------------------------------------------------------

def tiny_gan():
    from conftest import tiny_cnn_params
    from gan_lab.training.loop import build_gan, make_deterministic

    make_deterministic(0)
    return build_gan(tiny_cnn_params())


def state(gan) -> list:
    from gan_lab.training.loop import training_state

    return [v.numpy().copy() for v in training_state(gan)]


def perturb(gan) -> None:
    for variable in gan.generator.trainable_variables:
        variable.assign(variable + 1.0)


def test_a_checkpoint_of_other_params_is_discarded_and_one_of_these_resumed(tmp_path):
    from gan_lab.training.loop import Resumable, restore_checkpoint, save_checkpoint

    gan, directory = tiny_gan(), tmp_path / "checkpoints" / "cnn"
    saved = state(gan)
    save_checkpoint(gan, directory, Resumable(4, [{"step": 4}]), fingerprint="these params")
    perturb(gan)
    moved = state(gan)
    assert restore_checkpoint(gan, directory, "other params") == Resumable()
    assert not directory.exists()  # discarded, not kept for a later resume
    assert all((a == b).all() for a, b in zip(state(gan), moved))  # and nothing of it assigned

    save_checkpoint(gan, directory, Resumable(4, [{"step": 4}]), fingerprint="these params")
    perturb(gan)
    made = restore_checkpoint(gan, directory, "these params")
    assert (made.step, made.history) == (4, [{"step": 4}])
    assert all((a == b).all() for a, b in zip(state(gan), moved)) and not all(
        (a == b).all() for a, b in zip(saved, moved))


def test_a_crash_inside_the_swap_leaves_the_old_or_the_new_checkpoint(tmp_path, monkeypatch):
    """Kill the swap after its first rename (the old checkpoint moved aside, the new not yet in
    place): resume finds the old one; a finished swap leaves only the new one."""
    import pathlib

    from gan_lab.training.loop import Resumable, restore_checkpoint, save_checkpoint

    gan, directory = tiny_gan(), tmp_path / "checkpoints" / "cnn"
    save_checkpoint(gan, directory, Resumable(2), fingerprint="f")
    real_rename, calls = pathlib.Path.rename, []

    def crash_on_second_rename(self, target):
        calls.append(target)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed between the renames")
        return real_rename(self, target)

    monkeypatch.setattr(pathlib.Path, "rename", crash_on_second_rename)
    try:
        save_checkpoint(gan, directory, Resumable(4), fingerprint="f")
    except KeyboardInterrupt:
        pass
    monkeypatch.undo()
    assert len(calls) == 2 and not directory.exists()
    assert restore_checkpoint(gan, directory, "f").step == 2  # the old one, from where the swap left it
    save_checkpoint(gan, directory, Resumable(6), fingerprint="f")
    assert restore_checkpoint(gan, directory, "f").step == 6
    assert sorted(p.name for p in directory.parent.iterdir()) == ["cnn"]  # nothing stale left
