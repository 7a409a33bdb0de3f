"""realworld/photographs.py: an MNIST digit as a phone photo. The digit lies where and as large as the Scene says,
a seed gives the same photo, each canvas is what it claims, and the camera's effects change what they should."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image

from mnist_lightning.realworld.photographs import Scene, photograph

FRAME = (120, 160)  # small frames keep the tests fast; the geometry does not depend on the size


@pytest.fixture(scope="module")
def digits(test_split):
    return test_split[0][:24]


def _darkness(image: Image.Image) -> np.ndarray:
    """[H, W] float: 255 - grey level (ink is high on a light canvas)."""
    return 255 - np.asarray(image.convert("L"), np.float64)


def test_a_seed_gives_the_same_photo_and_another_seed_another(digits):
    scene = Scene.random(np.random.default_rng(5), frame=FRAME)
    first, again = (photograph(digits[0], scene, np.random.default_rng(7)) for _ in range(2))
    other = photograph(digits[0], scene, np.random.default_rng(8))
    assert np.array_equal(np.asarray(first), np.asarray(again))
    assert not np.array_equal(np.asarray(first), np.asarray(other))
    scenes = [Scene.random(np.random.default_rng(seed), frame=FRAME) for seed in (1, 1, 2)]
    assert scenes[0] == scenes[1] != scenes[2]


@pytest.mark.parametrize("stroke", [0.5, 1.0, 1.4])
def test_the_digit_lies_where_the_scene_says_and_as_tall(digits, stroke):
    """On a clean white canvas, straight on: the ink's centre of mass is at scene.centre (within 6 % of the
    digit's height: a pen's even ink weighs a stroke differently from MNIST's grey levels), and the ink's rows
    span digit_height of the frame (within 15 %: a thinner pen also ends its strokes sooner)."""
    height, width = frame = (240, 320)
    for k, digit in enumerate(digits[:12]):
        centre = (0.3 + 0.2 * (k % 3), 0.3 + 0.1 * (k % 5))
        scene = Scene(frame=frame, digit_height=0.3 + 0.05 * (k % 4), centre=centre, stroke=stroke, canvas="white")
        dark = _darkness(photograph(digit, scene, np.random.default_rng(k)))
        rows, cols = np.indices(dark.shape) + 0.5
        found = ((dark * rows).sum() / dark.sum(), (dark * cols).sum() / dark.sum())
        wanted = (centre[0] * height, centre[1] * width)
        assert np.abs(np.subtract(found, wanted)).max() < 0.06 * scene.digit_height * height, (k, found, wanted)
        inked = np.nonzero((dark > 128).any(axis=1))[0]
        assert abs((inked[-1] + 1 - inked[0]) / height / scene.digit_height - 1) < 0.15, k


def test_the_whole_digit_stays_in_the_frame_however_it_is_turned_and_placed(digits):
    """Asked for the frame's corners and edges, turned +-15 degrees and slanted: the centre moves in just enough."""
    rng = np.random.default_rng(0)
    for k, digit in enumerate(digits):
        scene = Scene(
            frame=FRAME,
            digit_height=rng.uniform(0.3, 0.7),
            centre=tuple(rng.choice([0.0, 0.5, 1.0], 2)),
            rotate_deg=rng.choice([-15.0, 15.0]),
            perspective=rng.uniform(0, 0.2),
            stroke=1.4,
            canvas="white",
        )
        dark = _darkness(photograph(digit, scene, np.random.default_rng(k)))
        assert np.concatenate([dark[0], dark[-1], dark[:, 0], dark[:, -1]]).max() < 40, scene
        assert (dark > 128).sum() > 50, scene  # and it is still there


def test_rotation_turns_the_digit(test_split):
    """A 1 is a near-vertical bar: rolled by 30 degrees its ink's principal axis leans by about 30 degrees,
    counter-clockwise as documented."""
    images, labels = test_split
    one = images[int((labels == 1).nonzero()[0])]
    angles = []
    for roll in (0.0, 30.0):
        dark = _darkness(
            photograph(one, Scene(frame=(160, 160), rotate_deg=roll, canvas="white"), np.random.default_rng(0))
        )
        rows, cols = np.nonzero(dark > 128)
        x, y = cols - cols.mean(), -(rows - rows.mean())  # y up, so counter-clockwise is a positive angle
        angles.append(np.degrees(0.5 * np.arctan2(2 * (x * y).mean(), (x * x).mean() - (y * y).mean())))
    turned = (angles[1] - angles[0] + 90) % 180 - 90  # an axis has no head: angles are modulo 180 degrees
    assert 20 < turned < 40, angles


def test_transparent_canvas_is_rgba_with_opaque_ink_and_nothing_around_it(digits):
    photo = photograph(digits[0], Scene(frame=FRAME, canvas="transparent", rotate_deg=10), np.random.default_rng(0))
    assert photo.mode == "RGBA" and photo.size == FRAME[::-1]
    alpha = np.asarray(photo.getchannel("A"))
    assert alpha.max() >= 250  # the stroke's core is opaque
    assert np.concatenate([alpha[0], alpha[-1], alpha[:, 0], alpha[:, -1]]).max() == 0
    assert 0.6 < (alpha == 0).mean() < 0.99
    rgb = np.asarray(photo.convert("RGB"))
    assert (rgb[alpha == 0] == 0).all()  # (0, 0, 0, 0) around the ink, as a browser's canvas exports it


def test_dark_canvas_has_light_ink_on_a_dark_ground(digits):
    photo = photograph(digits[0], Scene(frame=FRAME, canvas="dark", grain=0.5), np.random.default_rng(0))
    grey = np.asarray(photo.convert("L"), np.float64)
    assert photo.mode == "RGB"
    assert np.median(grey[0]) < 80 and grey.max() > 180


def test_paper_photo_is_rgb_with_ink_darker_than_the_paper_everywhere_lit_unevenly(digits):
    scene = Scene(frame=FRAME, grain=0.8, light_gradient=0.35, shadow=0.4, blur_sigma=1.0)
    photo = photograph(digits[3], scene, np.random.default_rng(1))
    grey = np.asarray(photo.convert("L"), np.float64)
    assert photo.mode == "RGB" and photo.size == FRAME[::-1]
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    assert np.percentile(border, 95) - np.percentile(border, 5) > 30  # uneven light and a shadow
    assert grey.min() < border.min()  # the ink is darker than any paper, even in the shadow
    clean = np.asarray(
        photograph(
            digits[3], dataclasses.replace(scene, grain=0.0, light_gradient=0.0, shadow=0.0), np.random.default_rng(1)
        ).convert("L"),
        np.float64,
    )
    flat = np.concatenate([clean[0], clean[-1], clean[:, 0], clean[:, -1]])
    assert flat.max() - flat.min() <= 2  # without texture, light and noise the paper is one colour


def test_jpeg_quality_changes_the_bytes_and_none_is_lossless(digits):
    base = Scene(frame=FRAME, grain=0.5)
    photos = {
        q: photograph(digits[1], dataclasses.replace(base, jpeg_quality=q), np.random.default_rng(3))
        for q in (None, 30, 95)
    }
    assert photos[30].format == photos[95].format == "JPEG" and photos[None].format is None
    pixels = {q: np.asarray(p, np.float64) for q, p in photos.items()}
    assert not np.array_equal(pixels[30], pixels[95])
    errors = {q: np.abs(pixels[q] - pixels[None]).mean() for q in (30, 95)}
    assert 0 < errors[95] < errors[30]


def test_a_pen_lays_ink_in_proportion_to_its_width(digits):
    """Total ink against MNIST's own (its grey levels above half, upsampled alike): stroke 1 is MNIST's width,
    0.5 about half, 1.4 about 1.4 times (within 25 %, over 8 digits)."""
    side = 224  # 8 photo pixels per MNIST pixel: the digit's 28x28 square fills the frame
    ratios = {0.5: [], 1.0: [], 1.4: []}
    for k, digit in enumerate(digits[:8]):
        own = (np.asarray(Image.fromarray(digit.numpy()).resize((side, side), Image.Resampling.BICUBIC)) > 127).sum()
        rows = np.nonzero(digit.numpy().max(axis=1) > 0.2 * 255)[0]
        for stroke in ratios:
            scene = Scene(frame=(side, side), digit_height=(rows[-1] + 1 - rows[0]) / 28, stroke=stroke, canvas="white")
            ink = _darkness(photograph(digit, scene, np.random.default_rng(k))).sum() / 255
            ratios[stroke].append(ink / own)
    for stroke, found in ratios.items():
        assert abs(np.mean(found) / stroke - 1) < 0.25, (stroke, np.mean(found))


def test_random_scenes_are_typical_phone_photos(digits):
    rng = np.random.default_rng(11)
    scenes = [Scene.random(rng, frame=FRAME) for _ in range(40)]
    assert all(0.08 <= s.digit_height <= 0.6 and abs(s.rotate_deg) <= 15 and s.perspective <= 0.15 for s in scenes)
    assert all(s.canvas == "paper" and 60 <= s.jpeg_quality <= 95 for s in scenes)
    assert 0 < sum(s.shadow > 0 for s in scenes) < 40  # a shadow some of the time
    for scene, digit in zip(scenes[:8], digits):
        photo = photograph(digit, scene, rng)
        assert photo.mode == "RGB" and photo.size == FRAME[::-1] and photo.format == "JPEG"


@pytest.mark.parametrize(
    "change",
    [
        {"digit_height": 0.0},
        {"centre": (1.2, 0.5)},
        {"perspective": 0.5},
        {"canvas": "glass"},
        {"stroke": 3.0},
        {"shadow": 1.0},
        {"jpeg_quality": 0},
        {"canvas": "transparent", "jpeg_quality": 90},
    ],
)
def test_impossible_scenes_are_refused(change):
    with pytest.raises(ValueError, match="Scene"):
        Scene(**change)
