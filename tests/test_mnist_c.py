"""realworld/mnist_c.py: the fifteen MNIST-C corruptions, each checked for what it is meant to do to real digits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mnist_lightning.realworld.mnist_c import CORRUPTIONS, PAPER_TEST_ERROR, corrupt

CENTRE = 13.5
SEEDLESS = {"scale", "brightness", "stripe", "canny_edges"}  # the release draws nothing for these


@pytest.fixture(scope="module")
def digits(test_split) -> torch.Tensor:
    images, _ = test_split
    return images[:120]


def _apply(name: str, digits: torch.Tensor, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(clean, corrupted) as float arrays in 0..255."""
    return digits.numpy().astype(np.float64), corrupt(name, digits, seed).numpy().astype(np.float64)


def _correlations(clean: np.ndarray, out: np.ndarray) -> np.ndarray:
    return np.array([np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(clean, out)])


def _moments(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ink centroids [N, 2] and second moments about the picture's centre [N, 2, 2], in (x = column, y = row)."""
    rows, columns = np.mgrid[0:28, 0:28].astype(np.float64)
    offsets = np.stack([columns - CENTRE, rows - CENTRE], axis=-1)  # [28, 28, 2]
    mass = images.sum(axis=(1, 2))
    centroids = np.einsum("nhw,hwi->ni", images, offsets) / mass[:, None] + CENTRE
    second = np.einsum("nhw,hwi,hwj->nij", images, offsets, offsets) / mass[:, None, None]
    return centroids, second


def _moved_moments(second: np.ndarray, ink_map: np.ndarray) -> np.ndarray:
    return np.einsum("ij,njk,lk->nil", ink_map, second, ink_map)


def _relative_error(predicted: np.ndarray, measured: np.ndarray) -> np.ndarray:
    return np.linalg.norm(predicted - measured, axis=(1, 2)) / np.linalg.norm(measured, axis=(1, 2))


# ---------------------------------------------------------------- the API


def test_names_follow_the_paper_and_bad_input_is_refused(digits):
    assert CORRUPTIONS == (
        "shot_noise", "impulse_noise", "glass_blur", "motion_blur", "shear", "scale", "rotate", "brightness",
        "translate", "stripe", "fog", "spatter", "dotted_line", "zigzag", "canny_edges",
    )  # fmt: skip
    assert set(PAPER_TEST_ERROR) <= {*CORRUPTIONS, "clean"}
    assert all(0.0 <= error <= 100.0 for error in PAPER_TEST_ERROR.values())
    with pytest.raises(ValueError, match=r"'snow'.*shot_noise, impulse_noise.*canny_edges"):
        corrupt("snow", digits[:2], seed=0)
    with pytest.raises(ValueError, match="uint8"):
        corrupt("fog", digits[:2].float(), seed=0)


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_form_is_kept_and_draws_are_seeded_and_per_image(name, digits):
    twins = torch.cat([digits[:32], digits[:32]])  # the same digits twice in one batch
    out = corrupt(name, twins, seed=3)
    assert out.dtype == torch.uint8 and out.shape == twins.shape
    assert torch.equal(out, corrupt(name, twins, seed=3))
    assert not torch.equal(out, twins)
    if name in SEEDLESS:
        assert torch.equal(out, corrupt(name, twins, seed=4))
        assert torch.equal(out[:32], out[32:])
    else:
        assert not torch.equal(out, corrupt(name, twins, seed=4))
        # each copy takes its own draw; shear and rotate draw only a direction, so half the pairs agree
        assert sum(not torch.equal(a, b) for a, b in zip(out[:32], out[32:])) >= 8


# ---------------------------------------------------------------- noise and blur


def test_shot_noise_counts_photons_in_thirds(digits):
    clean, out = _apply("shot_noise", digits)
    assert set(np.unique(out)) <= {0.0, 85.0, 170.0, 255.0}  # Poisson(3 v) / 3
    assert (out[clean == 0] == 0).all()  # no light, no photons
    full = clean == 255
    assert (out[full] < 255).mean() == pytest.approx(0.423, abs=0.03)  # P(Poisson(3) < 3)
    assert np.median(_correlations(clean, out)) > 0.8


def test_impulse_noise_flips_a_sixth_of_pixels_to_white_or_black(digits):
    clean, out = _apply("impulse_noise", digits)
    changed = out != clean
    assert set(np.unique(out[changed])) <= {0.0, 255.0}
    assert (out[clean == 0] == 255).mean() == pytest.approx(0.17 / 2, abs=0.01)
    assert (out[clean == 255] == 0).mean() == pytest.approx(0.17 / 2, abs=0.02)


def test_glass_blur_smears_ink_without_losing_it(digits):
    clean, out = _apply("glass_blur", digits)
    assert out.sum() / clean.sum() == pytest.approx(1.0, abs=0.05)  # blur and swaps move ink; uint8 floors a little
    assert (out > 0).sum() > 1.2 * (clean > 0).sum()
    assert out.max(axis=(1, 2)).mean() < clean.max(axis=(1, 2)).mean()
    assert np.median(_correlations(clean, out)) > 0.6


def test_motion_blur_streaks_ink_without_losing_it(digits):
    clean, out = _apply("motion_blur", digits)
    assert out.sum() / clean.sum() == pytest.approx(1.0, abs=0.03)
    assert (out > 0).sum() > 1.3 * (clean > 0).sum()
    assert np.median(_correlations(clean, out)) > 0.5


# ---------------------------------------------------------------- affine: the ink moves as specified


def test_rotate_turns_the_ink_by_23_degrees_either_way(digits):
    clean, out = _apply("rotate", digits)
    _, before = _moments(clean)
    _, after = _moments(out)
    errors = []
    for angle in (0.4, -0.4):
        turn = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])  # ink moves by R(-angle)
        errors.append(_relative_error(_moved_moments(before, turn), after))
    best = np.minimum(*errors)
    assert np.quantile(best, 0.9) < 0.08
    assert 0.25 < (errors[0] < errors[1]).mean() < 0.75  # both directions occur
    assert np.median(_relative_error(before, after)) > 3 * np.median(best)  # and it is not just left as it was


def test_shear_slants_the_ink_and_keeps_the_centre(digits):
    clean, out = _apply("shear", digits)
    _, before = _moments(clean)
    _, after = _moments(out)
    errors = []
    for angle in (0.4, -0.4):
        inverse_map = np.array([[1.0, -np.sin(angle)], [0.0, np.cos(angle)]])
        errors.append(_relative_error(_moved_moments(before, np.linalg.inv(inverse_map)), after))
    best = np.minimum(*errors)
    assert np.quantile(best, 0.9) < 0.08
    assert 0.25 < (errors[0] < errors[1]).mean() < 0.75
    assert np.median(_relative_error(before, after)) > 3 * np.median(best)


def test_scale_shrinks_every_digit_to_seven_tenths_about_the_centre(digits):
    clean, out = _apply("scale", digits)
    centre_before, before = _moments(clean)
    centre_after, after = _moments(out)
    assert np.quantile(_relative_error(0.49 * before, after), 0.9) < 0.08
    # sampling at 1/0.7-pixel steps skips parts of thin strokes, so centroids land within a few tenths
    np.testing.assert_allclose(centre_after - CENTRE, 0.7 * (centre_before - CENTRE), atol=0.35)
    assert out.sum() / clean.sum() == pytest.approx(0.49, abs=0.03)  # the area shrinks by 0.7 squared


def _shifted(images: np.ndarray, right: int, down: int) -> np.ndarray:
    """images moved by whole pixels, black coming in, ink leaving the picture lost."""
    padded = np.pad(images, ((0, 0), (3, 3), (3, 3)))
    return padded[:, 3 - down : 31 - down, 3 - right : 31 - right]


def test_translate_moves_every_digit_three_pixels_on_each_axis(digits):
    clean, out = _apply("translate", digits)
    moves = [(right, down) for right in (-3, 3) for down in (-3, 3)]
    matches = np.stack([(out == _shifted(clean, *move)).all(axis=(1, 2)) for move in moves], axis=1)  # [N, 4]
    assert matches.any(axis=1).all()
    assert (matches.mean(axis=0) > 0.1).all()  # all four directions occur


# ---------------------------------------------------------------- light and weather


def test_brightness_lifts_every_pixel_by_half_the_range(digits):
    clean, out = _apply("brightness", digits)
    np.testing.assert_allclose(out, np.minimum(clean + 127.5, 255.0), atol=0.5)
    assert out.mean() > clean.mean() + 100


def test_stripe_inverts_the_outer_seven_columns_on_each_side(digits):
    clean, out = _apply("stripe", digits)
    np.testing.assert_array_equal(out[:, :, :7], 255 - clean[:, :, :7])
    np.testing.assert_array_equal(out[:, :, 21:], 255 - clean[:, :, 21:])
    np.testing.assert_array_equal(out[:, :, 7:21], clean[:, :, 7:21])


def test_fog_is_a_smooth_haze_the_digit_still_shows_through(digits):
    clean, out = _apply("fog", digits)
    background, ink = clean == 0, clean > 200
    assert out[background].mean() > 40  # the black page is hazed over
    hazed = np.where(background, out, np.nan)
    assert np.nanmean(np.abs(np.diff(hazed, axis=2))) < 8  # neighbouring haze differs little: it is smooth
    ink_above_haze = [o[i].mean() - o[b].mean() for o, i, b in zip(out, ink, background)]
    assert min(ink_above_haze) > 30  # the digit is brighter than the haze around it in every picture
    assert len({round(o[b].mean()) for o, b in zip(out, background)}) > 30  # each picture its own haze


def test_spatter_paints_grey_mud_blobs_and_leaves_the_rest(digits):
    clean, out = _apply("spatter", digits)
    changed = out != clean
    assert 0.02 < changed.mean() < 0.3
    assert ((out[changed] >= 50) & (out[changed] <= 102)).all()  # mud of grey 63 over at least 80 % of a pixel
    neighbours = np.zeros_like(changed)
    neighbours[:, 1:] |= changed[:, :-1]
    neighbours[:, :-1] |= changed[:, 1:]
    neighbours[:, :, 1:] |= changed[:, :, :-1]
    neighbours[:, :, :-1] |= changed[:, :, 1:]
    assert (changed & neighbours).sum() > 0.95 * changed.sum()  # blobs, not specks


# ---------------------------------------------------------------- marks and edges


def test_dotted_line_adds_two_pixel_dashes_every_four_columns(digits):
    clean, out = _apply("dotted_line", digits)
    added = out > clean
    assert (out >= clean).all()
    columns_with_marks = added.any(axis=1)  # [N, 28]
    dash_columns = ((np.arange(28) // 2) % 2 == 1) & (np.arange(28) < 27)
    assert not columns_with_marks[:, ~dash_columns].any()
    assert (columns_with_marks[:, dash_columns].sum(axis=1) >= 6).all()  # a line across, partly hidden by ink
    assert (added.sum(axis=(1, 2)) >= 10).all()


def test_zigzag_adds_a_toothed_stroke_across_the_middle_columns(digits):
    clean, out = _apply("zigzag", digits)
    added = out > clean
    assert (out >= clean).all()
    columns_with_marks = added.any(axis=1)
    assert not columns_with_marks[:, :2].any() and not columns_with_marks[:, 26:].any()
    # a zigzag starting near the top or bottom row may leave the picture partly, as in the release
    assert np.median(columns_with_marks.sum(axis=1)) >= 20 and columns_with_marks.sum(axis=1).min() >= 5
    rows_spanned = [np.ptp(np.nonzero(a)[0]) for a in added]
    assert min(rows_spanned) >= 3  # teeth, not a flat line


def test_canny_edges_outline_the_strokes_with_thin_lines(digits):
    clean, out = _apply("canny_edges", digits)
    assert set(np.unique(out)) <= {0.0, 255.0}
    edges = out > 0
    assert (edges.sum(axis=(1, 2)) > 10).all()
    ink = clean > 127
    padded = np.pad(ink, ((0, 0), (1, 1), (1, 1)))
    window = [padded[:, 1 + dr : 29 + dr, 1 + dc : 29 + dc] for dr in (-1, 0, 1) for dc in (-1, 0, 1)]
    near_ink, near_paper = np.any(window, axis=0), ~np.all(window, axis=0)
    assert (edges & near_ink & near_paper).sum() > 0.95 * edges.sum()  # on the boundary of ink and paper
    blocks = edges[:, :-1, :-1] & edges[:, 1:, :-1] & edges[:, :-1, 1:] & edges[:, 1:, 1:]
    assert blocks.sum() < 0.02 * edges.sum()  # one pixel wide: almost no filled 2 x 2 squares
    assert (edges & np.all(window, axis=0)).sum() < 0.005 * edges.sum()  # hardly ever inside a stroke
