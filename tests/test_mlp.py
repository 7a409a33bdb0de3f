"""models/mlp.py: the feed-forward network, its choices, and what train() and eval() change."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mnist_lightning.models.mlp import MLP


def test_default_mlp_is_the_classic_784_512_256_10():
    mlp = MLP()
    linears = [m for m in mlp if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(784, 512), (512, 256), (256, 10)]
    assert sum(isinstance(m, nn.BatchNorm1d) for m in mlp) == 2 and sum(isinstance(m, nn.Dropout) for m in mlp) == 2
    assert mlp(torch.rand(3, 1, 28, 28)).shape == (3, 10)


@pytest.mark.parametrize("norm, layer", [("layer", nn.LayerNorm), ("none", None)])
def test_mlp_norm_choices(norm, layer):
    mlp = MLP(hidden_sizes=[64], norm=norm, activation="gelu")
    assert not any(isinstance(m, nn.BatchNorm1d) for m in mlp)
    assert any(isinstance(m, nn.GELU) for m in mlp)
    if layer:
        assert any(isinstance(m, layer) for m in mlp)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"hidden_sizes": []}, "hidden_sizes must be a non-empty list"),
        ({"hidden_sizes": [0]}, "hidden_sizes"),
        ({"dropout": 1.0}, r"regularizer.dropout must be in \[0, 1\)"),
        ({"dropout": -0.1}, "regularizer.dropout"),
        ({"activation": "swish"}, "model.activation='swish' is not one of: relu"),
        ({"norm": "group"}, "model.norm"),
    ],
)
def test_bad_mlp_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MLP(**kwargs)


def test_dropout_and_batchnorm_follow_train_and_eval_mode():
    torch.manual_seed(0)
    mlp = MLP(hidden_sizes=[64], dropout=0.5)
    x = torch.rand(8, 1, 28, 28)
    mlp.train()
    assert not torch.equal(mlp(x), mlp(x))  # dropout draws a new mask per call
    mlp.eval()
    assert torch.equal(mlp(x), mlp(x))  # eval: no dropout, BatchNorm uses its running averages
    single = mlp(x[:1])  # and so a single image works in eval mode (batch statistics of one image would not)
    assert torch.allclose(single, mlp(x)[:1], atol=1e-6)
