"""The four MNIST IDX files: verify, unpack into a cache, read as tensors.

Where the bytes come from, in order: the cache directory (already unpacked and checked), the gzip files bundled
inside this package (so training works offline, also from a non-editable install), and last torchvision's
downloader (for a user with internet whose bundle was removed). Every file is checked against the md5 of the
original distribution before it is used, and written to the cache atomically: a half-written cache cannot exist.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

BUNDLE_DIR = Path(__file__).resolve().parent / "bundled_mnist"


@dataclass(frozen=True)
class IdxFile:
    name: str  # uncompressed file name; the bundle holds name + ".gz"
    md5: str  # of the uncompressed bytes, as published with the original files
    shape: tuple[int, ...]  # what the IDX header must declare


TRAIN_IMAGES = IdxFile("train-images-idx3-ubyte", "6bbc9ace898e44ae57da46a324031adb", (60000, 28, 28))
TRAIN_LABELS = IdxFile("train-labels-idx1-ubyte", "a25bea736e30d166cdddb491f175f624", (60000,))
TEST_IMAGES = IdxFile("t10k-images-idx3-ubyte", "2646ac647ad5339dbf082846283269ea", (10000, 28, 28))
TEST_LABELS = IdxFile("t10k-labels-idx1-ubyte", "27ae3e4e09519cfbb04c329615203637", (10000,))
ALL_FILES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)


class MnistDataError(RuntimeError):
    """A data file is missing, truncated or not the original MNIST file."""


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _check(spec: IdxFile, data: bytes, source: Path) -> None:
    actual = md5(data)
    if actual != spec.md5:
        raise MnistDataError(
            f"{source} is not the original MNIST file {spec.name}: the md5 of its uncompressed bytes is {actual}, "
            f"expected {spec.md5} ({len(data):,} bytes read). The file is corrupt or truncated. Fix: restore it "
            f"(for the bundle: reinstall mnist_lightning or `git checkout -- {BUNDLE_DIR.name}`), or delete it so "
            "that the next source is used."
        )


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename: readers see the old state or the whole new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_gzip(path: Path) -> bytes:
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except (OSError, EOFError) as err:  # BadGzipFile is an OSError; a cut-off file raises EOFError
        raise MnistDataError(
            f"{path} cannot be decompressed ({err}): the file is corrupt or truncated. Fix: restore it (reinstall "
            f"mnist_lightning or `git checkout -- {BUNDLE_DIR.name}`), or delete it to fall back to the download."
        ) from err


def _download(spec: IdxFile, cache_dir: Path) -> bytes:
    """torchvision's downloader, the last resort: needs internet, which many users do not have."""
    from torchvision.datasets import MNIST

    root = cache_dir / "torchvision"
    try:
        MNIST(str(root), train=spec in (TRAIN_IMAGES, TRAIN_LABELS), download=True)
    except Exception as err:  # noqa: BLE001 - any failure of the download ends in the same advice
        raise MnistDataError(
            f"MNIST file {spec.name} is neither in the cache ({cache_dir}) nor in the package bundle ({BUNDLE_DIR}), "
            f"and downloading it failed ({type(err).__name__}: {err}). Fix: copy the four original MNIST files "
            f"({', '.join(s.name for s in ALL_FILES)}, plain or .gz) into {cache_dir}, or reinstall mnist_lightning "
            "to restore its bundle."
        ) from err
    path = root / "MNIST" / "raw" / spec.name
    data = path.read_bytes()
    _check(spec, data, path)
    return data


def verified_bytes(spec: IdxFile, cache_dir: Path, bundle_dir: Path = BUNDLE_DIR) -> bytes:
    """The uncompressed bytes of `spec`, checked against its md5; unpacked into the cache first if needed."""
    cached = cache_dir / spec.name
    if cached.is_file():
        data = cached.read_bytes()
        _check(spec, data, cached)
        return data
    # A user may also drop the original .gz downloads into the cache directory.
    for gz in (cache_dir / f"{spec.name}.gz", bundle_dir / f"{spec.name}.gz"):
        if gz.is_file():
            data = _read_gzip(gz)
            _check(spec, data, gz)
            break
    else:
        data = _download(spec, cache_dir)
    write_atomically(cached, data)
    return data


def parse_idx(data: bytes, spec: IdxFile) -> torch.Tensor:
    """Parse IDX bytes (big-endian header: magic 0x0000080N, N dimension sizes, then uint8 data)."""
    ndim = len(spec.shape)
    header = np.frombuffer(data, dtype=">u4", count=ndim + 1)
    if header[0] != 0x800 + ndim or tuple(int(d) for d in header[1:]) != spec.shape:
        raise MnistDataError(f"{spec.name} has the IDX header {header.tolist()}, expected shape {spec.shape}.")
    pixels = np.frombuffer(data, dtype=np.uint8, offset=4 * (ndim + 1))
    return torch.from_numpy(pixels.reshape(spec.shape).copy())


def load_split(train: bool, cache_dir: str | Path, bundle_dir: Path = BUNDLE_DIR) -> tuple[torch.Tensor, torch.Tensor]:
    """The official training (60,000) or test (10,000) images as uint8 [N, 28, 28] and labels as int64 [N]."""
    cache_dir = Path(cache_dir).expanduser()
    images, labels = (TRAIN_IMAGES, TRAIN_LABELS) if train else (TEST_IMAGES, TEST_LABELS)
    return (
        parse_idx(verified_bytes(images, cache_dir, bundle_dir), images),
        parse_idx(verified_bytes(labels, cache_dir, bundle_dir), labels).long(),
    )
