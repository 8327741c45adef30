"""Saving and loading Keras models as byte-reproducible `.keras` files, atomic file and folder
writes, and the check that an output path can be written before any work is spent on it.

Keras stamps the save time into `metadata.json` and the weights' zip entry, and Python object
ids into `config.json`, so a rerun that trains identical weights would still hash differently and
make DVC see a changed output. Here the archive is rewritten without the date, with the ids
renumbered and with fixed entry timestamps: equal model, equal bytes.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from gan_lab.errors import DataError

FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can hold
FILE_MODE = 0o644


@contextlib.contextmanager
def atomic_write(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        tmp.chmod(FILE_MODE)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def check_writable(path: str | Path, option: str, *, folder: bool = False) -> None:
    """Fail in one line, before any work, if `path` (a file, or a `folder`) could not be written:
    its nearest existing ancestor must be a folder that accepts a new file."""
    path = Path(path)
    if path.is_dir() and not folder:
        raise DataError(f"{option} {path}: is a folder; give a file name")
    if path.exists() and not path.is_dir() and folder:
        raise DataError(f"{option} {path}: is a file; give a folder")
    ancestor = path if folder else path.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise DataError(f"{option} {path}: {ancestor} is a file, so nothing can be written under it; give a folder")
    try:
        with tempfile.TemporaryFile(dir=ancestor):
            pass
    except OSError as exc:
        raise DataError(f"{option} {path}: cannot write in {ancestor} ({exc.strerror or exc})") from None


def previous(directory: Path) -> Path:
    """Where `swap_in` keeps the folder it replaces until the new one is in place."""
    return directory.with_name(directory.name + ".old")


def swap_in(fresh: Path, directory: Path) -> None:
    """Put the complete folder `fresh` at `directory`. At every instant `directory` or its
    `previous` holds a complete folder, so `surviving` finds one after a crash at any point.
    `fresh` is a hidden sibling, `.<name>.*`; ones an earlier crash left are removed."""
    for stale in directory.parent.glob(f".{directory.name}.*"):
        if stale != fresh:
            shutil.rmtree(stale, ignore_errors=True)
    if directory.exists():
        shutil.rmtree(previous(directory), ignore_errors=True)  # `directory` is complete: drop a stale one
        directory.rename(previous(directory))
    fresh.rename(directory)
    shutil.rmtree(previous(directory), ignore_errors=True)


def surviving(directory: Path) -> Path | None:
    """The folder `swap_in` last completed: `directory`, or, after a crash between its two
    renames, the `previous` one; None when neither exists."""
    for candidate in (directory, previous(directory)):
        if candidate.is_dir():
            return candidate
    return None


def remove_swapped(directory: Path) -> None:
    """Remove the folder `swap_in` put at `directory` and the `previous` one a crash may have left
    (a finished run's checkpoints; a checkpoint of other params)."""
    for candidate in (directory, previous(directory)):
        shutil.rmtree(candidate, ignore_errors=True)


def write_json(path: str | Path, data: dict) -> None:
    """Write `data` as indented JSON, atomically."""
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")


def _without_save_date(metadata_json: bytes) -> bytes:
    metadata = json.loads(metadata_json)
    metadata.pop("date_saved", None)
    return json.dumps(metadata, sort_keys=True).encode()


def _renumber_shared_objects(config_json: bytes) -> bytes:
    """Replace `shared_object_id`s (Python `id()`s, new every run) by their order of first appearance.

    The ids only link the occurrences of one shared object, so any one-to-one renumbering keeps
    the meaning.
    """
    numbers: dict[int, int] = {}

    def renumber(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                key: numbers.setdefault(value, len(numbers)) if key == "shared_object_id" else renumber(value)
                for key, value in node.items()
            }
        if isinstance(node, list):
            return [renumber(item) for item in node]
        return node

    return json.dumps(renumber(json.loads(config_json))).encode()


CANONICAL_ENTRIES: dict[str, Callable[[bytes], bytes]] = {
    "metadata.json": _without_save_date,
    "config.json": _renumber_shared_objects,
}


def _rewrite_reproducibly(src: Path, dst: Path) -> None:
    """Copy the zip entries in their order, with fixed timestamps and run-specific values removed."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for entry in zin.infolist():
            data = zin.read(entry)
            if entry.filename in CANONICAL_ENTRIES:
                data = CANONICAL_ENTRIES[entry.filename](data)
            info = zipfile.ZipInfo(entry.filename, date_time=FIXED_ZIP_TIME)
            info.compress_type = entry.compress_type
            info.create_system = 3  # Unix, whatever the platform
            info.external_attr = FILE_MODE << 16
            zout.writestr(info, data)


def save_arrays(path: str | Path, arrays: dict, compress: bool = True) -> None:
    """`np.savez(_compressed)`, atomically and byte-reproducibly: numpy stamps each entry with the
    time; here every entry has FIXED_ZIP_TIME, so the same arrays give the same file."""
    import numpy as np  # imported where used, as keras below: this module's file helpers need neither

    with atomic_write(path) as tmp, zipfile.ZipFile(tmp, "w") as zout:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=FIXED_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
            info.create_system = 3
            info.external_attr = FILE_MODE << 16
            zout.writestr(info, buffer.getvalue())


def save_model(model, path: str | Path) -> None:
    """Save `model` to `path` (a `.keras` file) atomically and byte-reproducibly."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"{path}: a model file must end in .keras")
    with atomic_write(path) as final, tempfile.TemporaryDirectory() as scratch:
        raw = Path(scratch) / path.name
        model.save(raw)
        _rewrite_reproducibly(raw, final)


def load_model(path: str | Path, *, compile: bool = False):
    """Load a `.keras` file with `safe_mode=True` (no arbitrary code), for inference by default.

    A missing or unreadable file is a DataError naming it. Safe mode rebuilds only registered
    classes: generators and discriminators load through `gan_lab.models.load_network`.
    """
    import keras

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: model file not found")
    try:
        return keras.saving.load_model(path, compile=compile, safe_mode=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError, EOFError) as exc:
        # Keras: ValueError for non-zips, TypeError for a class it does not know
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: not a readable .keras model ({first})") from None
