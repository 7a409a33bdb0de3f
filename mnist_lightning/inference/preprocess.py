"""Any picture of one handwritten digit -> the 28x28 image an MNIST model expects, made the way MNIST was made.

MNIST's digits are light ink on a dark background, size-normalized so that the longer side of the ink's bounding
box is 20 pixels (aspect ratio kept, anti-aliased), then placed in a 28x28 frame with the ink's centre of mass at
the centre. A photo or a drawing is none of that: dark ink on light paper, uneven lighting, a digit anywhere on a
large canvas. `to_mnist` redoes MNIST's steps on it; a digit already in MNIST form passes through nearly unchanged.
Predict, the web page and the tests all call this one function.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import BinaryIO

import torch
import torch.nn.functional as F
from PIL import Image, ImageSequence, UnidentifiedImageError

MAX_PIXELS = 40_000_000  # larger images are refused: a guard against decompression bombs (a 7,000 x 5,700 photo fits)
WORK_SIDE = 256  # the ink is found at this resolution at most: the result is 20 pixels tall anyway
BOX, FRAME = 20, 28  # MNIST's size-normalization box and frame


class DigitImageError(ValueError):
    """A file that cannot become a digit image; the message names the problem and what to do."""


def read_image(path: str | Path | BinaryIO) -> tuple[Image.Image, list[str]]:
    """The image in `path` or an open binary file (PNG, JPEG, BMP, GIF, WebP, TIFF, ...) and notes about how it
    was read."""
    notes = []
    try:
        with warnings.catch_warnings():  # Pillow only warns for images above its own pixel limit: here it fails
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
            if image.width * image.height > MAX_PIXELS:
                raise DigitImageError(
                    f"{image.width} x {image.height} pixels is more than the {MAX_PIXELS:,} allowed (a guard against "
                    "decompression bombs); scale the picture down first."
                )
            frames = getattr(image, "n_frames", 1)
            if frames > 1:
                notes.append(f"{frames} frames: the first one is used")
                image = next(ImageSequence.Iterator(image))
            image.load()  # decode now, inside the guard: a truncated file fails here
    except DigitImageError:
        raise
    except UnidentifiedImageError as err:  # its message names the file object, which says nothing more
        raise DigitImageError("not an image this reader knows (PNG, JPEG, BMP, GIF, WebP, TIFF, ...)") from err
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise DigitImageError(f"too large to decode ({err})") from err
    except (OSError, SyntaxError, ValueError) as err:  # truncated or corrupt data, unreadable file
        raise DigitImageError(f"cannot be read as an image ({err})") from err
    return image, notes


def ink_map(image: Image.Image) -> torch.Tensor:
    """[H, W] float: how much ink each pixel holds, 0 (background) to 1, whatever the colours and background.

    A picture with transparency takes its ink from the alpha channel (a digit drawn on a transparent canvas).
    Otherwise the background's brightness is read off the image's border. On light paper, ink is how much darker
    a pixel is than the paper around it (a ratio, so a stroke in a shadow counts as much as one in full light);
    on a dark ground, how much brighter. Either way ink comes out as the high value, as in MNIST, and the
    background is estimated by a grey-level opening wider than any pen stroke.
    """
    shrunk = [max(1, round(side * min(1.0, WORK_SIDE / max(image.size)))) for side in (image.height, image.width)]
    if "A" in image.getbands() or "transparency" in image.info:
        alpha = _pixels(image.convert("RGBA").getchannel("A"))
        if alpha.min() < 250:  # real transparency: the opaque strokes are the ink
            return _resized(alpha.float() / 255, shrunk)
    level = _resized(_pixels(image.convert("L")).float() / 255, shrunk)
    border = torch.cat([level[0], level[-1], level[:, 0], level[:, -1]])
    if border.median() > 0.5:  # dark ink on light paper: ink is how much darker than the paper around it a pixel is
        paper = -_background(-level)  # the paper's brightness everywhere, strokes left out
        return (1 - level / paper.clamp(min=1 / 255)).clamp(0, 1)
    return (level - _background(level)).clamp(min=0)  # light ink on a dark ground, as MNIST


def _pixels(channel: Image.Image) -> torch.Tensor:
    """A one-channel picture as a [H, W] uint8 tensor."""
    return torch.frombuffer(bytearray(channel.tobytes()), dtype=torch.uint8).view(channel.height, channel.width)


def _resized(image: torch.Tensor, size: list[int] | tuple[int, int]) -> torch.Tensor:
    """[H, W] resampled to `size` with antialiasing (shrinking averages, as MNIST's size normalization did)."""
    if list(image.shape) == list(size):
        return image
    return F.interpolate(image[None, None], size=size, mode="bilinear", antialias=True, align_corners=False)[0, 0]


def _background(ink: torch.Tensor) -> torch.Tensor:
    """The ink map without its strokes, for subtracting uneven lighting: the minimum over cells of 1/16 of the
    image, eroded and then dilated by 5x5 cells (a window about a third of the image wide: wider than a pen
    stroke, so strokes vanish; narrower than a shadow, so lighting stays), smoothed back up to full size."""
    cell = -(-min(ink.shape) // 16)  # ceiling division
    x = -F.max_pool2d(-ink[None, None], cell, ceil_mode=True)  # per-cell minimum: cheap at any image size
    x = F.max_pool2d(-F.max_pool2d(-x, 5, stride=1, padding=2), 5, stride=1, padding=2)
    x = F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
    return F.interpolate(x, size=ink.shape, mode="bilinear", align_corners=False)[0, 0]


def near_mask(mask: torch.Tensor, reach: int) -> torch.Tensor:
    """[H, W] bool: within `reach` pixels (a square window) of a True pixel of `mask`. Counts in the window from
    cumulative sums, one pass per axis, so the cost does not grow with `reach` as a max-pool's does (on a 256-pixel
    picture, whose window is 37 pixels wide: about 1 ms here against 6 ms)."""
    counts = mask.int()
    for dim in (0, 1):
        size = counts.shape[dim]
        running = counts.cumsum(dim, dtype=torch.int32)
        # running, with `reach` + 1 zeros before it and `reach` copies of its total after: window sums are then
        # the difference of two slices.
        before = list(running.shape)
        before[dim] = reach + 1
        after = running.narrow(dim, size - 1, 1).repeat_interleave(reach, dim)
        padded = torch.cat([running.new_zeros(before), running, after], dim)
        counts = padded.narrow(dim, 2 * reach + 1, size) - padded.narrow(dim, 0, size)
    return counts > 0


def otsu_threshold(values: torch.Tensor) -> float:
    """The threshold that best splits `values` (in [0, 1]) into two classes (Otsu, 1979), from a 256-bin histogram."""
    counts = torch.histc(values.flatten(), bins=256, min=0.0, max=1.0).double()
    levels = (torch.arange(256, dtype=torch.float64) + 0.5) / 256
    weight_low = counts.cumsum(0)
    weight_high = counts.sum() - weight_low
    mean_low = (counts * levels).cumsum(0) / weight_low.clamp(min=1)
    mean_high = ((counts * levels).sum() - (counts * levels).cumsum(0)) / weight_high.clamp(min=1)
    between = weight_low * weight_high * (mean_low - mean_high) ** 2
    return float(levels[between.argmax()] + 0.5 / 256)


def to_mnist(ink: torch.Tensor) -> torch.Tensor:
    """[28, 28] float in [0, 1] from an ink map: threshold, crop to the ink, longer side to 20 px, centre of mass
    at the centre of the frame. Raises DigitImageError when there is no ink to speak of."""
    if ink.numel() == 0 or float(ink.max()) < 0.1:
        raise DigitImageError("no digit found: the picture has no marks that stand out from its background")
    threshold = otsu_threshold(ink / ink.max()) * float(ink.max())
    strokes = ink > threshold
    if int(strokes.sum()) < 4:
        raise DigitImageError("no digit found: fewer than 4 pixels of ink")
    # Rescale so that the background's noise is 0 and typical stroke ink is 1, as in MNIST, keeping the anti-aliased
    # edges in between. The noise level is read away from the strokes (their soft edges are not noise): on a clean
    # picture, MNIST itself, it is 0 and nothing changes; on paper it removes grain, smudges and leftover shading.
    near = near_mask(strokes, reach=max(1, min(ink.shape) // 14))
    background = ink[~near] if bool((~near).any()) else ink[~strokes]
    floor = min(float(torch.quantile(background, 0.99)), threshold / 2) if background.numel() else 0.0
    full = float(torch.quantile(ink[strokes], 0.75))
    clean = ((ink - floor) / max(full - floor, 1e-6)).clamp(0, 1)
    marked = clean > 0
    rows, cols = marked.any(dim=1).nonzero().flatten(), marked.any(dim=0).nonzero().flatten()
    digit = clean[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    height, width = digit.shape
    scale = BOX / max(height, width)
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    digit = _resized(digit, size).clamp(0, 1)
    # Centre of mass to the frame's centre (MNIST: "translating the image so as to position this point at the
    # center of the 28x28 field"; its digits' centres of mass average row 14.0, column 14.0), ink kept in frame.
    total = digit.sum().clamp(min=1e-6)
    centre_row = (digit.sum(dim=1) * torch.arange(size[0])).sum() / total
    centre_col = (digit.sum(dim=0) * torch.arange(size[1])).sum() / total
    top = min(max(0, round(FRAME / 2 - float(centre_row))), FRAME - size[0])
    left = min(max(0, round(FRAME / 2 - float(centre_col))), FRAME - size[1])
    frame = torch.zeros(FRAME, FRAME)
    frame[top : top + size[0], left : left + size[1]] = digit
    return frame


def preprocess(image: Image.Image) -> torch.Tensor:
    """The picture of one digit as MNIST would have it: [28, 28], light ink on black, pixel/255 scale."""
    return to_mnist(ink_map(image))
