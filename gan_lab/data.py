"""MNIST from the vendored IDX files: checksum-verified reading, the prepared arrays, the tf.data input.

The pipeline never downloads: the four original IDX files live gzip'd in `data/mnist/` with the
SHA-256 of each decompressed file, so a fresh clone trains offline and a corrupt file is caught
before it can poison a run.
"""
from __future__ import annotations

import gzip
import hashlib
import shutil
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gan_lab.errors import DataError

IMAGE_SHAPE = (28, 28, 1)  # one MNIST image as the networks see it: height, width, one grey channel
NUM_CLASSES = 10  # the digits 0-9

# name in the prepared output -> (IDX file, magic number, shape after the header)
IDX_FILES = {
    "x_train": ("train-images-idx3-ubyte", 0x00000803, (60000, *IMAGE_SHAPE[:2])),
    "y_train": ("train-labels-idx1-ubyte", 0x00000801, (60000,)),
    "x_test": ("t10k-images-idx3-ubyte", 0x00000803, (10000, *IMAGE_SHAPE[:2])),
    "y_test": ("t10k-labels-idx1-ubyte", 0x00000801, (10000,)),
}


@dataclass(frozen=True)
class Mnist:
    """The prepared splits: uint8 images (N, 28, 28) and uint8 labels (N,)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def read_checksums(raw_dir: Path) -> dict[str, str]:
    """Parse `SHA256SUMS` (`<hex>  <file name>` per line)."""
    sums_file = raw_dir / "SHA256SUMS"
    if not sums_file.is_file():
        raise DataError(f"{sums_file}: checksum file not found")
    try:
        text = sums_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{sums_file}: not a readable checksum file ({getattr(exc, 'strerror', None) or exc})") from None
    sums = {}
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            fields = line.split()
            if len(fields) != 2 or len(fields[0]) != 64:
                raise DataError(f"{sums_file}: line {number} is {line.strip()!r}; expected `<64 hex digits>  <file name>`")
            sums[fields[1].lstrip("*")] = fields[0].lower()
    return sums


def read_idx(gz_path: Path, expected_sha256: str, magic: int, shape: tuple[int, ...]) -> np.ndarray:
    """Decompress one IDX file, verify its checksum, magic number and size, and return its array."""
    if not gz_path.is_file():
        raise DataError(f"{gz_path}: file not found")
    try:
        raw = gzip.decompress(gz_path.read_bytes())
    except (EOFError, OSError, zlib.error) as exc:
        raise DataError(f"{gz_path}: truncated or corrupt gzip data ({exc})") from None
    digest = hashlib.sha256(raw).hexdigest()
    if digest != expected_sha256:
        raise DataError(f"{gz_path}: SHA-256 mismatch (got {digest[:12]}…, expected {expected_sha256[:12]}…)")
    header_len = 4 * (1 + len(shape))
    if len(raw) < header_len:
        raise DataError(f"{gz_path}: too short for an IDX header ({len(raw)} bytes)")
    found_magic = int.from_bytes(raw[:4], "big")
    if found_magic != magic:
        raise DataError(f"{gz_path}: wrong IDX magic number 0x{found_magic:08x}, expected 0x{magic:08x}")
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(len(shape)))
    if dims != shape:
        raise DataError(f"{gz_path}: IDX dimensions {dims}, expected {shape}")
    body = np.frombuffer(raw, dtype=np.uint8, offset=header_len)
    if body.size != int(np.prod(shape)):
        raise DataError(f"{gz_path}: {body.size} data bytes, expected {int(np.prod(shape))}")
    return body.reshape(shape)


def read_mnist(raw_dir: Path) -> Mnist:
    """Read and verify all four IDX files."""
    sums = read_checksums(raw_dir)
    arrays = {}
    for key, (name, magic, shape) in IDX_FILES.items():
        if name not in sums:
            raise DataError(f"{raw_dir / 'SHA256SUMS'}: no checksum for {name}")
        arrays[key] = read_idx(raw_dir / f"{name}.gz", sums[name], magic, shape)
    if arrays["y_train"].max() >= NUM_CLASSES or arrays["y_test"].max() >= NUM_CLASSES:
        raise DataError(f"{raw_dir}: labels outside 0-9")
    return Mnist(**arrays)


def write_prepared(mnist: Mnist, out_dir: Path) -> None:
    """Write the four arrays as .npy files, atomically: a failure leaves no `out_dir` behind."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    tmp.chmod(0o755)
    try:
        for key in IDX_FILES:
            np.save(tmp / f"{key}.npy", getattr(mnist, key), allow_pickle=False)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def load_prepared(prepared_dir: Path) -> Mnist:
    """Load the prepare stage's output; a missing or damaged file is a DataError naming it."""
    arrays = {}
    for key, (_, _, shape) in IDX_FILES.items():
        path = Path(prepared_dir) / f"{key}.npy"
        try:
            array = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise DataError(f"{path}: prepared file not found; run `dvc repro prepare`") from None
        except (ValueError, EOFError, OSError) as exc:  # EOFError: an empty file
            raise DataError(f"{path}: not a readable .npy file ({str(exc) or type(exc).__name__})") from None
        if array.shape != shape or array.dtype != np.uint8:
            raise DataError(f"{path}: shape {array.shape} {array.dtype}, expected {shape} uint8")
        arrays[key] = array
    return Mnist(**arrays)


def to_tanh_range(images):
    """uint8 [0, 255] -> float32 [-1, 1] with a channel axis, matching the generator's Tanh."""
    import tensorflow as tf

    return tf.cast(images, tf.float32)[..., None] / 127.5 - 1.0


def training_batches(images: np.ndarray, labels: np.ndarray, batch_size: int, seed: int, start_step: int = 0):
    """An endless tf.data stream of (image, label) batches in [-1, 1], reshuffled every epoch.

    The order is a pure function of (seed, step): epoch e uses a stateless shuffle seeded with
    (seed, e), so a run resumed at `start_step` sees exactly the batches an uninterrupted run would.
    """
    import tensorflow as tf

    n = len(images)
    per_epoch = n // batch_size
    if per_epoch == 0:
        raise DataError(f"batch_size={batch_size} is larger than the {n} training images")
    images_t = tf.constant(images)
    labels_t = tf.constant(labels.astype(np.int32))

    def epoch_batches(epoch):
        order = tf.random.experimental.stateless_shuffle(tf.range(n), seed=tf.stack([tf.cast(seed, tf.int64), epoch]))
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size, drop_remainder=True)

    def gather(index):
        return to_tanh_range(tf.gather(images_t, index)), tf.gather(labels_t, index)

    return (
        tf.data.Dataset.range(start_step // per_epoch, 2**62)
        .flat_map(epoch_batches)
        .skip(start_step % per_epoch)
        .map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .prefetch(tf.data.AUTOTUNE)
    )
