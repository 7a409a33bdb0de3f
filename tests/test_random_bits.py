"""random_bits.py: cheap uniform 16-bit integers, seeded by torch's generator."""

from __future__ import annotations

import pytest
import torch

from mnist_lightning.random_bits import random_int16


def test_random_int16_is_uniform_seeded_and_shaped():
    torch.manual_seed(0)
    values = random_int16((1001, 997))  # an odd count: cut from whole 64-bit draws
    assert values.shape == (1001, 997) and values.dtype == torch.int16
    counts = torch.bincount(((values.long() + 32768) // 4096).flatten(), minlength=16).float()  # 16 equal bins
    assert (counts / counts.mean() - 1).abs().max() < 0.02
    assert values.float().mean().item() == pytest.approx(-0.5, abs=100)  # the mean of [-32768, 32767]
    torch.manual_seed(0)
    assert torch.equal(random_int16((1001, 997)), values)  # reproducible from torch's seed
    assert not torch.equal(random_int16((1001, 997)), values)
