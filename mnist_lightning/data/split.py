"""The validation holdout carved from the training images (MNIST's 60,000): the same images in every call, process
and machine. Apart from the DataModule so that what only needs the split (robustness on the validation images, a
check in another process) does not import Lightning."""

from __future__ import annotations

import torch


def split_indices(val_size: int, split_seed: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, val) indices into the n official training images (never the test images): a seeded permutation on
    the CPU generator, so the holdout is the same in every call, process and machine, whatever the training seed."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(split_seed))
    return perm[val_size:].sort().values, perm[:val_size].sort().values
