"""Failures a user meets: a diverging loss, a full disk, prepared data deleted by hand."""
from __future__ import annotations

import errno
import sys

import numpy as np
import pytest
import tensorflow as tf
import yaml

import gan_lab.training.loop as training
from conftest import ROOT, run, tiny_params
from gan_lab.config import load_training
from gan_lab.errors import GanLabError


@pytest.fixture
def tiny(tmp_path, mnist):
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump(tiny_params(yaml.safe_load((ROOT / "params.yaml").read_text()))))
    small = type(mnist)(mnist.x_train[:256], mnist.y_train[:256], mnist.x_test[:64], mnist.y_test[:64])
    return load_training("cnn", params_file), small, training.OutputPaths.for_stage("cnn", tmp_path)


def test_nan_loss_stops_with_the_step_and_keeps_the_last_checkpoint(tiny, monkeypatch):
    params, data, out = tiny
    real_batches = training.training_batches

    def poisoned(*args, **kwargs):  # real batches, then NaN pixels from the 5th step on
        return real_batches(*args, **kwargs).enumerate().map(
            lambda i, batch: (tf.where(i >= 4, np.nan, batch[0]), batch[1])
        )

    monkeypatch.setattr(training, "training_batches", poisoned)
    with pytest.raises(training.DivergenceError, match="non-finite loss at step 5"):
        training.train(params, data, out, write=lambda line: None)
    assert (out.checkpoints / "progress.json").is_file()
    assert '"step": 4' in (out.checkpoints / "progress.json").read_text()
    assert not out.models.exists() and not out.reports.exists()


def test_full_disk_while_writing_outputs_leaves_nothing_and_can_be_retried(tiny, monkeypatch):
    params, data, out = tiny

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(training, "save_gif", no_space)
    with pytest.raises(GanLabError, match="could not write outputs \\(No space left on device\\)"):
        training.train(params, data, out, write=lambda line: None)
    assert not out.models.exists() and not out.reports.exists()
    assert not list(out.models.parent.parent.glob(".staging.*"))

    monkeypatch.undo()
    lines = []
    training.train(params, data, out, write=lines.append)
    assert any("resuming from checkpoint at step 6" in line for line in lines)
    assert (out.reports / "progress.gif").is_file() and (out.models / "generator.keras").is_file()


def test_missing_prepared_data_is_one_line(tmp_path):
    result = run([sys.executable, "-m", "stages.train", "cnn", "--prepared", str(tmp_path / "gone")], ROOT, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'gone' / 'x_train.npy'}: prepared file not found; run `dvc repro prepare`"
    ]
