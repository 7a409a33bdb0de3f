"""A picture of a digit stored the way devices and editors store files: the modes, bit depths, containers and
orientation tags that the project's reader (mnist_lightning/inference/preprocess.py) meets in users' files.

Each ENCODINGS entry takes a clean picture of a digit (an "L" image, dark ink on white, e.g. an MNIST digit inverted
and upscaled 4x to 112 x 112) and returns the bytes of a file as some device or editor writes it; PIL.Image.open
reads every one. Where a file carries an EXIF orientation, its pixels are stored turned the other way (the upright
picture under the inverse of what the tag says to apply), as a phone stores a portrait photo: a viewer that honours
the tag (PIL.ImageOps.exif_transpose) shows the digit upright, one that ignores it shows it on its side or mirrored.
Where a file has room for colour or transparency, the ink is coloured or the ground transparent, as such files are.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from PIL import Image, features

ORIENTATION = 0x0112  # the EXIF (and TIFF) tag
_MAKE, _MODEL, _SOFTWARE = 0x010F, 0x0110, 0x0131
_T = Image.Transpose
# What a viewer applies to the stored pixels for each orientation tag (as PIL.ImageOps.exif_transpose does).
VIEWER_TRANSPOSE = {
    2: _T.FLIP_LEFT_RIGHT,
    3: _T.ROTATE_180,
    4: _T.FLIP_TOP_BOTTOM,
    5: _T.TRANSPOSE,
    6: _T.ROTATE_270,
    7: _T.TRANSVERSE,
    8: _T.ROTATE_90,
}
_INVERSE = {_T.ROTATE_90: _T.ROTATE_270, _T.ROTATE_270: _T.ROTATE_90}  # every other one undoes itself
BLUE_INK = (30, 60, 170)  # a ballpoint's blue, where the file holds colour


def _save(image: Image.Image, format: str, **params) -> bytes:
    """The bytes of `image` saved as `format` with Pillow's `params`."""
    buffer = io.BytesIO()
    image.save(buffer, format=format, **params)
    return buffer.getvalue()


def _ink(image: Image.Image) -> np.ndarray:
    """[H, W] float32: the amount of ink, 0 (white paper) to 1 (black)."""
    return 1 - np.asarray(image.convert("L"), np.float32) / 255


def _coloured(image: Image.Image, ink_rgb: tuple[int, int, int] = BLUE_INK) -> Image.Image:
    """RGB: the digit in `ink_rgb` on white paper, mixed by the amount of ink."""
    ink = _ink(image)[..., None]
    rgb = 255 * (1 - ink) + np.array(ink_rgb, np.float32) * ink
    return Image.fromarray(np.clip(rgb + 0.5, 0, 255).astype(np.uint8))


def _on_transparent(image: Image.Image, ink_rgb: tuple[int, int, int] = BLUE_INK) -> Image.Image:
    """RGBA: ink of `ink_rgb` with alpha = amount of ink; the ground (0, 0, 0, 0), as a browser's canvas writes it."""
    alpha = np.clip(_ink(image) * 255 + 0.5, 0, 255).astype(np.uint8)
    rgba = np.zeros((*alpha.shape, 4), np.uint8)
    rgba[alpha > 0, :3] = ink_rgb
    rgba[..., 3] = alpha
    return Image.fromarray(rgba)


def _grey_alpha(image: Image.Image) -> Image.Image:
    """LA: black everywhere, alpha = amount of ink (an editor that does not keep the colour of transparent pixels
    writes black under them: a reader that drops alpha sees a black square)."""
    alpha = Image.fromarray(np.clip(_ink(image) * 255 + 0.5, 0, 255).astype(np.uint8))
    return Image.merge("LA", (Image.new("L", image.size, 0), alpha))


def _scaled(image: Image.Image, top: float, dtype) -> Image.Image:
    """The grey levels scaled from 0-255 to 0-`top` in `dtype` (a 16-bit scan, a float image)."""
    values = np.asarray(image.convert("L"), np.float64) * (top / 255)
    if np.issubdtype(dtype, np.integer):
        values = np.round(values)
    return Image.fromarray(values.astype(dtype))


def _sixteen_bit(image: Image.Image) -> Image.Image:
    """I;16: the grey levels over the full 0-65535 range (x 257), as a scanner at 16 bits writes them."""
    values = np.asarray(image.convert("L"), np.uint16) * 257
    return Image.frombytes("I;16", image.size, values.astype("<u2").tobytes())


def _cmyk(image: Image.Image) -> Image.Image:
    """CMYK as a print workflow separates grey ink: a rich black, mostly K with some C, M and Y under it."""
    ink = _ink(image)
    planes = [np.clip(share * ink * 255 + 0.5, 0, 255).astype(np.uint8) for share in (0.6, 0.5, 0.5, 0.9)]
    return Image.merge("CMYK", [Image.fromarray(plane) for plane in planes])


def _palette(image: Image.Image, colours: int = 16) -> Image.Image:
    """P: the blue-ink version reduced to an adaptive palette of `colours`, as a PNG optimiser does."""
    return _coloured(image).quantize(colors=colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)


def _palette_transparent(image: Image.Image) -> bytes:
    """PNG of the palette image whose most common entry (the paper) is declared transparent: one transparent
    index, GIF style, so the anti-aliased edge keeps its halo of light blue."""
    indexed = _palette(image)
    ground = int(np.bincount(np.asarray(indexed).ravel()).argmax())
    return _save(indexed, "PNG", transparency=ground)


def _line_art(image: Image.Image) -> Image.Image:
    """1: black or white, thresholded at half (no dithering), as a scanner in line-art mode or a fax."""
    return image.convert("L").convert("1", dither=Image.Dither.NONE)


def _with_blank(image: Image.Image, format: str, **params) -> bytes:
    """Two frames or pages: the digit, then a blank one (a reader must take the first)."""
    blank = Image.new(image.mode, image.size, "white")
    return _save(image, format, save_all=True, append_images=[blank], **params)


def _exif(tag: int, make: str = "Apple", model: str = "iPhone 13") -> Image.Exif:
    """EXIF with an orientation tag and the camera's make and model, as a phone writes it."""
    exif = Image.Exif()
    exif[_MAKE], exif[_MODEL], exif[_SOFTWARE], exif[ORIENTATION] = make, model, "17.5", tag
    return exif


def _stored(upright: Image.Image, tag: int) -> Image.Image:
    """The pixels a file with orientation `tag` stores so that a viewer honouring the tag shows `upright`."""
    transpose = VIEWER_TRANSPOSE[tag]
    return upright.transpose(_INVERSE.get(transpose, transpose))


def _oriented(format: str, tag: int, **params) -> Callable[[Image.Image], bytes]:
    """An encoder: the digit as a colour photo stored turned for orientation `tag`, the tag in its EXIF."""
    return lambda image: _save(_stored(image.convert("RGB"), tag), format, exif=_exif(tag), **params)


ENCODINGS: dict[str, Callable[[Image.Image], bytes]] = {
    # --- orientation tags: the pixels stored turned, the tag saying how to show them ---
    # a phone's portrait photo (iPhone, Android camera apps): sensor landscape, tag 6 "rotate 90 clockwise"
    "jpeg_exif_orientation_6": _oriented("JPEG", 6, quality=90),
    # a phone held upside down
    "jpeg_exif_orientation_3": _oriented("JPEG", 3, quality=90),
    # a phone in portrait turned the other way (tag 8 "rotate 90 counter-clockwise")
    "jpeg_exif_orientation_8": _oriented("JPEG", 8, quality=90),
    # a front camera's selfie kept mirrored (some Android camera apps): tag 2 "mirror left-right"
    "jpeg_exif_orientation_2": _oriented("JPEG", 2, quality=90),
    # a mirrored portrait selfie: tag 5 "transpose" (mirrored and turned)
    "jpeg_exif_orientation_5": _oriented("JPEG", 5, quality=90),
    # a photo exported to PNG by an editor that keeps the camera's EXIF (an eXIf chunk: ImageMagick, Pillow, GIMP)
    "png_exif_orientation_6": _oriented("PNG", 6),
    # a phone photo turned into WebP by a messaging app or a web uploader that keeps EXIF
    "webp_exif_orientation_6": _oriented("WEBP", 6, quality=90),
    # a camera or a document scanner writing TIFF with its Orientation tag
    "tiff_orientation_8": _oriented("TIFF", 8),
    # --- modes and bit depths ---
    # a scanner's greyscale mode, GIMP's greyscale PNG export
    "png_grey": lambda image: _save(image.convert("L"), "PNG"),
    # a screenshot (Windows Snipping Tool, most Android phones): plain RGB
    "png_rgb": lambda image: _save(_coloured(image), "PNG"),
    # a macOS screenshot: RGBA, every pixel opaque
    "png_rgba_opaque": lambda image: _save(_coloured(image).convert("RGBA"), "PNG"),
    # a drawing app or a browser's canvas.toDataURL(): ink on a transparent ground, (0, 0, 0, 0) around it
    "png_rgba_transparent": lambda image: _save(_on_transparent(image), "PNG"),
    # GIMP's greyscale export of a layer drawn on transparency: LA, black under the transparent pixels
    "png_grey_alpha": lambda image: _save(_grey_alpha(image), "PNG"),
    # a flatbed scanner at 16 bits (VueScan, SANE, Epson Scan): 16-bit greyscale over 0-65535
    "png_16bit_grey": lambda image: _save(_sixteen_bit(image), "PNG"),
    # a microscope's or a scientific camera's 16-bit greyscale TIFF
    "tiff_16bit_grey": lambda image: _save(_sixteen_bit(image), "TIFF"),
    # ImageJ or astronomy software saving a 16-bit capture as 32-bit integers
    "tiff_32bit_int": lambda image: _save(_scaled(image, 65535, np.int32), "TIFF"),
    # scikit-image, ImageJ or MATLAB saving a float image with values 0-1
    "tiff_float_unit": lambda image: _save(_scaled(image, 1.0, np.float32), "TIFF"),
    # numpy/OpenCV float32 arrays written by tifffile, values 0-255
    "tiff_float_255": lambda image: _save(_scaled(image, 255.0, np.float32), "TIFF"),
    # Photoshop after Image > Mode > CMYK, saved as JPEG for a print shop
    "jpeg_cmyk": lambda image: _save(_cmyk(image), "JPEG", quality=90),
    # InDesign's or Photoshop's print-ready CMYK TIFF
    "tiff_cmyk": lambda image: _save(_cmyk(image), "TIFF"),
    # pngquant, TinyPNG or "Save for Web" 8-bit PNG: an adaptive palette of the blue-ink picture
    "png_palette": lambda image: _save(_palette(image), "PNG"),
    # Paint.NET's or an old web graphic's 8-bit PNG with one transparent palette entry (the paper)
    "png_palette_transparent": _palette_transparent,
    # a fax, or a scanner in line-art (black and white) mode: 1 bit per pixel
    "png_1bit": lambda image: _save(_line_art(image), "PNG"),
    # a fax server's TIFF: 1 bit, CCITT Group 4 compression
    "tiff_1bit_g4": lambda image: _save(_line_art(image), "TIFF", compression="group4"),
    # --- containers ---
    # Windows Paint's default: 24-bit BMP
    "bmp": lambda image: _save(_coloured(image), "BMP"),
    # OpenCV's imwrite of a greyscale image as BMP: 8 bits with a grey palette
    "bmp_grey": lambda image: _save(image.convert("L"), "BMP"),
    # a GIF from an old web page: 256-colour palette
    "gif": lambda image: _save(_palette(image, 64), "GIF"),
    # a GIF maker or a screen recorder: two frames, the digit then a blank one
    "gif_two_frames": lambda image: _with_blank(_palette(image, 64).convert("RGB"), "GIF", duration=500, loop=0),
    # a scanner's or macOS Preview's TIFF with LZW compression
    "tiff_lzw": lambda image: _save(_coloured(image), "TIFF", compression="tiff_lzw"),
    # a document scanner's multi-page TIFF: the digit, then a blank page
    "tiff_two_pages": lambda image: _with_blank(image.convert("L"), "TIFF", compression="tiff_deflate"),
    # a scanner's greyscale JPEG
    "jpeg_grey": lambda image: _save(image.convert("L"), "JPEG", quality=85),
    # Photoshop's "Save for Web" or a web optimiser (jpegtran, mozjpeg): progressive JPEG
    "jpeg_progressive": lambda image: _save(_coloured(image), "JPEG", quality=80, progressive=True, optimize=True),
    # a picture saved from a web page in Chrome: lossy WebP
    "webp": lambda image: _save(_coloured(image), "WEBP", quality=75),
    # a sticker or a drawing exported by an Android app: lossless WebP with transparency
    "webp_lossless_transparent": lambda image: _save(_on_transparent(image), "WEBP", lossless=True),
    # ImageMagick or netpbm tools, a lab camera's greyscale PGM
    "pgm": lambda image: _save(image.convert("L"), "PPM"),
}
if features.check("avif"):  # Pillow's wheels carry libavif from 11.2; a source build may lack it
    # an Android 12+ phone or a web page's AVIF
    ENCODINGS["avif"] = lambda image: _save(_coloured(image), "AVIF", quality=75)
