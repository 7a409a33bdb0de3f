"""models/layers.py: the cheap dropout behaves exactly like nn.Dropout's definition."""

from __future__ import annotations

import pytest
import torch

from mnist_lightning.models.layers import FastDropout


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_fast_dropout_is_bernoulli_with_inverted_scaling(p):
    torch.manual_seed(0)
    dropout = FastDropout(p)
    x = torch.ones(500, 999)  # an odd size: the mask is cut from whole 64-bit draws
    y = dropout(x)
    assert (y == 0).float().mean().item() == pytest.approx(p, abs=0.005)
    assert y.unique().tolist() == [0.0, pytest.approx(1 / (1 - p))]
    assert y.mean().item() == pytest.approx(1.0, abs=0.01)  # expected activation unchanged
    assert not torch.equal(dropout(x), y)  # a fresh mask every call
    x.requires_grad_(True)
    dropout(x).sum().backward()
    assert ((x.grad == 0) | torch.isclose(x.grad, torch.tensor(1 / (1 - p)))).all()
    assert torch.equal(dropout.eval()(x), x)
