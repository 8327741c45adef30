"""Bad params files through the real stage entry point: one line naming the key, the value and the rule."""
from __future__ import annotations

import re
import sys

import pytest
import yaml

from conftest import ROOT, run

BASE = yaml.safe_load((ROOT / "params.yaml").read_text())


def with_change(path: str, value, delete: bool = False) -> dict:
    params = yaml.safe_load(yaml.safe_dump(BASE))
    *parents, leaf = path.split(".")
    node = params
    for key in parents:
        node = node[key]
    if delete:
        del node[leaf]
    else:
        node[leaf] = value
    return params


CASES = [
    ("cnn.steps", 0, "cnn.steps=0: must be > 0"),
    ("cnn.steps", -5, "cnn.steps=-5: must be > 0"),
    ("cnn.steps", "many", "cnn.steps='many': expected an integer"),
    ("cnn.steps", 1.5, "cnn.steps=1.5: expected an integer"),
    ("cnn.batch_size", 1, "cnn.batch_size=1: must be in [2, 4096]"),
    ("cnn.g_lr", 0.0, "cnn.g_lr=0.0: must be in (0.0, 1.0]"),
    ("cnn.d_lr", "fast", "cnn.d_lr='fast': expected a number"),
    ("cnn.beta1", 1.0, "cnn.beta1=1.0: must be in [0.0, 1.0)"),
    ("cnn.g_ema", 1.0, "cnn.g_ema=1.0: must be in [0.0, 1.0)"),
    ("cnn.lr_decay_start", 1.5, "cnn.lr_decay_start=1.5: must be in [0.0, 1.0]"),
    ("cnn.label_smoothing", 0.9, "cnn.label_smoothing=0.9: must be in [0.0, 0.5]"),
    ("cnn.r1_gamma", -1.0, "cnn.r1_gamma=-1.0: must be in [0.0, 1000.0]"),
    ("cnn.generator", "gan", "cnn.generator='gan': must be one of cnn, transformer, mlp"),
    ("cnn.g_norm", "group", "cnn.g_norm='group': must be one of none, batch"),
    ("cnn.g_filters", [64], "cnn.g_filters=[64]: needs exactly 2 entries"),
    ("cnn.d_filters", [], "cnn.d_filters=[]: must be a non-empty list"),
    ("cnn.d_filters", 64, "cnn.d_filters=64: expected a list of int"),
    ("cnn.d_dropout", 1.0, "cnn.d_dropout=1.0: must be in [0.0, 1.0)"),
    ("cnn.latnet_dim", 64, "unknown key cnn.latnet_dim; did you mean cnn.latent_dim?"),
    ("cnn.latent_dim", None, "missing key cnn.latent_dim (an integer)", True),
    ("train.log_evrey", 10, "unknown key train.log_evrey; did you mean train.log_every?"),
    ("train.checkpoint_every", 300, "train.checkpoint_every=300 must be a multiple of train.snapshot_every=250"),
    ("train.grid_size", 40, "train.grid_size=40: must be in [2, 16]"),
    ("train.quality_every", 0, "train.quality_every=0: must be > 0"),
    ("train.distribute", "tpu", "train.distribute='tpu': must be one of none, mirrored, multi_worker"),
    ("train.distribute", False, "train.distribute=False: expected a string"),
    ("train.precision", "float16", "train.precision='float16': must be one of auto, float32, mixed_bfloat16, mixed_float16"),
    ("train.precision", None, "missing key train.precision (a string)", True),
    ("seed", -1, "seed=-1: must be in [0, 2147483647]"),
    ("seed", "abc", "seed='abc': expected an integer"),
    ("train", None, "missing section train", True),
    ("cnn", [1, 2], "cnn: expected a mapping of keys"),
    ("trian", {"log_every": 1}, "params.yaml: unknown section trian; did you mean train?"),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}={c[1]!r}" for c in CASES])
def test_bad_param_fails_in_one_line(tmp_path, case):
    path, value, message, *delete = case
    bad = tmp_path / "params.yaml"
    bad.write_text(yaml.safe_dump(with_change(path, value, bool(delete))))
    result = run([sys.executable, "-m", "stages.train", "cnn", "--params", str(bad), "--prepared", str(tmp_path / "none")],
                 ROOT, check=False)
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {message}" or (
        len(result.stderr.strip().splitlines()) == 1 and message in result.stderr
    ), result.stderr
    assert "Traceback" not in result.stderr


def test_exponent_written_by_dvc_exp_run_is_accepted(tmp_path):
    """`dvc exp run -S cnn.g_lr=0.000001` writes `1e-06`, which PyYAML reads as a string."""
    from gan_lab.config import load_training

    text = re.sub(r"g_lr: [0-9.]+", "g_lr: 1e-06", (ROOT / "params.yaml").read_text(), count=1)  # cnn's
    (tmp_path / "params.yaml").write_text(text)
    assert load_training("cnn", tmp_path / "params.yaml").gan.g_lr == pytest.approx(1e-6)


@pytest.mark.parametrize("text, key", [("yes", "conditional"), ("on", "diffaugment"), ("1:30", "steps")])
def test_yaml_11_forms_are_refused_as_written(tmp_path, text, key):
    """Written into the file as a person types them (not through yaml.safe_dump, which would quote
    `yes`): PyYAML would read True, True and 90, DVC reads strings; the stage refuses them."""
    params = re.sub(rf"(?m)^(  {key}:) \S+", rf"\1 {text}", (ROOT / "params.yaml").read_text(), count=1)  # cnn's
    assert f"  {key}: {text}" in params
    bad = tmp_path / "params.yaml"
    bad.write_text(params)
    result = run([sys.executable, "-m", "stages.train", "cnn", "--params", str(bad), "--prepared", str(tmp_path / "none")],
                 ROOT, check=False)  # no data: a regression fails on it, in a second, instead of training
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: cnn.{key}={text!r}: expected {'an integer' if key == 'steps' else 'true or false'} "
        "(params are read as YAML 1.2, as DVC reads them, where this is a string)"
    ]


def test_missing_and_malformed_params_files(tmp_path):
    missing = run([sys.executable, "-m", "stages.train", "cnn", "--params", str(tmp_path / "nope.yaml")], ROOT, check=False)
    assert missing.returncode == 2 and "params file not found" in missing.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("cnn: [unclosed\n")
    result = run([sys.executable, "-m", "stages.train", "cnn", "--params", str(broken)], ROOT, check=False)
    assert result.returncode == 2 and "not valid YAML" in result.stderr and len(result.stderr.splitlines()) == 1
