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

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError
from scipy import ndimage

MAX_PIXELS = 40_000_000  # larger images are refused: a guard against decompression bombs (a 7,000 x 5,700 photo fits)
WORK_SIDE = 256  # the ink is found at this resolution at most: the result is 20 pixels tall anyway
BOX, FRAME = 20, 28  # MNIST's size-normalization box and frame
MAX_PIECES = 64  # pieces of ink considered for the digit beyond its body: strokes, bars, flags, dots of a broken line


class DigitImageError(ValueError):
    """A file that cannot become a digit image; the message names the problem and what to do."""


def read_image(path: str | Path | BinaryIO) -> tuple[Image.Image, list[str]]:
    """The image in `path` or an open binary file (PNG, JPEG, BMP, GIF, WebP, TIFF, ...) and notes about how it
    was read."""
    notes = []
    try:
        with warnings.catch_warnings():  # Pillow only warns for images above its own pixel limit: here it fails
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image: Image.Image = Image.open(path)
            if image.width * image.height > MAX_PIXELS:
                raise DigitImageError(
                    f"{image.width} x {image.height} pixels is more than the {MAX_PIXELS:,} allowed (a guard against "
                    "decompression bombs); scale the picture down first."
                )
            frames = getattr(image, "n_frames", 1)
            if frames > 1 and image.format != "MPO":  # a phone's MPO holds the photo and its depth or gain maps
                notes.append(f"{frames} frames: the first one is used")
                image = next(ImageSequence.Iterator(image))
            image.load()  # decode now, inside the guard: a truncated file fails here
            image = _upright(image, notes)
    except DigitImageError:
        raise
    except UnidentifiedImageError as err:  # its message names the file object, which says nothing more
        raise DigitImageError("not an image this reader knows (PNG, JPEG, BMP, GIF, WebP, TIFF, ...)") from err
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise DigitImageError(f"too large to decode ({err})") from err
    except (OSError, SyntaxError, ValueError) as err:  # truncated or corrupt data, unreadable file
        raise DigitImageError(f"cannot be read as an image ({err})") from err
    return image, notes


ORIENTATION_TURNS = {
    2: "mirrored",
    3: "turned 180°",
    4: "flipped",
    5: "mirrored and turned",
    6: "turned 90° clockwise",
    7: "mirrored and turned",
    8: "turned 90° anticlockwise",
}


def _upright(image: Image.Image, notes: list[str]) -> Image.Image:
    """The picture as a viewer shows it: phones store pixels as the sensor read them and an EXIF orientation tag
    (JPEG, PNG, WebP, TIFF) saying how to turn them upright."""
    try:
        orientation = image.getexif().get(0x0112, 1)  # 0x0112: the EXIF Orientation tag
    except Exception:  # noqa: BLE001 - a damaged EXIF block must not lose the picture: it is shown as stored
        notes.append("its EXIF data is unreadable: used as stored")
        return image
    if orientation not in ORIENTATION_TURNS:
        return image
    notes.append(f"{ORIENTATION_TURNS[orientation]} upright, as its orientation tag says")
    return ImageOps.exif_transpose(image)


ALPHA_MODES = ("RGBA", "LA", "La", "PA", "RGBa")  # by mode: a LAB image's "A" band is a colour, not opacity
WIDE_MODES = ("I", "F", "I;16", "I;16B", "I;16L", "I;16N")  # pixels beyond 8 bits


def grey_and_alpha(image: Image.Image) -> tuple[torch.Tensor, torch.Tensor | None]:
    """[H, W] float brightness in [0, 1] and, when the picture has transparency, [H, W] float opacity in [0, 1],
    at about twice WORK_SIDE at most (a 40-megapixel photo is reduced by Pillow before any copy is made).

    Pillow's own conversions to 8-bit clip 16-bit, 32-bit and float pixels instead of scaling them (a 16-bit PNG
    turns white), so those modes are scaled here from the range their values were written in."""
    factor = max(image.size) // (2 * WORK_SIDE)
    if factor >= 2:
        try:
            image = image.reduce(factor)  # box averages, as the shrinking that follows does
        except ValueError:  # a mode Pillow cannot reduce: shrunk later, at full size
            pass
    alpha = None
    if image.mode in WIDE_MODES:
        values = np.nan_to_num(np.asarray(image, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        if "transparency" in image.info:  # one value marked see-through, as 16-bit PNGs declare it
            alpha = torch.from_numpy((values != image.info["transparency"]).astype(np.float32))
        return _written_range(torch.from_numpy(values)), alpha
    if image.mode in ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA") if image.mode != "La" else image.convert("RGBa").convert("RGBA")
        alpha = _pixels(rgba.getchannel("A")).float() / 255
        image = rgba
    if image.mode == "CMYK":  # inks multiply: Pillow's own conversion subtracts them and turns rich black too dark
        cyan, magenta, yellow, black = (_pixels(image.getchannel(band)).float() / 255 for band in "CMYK")
        return (0.299 * (1 - cyan) + 0.587 * (1 - magenta) + 0.114 * (1 - yellow)) * (1 - black), alpha
    if image.mode == "LAB":  # its first band is the lightness itself
        return _pixels(image.getchannel("L")).float() / 255, alpha
    try:
        grey = image.convert("L")
    except ValueError as err:
        raise DigitImageError(f"its colour mode {image.mode} cannot be read; save it as a PNG or JPEG") from err
    return _pixels(grey).float() / 255, alpha


def viewable(image: Image.Image) -> Image.Image:
    """The picture as a person should see it: 16-bit, 32-bit and float pixels scaled as `grey_and_alpha` scales
    them (Pillow's own display conversion clips them: a 16-bit scan shows as white with a few black specks)."""
    if image.mode not in WIDE_MODES:
        return image
    grey, _ = grey_and_alpha(image)
    return Image.fromarray(grey.mul(255).round().to(torch.uint8).numpy())


def _written_range(values: torch.Tensor) -> torch.Tensor:
    """Integer or float pixels scaled to [0, 1] from the range they were most likely written in: [0, 1] (float
    images from scientific tools, a little overshoot from resampling allowed), [0, 255], [0, 65535] (16-bit
    scanners), when their largest value reaches at least a third of it; otherwise their own range (12-bit data
    in a 16-bit file, a float image in arbitrary units)."""
    low = min(0.0, float(values.min()))
    high = float(values.max()) - low
    scale = next((limit for limit in (1.0, 255.0, 65535.0) if limit / 3 <= high <= 1.1 * limit), high)
    return ((values - low) / max(scale, 1e-12)).clamp(0, 1)


def ink_map(image: Image.Image) -> torch.Tensor:
    """[H, W] float: how much ink each pixel holds, 0 (background) to 1, whatever the colours and background.

    A picture with transparency is laid on white, as a viewer shows it, and read like any other; on black when the
    ground is see-through and the marks are light (white chalk on a transparent layer). Colour, not opacity alone,
    makes the ink: a palette's light halo around its strokes stays a soft edge.
    Otherwise the background's brightness is read off the image's border. On light paper, ink is how much darker
    a pixel is than the paper around it (a ratio, so a stroke in a shadow counts as much as one in full light);
    on a dark ground, how much brighter. Either way ink comes out as the high value, as in MNIST, and the
    background is estimated by a grey-level opening wider than any pen stroke.
    """
    shrunk = [max(1, round(side * min(1.0, WORK_SIDE / max(image.size)))) for side in (image.height, image.width)]
    grey, alpha = grey_and_alpha(image)
    if alpha is None or float(alpha.min()) >= 250 / 255:
        level = _resized(grey, shrunk)
    else:  # shrunk premultiplied, so that the colour under see-through pixels does not bleed into the strokes
        covered, alpha = _resized(grey * alpha, shrunk), _resized(alpha, shrunk)
        # Laid on the ground a viewer would show it on: white, unless the marks themselves are light.
        see_through = float(_border(alpha).median()) < 0.5
        opaque = covered[alpha > 0.5] / alpha[alpha > 0.5]
        darkest_marks = float(torch.quantile(opaque, 0.1)) if opaque.numel() else 0.0  # the strokes' core, not halos
        ground = 0.0 if see_through and darkest_marks > 0.5 else 1.0
        level = covered + ground * (1 - alpha)
    if _dark_ink(level):  # ink is how much darker than the paper around it a pixel is
        paper = -_background(-level)  # the paper's brightness everywhere, strokes left out
        return (1 - level / paper.clamp(min=1 / 255)).clamp(0, 1)
    return (level - _background(level)).clamp(min=0)  # light ink on a dark ground, as MNIST


def _border(image: torch.Tensor) -> torch.Tensor:
    return torch.cat([image[0], image[-1], image[:, 0], image[:, -1]])


def _dark_ink(level: torch.Tensor) -> bool:
    """Whether the marks are darker than the ground: the ground's level is read off the border, and the ink is
    whichever extreme lies farther from it (lightly smoothed, so single specks do not decide). Asking whether the
    ground is light is not enough: a white digit on mid-grey has a light ground too."""
    ground = float(_border(level).median())
    smooth = F.avg_pool2d(level[None, None], 3, stride=1, padding=1, count_include_pad=False)
    return ground - float(smooth.min()) > float(smooth.max()) - ground


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


def stroke_threshold(ink: torch.Tensor) -> float:
    """The ink level above which a pixel is part of a stroke: Otsu's split, but never within the background's own
    noise (its median plus 6 robust standard deviations) and never below 40 % of the darkest strokes' ink. A small
    digit is a sliver of the histogram: Otsu would then split the paper's grain, or a shadow's edge from the paper,
    instead of the strokes from everything else. The strokes' ink is read on a 3x3 average, so a hot pixel does not
    set it."""
    otsu = otsu_threshold(ink / ink.max()) * float(ink.max())
    flat = ink.flatten()
    median = float(flat.median())
    spread = 1.4826 * float((flat - median).abs().median())  # the standard deviation, were the noise Gaussian
    strokes = float(F.avg_pool2d(ink[None, None], 3, stride=1, padding=1, count_include_pad=False).max())
    return max(otsu, min(median + 6 * spread, 0.5 * float(ink.max())), 0.4 * strokes)


def to_mnist(ink: torch.Tensor) -> torch.Tensor:
    """[28, 28] float in [0, 1] from an ink map: threshold, keep the digit (not grain, specks or a shadow's edge),
    crop to it, longer side to 20 px, centre of mass at the centre of the frame. Raises DigitImageError when there
    is no ink to speak of."""
    if ink.numel() == 0 or float(ink.max()) < 0.1:
        raise DigitImageError("no digit found: the picture has no marks that stand out from its background")
    threshold = stroke_threshold(ink)
    strokes = ink > threshold
    if int(strokes.sum()) < 4:
        raise DigitImageError("no digit found: fewer than 4 pixels of ink")
    digit = digit_strokes(strokes, ink - threshold)
    # Rescale so that the background's noise is 0 and typical stroke ink is 1, as in MNIST, keeping the anti-aliased
    # edges in between. The noise level is read away from the strokes (their soft edges are not noise): on a clean
    # picture, MNIST itself, it is 0 and nothing changes; on paper it removes grain, smudges and leftover shading.
    near = near_mask(strokes, reach=max(1, min(ink.shape) // 14))
    background = ink[~near] if bool((~near).any()) else ink[~strokes]
    floor = min(float(torch.quantile(background, 0.99)), threshold / 2) if background.numel() else 0.0
    full = float(torch.quantile(ink[digit], 0.75))
    # Only the digit and its soft edges are kept: ink elsewhere (specks, another mark) would stretch the crop.
    clean = ((ink - floor) / max(full - floor, 1e-6)).clamp(0, 1) * near_mask(digit, reach=3)
    marked = clean > 1 / 255  # not > 0: a light background is a hair above zero in floating point
    rows, cols = marked.any(dim=1).nonzero().flatten(), marked.any(dim=0).nonzero().flatten()
    return centred(clean[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])


def digit_strokes(strokes: torch.Tensor, ink: torch.Tensor) -> torch.Tensor:
    """[H, W] bool: the pieces of `strokes` that make up the digit, weighed by `ink` (the ink above the stroke
    threshold: a smudge or a patch of grain that barely passes it weighs little, however large).

    The piece holding the most ink is the digit's body; pieces close to what is kept so far join it (the bar of
    a crossed 7, the flag of a 5, a stroke broken by a faint pen), nearest first. Pieces far away (paper grain,
    dust, a shadow's edge, another mark) and crumbs too small to matter are left out."""
    labels, count = ndimage.label(strokes.numpy(), structure=np.ones((3, 3)))
    if count == 1:
        return strokes
    labels = torch.from_numpy(labels)
    mass = torch.zeros(count + 1, dtype=torch.float64).index_add_(0, labels.flatten(), ink.flatten().double())
    boxes = ndimage.find_objects(labels.numpy())  # (row slice, column slice) per piece
    main = int(mass[1:].argmax()) + 1
    kept, box = {main}, _box(boxes[main - 1])
    # The heaviest pieces only: a dithered or dotted picture has thousands, and each round compares them all.
    heaviest = [int(i) + 1 for i in mass[1:].argsort(descending=True)[: MAX_PIECES + 1]]
    candidates = [i for i in heaviest if i != main and mass[i] >= 0.01 * mass[main]]
    while candidates:
        reach = max(2.0, 0.2 * max(box[2] - box[0], box[3] - box[1]))  # a fifth of the digit's size so far
        gaps = [_gap(box, _box(boxes[i - 1])) for i in candidates]
        nearest = min(range(len(candidates)), key=gaps.__getitem__)
        if gaps[nearest] > reach:
            break
        piece = candidates.pop(nearest)
        kept.add(piece)
        other = _box(boxes[piece - 1])
        box = (min(box[0], other[0]), min(box[1], other[1]), max(box[2], other[2]), max(box[3], other[3]))
    return torch.isin(labels, torch.tensor(sorted(kept)))


def _box(slices: tuple[slice, slice]) -> tuple[int, int, int, int]:
    return slices[0].start, slices[1].start, slices[0].stop, slices[1].stop  # top, left, bottom, right


def _gap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Pixels between two boxes along the axis where they are farthest apart (0 when they overlap)."""
    return max(0, b[0] - a[2], a[0] - b[2], b[1] - a[3], a[1] - b[3])


def centred(digit: torch.Tensor) -> torch.Tensor:
    """[28, 28]: `digit` (cropped to its ink) scaled to 20 px on its longer side, aspect kept, anti-aliased, placed
    with its centre of mass at the frame's centre (MNIST: "translating the image so as to position this point at
    the center of the 28x28 field"; its digits' centres of mass average row 14.0, column 14.0), ink kept in frame."""
    height, width = digit.shape
    scale = BOX / max(height, width)
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    digit = _resized(digit, size).clamp(0, 1)
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


def read_digit(source: str | Path | BinaryIO) -> tuple[torch.Tensor, list[str]]:
    """A picture file (a path or an open binary file) -> [28, 28] as MNIST would have it, and notes about how it
    was read: what the web page does with each drawing it is sent."""
    image, notes = read_image(source)
    return preprocess(image), notes
