"""data/mnist_files.py: the original bytes, known facts, safe caching, and clear errors for bad files."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import pytest
import torch

from mnist_lightning.data import mnist_files
from mnist_lightning.data.mnist_files import ALL_FILES, BUNDLE_DIR, TRAIN_LABELS, MnistDataError, load_split

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.mark.parametrize("spec", ALL_FILES, ids=lambda s: s.name)
def test_bundled_files_are_the_originals(spec):
    data = gzip.decompress((BUNDLE_DIR / f"{spec.name}.gz").read_bytes())
    assert hashlib.md5(data).hexdigest() == spec.md5


def test_known_facts(train_split, test_split):
    (train_x, train_y), (test_x, test_y) = train_split, test_split
    assert train_x.shape == (60000, 28, 28) and train_x.dtype == torch.uint8
    assert test_x.shape == (10000, 28, 28)
    assert torch.bincount(train_y).tolist() == TRAIN_COUNTS
    assert torch.bincount(test_y).tolist() == TEST_COUNTS
    assert train_y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]


def _bundle_with(tmp_path: Path, spec, payload: bytes) -> Path:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / f"{spec.name}.gz").write_bytes(gzip.compress(payload))
    return bundle


def test_corrupt_bundle_names_file_and_md5_and_writes_nothing(tmp_path):
    original = gzip.decompress((BUNDLE_DIR / f"{TRAIN_LABELS.name}.gz").read_bytes())
    bundle = _bundle_with(tmp_path, TRAIN_LABELS, original[:-100])  # truncated
    cache = tmp_path / "cache"
    with pytest.raises(MnistDataError) as err:
        mnist_files.verified_bytes(TRAIN_LABELS, cache, bundle)
    message = str(err.value)
    assert TRAIN_LABELS.name in message and TRAIN_LABELS.md5 in message and "Fix:" in message
    assert not cache.exists() or not any(cache.iterdir())  # no half-written cache


def test_undecompressable_bundle_is_a_clear_error(tmp_path):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / f"{TRAIN_LABELS.name}.gz").write_bytes(b"not gzip at all")
    with pytest.raises(MnistDataError, match="cannot be decompressed"):
        mnist_files.verified_bytes(TRAIN_LABELS, tmp_path / "cache", bundle)


def test_corrupt_cache_file_is_reported(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / TRAIN_LABELS.name).write_bytes(b"\x00" * 60008)
    with pytest.raises(MnistDataError, match=str(cache / TRAIN_LABELS.name)):
        mnist_files.verified_bytes(TRAIN_LABELS, cache)


def test_missing_everywhere_and_no_network(tmp_path, monkeypatch):
    import torchvision.datasets

    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    with pytest.raises(MnistDataError) as err:
        mnist_files.verified_bytes(TRAIN_LABELS, tmp_path / "cache", tmp_path / "no_bundle")
    assert "network unreachable" in str(err.value) and "copy the four original MNIST files" in str(err.value)


def test_download_fallback_fills_the_cache(tmp_path, monkeypatch):
    """With neither cache nor bundle, torchvision's downloader is used; here a stand-in writes what it would."""
    import torchvision.datasets

    def fake_download(root, train, download):
        raw = Path(root) / "MNIST" / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        for spec in ALL_FILES:
            (raw / spec.name).write_bytes(gzip.decompress((BUNDLE_DIR / f"{spec.name}.gz").read_bytes()))

    monkeypatch.setattr(torchvision.datasets, "MNIST", fake_download)
    cache = tmp_path / "cache"
    labels = load_split(train=True, cache_dir=cache, bundle_dir=tmp_path / "no_bundle")[1]
    assert torch.bincount(labels).tolist() == TRAIN_COUNTS
    assert (cache / TRAIN_LABELS.name).is_file()


def test_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(mnist_files.os, "replace", crash)
    cache = tmp_path / "cache"
    with pytest.raises(OSError, match="disk full"):
        mnist_files.verified_bytes(TRAIN_LABELS, cache)
    assert list(cache.iterdir()) == []


def test_unpacks_once_then_reads_the_verified_cache(tmp_path):
    cache = tmp_path / "cache"
    first = load_split(train=False, cache_dir=cache)
    assert sorted(p.name for p in cache.iterdir()) == ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    second = load_split(train=False, cache_dir=cache, bundle_dir=tmp_path / "gone")  # no bundle needed now
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
