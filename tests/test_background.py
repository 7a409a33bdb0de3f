"""models/background.py: the model's first step takes away grounds wider than a stroke and leaves MNIST alone."""

from __future__ import annotations

import pytest
import torch
from test_classifier import make_classifier

from mnist_lightning.models.background import without_background

WINDOW = 11


@pytest.fixture(scope="module")
def digits(test_split) -> torch.Tensor:
    images, _ = test_split
    return images[:2000, None].float() / 255


def test_mnist_digits_pass_nearly_unchanged(digits):
    change = (without_background(digits, WINDOW) - digits).abs()
    assert float(change.mean()) < 1e-3
    assert float(change.amax()) < 0.25  # no stroke of any of the 2,000 digits is eaten


@pytest.mark.parametrize("ground", ["grey", "fog", "frame"])
def test_a_ground_wider_than_strokes_is_taken_away(digits, ground):
    rows, cols = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    if ground == "grey":  # a raised background, as MNIST-C's brightness
        background = torch.full((28, 28), 0.4)
    elif ground == "fog":  # a smooth, uneven haze
        background = 0.3 + 0.2 * torch.sin(rows / 9) * torch.cos(cols / 8)
    else:  # bright margins 7 columns wide left and right, as MNIST-C's stripe
        background = ((cols < 7) | (cols > 20)).float()
    given = (digits + background).clamp(0, 1)
    assert float((given - digits).abs().mean()) > 0.15  # what the network would have seen without this step
    assert float((without_background(given, WINDOW) - without_background(digits, WINDOW)).abs().mean()) < 0.035


def test_faint_strokes_are_stretched_and_an_empty_picture_stays_empty(digits):
    assert torch.allclose(without_background(0.3 * digits, WINDOW), without_background(digits, WINDOW), atol=1e-5)
    blank = without_background(torch.zeros(2, 1, 28, 28), WINDOW)
    assert torch.equal(blank, torch.zeros_like(blank))


def test_the_classifier_applies_it_before_its_normalization():
    model = make_classifier(background_window=WINDOW).eval()
    x = torch.rand(4, 1, 28, 28)
    assert torch.allclose(model(x), model.backbone((without_background(x, WINDOW) - 0.13) / 0.31))
    model.train()  # training batches are MNIST's digits, on which it is nearly the identity: it is skipped
    torch.manual_seed(0)
    trained_on = model(x)
    torch.manual_seed(0)
    assert torch.allclose(trained_on, model.backbone((x - 0.13) / 0.31))


@pytest.mark.parametrize("window", [-1, 1, 2, 10])
def test_a_window_that_is_not_odd_and_wider_than_a_stroke_is_refused(window):
    with pytest.raises(ValueError, match="background_window must be 0 .off. or an odd number"):
        make_classifier(background_window=window)
