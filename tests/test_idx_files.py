"""data/idx_files.py: the original bytes, known facts, safe caching, other data sets in MNIST's layout, and clear
errors for bad files."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import IDX_NAMES, compose_config, idx_bytes, write_idx_dataset
from mnist_lightning.data import idx_files
from mnist_lightning.data.idx_files import BUNDLE_DIR, MNIST, ROLES, IdxDataError, IdxDataset, load_split

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
LABELS = "train_labels"
LABELS_FILE = MNIST.files[LABELS]


@pytest.mark.parametrize("role", ROLES)
def test_bundled_files_are_the_originals(role):
    data = gzip.decompress((BUNDLE_DIR / f"{MNIST.files[role]}.gz").read_bytes())
    assert hashlib.md5(data).hexdigest() == MNIST.md5[role]


def test_known_facts(train_split, test_split):
    (train_x, train_y), (test_x, test_y) = train_split, test_split
    assert train_x.shape == (60000, 28, 28) and train_x.dtype == torch.uint8
    assert test_x.shape == (10000, 28, 28)
    assert torch.bincount(train_y).tolist() == TRAIN_COUNTS
    assert torch.bincount(test_y).tolist() == TEST_COUNTS
    assert train_y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]


def _bundle_with(tmp_path: Path, payload: bytes) -> Path:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / f"{LABELS_FILE}.gz").write_bytes(gzip.compress(payload))
    return bundle


def test_corrupt_bundle_names_file_and_md5_and_writes_nothing(tmp_path):
    original = gzip.decompress((BUNDLE_DIR / f"{LABELS_FILE}.gz").read_bytes())
    bundle = _bundle_with(tmp_path, original[:-100])  # truncated
    cache = tmp_path / "cache"
    with pytest.raises(IdxDataError) as err:
        idx_files.verified_bytes(MNIST, LABELS, cache, bundle)
    message = str(err.value)
    assert LABELS_FILE in message and MNIST.md5[LABELS] in message and "Fix:" in message
    assert not cache.exists() or not any(cache.rglob("*"))  # no half-written cache


def test_undecompressable_bundle_is_a_clear_error(tmp_path):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / f"{LABELS_FILE}.gz").write_bytes(b"not gzip at all")
    with pytest.raises(IdxDataError, match="cannot be decompressed"):
        idx_files.verified_bytes(MNIST, LABELS, tmp_path / "cache", bundle)


def test_a_damaged_unpacked_copy_is_unpacked_again_from_its_source(tmp_path):
    cache = tmp_path / "cache"
    original = idx_files.verified_bytes(MNIST, LABELS, cache)
    copy = cache / "mnist" / "unpacked" / LABELS_FILE
    copy.write_bytes(b"\x00" * copy.stat().st_size)  # the same size, other bytes
    assert idx_files.verified_bytes(MNIST, LABELS, cache) == original == copy.read_bytes()


def test_a_plain_file_a_user_copied_is_checked_against_the_published_md5_and_never_deleted(tmp_path):
    home = tmp_path / "cache" / "mnist"
    home.mkdir(parents=True)
    (home / LABELS_FILE).write_bytes(b"\x00" * 60008)
    with pytest.raises(IdxDataError, match=f"{home / LABELS_FILE} is not the MNIST file .* the md5 MNIST publishes"):
        idx_files.verified_bytes(MNIST, LABELS, tmp_path / "cache")
    assert (home / LABELS_FILE).stat().st_size == 60008  # the advice is to replace it or delete it: not done for you


def test_missing_everywhere_and_no_network(tmp_path, monkeypatch):
    import torchvision.datasets

    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    with pytest.raises(IdxDataError) as err:
        idx_files.verified_bytes(MNIST, LABELS, tmp_path / "cache", tmp_path / "no_bundle")
    assert "network unreachable" in str(err.value)
    assert f"copy them, unchanged, into {tmp_path / 'cache' / 'mnist'}" in str(err.value)
    assert f"nor in the package bundle ({tmp_path / 'no_bundle'})" in str(err.value)


def test_download_fallback_fills_the_cache(tmp_path, monkeypatch):
    """With neither cache nor bundle, torchvision's downloader is used; here a stand-in writes what it would."""
    import torchvision.datasets

    def fake_download(root, train, download):
        raw = Path(root) / "MNIST" / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        for role in ROLES:
            name = MNIST.files[role]
            (raw / name).write_bytes(gzip.decompress((BUNDLE_DIR / f"{name}.gz").read_bytes()))

    monkeypatch.setattr(torchvision.datasets, "MNIST", fake_download)
    cache = tmp_path / "cache"
    labels = load_split(MNIST, train=True, cache_dir=cache, bundle_dir=tmp_path / "no_bundle")[1]
    assert torch.bincount(labels).tolist() == TRAIN_COUNTS
    assert (cache / "mnist" / "unpacked" / LABELS_FILE).is_file()


def test_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(idx_files.os, "replace", crash)
    cache = tmp_path / "cache"
    with pytest.raises(OSError, match="disk full"):
        idx_files.verified_bytes(MNIST, LABELS, cache)
    assert list((cache / "mnist" / "unpacked").iterdir()) == []


def test_unpacks_once_then_reads_the_verified_cache(tmp_path):
    cache = tmp_path / "cache"
    first = load_split(MNIST, train=False, cache_dir=cache)
    names = sorted(p.name for p in (cache / "mnist" / "unpacked").iterdir())
    assert names == [
        "t10k-images-idx3-ubyte",
        "t10k-images-idx3-ubyte.json",
        "t10k-labels-idx1-ubyte",
        "t10k-labels-idx1-ubyte.json",
    ]
    second = load_split(MNIST, train=False, cache_dir=cache, bundle_dir=tmp_path / "gone")  # no bundle needed now
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])


# Other data sets in the same layout: a preset whose published md5s are of the .gz files (Fashion-MNIST's, KMNIST's
# form), and a folder of your own. The files are small synthetic ones the tests write.


def gz_preset(md5: dict[str, str], **settings) -> IdxDataset:
    """A data set described as conf/data/fashion_mnist.yaml describes Fashion-MNIST, for files the test writes."""
    return IdxDataset.from_config(
        {
            "name": "strokes",
            "title": "Strokes",
            "homepage": "https://example.org/strokes",  # published md5s, as a preset's
            "class_names": ["flat", "rising", "falling"],
            "files": {role: f"{name}.gz" for role, name in IDX_NAMES.items()},
            "md5": md5,
            **settings,
        }
    )


def test_a_gz_preset_is_checked_unpacked_and_cached(tmp_path):
    home = tmp_path / "cache" / "strokes"
    dataset = gz_preset(write_idx_dataset(home, classes=3, gz=True))
    images, labels = load_split(dataset, train=True, cache_dir=tmp_path / "cache")
    assert images.shape == (600, 28, 28) and sorted(labels.unique().tolist()) == [0, 1, 2]
    assert (home / "unpacked" / "train-images-idx3-ubyte").is_file()
    (home / "train-images-idx3-ubyte.gz").unlink()  # the checked, unpacked copy is enough from now on
    assert torch.equal(load_split(dataset, train=True, cache_dir=tmp_path / "cache")[0], images)
    wrong = gz_preset({**dataset.md5, "train_images": "0" * 32})  # another md5 in the config: the copy is not it
    with pytest.raises(IdxDataError, match="is not in .*strokes"):
        load_split(wrong, train=True, cache_dir=tmp_path / "cache")


def test_the_unpacked_copy_follows_a_replaced_source(tmp_path):
    """Unchecked files (no md5 given) copied into the cache folder, then replaced: the new ones are read."""
    home = tmp_path / "cache" / "strokes"
    write_idx_dataset(home, classes=3, seed=0)
    dataset = gz_preset({}, files=IDX_NAMES)
    first = load_split(dataset, train=False, cache_dir=tmp_path / "cache")[0]
    write_idx_dataset(home, classes=3, seed=1)
    assert not torch.equal(load_split(dataset, train=False, cache_dir=tmp_path / "cache")[0], first)


def test_a_gz_preset_refuses_other_files_and_plain_files_it_cannot_check(tmp_path):
    home = tmp_path / "cache" / "strokes"
    md5 = write_idx_dataset(home, classes=3, gz=True)
    wrong = gz_preset({**md5, "train_images": "0" * 32})
    with pytest.raises(
        IdxDataError,
        match="is not the Strokes file train-images-idx3-ubyte.gz that the md5 Strokes publishes names: its md5 is",
    ):
        load_split(wrong, train=True, cache_dir=tmp_path / "cache")
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "train-images-idx3-ubyte").write_bytes(gzip.decompress((home / "train-images-idx3-ubyte.gz").read_bytes()))
    with pytest.raises(IdxDataError, match="cannot be checked: the md5 Strokes publishes is that of the compressed"):
        idx_files.verified_bytes(gz_preset(md5, folder=str(plain)), "train_images", tmp_path / "cache")


def test_a_folder_of_your_own_is_read_in_place_plain_or_gz_and_never_written(tmp_path):
    for gz in (False, True):
        folder = tmp_path / f"mine_{gz}"
        write_idx_dataset(folder, classes=3, gz=gz)
        before = sorted(p.name for p in folder.iterdir())
        dataset = gz_preset({}, folder=str(folder), files=IDX_NAMES)  # no md5s: read unchecked
        images, labels = load_split(dataset, train=False, cache_dir=tmp_path / "cache")
        assert images.shape == (200, 28, 28) and labels.dtype == torch.int64
        assert sorted(p.name for p in folder.iterdir()) == before and not (tmp_path / "cache").exists()


def test_fashion_mnist_offline_says_where_to_put_the_files(tmp_path, monkeypatch):
    import torchvision.datasets

    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", offline)
    fashion = IdxDataset.from_config(compose_config("train", "data=fashion_mnist").data.dataset)
    assert fashion.class_names[0] == "T-shirt/top" and len(fashion.class_names) == 10 and not fashion.digits
    with pytest.raises(IdxDataError) as err:
        load_split(fashion, train=True, cache_dir=tmp_path)
    message = str(err.value)
    assert "network unreachable" in message and "https://github.com/zalandoresearch/fashion-mnist" in message
    assert f"into {tmp_path / 'fashion_mnist'}, or set data.dataset.folder" in message


def _folder_with(tmp_path: Path, images: bytes, labels: bytes) -> IdxDataset:
    folder = tmp_path / "bad"
    write_idx_dataset(folder, classes=3)
    (folder / IDX_NAMES["test_images"]).write_bytes(images)
    (folder / IDX_NAMES["test_labels"]).write_bytes(labels)
    return gz_preset({}, folder=str(folder), files=IDX_NAMES)


GOOD_IMAGES = idx_bytes(np.zeros((4, 28, 28), np.uint8))
GOOD_LABELS = idx_bytes(np.array([0, 1, 2, 0], np.uint8))


@pytest.mark.parametrize(
    "images, labels, problem",
    [
        (b"\x00\x00\x08\x01" + GOOD_IMAGES[4:], GOOD_LABELS, "is not IDX data of 3-dimensional uint8 values"),
        (GOOD_IMAGES[:-5], GOOD_LABELS, "holds 3,131 bytes after its header: it is truncated"),
        (b"\x00\x00", GOOD_LABELS, "is not IDX data"),
        (idx_bytes(np.zeros((4, 32, 32), np.uint8)), GOOD_LABELS, "holds 32x32 images; the networks take 28x28"),
        (GOOD_IMAGES, idx_bytes(np.array([0, 1, 2], np.uint8)), "has 3 labels for 4 images"),
        (GOOD_IMAGES, idx_bytes(np.array([0, 1, 2, 3], np.uint8)), "has label 3, but data.dataset.class_names names 3"),
    ],
    ids=["not images", "truncated", "no header", "32x32", "label count", "unnamed class"],
)
def test_bad_idx_files_are_named_with_the_problem(tmp_path, images, labels, problem):
    with pytest.raises(IdxDataError, match=problem):
        load_split(_folder_with(tmp_path, images, labels), train=False, cache_dir=tmp_path / "cache")


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"class_names": None}, "data.dataset.class_names is not set"),
        ({"class_names": ["a", "a"]}, "two or more different names"),
        ({"class_names": ["only"]}, "two or more different names"),
        ({"files": {"train_images": "x"}}, "must name the file of each of"),
        ({"md5": {"train_images": "abc"}}, "data.dataset.md5.train_images='abc' is not an md5"),
        ({"colour": "grey"}, r"data.dataset has no setting \['colour'\]"),
    ],
)
def test_bad_dataset_settings_are_named(change, problem):
    settings = {"name": "x", "title": "X", "class_names": ["a", "b"], "files": IDX_NAMES, **change}
    with pytest.raises(ValueError, match=problem):
        IdxDataset.from_config(settings)
