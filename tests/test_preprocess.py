"""inference/preprocess.py: pictures of MNIST test digits, changed the way real pictures differ, come out as the
model expects them; files that cannot be a digit are refused with a reason."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from helpers import CHANGES, picture
from mnist_lightning.inference.checkpoint import load_classifier
from mnist_lightning.inference.preprocess import MAX_PIXELS, DigitImageError, near_mask, preprocess, read_image

N_DIGITS = 300


def test_a_digit_in_mnist_form_passes_nearly_unchanged(test_split):
    images = test_split[0][:N_DIGITS]
    out = torch.stack([preprocess(picture(digit)) for digit in images])
    difference = (out - images.float() / 255).abs()
    assert difference.mean() < 0.01
    # Most are unchanged to within 2 grey levels; a few move by one pixel where their centre of mass sits at x.5.
    assert (difference.amax(dim=(1, 2)) < 0.1).float().mean() > 0.95


@pytest.fixture(scope="module")
def trained_model(trained_checkpoint):
    return load_classifier(trained_checkpoint)


@pytest.mark.parametrize("change", CHANGES)
def test_changed_pictures_are_read_like_the_originals(trained_model, test_split, change):
    images = test_split[0][:N_DIGITS]
    originals = torch.stack([preprocess(picture(digit)) for digit in images])
    changed = torch.stack([preprocess(CHANGES[change](picture(digit))) for digit in images])
    with torch.no_grad():
        agree = (trained_model(originals[:, None]).argmax(1) == trained_model(changed[:, None]).argmax(1)).float().mean()
    assert agree >= 0.97, f"{change}: {agree:.1%} predicted like the original"


def test_a_blank_picture_has_no_digit():
    for blank in (Image.new("L", (64, 64), 255), Image.new("RGB", (50, 80), (12, 200, 40)), Image.new("RGBA", (30, 30))):
        with pytest.raises(DigitImageError, match="no digit found"):
            preprocess(blank)


def test_files_that_are_not_pictures_are_refused(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(DigitImageError, match="not an image"):
        read_image(text)
    whole = tmp_path / "digit.png"
    Image.new("L", (64, 64), 128).save(whole)
    cut = tmp_path / "cut.png"
    cut.write_bytes(whole.read_bytes()[:60])
    with pytest.raises(DigitImageError):
        read_image(cut)


def test_an_enormous_picture_is_refused_before_it_is_decoded(tmp_path):
    huge = tmp_path / "huge.png"
    Image.new("1", (8000, MAX_PIXELS // 8000 + 1)).save(huge)  # compresses to a few kB, decodes to 40 MP
    with pytest.raises(DigitImageError, match="scale the picture down"):
        read_image(huge)


def test_an_animated_gif_gives_its_first_frame_and_says_so(tmp_path, test_split):
    frames = [picture(test_split[0][i]) for i in range(3)]
    gif = tmp_path / "digits.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:])
    image, notes = read_image(gif)
    assert notes == ["3 frames: the first one is used"]
    assert torch.allclose(preprocess(image), preprocess(frames[0]), atol=0.02)


@pytest.mark.parametrize("reach", [1, 3, 18])
def test_near_mask_is_a_square_dilation(reach):
    mask = torch.rand(61, 47, generator=torch.Generator().manual_seed(reach)) > 0.995
    dilated = torch.nn.functional.max_pool2d(mask[None, None].float(), 2 * reach + 1, stride=1, padding=reach)[0, 0] > 0
    assert torch.equal(near_mask(mask, reach), dilated) and mask.any()
