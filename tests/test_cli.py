"""`python -m gan_lab`: generate from tiny generator files (PNG, NPY, the error cases) and train with
`--set` overrides checked by the stages' schema."""
from __future__ import annotations

import json
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


def user_error(capsys, argv: list[str]) -> str:
    """Run the command line; it must exit 2 with exactly one `error:` line on stderr."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


def test_png_grid_from_a_training_section_name(generators, tmp_path, monkeypatch):
    (tmp_path / "models" / "cnn").mkdir(parents=True)
    (tmp_path / "models" / "cnn" / "generator.keras").write_bytes(generators["unconditional"].read_bytes())
    monkeypatch.chdir(tmp_path)
    generate("--model", "cnn", "--n", "10", "--seed", "1", "--out", "grid.png")
    image = Image.open(tmp_path / "grid.png")
    assert image.mode == "L" and image.size == (4 * TILE + 2, 3 * TILE + 2)  # ceil(sqrt(10)) = 4 columns


def test_npy_is_float32_in_tanh_range_and_seeded(generators, tmp_path):
    for name, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        generate("--model", str(generators["unconditional"]), "--n", "5", "--seed", seed, "--out", str(tmp_path / f"{name}.npy"))
    a, b, c = (np.load(tmp_path / f"{name}.npy") for name in "abc")
    assert a.shape == (5, 28, 28, 1) and a.dtype == np.float32
    assert -1.0 <= a.min() and a.max() <= 1.0
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_conditional_generator_draws_one_digit_or_cycles_through_all(generators, tmp_path):
    generate("--model", str(generators["conditional"]), "--n", "3", "--digit", "7", "--out", str(tmp_path / "sevens.npy"))
    assert np.load(tmp_path / "sevens.npy").shape == (3, 28, 28, 1)
    generate("--model", str(generators["conditional"]), "--n", "20", "--out", str(tmp_path / "all.png"))
    assert Image.open(tmp_path / "all.png").size == (10 * TILE + 2, 2 * TILE + 2)  # one column per digit


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "{missing}"], "model file not found; give a training section (cnn, transformer, combined)"),
        (["--model", "{unconditional}", "--digit", "3"], "--digit 3: cnn_generator is unconditional"),
        (["--model", "{conditional}", "--digit", "10"], "--digit 10: must be a digit, 0 to 9"),
        (["--model", "{unconditional}", "--n", "0"], "--n 0: must be 1 to 10000"),
        (["--model", "{unconditional}", "--n", "10001"], "--n 10001: must be 1 to 10000"),
        (["--model", "{unconditional}", "--n", "many"], "argument --n: invalid int value: 'many'"),
        (["--model", "{unconditional}", "--out", "{tmp}/samples.jpg"], "unknown extension '.jpg'; use .png or .npy"),
    ],
)
def test_generate_errors_are_one_line_and_write_nothing(generators, tmp_path, capsys, args, message):
    paths = {"missing": tmp_path / "missing.keras", "tmp": tmp_path, **generators}
    argv = ["generate", *(a.format(**paths) for a in args)]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "samples.png")]
    assert message in user_error(capsys, argv)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("samples")]


def test_a_missing_model_fails_before_tensorflow_loads(tmp_path):
    missing = tmp_path / "generator.keras"
    command = [sys.executable, "-m", "gan_lab", "generate", "--model", str(missing), "--out", str(tmp_path / "x.png")]
    result = run(command, ROOT, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {missing}: model file not found; give a training section "
        "(cnn, transformer, combined) or the path of a generator .keras file"
    ]


@pytest.fixture
def tiny_params_file(tmp_path) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(tiny_params(yaml.safe_load((ROOT / "params.yaml").read_text()))))
    return path


def test_train_applies_overrides_and_writes_the_stage_outputs(tiny_params_file, tmp_path):
    out = tmp_path / "run"
    main(["train", "cnn", "--params", str(tiny_params_file), "--out", str(out),
          "--set", "cnn.steps=3", "--set", "cnn.g_filters=[4, 4]", "--set", "cnn.g_lr=1e-3"])
    metrics = json.loads((out / "reports/cnn/metrics.json").read_text())
    assert metrics["steps"] == 3
    assert (out / "models/cnn/generator.keras").is_file() and (out / "reports/cnn/progress.gif").is_file()
    generate("--model", str(out / "models/cnn/generator.keras"), "--n", "4", "--out", str(tmp_path / "s.npy"))
    assert np.load(tmp_path / "s.npy").shape == (4, 28, 28, 1)


@pytest.mark.parametrize(
    "assignment, message",
    [
        ("cnn.steps=0", "cnn.steps=0: must be > 0"),
        ("cnn.stepz=3", "unknown key cnn.stepz; did you mean cnn.steps?"),
        ("cnn.g_filters=[8, 4, 2]", "cnn.g_filters=[8, 4, 2]: needs exactly 2 entries"),
        ("cnn.conditional=maybe", "cnn.conditional='maybe': expected true or false"),
        ("transformer.steps=3", "--set transformer.steps=3: this command reads only seed, train, cnn"),
        ("cnn.steps", "--set 'cnn.steps': expected key=value"),
        ("seed.x=1", "--set seed.x=1: seed is not a section of keys"),
    ],
)
def test_train_rejects_bad_overrides_in_one_line(tiny_params_file, tmp_path, capsys, assignment, message):
    line = user_error(capsys, ["train", "cnn", "--params", str(tiny_params_file), "--out", str(tmp_path), "--set", assignment])
    assert message in line
    assert not (tmp_path / "models").exists()
