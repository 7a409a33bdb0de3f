"""data/augment.py: batched affine and elastic distortions, checked against torch's and Simard's references, and the
pen-and-picture changes, each checked for doing what it imitates."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from mnist_lightning.data.augment import RandomDistortion


def test_augmentation_is_random_per_image_and_keeps_shape_and_range():
    torch.manual_seed(0)
    digit = torch.zeros(1, 1, 28, 28)
    digit[..., 8:20, 12:16] = 1.0  # a bar, like a "1"
    batch = digit.repeat(64, 1, 1, 1)
    out = RandomDistortion(rotate_deg=15, translate=0.1, scale=(0.9, 1.1))(batch)
    assert out.shape == batch.shape
    assert out.min() >= 0 and out.max() <= 1
    assert len({tuple(img.flatten().round(decimals=4).tolist()) for img in out}) == 64  # all different
    assert out.sum(dim=(1, 2, 3)).mean() == pytest.approx(batch[0].sum().item(), rel=0.15)  # ink is moved, not lost


def test_augmentation_off_by_default_and_identity_when_all_zero():
    assert not RandomDistortion().enabled
    x = torch.rand(4, 1, 28, 28)
    assert torch.allclose(RandomDistortion(rotate_deg=0, translate=0, scale=(1.0, 1.0))(x), x, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rotate_deg": -5},
        {"translate": 1.0},
        {"scale": (1.2, 0.8)},
        {"shear_deg": 90},
        {"elastic_alpha": -1},
        {"elastic_sigma": 0},
        {"aspect": 2},
        {"pen_width": 3},
        {"broken": 1},
        {"faint": -0.1},
        {"blur_sigma": 4},
        {"low_res": 0.95},
        {"speckle": 0.5},
        {"share": 1.5},
    ],
)
def test_bad_augmentation_is_refused(kwargs):
    with pytest.raises(ValueError, match="regularizer.augment"):
        RandomDistortion(**kwargs)


def _bar_digits(n: int) -> torch.Tensor:
    digit = torch.zeros(1, 1, 28, 28)
    digit[..., 6:22, 12:16] = 1.0
    return digit.repeat(n, 1, 1, 1)


def test_elastic_distortion_is_smooth_random_and_local():
    torch.manual_seed(0)
    batch = _bar_digits(32)
    elastic = RandomDistortion(elastic_alpha=8.0, elastic_sigma=4.0)
    out = elastic(batch)
    assert out.shape == batch.shape and out.min() >= 0 and out.max() <= 1
    assert len({tuple(img.flatten().round(decimals=4).tolist()) for img in out}) == 32
    identity = RandomDistortion()._grid(4, 28, 28, "cpu", torch.float32)
    field = (elastic._grid(4, 28, 28, "cpu", torch.float32) - identity) * 14  # [4, 2, 28, 28], in pixels
    assert field.abs().max() < 8.0  # never more than alpha pixels
    neighbours = (field[..., 1:] - field[..., :-1]).abs().mean()
    assert neighbours < field.abs().mean() / 3  # smooth: neighbouring pixels move together


def test_shear_slants_a_vertical_bar():
    sheared = RandomDistortion(shear_deg=30)._affine(1000, "cpu", torch.float32)  # rows: coefficients of x, y, 1
    slope = sheared[:, 1, 0] / sheared[:, 1, 1]  # input x moves with output y: a slant
    assert slope.abs().max() <= torch.tan(torch.tensor(0.5236)) + 1e-4 and slope.std() > 0.2


def test_elastic_field_matches_simards_blurred_noise():
    """The cheap field has the size and smoothness of the original: per-pixel noise, Gaussian blur, times alpha."""
    torch.manual_seed(0)
    sigma, alpha = 4.0, 34.0
    grid = RandomDistortion(elastic_alpha=alpha, elastic_sigma=sigma)._grid(2000, 28, 28, "cpu", torch.float32)
    ours = (grid - RandomDistortion()._grid(1, 28, 28, "cpu", torch.float32))[:, 0] * 14  # x displacement, pixels
    radius = math.ceil(3 * sigma)
    offsets = torch.arange(-radius, radius + 1.0)
    kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
    kernel /= kernel.sum()
    noise = torch.rand(2000, 1, 28, 28) * 2 - 1
    blurred = F.conv2d(noise, kernel.view(1, 1, 1, -1), padding=(0, radius))
    reference = F.conv2d(blurred, kernel.view(1, 1, -1, 1), padding=(radius, 0))[:, 0] * alpha

    def correlation(field, lag):
        inner = field[:, 8:20, 8:20]
        return torch.corrcoef(torch.stack([inner[:, :, :-lag].flatten(), inner[:, :, lag:].flatten()]))[0, 1].item()

    assert ours[:, 8:20, 8:20].std() == pytest.approx(reference[:, 8:20, 8:20].std().item(), rel=0.08)
    assert ours[:, 0].std() == pytest.approx(reference[:, 0].std().item(), rel=0.08)  # edges too
    for lag in (1, 4, 8):
        assert correlation(ours, lag) == pytest.approx(correlation(reference, lag), abs=0.05)


def test_affine_path_equals_torchs_affine_grid():
    distortion = RandomDistortion(rotate_deg=20, shear_deg=10, translate=0.1, scale=(0.8, 1.2))
    images = torch.rand(8, 1, 28, 28)
    torch.manual_seed(3)
    ours = distortion(images)
    torch.manual_seed(3)
    theta = distortion._affine(8, "cpu", torch.float32).transpose(1, 2)  # the same draws, as [8, 2, 3]
    reference = F.grid_sample(images, F.affine_grid(theta, [8, 1, 28, 28], align_corners=False), align_corners=False)
    assert torch.allclose(ours, reference, atol=1e-5)


@pytest.fixture(scope="module")
def digits(test_split) -> torch.Tensor:
    return test_split[0][:256].unsqueeze(1).float() / 255


def _ink_area(x: torch.Tensor) -> torch.Tensor:
    return (x > 0.5).float().sum(dim=(1, 2, 3))


def test_pen_width_thickens_and_thins_strokes(digits):
    torch.manual_seed(0)
    change = torch.linspace(-1.5, 1.5, len(digits)).view(-1, 1, 1, 1)
    from mnist_lightning.data.augment import _pen_width

    out = _pen_width(digits, change, two_steps=True)
    ratio = _ink_area(out) / _ink_area(digits)
    thinner, thicker = ratio[change.flatten() < -0.5], ratio[change.flatten() > 0.5]
    assert thicker.min() > 1.3 and thinner.max() < 0.95  # a marker and a fine pen
    assert (out.amax(dim=(1, 2, 3)) > 0.95).all()  # thinner, not fainter: the strokes keep their full ink


def test_share_picks_that_part_of_the_batch_every_image_alike(digits):
    torch.manual_seed(0)
    distortion = RandomDistortion(speckle=0.05, share=0.25)
    counts = torch.zeros(len(digits))
    for _ in range(400):
        changed = (distortion(digits) != digits).flatten(1).any(dim=1)
        assert int(changed.sum()) == 64  # a quarter of 256
        counts += changed
    assert counts.min() > 0.6 * 100 and counts.max() < 1.4 * 100  # ~100 each: the batch's ends as often as its middle


def test_broken_strokes_lose_about_that_share_of_their_ink(digits):
    torch.manual_seed(0)
    out = RandomDistortion(broken=0.3, share=1.0)(digits)
    kept = out.sum() / digits.sum()
    assert 0.55 < kept < 0.85
    assert ((out > 0) <= (digits > 0)).all()  # gaps only: no ink appears


def test_faint_strokes_are_lighter_in_places_but_keep_their_shape(digits):
    torch.manual_seed(0)
    out = RandomDistortion(faint=0.8, share=1.0)(digits)
    assert torch.equal(out > 0, digits > 0)
    assert 0.45 < out.sum() / digits.sum() < 0.9


def test_blur_and_low_resolution_spread_ink_without_losing_it(digits):
    torch.manual_seed(0)
    for knob in ({"blur_sigma": 2.0}, {"low_res": 0.6}):
        out = RandomDistortion(**knob, share=1.0)(digits)
        assert out.sum() / digits.sum() == pytest.approx(1.0, abs=0.05), knob  # nothing lost (the frame has margin)
        assert (out > 0.02).sum() > 1.15 * (digits > 0.02).sum(), knob  # softer edges: more pixels hold some ink


def test_speckle_sprinkles_that_share_of_pixels(digits):
    torch.manual_seed(0)
    out = RandomDistortion(speckle=0.02, share=1.0)(digits)
    new_ink = ((out > 0.05) & (digits == 0)).float().mean() / (digits == 0).float().mean()
    assert new_ink == pytest.approx(0.02 * 0.95, rel=0.15)  # a speck is random brightness: 95 % are above 0.05


def test_aspect_makes_digits_wider_and_narrower():
    bar = torch.zeros(2000, 1, 28, 28)
    bar[..., 8:20, 8:20] = 1.0  # a square: its width over its height is the aspect drawn
    out = RandomDistortion(aspect=0.3)(bar)
    width, height = (out > 0.5).any(dim=2).sum(dim=(1, 2)).float(), (out > 0.5).any(dim=3).sum(dim=(1, 2)).float()
    ratio = width / height
    assert ratio.min() < 0.85 and ratio.max() > 1.2 and ratio.max() < 1.4 and (height == 12).float().mean() > 0.9
