"""realworld/drawings.py: digits written in many people's ways, rendered as the draw-a-digit page's canvas renders
them: every digit and the ways MNIST lacks are there, the PNG is the page's, samples differ by seed and not
otherwise, placements and pens do what they say, and edges are anti-aliased."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image

from mnist_lightning.realworld.drawings import (
    INK,
    PAPER,
    PEN_WIDTHS,
    PLACEMENTS,
    STEP,
    STYLES,
    _calls_covering,
    _stroked,
    draw,
    render,
)

REQUIRED = [
    "7_crossed",
    "7_hooked",
    "7_plain",
    "1_flag_base",
    "1_flag",
    "1_stick",
    "4_open",
    "4_closed",
    "2_looped",
    "2_plain",
    "3_flat_top",
    "3_round",
    "9_straight_tail",
    "9_curved_tail",
    "6_one_stroke",
    "6_circle_and_stem",
    "8_one_stroke",
    "8_two_circles",
    "5_flag",
    "0_oval",
]


def pixels(png: bytes) -> np.ndarray:
    """[H, W, 4] uint8 of a PNG, checked to be one."""
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    return np.asarray(image)


def ink_box(grey: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the pixels that hold any ink, inclusive."""
    rows, cols = np.nonzero(grey < PAPER)
    return rows.min(), rows.max(), cols.min(), cols.max()


def test_every_digit_and_the_ways_mnist_lacks_are_there():
    assert len(STYLES) >= 20
    assert {style.digit for style in STYLES.values()} == set(range(10))
    assert not set(REQUIRED) - set(STYLES)
    for name, style in STYLES.items():
        assert name.split("_")[0] == str(style.digit), name
        for stroke in style.strokes:
            points = np.array(stroke)
            assert len(points) >= 2 and np.isfinite(points).all()
            assert np.linalg.norm(np.diff(points, axis=0), axis=1).max() <= STEP * 1.01, name  # smooth, not typed
            assert points.min() > -0.1 and points.max() < 1.1, name  # in the unit box


def test_the_png_is_the_pages_canvas():
    rgba = pixels(draw(STYLES["7_crossed"], np.random.default_rng(0)))
    assert rgba.shape == (280, 280, 4)
    assert (rgba[..., 3] == 255).all()  # toBlob's canvas: opaque everywhere
    assert (rgba[..., 0] == rgba[..., 1]).all() and (rgba[..., 1] == rgba[..., 2]).all()  # #111 on #fff: greys
    grey = rgba[..., 0]
    border = np.concatenate([grey[:3].ravel(), grey[-3:].ravel(), grey[:, :3].ravel(), grey[:, -3:].ravel()])
    assert (border == PAPER).all() and np.median(grey) == PAPER  # a white page with a digit on it
    assert grey.min() == INK and (grey >= INK).all()  # strokes in #111, nothing darker
    assert (grey == INK).sum() > 2000  # a digit's worth of solid stroke at the page's pen width


def test_samples_repeat_by_seed_and_differ_between_seeds():
    style = STYLES["4_open"]
    first = draw(style, np.random.default_rng(7))
    assert draw(style, np.random.default_rng(7)) == first
    others = [render(style, np.random.default_rng(seed)) for seed in range(8, 12)]
    mine = pixels(first)[..., 0]
    for other in others:
        assert (other != mine).mean() > 0.01  # a different hand, not a shifted copy of one picture
    boxes = {ink_box(other) for other in others}
    assert len(boxes) == len(others)


@pytest.mark.parametrize("placement", list(PLACEMENTS))
def test_the_whole_digit_stays_on_the_canvas(placement):
    for seed, name in enumerate(["8_one_stroke", "1_flag_base", "2_looped", "0_round"]):
        for pen in PEN_WIDTHS:
            grey = render(STYLES[name], np.random.default_rng([seed, 3]), placement, pen)
            top, bottom, left, right = ink_box(grey)
            assert top >= 2 and left >= 2 and bottom <= 277 and right <= 277, (name, pen, ink_box(grey))


def test_placements_size_and_place_the_digit():
    size = 280
    for seed, name in enumerate(STYLES):
        top, bottom, left, right = ink_box(render(STYLES[name], np.random.default_rng(seed), "small_corner"))
        assert bottom - top + 1 <= 0.32 * size, name
        assert (bottom < size / 2 or top >= size / 2) and (right < size / 2 or left >= size / 2), name  # one quadrant
    corners = set()
    for seed in range(12):
        top, _, left, _ = ink_box(render(STYLES["3_round"], np.random.default_rng(seed), "small_corner"))
        corners.add((top < size / 2, left < size / 2))
    assert len(corners) >= 3  # the corner is drawn at random
    heights = {placement: [] for placement in ("centred", "large", "tall_narrow")}
    for placement, found in heights.items():
        for seed in range(4):
            top, bottom, left, right = ink_box(render(STYLES["0_oval"], np.random.default_rng(seed), placement))
            found.append(((bottom - top + 1) / size, (right - left + 1) / (bottom - top + 1)))
    assert all(0.63 <= h <= 0.77 for h, _ in heights["centred"])
    assert all(0.86 <= h <= 0.96 for h, _ in heights["large"])
    assert max(a for _, a in heights["tall_narrow"]) < min(a for _, a in heights["centred"])


def test_a_broader_pen_puts_down_more_ink():
    for name in ("5_flag", "9_curved_tail", "1_stick"):
        areas = [(render(STYLES[name], np.random.default_rng(1), "centred", pen) < PAPER).sum() for pen in PEN_WIDTHS]
        assert areas == sorted(areas) and areas[-1] > 2.5 * areas[0], (name, areas)


def test_edges_are_anti_aliased_and_restroking_darkens_them():
    style, seed = STYLES["8_two_circles"], 5
    page = render(style, np.random.default_rng(seed))
    edge = (page > INK) & (page < PAPER)
    assert edge.sum() > 30 and len(np.unique(page[edge])) > 10  # intermediate greys, many levels of them
    # Every grey pixel lies on a stroke's edge: next to solid ink or to paper.
    padded = np.pad(page, 1, constant_values=PAPER)
    neighbours = np.stack([padded[1 + dy : 281 + dy, 1 + dx : 281 + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)])
    assert ((neighbours == PAPER).any(0) | (neighbours == INK).any(0))[edge].all()
    # The page strokes the whole path again at every move: the same hand painted once has softer edges everywhere.
    once = render(style, np.random.default_rng(seed), restroked=False)
    assert (page <= once).all() and (page < once).sum() > 100
    soft = (once > INK) & (once < PAPER)
    assert soft.sum() > 3 * edge.sum()


def test_strokes_are_round_capped_discs_of_the_right_area():
    """The rasterizer alone: a straight stroke painted once covers its capsule's area, whatever its direction."""
    for angle in (0.0, 0.4, math.pi / 4, 1.2):
        for radius in (4.2, 11.2):
            direction = np.array([math.cos(angle), math.sin(angle)])
            points = np.array([130.3, 130.6]) + np.linspace(-80, 80, 30)[:, None] * direction
            alpha = _stroked(np.minimum(_calls_covering(points, radius, (260, 260)), 1))
            assert alpha.sum() == pytest.approx(2 * radius * 160 + math.pi * radius**2, rel=0.03)
            assert ((alpha > 0) & (alpha < 1)).sum() > 160  # soft edges along both sides


def test_the_pages_pipeline_reads_a_drawing():
    from mnist_lightning.inference.preprocess import preprocess, read_image

    image, notes = read_image(io.BytesIO(draw(STYLES["1_flag_base"], np.random.default_rng(0))))
    assert image.mode == "RGBA" and notes == []
    digit = preprocess(image)
    assert tuple(digit.shape) == (28, 28) and float(digit.max()) > 0.9
    rows = digit.sum(1).nonzero().flatten()
    assert 18 <= int(rows[-1] - rows[0]) + 1 <= 21  # cropped to the ink and scaled to MNIST's 20-pixel box
