"""What one tiny training run promises about its outputs: every GIF frame renders the same fixed
noise, the saved generator holds the averaged (g_ema) weights, no TensorBoard log unless asked."""
from __future__ import annotations

import numpy as np
import pytest
import yaml
from PIL import Image

import gan_lab.training.loop as training
from conftest import ROOT, tiny_params
from gan_lab.config import load_training
from gan_lab.models import load_network


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, mnist):
    """A 6-step cnn run (g_ema 0.99, snapshots every 2 steps), watched: what `_render` drew from, and the GAN."""
    folder = tmp_path_factory.mktemp("tiny_run")
    (folder / "params.yaml").write_text(yaml.safe_dump(tiny_params(yaml.safe_load((ROOT / "params.yaml").read_text()))))
    params = load_training("cnn", folder / "params.yaml")
    small = type(mnist)(mnist.x_train[:256], mnist.y_train[:256], mnist.x_test[:64], mnist.y_test[:64])
    out = training.OutputPaths.for_stage("cnn", folder)
    rendered, gans = [], []
    render, write_outputs = training._render, training.write_outputs

    def watched_render(gan, z, labels, cols):
        rendered.append((z.numpy().copy(), labels.numpy().copy()))
        return render(gan, z, labels, cols)

    def watched_write(params, gan, *args):
        gans.append(gan)
        return write_outputs(params, gan, *args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(training, "_render", watched_render)
        patch.setattr(training, "write_outputs", watched_write)
        training.train(params, small, out, write=lambda line: None)
    return params, out, rendered, gans[0]


def test_every_gif_frame_renders_the_same_fixed_noise(tiny_run):
    params, out, rendered, _ = tiny_run
    z, labels = (t.numpy() for t in training.fixed_inputs(params))
    snapshots = params.gan.steps // params.loop.snapshot_every
    assert len(rendered) == snapshots + 1  # every snapshot, then the final grid
    for seen_z, seen_labels in rendered:
        np.testing.assert_array_equal(seen_z, z)
        np.testing.assert_array_equal(seen_labels, labels)
    assert Image.open(out.reports / "progress.gif").n_frames == snapshots


def test_saved_generator_holds_the_averaged_weights(tiny_run):
    params, out, _, gan = tiny_run
    assert params.gan.g_ema > 0
    saved = [w.numpy() for w in load_network(out.models / "generator.keras").weights]
    raw = [w.numpy() for w in gan.generator.weights]
    with gan.averaged_generator():
        averaged = [w.numpy() for w in gan.generator.weights]
    for got, want in zip(saved, averaged, strict=True):
        np.testing.assert_array_equal(got, want)
    assert any(not np.array_equal(s, r) for s, r in zip(saved, raw))  # the average, not the last step's weights


def test_no_tensorboard_log_unless_asked(tiny_run):
    params, out, _, _ = tiny_run
    assert params.loop.tensorboard is False  # params.yaml's value, which the tiny params keep
    assert not out.tensorboard.exists() and (out.reports / "losses.csv").is_file()
