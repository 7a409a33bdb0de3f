"""morphology.py: window maxima equal max_pool2d's (pixels outside the picture left out) at every size."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mnist_lightning.morphology import window_max


@pytest.mark.parametrize("window", [1, 3, 5, 11, 57])  # 57: wider than the picture
def test_window_max_and_its_erosion_equal_max_pooling_with_the_outside_left_out(window):
    torch.manual_seed(0)
    images = torch.randn(6, 1, 28, 20)  # negative values too: the outside must not count as 0

    def pooled(x):
        return F.max_pool2d(x, window, stride=1, padding=window // 2)

    assert torch.equal(window_max(images, window), pooled(images))
    assert torch.equal(-window_max(-images, window), -pooled(-images))
