"""The prepare stage on the real MNIST files and on corrupted copies of them."""
from __future__ import annotations

import gzip
import hashlib
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, run
from gan_lab.data import load_prepared

RAW = ROOT / "data" / "mnist"


def prepare(cwd: Path, raw: Path, out: Path):
    return run([sys.executable, "-m", "stages.prepare", "--raw", str(raw), "--out", str(out)], cwd=ROOT, check=False)


def test_prepare_real_mnist(tmp_path):
    result = prepare(ROOT, RAW, tmp_path / "prepared")
    assert result.returncode == 0, result.stderr
    data = load_prepared(tmp_path / "prepared")
    assert data.x_train.shape == (60000, 28, 28) and data.x_test.shape == (10000, 28, 28)
    assert data.x_train.dtype == np.uint8 and data.x_train.max() == 255
    assert np.bincount(data.y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(data.y_test, minlength=10).min() > 850


def _corrupt_copy(tmp_path: Path, name: str, how: str) -> Path:
    raw = tmp_path / "raw"
    shutil.copytree(RAW, raw)
    path = raw / f"{name}.gz"
    path.chmod(0o644)
    if how == "missing":
        path.unlink()
    elif how == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif how == "checksum":
        data = bytearray(gzip.decompress(path.read_bytes()))
        data[-1] ^= 0xFF
        path.write_bytes(gzip.compress(bytes(data)))
    elif how == "magic":  # a wrong magic number whose checksum is right, so the IDX check is what fires
        data = bytearray(gzip.decompress(path.read_bytes()))
        data[3] = 0x09
        path.write_bytes(gzip.compress(bytes(data)))
        sums = (raw / "SHA256SUMS")
        sums.chmod(0o644)
        lines = [
            f"{hashlib.sha256(bytes(data)).hexdigest()}  {name}" if line.endswith(name) else line
            for line in sums.read_text().splitlines()
        ]
        sums.write_text("\n".join(lines) + "\n")
    return raw


@pytest.mark.parametrize(
    "name, how, expected",
    [
        ("train-images-idx3-ubyte", "missing", "file not found"),
        ("t10k-labels-idx1-ubyte", "truncated", "truncated or corrupt gzip"),
        ("t10k-images-idx3-ubyte", "checksum", "SHA-256 mismatch"),
        ("train-labels-idx1-ubyte", "magic", "wrong IDX magic number"),
    ],
)
def test_prepare_rejects_bad_file_with_one_line_and_no_output(tmp_path, name, how, expected):
    raw = _corrupt_copy(tmp_path, name, how)
    out = tmp_path / "prepared"
    result = prepare(ROOT, raw, out)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert name in lines[0] and expected in lines[0]
    assert "Traceback" not in result.stderr
    assert not out.exists()
    assert not list(tmp_path.glob(".prepared.*"))  # no half-written temporary folder either
