"""`python -m gan_lab`: generate from tiny generator files (PNG, NPY) and train with `--set` overrides.
Its error cases are rows of docs/reliability.md, run by tests/test_reliability.py."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import yaml
from PIL import Image

from conftest import ROOT, TINY_CNN, run, tiny_params
from gan_lab.__main__ import main
from gan_lab.model_io import save_model
from gan_lab.models import build_generator

LATENT = 16
TILE = 58  # a grid tile: 28 px at 2x scale plus a 2 px gap


@pytest.fixture(scope="module")
def generators(tmp_path_factory) -> dict[str, Path]:
    """An unconditional and a conditional tiny CNN generator, saved as the training stages save them."""
    folder = tmp_path_factory.mktemp("generators")
    paths = {}
    for name, classes in (("unconditional", None), ("conditional", 10)):
        keras.utils.set_random_seed(0)
        paths[name] = folder / f"{name}.keras"
        save_model(build_generator("cnn", TINY_CNN, LATENT, classes), paths[name])
    return paths


def generate(*args: str) -> None:
    main(["generate", *args])


def test_png_grid_from_a_training_section_name(generators, tmp_path, monkeypatch):
    (tmp_path / "models" / "cnn").mkdir(parents=True)
    (tmp_path / "models" / "cnn" / "generator.keras").write_bytes(generators["unconditional"].read_bytes())
    monkeypatch.chdir(tmp_path)
    generate("--model", "cnn", "--n", "10", "--seed", "1", "--out", "grid.png")
    generate("--model", "cnn", "--n", "10", "--seed", "1", "--out", "same.npy")
    image = Image.open(tmp_path / "grid.png")
    assert image.mode == "L" and image.size == (4 * TILE + 2, 3 * TILE + 2)  # ceil(sqrt(10)) = 4 columns
    pixels, samples = np.asarray(image), np.load(tmp_path / "same.npy")
    for i, sample in enumerate(samples):  # each tile is its sample, 2x, row-major, 4 per row
        r, c = divmod(i, 4)
        tile = pixels[2 + r * TILE: r * TILE + TILE, 2 + c * TILE: c * TILE + TILE]
        want = np.clip((sample[..., 0] + 1) * 127.5, 0, 255).round().astype(np.uint8).repeat(2, 0).repeat(2, 1)
        np.testing.assert_array_equal(tile, want)
    assert (pixels[2 + 2 * TILE:, 2 + 2 * TILE:] == 128).all()  # cells 11 and 12: the background


def test_npy_is_float32_in_tanh_range_and_seeded(generators, tmp_path):
    for name, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        generate("--model", str(generators["unconditional"]), "--n", "5", "--seed", seed, "--out", str(tmp_path / f"{name}.npy"))
    a, b, c = (np.load(tmp_path / f"{name}.npy") for name in "abc")
    assert a.shape == (5, 28, 28, 1) and a.dtype == np.float32
    assert -1.0 <= a.min() and a.max() <= 1.0
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_conditional_generator_draws_one_digit_or_cycles_through_all(generators, tmp_path):
    for digit in ("7", "3"):
        generate("--model", str(generators["conditional"]), "--n", "3", "--digit", digit, "--seed", "5",
                 "--out", str(tmp_path / f"{digit}.npy"))
    sevens, threes = np.load(tmp_path / "7.npy"), np.load(tmp_path / "3.npy")
    z = np.random.default_rng(5).standard_normal((3, LATENT)).astype(np.float32)  # sampling's noise for seed 5
    generator = keras.saving.load_model(generators["conditional"])
    np.testing.assert_allclose(sevens, generator.predict([z, np.full(3, 7, np.int32)], verbose=0), atol=1e-6)
    assert np.abs(sevens - threes).max() > 1e-3  # the same noise, another digit
    generate("--model", str(generators["conditional"]), "--n", "20", "--out", str(tmp_path / "all.png"))
    assert Image.open(tmp_path / "all.png").size == (10 * TILE + 2, 2 * TILE + 2)  # one column per digit


def test_a_missing_model_fails_before_tensorflow_loads(tmp_path):
    missing = tmp_path / "generator.keras"
    command = [sys.executable, "-m", "gan_lab", "generate", "--model", str(missing), "--out", str(tmp_path / "x.png")]
    result = run(command, ROOT, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {missing}: model file not found; give a training section "
        "(cnn, transformer, combined) or the path of a generator .keras file"
    ]


def test_an_error_after_tensorflow_loads_is_one_line(tmp_path):
    """A discriminator given to `generate` is refused after Keras loads it; TensorFlow's start-up
    log lines (printed unless TF_CPP_MIN_LOG_LEVEL is set, as the test runner sets it) stay off."""
    from gan_lab.models import build_discriminator

    path = tmp_path / "discriminator.keras"
    save_model(build_discriminator("cnn", TINY_CNN), path)
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    command = [sys.executable, "-m", "gan_lab", "generate", "--model", str(path), "--out", str(tmp_path / "x.png")]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {path}: cnn_discriminator maps (28, 28, 1) to (1,), not a generator; "
        "a generator maps (latent_dim,) noise, and a label if conditional, to (28, 28, 1) images"
    ]
    assert not (tmp_path / "x.png").exists()


@pytest.fixture
def tiny_params_file(tmp_path) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(tiny_params(yaml.safe_load((ROOT / "params.yaml").read_text()))))
    return path


def test_train_applies_overrides_and_writes_the_stage_outputs(tiny_params_file, tmp_path):
    out = tmp_path / "run"
    main(["train", "cnn", "--params", str(tiny_params_file), "--out", str(out),
          "--set", "cnn.steps=3", "--set", "cnn.g_filters=[4, 2]"])
    metrics = json.loads((out / "reports/cnn/metrics.json").read_text())
    assert metrics["steps"] == 3
    saved = keras.saving.load_model(out / "models/cnn/generator.keras")
    assert [saved.get_layer(name).filters for name in ("up0", "up1")] == [4, 2]  # not the file's [8, 4]
    assert (out / "models/cnn/generator.keras").is_file() and (out / "reports/cnn/progress.gif").is_file()
    generate("--model", str(out / "models/cnn/generator.keras"), "--n", "4", "--out", str(tmp_path / "s.npy"))
    assert np.load(tmp_path / "s.npy").shape == (4, 28, 28, 1)
