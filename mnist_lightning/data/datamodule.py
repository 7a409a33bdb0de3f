"""MNIST (or any data set in its IDX layout, conf/data/) as a LightningDataModule: the official test set, a seeded
validation holdout, normalization from the training split.

The whole data set is ~55 MB of uint8, so each split lives as one tensor (moved to the training device in
`setup`), a batch is one indexing operation, and conversion to float plus augmentation run batched on the device
in `on_after_batch_transfer`. Normalization itself is the model's first step (see `classifier.py`), so a
checkpoint carries the statistics it was trained with; this module computes them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from lightning.pytorch.utilities import rank_zero_info
from torch.utils.data import DataLoader, Dataset

from mnist_lightning.data.augment import RandomDistortion
from mnist_lightning.data.idx_files import MNIST, ROLES, IdxDataset, load_split, md5, verified_bytes, write_atomically
from mnist_lightning.data.split import split_indices


class InMemoryDataset(Dataset):
    """Images and labels as two tensors. `__getitems__` lets the DataLoader fetch a whole batch by one index op,
    while its sampler stays the standard one, which Lightning replaces with a DistributedSampler under DDP."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index], self.labels[index]

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.as_tensor(indices, device=self.images.device)
        # index_select, not images[index]: the same rows, ~10x faster for uint8 rows on the CPU
        return self.images.index_select(0, index), self.labels.index_select(0, index)


def keep_batch(batch):
    """collate_fn for InMemoryDataset: `__getitems__` already returns the batch."""
    return batch


def pixel_stats(images: torch.Tensor) -> tuple[float, float]:
    """Mean and (population) standard deviation of pixel/255, exactly, from a 256-bin histogram of uint8 pixels."""
    counts = torch.bincount(images.flatten(), minlength=256).double()
    values = torch.arange(256, dtype=torch.float64) / 255
    n = counts.sum()
    mean = (counts * values).sum() / n
    var = (counts * values**2).sum() / n - mean**2
    return mean.item(), var.sqrt().item()


class MNISTDataModule(L.LightningDataModule):
    def __init__(
        self,
        cache_dir: str = "~/.cache/mnist_lightning",
        val_size: int = 5000,
        split_seed: int = 12345,
        batch_size: int = 256,
        eval_batch_size: int = 1000,
        mean: float | None = None,
        std: float | None = None,
        augment: dict | None = None,
        dataset: Mapping[str, Any] | IdxDataset = MNIST,
    ):
        """dataset: which IDX files and classes (a `dataset:` node of conf/data/*.yaml); MNIST, bundled, by default."""
        super().__init__()
        if isinstance(val_size, bool) or not isinstance(val_size, int) or val_size < 0:
            raise ValueError(
                f"data.val_size must be an integer >= 0 (images held out of the training images for validation; "
                f"0 trains on all of them), got {val_size!r}."
            )
        for name, value in (("batch_size", batch_size), ("eval_batch_size", eval_batch_size)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"data.{name} must be a positive integer, got {value!r}.")
        if (mean is None) != (std is None) or (std is not None and std <= 0):
            raise ValueError(f"data.mean and data.std must be given together, with std > 0; got {mean=}, {std=}.")
        self.dataset = dataset if isinstance(dataset, IdxDataset) else IdxDataset.from_config(dataset)
        self.cache_dir = Path(cache_dir).expanduser()
        self.val_size, self.split_seed = val_size, split_seed
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.mean, self.std = mean, std
        settings: dict[str, Any] = {k: tuple(v) if k == "scale" else v for k, v in (augment or {}).items()}
        self.augment = RandomDistortion(**settings)
        # Loaded by setup(): the fit splits for fit/validate, the official test set for test.
        self.train_set: InMemoryDataset | None = None
        self.val_set: InMemoryDataset | None = None
        self.test_set: InMemoryDataset | None = None

    def prepare_data(self) -> None:
        # Unpacks and verifies all four files (rank 0 only under DDP) before any rank's setup() reads the cache.
        for role in ROLES:
            verified_bytes(self.dataset, role, self.cache_dir)

    def setup(self, stage: str | None = None) -> None:
        device = self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")
        if stage in (None, "fit", "validate") and self.train_set is None:
            images, labels = load_split(self.dataset, train=True, cache_dir=self.cache_dir)
            if self.val_size >= len(images):
                raise ValueError(
                    f"data.val_size={self.val_size} would hold out every one of the {len(images):,} training images "
                    f"of {self.dataset.title}; hold out fewer (MNIST's default: 5000), or 0 to train on all of them."
                )
            train_idx, val_idx = split_indices(self.val_size, self.split_seed, n=len(images))
            self.train_set = InMemoryDataset(images[train_idx], labels[train_idx])
            self.val_set = InMemoryDataset(images[val_idx], labels[val_idx])
            self._set_normalization()
        if stage in (None, "test") and self.test_set is None:
            self.test_set = InMemoryDataset(*load_split(self.dataset, train=False, cache_dir=self.cache_dir))
        for dataset in (self.train_set, self.val_set, self.test_set):
            if dataset is not None:
                dataset.images, dataset.labels = dataset.images.to(device), dataset.labels.to(device)

    def _set_normalization(self) -> None:
        assert self.train_set is not None, "setup() loads the training split first"
        n = len(self.train_set)
        if self.mean is not None:
            rank_zero_info(f"Normalization given in the config: mean={self.mean:.5f} std={self.std:.5f}")
            return
        # Keyed by the training images and the split: statistics of one holdout, or of another data set's images,
        # must never be reused.
        images_md5 = md5(self.train_set.images.cpu().numpy().tobytes())
        key = f"{self.dataset.name}:{images_md5},val_size={self.val_size},split_seed={self.split_seed}"
        cache = self.cache_dir / "normalization.json"
        known = json.loads(cache.read_text()) if cache.is_file() else {}
        source = "cached"
        if key not in known:
            mean, std = pixel_stats(self.train_set.images)
            known[key] = {"mean": mean, "std": std, "train_images": n}
            write_atomically(cache, json.dumps(known, indent=2).encode())
            source = "computed"
        self.mean, self.std = known[key]["mean"], known[key]["std"]
        rank_zero_info(
            f"Normalization from the {n:,} training images only ({source}): mean={self.mean:.5f} std={self.std:.5f}"
        )

    def _loader(self, dataset: InMemoryDataset | None, train: bool) -> DataLoader:
        assert dataset is not None, "setup() loads a split before Lightning asks for its loader"
        trainer = self.trainer
        world = trainer.world_size if trainer is not None else 1
        # Under DDP, Lightning would give validation and test a DistributedSampler, which pads the images to a
        # multiple of the number of processes by repeating some: 10,000 test images on 3 processes would be scored
        # as 10,002. This sampler splits them without repeats; torchmetrics sums the counts across processes.
        sampler = (
            None
            if train or trainer is None or world == 1
            else UnrepeatedDistributedSampler(dataset, num_replicas=world, rank=trainer.global_rank, shuffle=False)
        )
        return DataLoader(
            dataset,
            batch_size=self.batch_size if train else self.eval_batch_size,
            shuffle=train,
            sampler=sampler,
            drop_last=train,  # equal-sized steps; a 2-image last batch would also make BatchNorm's statistics noisy
            collate_fn=keep_batch,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, train=True)

    def val_dataloader(self) -> DataLoader | list:
        return self._loader(self.val_set, train=False) if self.val_size else []

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, train=False)

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        images, labels = batch
        x = images.unsqueeze(1).float().div_(255)  # uint8 [B,28,28] -> float [B,1,28,28] in [0,1]
        if self.trainer is not None and self.trainer.training and self.augment.enabled:
            x = self.augment(x)  # training batches only: validation and test see the images as they are
        return x, labels
