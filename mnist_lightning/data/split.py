"""The validation holdout carved from MNIST's 60,000 training images: the same images in every call, process and
machine. Apart from the DataModule so that what only needs the split (robustness on the validation images, a
check in another process) does not import Lightning."""

from __future__ import annotations

import torch

N_TRAIN = 60_000  # images in MNIST's official training split; the official test split's 10,000 are never held out


def split_indices(val_size: int, split_seed: int, n: int = N_TRAIN) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, val) indices into the official training set: a seeded permutation on the CPU generator, so the
    holdout is the same in every call, process and machine, whatever the training seed."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(split_seed))
    return perm[val_size:].sort().values, perm[:val_size].sort().values
