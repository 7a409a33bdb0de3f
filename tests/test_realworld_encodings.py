"""realworld/encodings.py: every file opens with PIL, holds the mode and container it claims, and shows the digit
upright once its orientation tag is honoured (stored turned where the tag says so)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageOps

from mnist_lightning.realworld.encodings import ENCODINGS, ORIENTATION

SIXTEEN_BIT = {"I;16", "I;16B", "I;16L", "I"}  # what Pillow versions have called a 16-bit greyscale file
# name -> (modes accepted, orientation tag, frames)
EXPECTED = {
    "jpeg_exif_orientation_6": ({"RGB"}, 6, 1),
    "jpeg_exif_orientation_3": ({"RGB"}, 3, 1),
    "jpeg_exif_orientation_8": ({"RGB"}, 8, 1),
    "jpeg_exif_orientation_2": ({"RGB"}, 2, 1),
    "jpeg_exif_orientation_5": ({"RGB"}, 5, 1),
    "png_exif_orientation_6": ({"RGB"}, 6, 1),
    "webp_exif_orientation_6": ({"RGB"}, 6, 1),
    "tiff_orientation_8": ({"RGB"}, 8, 1),
    "png_grey": ({"L"}, None, 1),
    "png_rgb": ({"RGB"}, None, 1),
    "png_rgba_opaque": ({"RGBA"}, None, 1),
    "png_rgba_transparent": ({"RGBA"}, None, 1),
    "png_grey_alpha": ({"LA"}, None, 1),
    "png_16bit_grey": (SIXTEEN_BIT, None, 1),
    "tiff_16bit_grey": (SIXTEEN_BIT, None, 1),
    "tiff_32bit_int": ({"I"}, None, 1),
    "tiff_float_unit": ({"F"}, None, 1),
    "tiff_float_255": ({"F"}, None, 1),
    "jpeg_cmyk": ({"CMYK"}, None, 1),
    "tiff_cmyk": ({"CMYK"}, None, 1),
    "png_palette": ({"P"}, None, 1),
    "png_palette_transparent": ({"P"}, None, 1),
    "png_1bit": ({"1"}, None, 1),
    "tiff_1bit_g4": ({"1"}, None, 1),
    "bmp": ({"RGB"}, None, 1),
    "bmp_grey": ({"L", "P"}, None, 1),
    "gif": ({"P"}, None, 1),
    "gif_two_frames": ({"P", "RGB"}, None, 2),
    "tiff_lzw": ({"RGB"}, None, 1),
    "tiff_two_pages": ({"L"}, None, 2),
    "jpeg_grey": ({"L"}, None, 1),
    "jpeg_progressive": ({"RGB"}, None, 1),
    "webp": ({"RGB"}, None, 1),
    "webp_lossless_transparent": ({"RGBA"}, None, 1),
    "pgm": ({"L"}, None, 1),
    "avif": ({"RGB"}, None, 1),
}
FORMATS = {
    "jpeg": "JPEG",
    "png": "PNG",
    "tiff": "TIFF",
    "webp": "WEBP",
    "bmp": "BMP",
    "gif": "GIF",
    "pgm": "PPM",
    "avif": "AVIF",
}
LOSSY_OR_THRESHOLDED = ("jpeg", "webp", "avif", "1bit")


@pytest.fixture(scope="module")
def pictures(test_split):
    """Clean pictures of digits as the encoders take them: MNIST inverted (dark ink on white), upscaled 4x, one
    cropped to 112 x 84 so that a turn by 90 degrees shows in the size."""
    upright = [
        Image.fromarray(255 - digit.numpy()).resize((112, 112), Image.Resampling.BICUBIC) for digit in test_split[0][:3]
    ]
    return upright + [upright[0].crop((14, 0, 98, 112))]


def _decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _levels(image: Image.Image) -> np.ndarray:
    """[H, W] float, 0 (the darkest ink) to 1 (the paper): the picture's grey levels on white paper, whatever its
    mode. Integer modes are read as 16-bit, float modes by their range; transparency is laid on white; coloured
    ink's grey is stretched to black."""
    if image.mode in SIXTEEN_BIT:
        grey = np.asarray(image, np.float64) / 65535
    elif image.mode == "F":
        grey = np.asarray(image, np.float64)
        grey = grey / (1.0 if grey.max() <= 1 else 255.0)
    else:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", image.size, "white")
        grey = np.asarray(Image.alpha_composite(white, rgba).convert("L"), np.float64) / 255
    return (grey - grey.min()) / max(grey.max() - grey.min(), 1e-9)


def test_every_encoding_is_expected_here():
    assert set(ENCODINGS) <= set(EXPECTED), set(ENCODINGS) - set(EXPECTED)
    assert {name for name in EXPECTED if name != "avif"} <= set(ENCODINGS)  # AVIF only where Pillow has libavif


@pytest.mark.parametrize("name", sorted(ENCODINGS))
def test_each_file_opens_in_its_format_and_mode_with_its_tag(pictures, name):
    modes, tag, frames = EXPECTED[name]
    for picture in pictures:
        image = Image.open(io.BytesIO(ENCODINGS[name](picture)))
        assert image.format == FORMATS[name.split("_")[0]]
        assert image.mode in modes, image.mode
        assert image.getexif().get(ORIENTATION) == tag
        assert getattr(image, "n_frames", 1) == frames


@pytest.mark.parametrize("name", sorted(ENCODINGS))
def test_each_file_shows_the_upright_picture_once_its_tag_is_honoured(pictures, name):
    tolerance = 0.06 if any(word in name for word in LOSSY_OR_THRESHOLDED) else 0.02
    for picture in pictures:
        shown = ImageOps.exif_transpose(_decoded(ENCODINGS[name](picture)))
        assert shown.size == picture.size
        assert np.abs(_levels(shown) - _levels(picture)).mean() < tolerance


@pytest.mark.parametrize("name", [name for name, (_, tag, _) in EXPECTED.items() if tag and name in ENCODINGS])
def test_tagged_files_store_the_pixels_turned(pictures, name):
    """Stored = the upright picture under the inverse of what the tag says to apply: a reader that ignores the
    tag sees the digit turned or mirrored. (Pillow turns a TIFF itself as it loads it.)"""
    picture = pictures[-1]  # 84 wide, 112 tall
    stored = _decoded(ENCODINGS[name](picture))
    if name.startswith("tiff"):
        assert stored.size == picture.size and ORIENTATION not in stored.getexif()  # turned once, not twice
        return
    tag = EXPECTED[name][1]
    assert stored.size == (picture.size[::-1] if tag in (5, 6, 7, 8) else picture.size)
    if stored.size == picture.size:
        assert np.abs(_levels(stored) - _levels(picture)).mean() > 0.1


def test_deep_and_float_files_use_their_whole_range(pictures):
    values = {
        name: np.asarray(_decoded(ENCODINGS[name](pictures[0])), np.float64)
        for name in ("png_16bit_grey", "tiff_16bit_grey", "tiff_32bit_int", "tiff_float_unit", "tiff_float_255")
    }
    for name in ("png_16bit_grey", "tiff_16bit_grey", "tiff_32bit_int"):
        assert values[name].max() == 65535 and values[name].min() < 256 * 10, name  # white is 65535, not 255
    assert 0.99 < values["tiff_float_unit"].max() <= 1.0
    assert 254 < values["tiff_float_255"].max() <= 255


def test_transparent_files_hide_the_paper_and_keep_the_ink(pictures):
    for name in ("png_rgba_transparent", "png_grey_alpha", "png_palette_transparent", "webp_lossless_transparent"):
        image = _decoded(ENCODINGS[name](pictures[0]))
        alpha = np.asarray(image.convert("RGBA").getchannel("A"))
        assert alpha[0, 0] == 0 and alpha.max() == 255, name
        assert 0.5 < (alpha == 0).mean() < 0.95, name
    palette = _decoded(ENCODINGS["png_palette_transparent"](pictures[0]))
    assert isinstance(palette.info["transparency"], int)  # one transparent palette entry, GIF style
    grey_alpha = _decoded(ENCODINGS["png_grey_alpha"](pictures[0]))
    assert np.asarray(grey_alpha.getchannel("L")).max() == 0  # black under the transparent pixels: alpha matters


def test_containers_carry_what_their_writers_put_in(pictures):
    picture = pictures[0]
    cmyk = np.asarray(_decoded(ENCODINGS["jpeg_cmyk"](picture)), np.float64)
    assert cmyk[..., 3].max() > 200 and cmyk[..., 3].max() > cmyk[..., :3].max()  # a rich black: mostly K
    assert set(np.unique(np.asarray(_decoded(ENCODINGS["png_1bit"](picture)).convert("L")))) == {0, 255}
    assert Image.open(io.BytesIO(ENCODINGS["tiff_lzw"](picture))).info["compression"] == "tiff_lzw"
    assert Image.open(io.BytesIO(ENCODINGS["tiff_1bit_g4"](picture))).info["compression"] == "group4"
    assert Image.open(io.BytesIO(ENCODINGS["jpeg_progressive"](picture))).info.get("progressive")
    for name in ("gif_two_frames", "tiff_two_pages"):
        image = Image.open(io.BytesIO(ENCODINGS[name](picture)))
        image.seek(1)
        second = np.asarray(image.convert("L"))
        assert second.min() > 200, name  # the second frame is blank: the digit is in the first one only
