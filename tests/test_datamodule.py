"""data/datamodule.py and data/split.py: the split, the normalization statistics from the training split only, the
batches."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from mnist_lightning.data.datamodule import MNISTDataModule
from mnist_lightning.data.split import split_indices


def test_split_is_disjoint_complete_and_seeded():
    train, val = split_indices(5000, split_seed=12345, n=60000)
    assert len(train) == 55000 and len(val) == 5000
    assert torch.equal(torch.cat([train, val]).sort().values, torch.arange(60000))
    torch.manual_seed(999)  # the global (training) seed must not move the holdout
    again_train, again_val = split_indices(5000, split_seed=12345, n=60000)
    assert torch.equal(val, again_val) and torch.equal(train, again_train)
    assert not torch.equal(val, split_indices(5000, split_seed=1, n=60000)[1])


def test_split_is_identical_in_another_process():
    code = "from mnist_lightning.data.split import split_indices; v = split_indices(5000, 12345, 60000)[1]; print(v.sum().item(), v[:5].tolist())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    _, val = split_indices(5000, 12345, 60000)
    assert out.strip() == f"{val.sum().item()} {val[:5].tolist()}"


def test_normalization_over_all_60000_is_the_famous_pair(cache_dir):
    dm = MNISTDataModule(cache_dir=str(cache_dir), val_size=0)
    dm.setup("fit")
    assert dm.mean == pytest.approx(0.13066, abs=5e-6) and dm.std == pytest.approx(0.30811, abs=5e-6)
    assert (round(dm.mean, 4), round(dm.std, 4)) == (0.1307, 0.3081)


def test_normalization_uses_the_train_split_only(cache_dir, train_split):
    dm = MNISTDataModule(cache_dir=str(cache_dir), val_size=5000, split_seed=7)
    dm.setup("fit")
    train_idx, val_idx = split_indices(5000, 7, 60000)
    pixels = train_split[0][train_idx].double() / 255
    assert dm.mean == pytest.approx(pixels.mean().item(), abs=1e-9)
    assert dm.std == pytest.approx(pixels.std(correction=0).item(), abs=1e-9)
    with_val = train_split[0].double() / 255  # the statistics must differ from ones that saw the holdout
    assert dm.mean != pytest.approx(with_val.mean().item(), abs=1e-7)


def test_normalization_is_cached_per_split_and_can_be_overridden(tmp_path, caplog):
    caplog.set_level("INFO")
    for _ in range(2):
        dm = MNISTDataModule(cache_dir=str(tmp_path), val_size=1234, split_seed=3)
        dm.setup("fit")
    assert "(computed)" in caplog.text and "(cached)" in caplog.text
    cached = json.loads((tmp_path / "normalization.json").read_text())
    (key,) = cached  # one entry: MNIST's training images (by their md5) and this split
    assert key.startswith("mnist:") and key.endswith(",val_size=1234,split_seed=3") and cached[key]["mean"] == dm.mean
    given = MNISTDataModule(cache_dir=str(tmp_path), mean=0.5, std=0.25)
    given.setup("fit")
    assert (given.mean, given.std) == (0.5, 0.25)


@pytest.mark.parametrize("val_size", [-1, 1.5, "10"])
def test_bad_val_size_is_refused(val_size):
    with pytest.raises(ValueError, match="data.val_size"):
        MNISTDataModule(val_size=val_size)


def test_a_holdout_of_every_training_image_is_refused_once_their_number_is_known(cache_dir):
    with pytest.raises(ValueError, match=r"data.val_size=60000 would hold out every one of the 60,000 training"):
        MNISTDataModule(cache_dir=str(cache_dir), val_size=60000).setup("fit")


def test_mean_without_std_is_refused():
    with pytest.raises(ValueError, match="data.mean and data.std"):
        MNISTDataModule(mean=0.1)


def test_batches_are_the_reference_images(cache_dir, train_split, test_split):
    """The tensor pipeline gives exactly pixel/255 of the right images, with the right labels, in batches."""
    dm = MNISTDataModule(cache_dir=str(cache_dir), val_size=5000, eval_batch_size=4096)
    dm.setup(None)
    _, val_idx = split_indices(5000, 12345, 60000)
    seen = [dm.on_after_batch_transfer(batch, 0) for batch in dm.val_dataloader()]
    images = torch.cat([x for x, _ in seen])
    labels = torch.cat([y for _, y in seen])
    reference = train_split[0][val_idx].float().unsqueeze(1) / 255
    assert images.shape == (5000, 1, 28, 28) and images.dtype == torch.float32
    assert torch.equal(images, reference) and torch.equal(labels, train_split[1][val_idx])
    test_images, test_labels = next(iter(dm.test_dataloader()))
    assert torch.equal(test_images, test_split[0][:4096]) and torch.equal(test_labels, test_split[1][:4096])


def test_train_loader_shuffles_full_batches(cache_dir):
    dm = MNISTDataModule(cache_dir=str(cache_dir), val_size=5000, batch_size=256)
    dm.setup("fit")
    loader = dm.train_dataloader()
    assert len(loader) == 55000 // 256
    (x1, y1), (x2, _) = next(iter(loader)), next(iter(loader))
    assert x1.shape == (256, 28, 28) and y1.shape == (256,)
    assert not torch.equal(x1, x2)  # a new order every epoch


def test_ddp_ranks_get_disjoint_shares(cache_dir):
    """Lightning swaps in a DistributedSampler under DDP; our loaders must keep working and split the data."""
    from lightning.pytorch.utilities.data import _update_dataloader
    from torch.utils.data import DistributedSampler

    dm = MNISTDataModule(cache_dir=str(cache_dir), val_size=5000, batch_size=100)
    dm.setup("fit")
    dm.train_set.labels = torch.arange(len(dm.train_set))  # label every image with its index: who sees what
    shares = []
    for rank in range(2):
        sampler = DistributedSampler(dm.train_set, num_replicas=2, rank=rank, shuffle=True, seed=0)
        loader = _update_dataloader(dm.train_dataloader(), sampler)
        batches = list(loader)
        assert all(x.shape == (100, 28, 28) for x, _ in batches)
        shares.append(torch.cat([ids for _, ids in batches]))
    first, second = set(shares[0].tolist()), set(shares[1].tolist())
    assert len(first) == len(second) == 27500 and not first & second
    assert first | second == set(range(55000))
