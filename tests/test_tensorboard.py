"""`train.tensorboard: true` writes the progress numbers and the snapshot grids as TensorBoard events."""
from __future__ import annotations

import dataclasses

import tensorflow as tf
import yaml

from conftest import ROOT, tiny_params
from gan_lab.config import load_training
from gan_lab.training.loop import OutputPaths, train


def events(directory) -> dict[str, list[int]]:
    """tag -> the steps it was written at, over every event file in `directory`."""
    tags: dict[str, list[int]] = {}
    for path in directory.glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                tags.setdefault(value.tag, []).append(event.step)
    return tags


def test_tensorboard_logs_scalars_at_log_every_and_images_at_snapshots(tmp_path, mnist):
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump(tiny_params(yaml.safe_load((ROOT / "params.yaml").read_text()))))
    params = load_training("cnn", params_file)
    params = dataclasses.replace(params, loop=dataclasses.replace(params.loop, tensorboard=True))
    small = type(mnist)(mnist.x_train[:256], mnist.y_train[:256], mnist.x_test[:64], mnist.y_test[:64])
    out = OutputPaths.for_stage("cnn", tmp_path)

    train(params, small, out, write=lambda line: None)

    tags = events(out.tensorboard)
    steps, log_every = params.gan.steps, params.loop.log_every
    logged = list(range(log_every, steps + 1, log_every))
    for tag in ("d_loss", "g_loss", "d_real", "d_fake", "images_per_second"):
        assert tags[tag] == logged, tag
    assert tags["samples"] == list(range(params.loop.snapshot_every, steps + 1, params.loop.snapshot_every))
    assert (out.reports / "losses.csv").is_file()  # the DVC outputs are written as without it
