"""models/cnn.py: the convolutional network's stages, layout and checks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mnist_lightning.models.cnn import CNN


def test_cnn_shape_and_layers():
    cnn = CNN()
    assert cnn(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    assert sum(isinstance(m, nn.Conv2d) for m in cnn) == 2 and sum(isinstance(m, nn.MaxPool2d) for m in cnn) == 2
    assert [m.out_features for m in cnn if isinstance(m, nn.Linear)] == [128, 10]
    assert cnn[0].weight.is_contiguous(memory_format=torch.channels_last)  # the fast layout for oneDNN convs


def test_cnn_stages_and_convs_per_stage():
    cnn = CNN(channels=[32, 64, 128], convs_per_stage=2, hidden_size=256)
    assert cnn(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    assert sum(isinstance(m, nn.Conv2d) for m in cnn) == 6 and sum(isinstance(m, nn.MaxPool2d) for m in cnn) == 3
    assert [m.in_features for m in cnn if isinstance(m, nn.Linear)] == [128 * 3 * 3, 256]  # 28 -> 14 -> 7 -> 3
    for bad, message in (
        ({"channels": [32, 64, 128, 256]}, "1 to 3 positive integers"),
        ({"convs_per_stage": 0}, "convs_per_stage"),
    ):
        with pytest.raises(ValueError, match=message):
            CNN(**bad)
