"""The fifteen MNIST-C corruptions (Mu & Gilmer 2019, "MNIST-C: A Robustness Benchmark for Computer Vision",
arXiv 1906.02337), rebuilt on torch and numpy alone.

Each corruption follows the definition in the authors' release (google-research/mnist-c, corruptions.py) at the
severity its published dataset was made with: the default severity of that function there. The release leans on
scipy, scikit-image, OpenCV and ImageMagick; here the same operations are written out (Gaussian and line-kernel
convolutions, a batched affine resampler, diamond-square noise, a batched Canny detector) and run on the whole
batch at once, so all fifteen take seconds, not minutes, on MNIST's 10,000 test images.

PAPER_TEST_ERROR is for the paper's table of test error (%) per corruption, and on clean MNIST, of its CNN trained
on clean MNIST. No copy of the paper at hand reached that table, so the dict is empty: numbers go in only from the
table itself, never from memory or estimate.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

SIDE = 28
CENTRE = (SIDE - 1) / 2  # the release keeps pixel coordinate 13.5 fixed under its affine maps

PAPER_TEST_ERROR: dict[str, float] = {}

Corruption = Callable[[np.ndarray, np.random.Generator], np.ndarray]
ArrayLike = float | np.ndarray
Step = int | np.ndarray


# ---------------------------------------------------------------- shared pieces: blur, resampling, lines


def gaussian_kernel(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """Normalised 1-D Gaussian reaching `truncate` sigmas each side: the support scikit-image's filter uses."""
    radius = int(truncate * sigma + 0.5)
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    weights = np.exp(-0.5 * (offsets / sigma) ** 2)
    return (weights / weights.sum()).astype(np.float32)


def gaussian_blur(
    images: np.ndarray, sigma: float, axes: tuple[int, ...] = (0, 1), edge: Literal["edge", "constant"] = "edge"
) -> np.ndarray:
    """Separable Gaussian blur of images [N, H, W] along the given image axes (0 rows, 1 columns); outside the
    picture is its edge pixel repeated ('edge', scikit-image's default) or black ('constant')."""
    kernel = gaussian_kernel(sigma)
    radius = len(kernel) // 2
    blurred = np.asarray(images, dtype=np.float32)
    for axis in (a + 1 for a in axes):
        padding = [(0, 0)] * 3
        padding[axis] = (radius, radius)
        padded = np.pad(blurred, padding, mode=edge)
        length = blurred.shape[axis]
        # a weighted sum of shifted copies: for kernels this short it beats a convolution call on the CPU
        blurred = sum(weight * _slice_along(padded, axis, tap, tap + length) for tap, weight in enumerate(kernel))
    return blurred


def _slice_along(array: np.ndarray, axis: int, start: int, stop: int) -> np.ndarray:
    index = [slice(None)] * array.ndim
    index[axis] = slice(start, stop)
    return array[tuple(index)]


def affine_resample(images: np.ndarray, inverse_maps: np.ndarray) -> np.ndarray:
    """Bilinear warp: output pixel (x, y) = input at inverse_maps[n] @ (x, y, 1), zero outside the picture.

    inverse_maps [N, 2, 3] are in pixel coordinates, x the column and y the row, as scikit-image's `warp` reads
    an inverse map."""
    count = len(images)
    columns, rows = np.meshgrid(np.arange(SIDE, dtype=np.float32), np.arange(SIDE, dtype=np.float32))
    points = np.stack([columns, rows, np.ones_like(columns)], axis=-1)  # [H, W, 3]
    sources = np.einsum("nij,hwj->nhwi", inverse_maps.astype(np.float32), points)  # [N, H, W, 2] as (x, y)
    grid = torch.from_numpy(sources / CENTRE - 1.0)  # align_corners=True: -1 and 1 are the outer pixel centres
    batch = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).view(count, 1, SIDE, SIDE)
    warped = F.grid_sample(batch, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    return warped.view(count, SIDE, SIDE).numpy()


def centred(linear: np.ndarray) -> np.ndarray:
    """[N, 2, 2] linear maps -> [N, 2, 3] affine maps that keep the picture's centre where it is."""
    shift = CENTRE * (1.0 - linear.sum(axis=2, keepdims=True))
    return np.concatenate([linear, shift], axis=2)


def random_signs(rng: np.random.Generator, shape: int | tuple[int, ...]) -> np.ndarray:
    return rng.choice(np.array([-1.0, 1.0]), size=shape)


def line_marks(start_x: ArrayLike, start_y: ArrayLike, end_x: ArrayLike, end_y: ArrayLike) -> np.ndarray:
    """Intensity [N, 28, 28] of one straight stroke per image, as the release draws its lines.

    Brightness falls with the vertical distance d from the line as 1 + ln(1 - d / 2.3), so the stroke is about
    three pixels tall, and it covers the columns from floor(start_x) up to, not including, ceil(end_x). Arguments
    are arrays [N] (or scalars); a stroke with start_x == end_x is empty."""
    start_x, start_y, end_x, end_y = np.broadcast_arrays(*(_column(v) for v in (start_x, start_y, end_x, end_y)))
    columns = np.arange(SIDE, dtype=np.float64).reshape(1, 1, SIDE)
    rows = np.arange(SIDE, dtype=np.float64).reshape(1, SIDE, 1)
    run = end_x - start_x
    slope = np.divide(end_y - start_y, run, out=np.zeros_like(run), where=run != 0)
    distance = np.minimum(np.abs(rows - (start_y + slope * (columns - start_x))), 2.3 - 1e-10)
    intensity = np.clip(1.0 + np.log(1.0 - distance / 2.3), 0.0, 1.0)
    inside = (columns >= np.floor(start_x)) & (columns < np.ceil(end_x)) & (run != 0)
    return (intensity * inside).astype(np.float32)


def _column(values: ArrayLike) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).reshape(-1, 1, 1)


# ---------------------------------------------------------------- noise


def shot_noise(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Photon-counting noise: each pixel becomes Poisson(3 * value) / 3 (release severity 5 of 5, c = 3)."""
    photons = 3.0
    return rng.poisson(x * photons).astype(np.float32) / photons


def impulse_noise(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Salt and pepper: 17 % of pixels, chosen independently, turn white or black at even odds (severity 4)."""
    hit = rng.random(x.shape, dtype=np.float32) < 0.17
    salt = rng.random(x.shape, dtype=np.float32) < 0.5
    return np.where(hit, salt.astype(np.float32), x)


# ---------------------------------------------------------------- blur


def glass_blur(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Frosted glass: blur, jitter each pixel with a neighbour up or left, blur again (severity 1: sigma 0.7,
    1-pixel moves, 2 sweeps).

    The release calls its blur with multichannel=True on a 2-D picture, which scikit-image reads as 28 one-pixel
    channels: the blur runs down the columns only. That is what the published images show, so it is kept."""
    sigma, max_move, sweeps = 0.7, 1, 2
    blurred = gaussian_blur(x, sigma, axes=(0,))
    levels = np.floor(np.clip(blurred, 0.0, 1.0) * 255.0) / 255.0  # the release passes through uint8 here
    shuffled = _swap_with_neighbours(levels, rng, max_move, sweeps)
    return gaussian_blur(shuffled, sigma, axes=(0,))


def _swap_with_neighbours(x: np.ndarray, rng: np.random.Generator, max_move: int, sweeps: int) -> np.ndarray:
    """Visit the inner pixels from the bottom-right corner backwards; each, at even odds, swaps places with the
    pixel a random offset in [-max_move, max_move) away. Swaps chain, so a pixel can travel along a sweep, which is
    why this stays a loop over positions; every image of the batch takes its own swap at each position at once."""
    count = len(x)
    flat = x.reshape(count, SIDE * SIDE).copy()
    positions = [(r, c) for r in range(SIDE - max_move, max_move, -1) for c in range(SIDE - max_move, max_move, -1)]
    every_image = np.arange(count)
    for _ in range(sweeps):
        swaps = rng.random((len(positions), count)) < 0.5
        moves = rng.integers(-max_move, max_move, size=(len(positions), 2, count))
        for step, (row, column) in enumerate(positions):
            here = row * SIDE + column
            there = (row + moves[step, 1]) * SIDE + column + moves[step, 0]
            mine, theirs = flat[:, here].copy(), flat[every_image, there]
            flat[:, here] = np.where(swaps[step], theirs, mine)
            flat[every_image, there] = np.where(swaps[step], mine, theirs)
    return flat.reshape(x.shape)


def motion_blur(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Camera shake: a one-sided streak at a random angle in [-45, 45) degrees (severity 1: ImageMagick's motion blur
    with radius 10, sigma 3, i.e. 21 taps weighted by a half Gaussian of sigma 3, each tap a whole-pixel step)."""
    radius, sigma = 10, 3.0
    taps = np.arange(2 * radius + 1, dtype=np.float64)
    weights = np.exp(-0.5 * (taps / sigma) ** 2)
    weights /= weights.sum()
    angles = np.deg2rad(rng.uniform(-45.0, 45.0, size=len(x)))
    step_x = np.rint(taps[None, :] * np.cos(angles)[:, None]).astype(np.int64)  # [N, taps]
    step_y = np.rint(taps[None, :] * np.sin(angles)[:, None]).astype(np.int64)
    padded = np.pad(x, ((0, 0), (len(taps), len(taps)), (len(taps), len(taps))), mode="edge")
    rows = len(taps) + np.arange(SIDE)
    images = np.arange(len(x))[:, None, None]
    streak = np.zeros_like(x)
    for tap, weight in enumerate(weights):
        if weight < 1e-6:  # taps past about five sigma change no uint8 value
            break
        source_rows = (rows[None, :] + step_y[:, tap, None])[:, :, None]
        source_columns = (rows[None, :] + step_x[:, tap, None])[:, None, :]
        streak += np.float32(weight) * padded[images, source_rows, source_columns]
    return streak


# ---------------------------------------------------------------- affine


def shear(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A slanted hand: scikit-image's shear of +-0.4 rad about the centre, direction at random (severity 2).

    That transform maps (x, y) to (x - sin(s) y, cos(s) y) as the inverse map, so rows also stretch by 1/cos(s)."""
    angle = 0.4 * random_signs(rng, len(x))
    linear = np.zeros((len(x), 2, 2))
    linear[:, 0, 0], linear[:, 0, 1], linear[:, 1, 1] = 1.0, -np.sin(angle), np.cos(angle)
    return affine_resample(x, centred(linear))


def scale(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A smaller hand: the digit shrinks to 0.7 of its size about the centre (severity 3, scale 1/0.7 as inverse map).
    The same for every image: the release draws nothing here."""
    linear = np.broadcast_to(np.eye(2) / 0.7, (len(x), 2, 2))
    return affine_resample(x, centred(linear))


def rotate(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A turned page: rotation by 0.4 rad (about 23 degrees) about the centre, direction at random (severity 2)."""
    angle = 0.4 * random_signs(rng, len(x))
    cos, sin = np.cos(angle), np.sin(angle)
    linear = np.stack([np.stack([cos, -sin], axis=1), np.stack([sin, cos], axis=1)], axis=1)
    return affine_resample(x, centred(linear))


def translate(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An off-centre digit: moved 3 pixels along each axis, each direction at random (severity 3)."""
    shifts = 3.0 * random_signs(rng, (len(x), 2))
    maps = np.zeros((len(x), 2, 3))
    maps[:, 0, 0] = maps[:, 1, 1] = 1.0
    maps[:, :, 2] = shifts
    return affine_resample(x, maps)


# ---------------------------------------------------------------- light and weather


def brightness(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Over-exposure: +0.5 on HSV value (severity 5). On a grey picture that is simply +0.5 to every pixel."""
    return x + 0.5


def stripe(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Inverted bands: the 7 leftmost and 7 rightmost columns turn negative (no severity, nothing random)."""
    striped = x.copy()
    striped[:, :, :7] = 1.0 - x[:, :, :7]
    striped[:, :, SIDE - 7 :] = 1.0 - x[:, :, SIDE - 7 :]
    return striped


def fog(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Haze: add 3 x the top-left 28 x 28 of a 256 x 256 diamond-square fractal (roughness decay 1.4), then scale
    back so the brightest ink keeps its value, m / (m + 3) (severity 5: c = (3.0, 1.4))."""
    thickness, decay = 3.0, 1.4
    haze = np.concatenate([_plasma_corner(rng, chunk, decay) for chunk in _chunks(len(x), 256)])
    brightest = x.max(axis=(1, 2), keepdims=True)
    return (x + thickness * haze) * brightest / (brightest + thickness)


def _chunks(total: int, size: int) -> list[int]:
    return [min(size, total - start) for start in range(0, total, size)]


def _plasma_corner(rng: np.random.Generator, count: int, decay: float) -> np.ndarray:
    """The top-left 28 x 28 [count, 28, 28] of 256 x 256 diamond-square height maps on a torus, each map scaled to
    [0, 1] by its own lowest and highest point.

    All levels but the last are the same as a 128 x 128 map's (the even points), made whole. The last level, three
    quarters of all points and noise only 1/150 of the first level's, is made only around the corner that is kept;
    its points elsewhere, each a mean of neighbours plus that small noise, moved a map's range by at most 0.4 % in
    a trial of 200 maps (under one grey level of fog), so the scaling takes the even points and the corner."""
    coarse, wobble = _diamond_square(rng, count, 128, decay)
    corner = _finest_level_corner(rng, coarse, wobble)
    low = np.minimum(coarse.min(axis=(1, 2)), corner.min(axis=(1, 2)))[:, None, None]
    high = np.maximum(coarse.max(axis=(1, 2)), corner.max(axis=(1, 2)))[:, None, None]
    return (corner - low) / (high - low)


def _diamond_square(rng: np.random.Generator, count: int, size: int, decay: float) -> tuple[np.ndarray, float]:
    """Height maps [count, size, size] on a torus, starting from 0 at (0, 0). Level by level the midpoints of
    squares, then of the diamonds between them, get the mean of their four neighbours plus uniform noise whose
    amplitude starts at 100**2 and shrinks by decay**2. Returns the maps and the noise scale of the next level."""
    heights = np.zeros((count, size, size), dtype=np.float32)
    step, wobble = size, 100.0
    while step >= 2:
        half = step // 2
        corners = heights[:, ::step, ::step]
        ring = corners + np.roll(corners, -1, axis=1)
        ring = ring + np.roll(ring, -1, axis=2)
        heights[:, half::step, half::step] = ring / 4 + _noise(rng, ring.shape, wobble)
        centres = heights[:, half::step, half::step]
        on_rows = corners + np.roll(corners, -1, axis=2) + centres + np.roll(centres, 1, axis=1)
        heights[:, ::step, half::step] = on_rows / 4 + _noise(rng, on_rows.shape, wobble)
        on_columns = corners + np.roll(corners, -1, axis=1) + centres + np.roll(centres, 1, axis=2)
        heights[:, half::step, ::step] = on_columns / 4 + _noise(rng, on_columns.shape, wobble)
        step, wobble = half, wobble / decay
    return heights, wobble


def _finest_level_corner(rng: np.random.Generator, coarse: np.ndarray, wobble: float) -> np.ndarray:
    """The last diamond-square level of a map twice coarse's size, made on a 31 x 31 window whose local (2, 2) is
    the map's (0, 0): coarse points sit on the window's even places, wrapping round the torus for the two rows and
    columns before the map's first. Returns the window's [2:30, 2:30], the map's top-left 28 x 28."""
    around = (np.arange(16) - 1) % coarse.shape[1]
    window = np.zeros((len(coarse), 31, 31), dtype=np.float32)
    window[:, ::2, ::2] = coarse[:, around][:, :, around]
    grid = window[:, 0::2, 0::2]
    ring = grid[:, :-1, :-1] + grid[:, 1:, :-1] + grid[:, :-1, 1:] + grid[:, 1:, 1:]
    window[:, 1:30:2, 1:30:2] = ring / 4 + _noise(rng, ring.shape, wobble)  # square centres, odd rows and columns
    on_rows = (
        window[:, 2:30:2, 0:29:2] + window[:, 2:30:2, 2:31:2] + window[:, 1:29:2, 1:30:2] + window[:, 3:31:2, 1:30:2]
    )
    window[:, 2:30:2, 1:30:2] = on_rows / 4 + _noise(rng, on_rows.shape, wobble)  # even rows, odd columns
    on_columns = (
        window[:, 0:29:2, 2:30:2] + window[:, 2:31:2, 2:30:2] + window[:, 1:30:2, 1:29:2] + window[:, 1:30:2, 3:31:2]
    )
    window[:, 1:30:2, 2:30:2] = on_columns / 4 + _noise(rng, on_columns.shape, wobble)  # odd rows, even columns
    return window[:, 2:30, 2:30]


def _noise(rng: np.random.Generator, shape: tuple[int, ...], wobble: float) -> np.ndarray:
    """Uniform on (-wobble**2, wobble**2) in 65536 steps: 16-bit draws cost a fraction of float ones, and noise is
    most of fog's cost."""
    steps = rng.integers(0, 1 << 16, size=shape, dtype=np.uint16).astype(np.float32)
    steps -= 32767.5
    steps *= np.float32(wobble * wobble / 32768.0)
    return steps


def spatter(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mud splashes: smoothed Gaussian noise thresholded into blobs, whose soft cores (>= 0.8) are painted grey
    63/255 over the picture (severity 4: noise N(0.65, 0.3), blur 1, threshold 0.65, blob blur 1.5, mud)."""
    liquid = rng.normal(0.65, 0.3, size=x.shape).astype(np.float32)
    liquid = gaussian_blur(liquid, 1.0)
    blobs = gaussian_blur((liquid > 0.65).astype(np.float32), 1.5)
    blobs[blobs < 0.8] = 0.0
    return x * (1.0 - blobs) + (63.0 / 255.0) * blobs


# ---------------------------------------------------------------- marks and edges


def dotted_line(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A dashed pen stroke across the page from (0, r0) to (27, r1), rows r0, r1 in [0, 27), dashes 2 pixels long
    every 4 columns starting at column 2 (the release's dotted_line, which has no severity)."""
    start_rows, end_rows = rng.integers(0, SIDE - 1, size=(2, len(x)))
    marks = line_marks(0.0, start_rows, float(SIDE - 1), end_rows)
    marks[:, :, (np.arange(SIDE) // 2) % 2 == 0] = 0.0
    return x + marks


def zigzag(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A scribble: a zigzag of 2-pixel-high teeth every 4 columns along a line from column 2 to 25, starting at a
    random row r0 in [0, 27) and rising or falling by up to 5 rows (the release's zigzag, which has no severity)."""
    start_column, end_column, tooth = 2.0, 25.0, 2.0
    start_rows = rng.integers(0, SIDE - 1, size=len(x)).astype(np.float64)
    climbs = rng.integers(-5, 5, size=len(x)).astype(np.float64)
    tilt = np.arctan(climbs / (end_column - start_column))
    length = (end_column - start_column) / np.cos(tilt)
    along, across = _zigzag_vertices(length, tooth)
    columns = start_column + along * np.cos(tilt)[:, None] - across * np.sin(tilt)[:, None]
    rows = start_rows[:, None] + along * np.sin(tilt)[:, None] + across * np.cos(tilt)[:, None]
    marks = np.zeros_like(x)
    for k in range(1, columns.shape[1]):
        marks += line_marks(columns[:, k - 1], rows[:, k - 1], columns[:, k], rows[:, k])
    return x + marks


def _zigzag_vertices(length: np.ndarray, tooth: float) -> tuple[np.ndarray, np.ndarray]:
    """Corners [N, K] along and across the zigzag's axis: from the axis, tips alternately +tooth and -tooth every
    2 tooth along it, then an end point at the full length, a little off the axis towards the last tip: that tip's
    offset over twice the length left after the last whole tooth period, where the release puts it. Lengths here lie
    in [23, 23.6), so every image has the same number of tips."""
    tips = int((length.min() - tooth) // (2 * tooth)) + 1
    tip_along = (2 * np.arange(tips) + 1) * tooth
    tip_across = tooth * (-1.0) ** np.arange(tips)
    leftover = length - 2 * tooth * np.floor(length / (2 * tooth))
    start = np.zeros((len(length), 1))
    tips_shape = (len(length), tips)
    along = np.concatenate([start, np.broadcast_to(tip_along, tips_shape), length[:, None]], axis=1)
    end_across = tip_across[-1] / (2 * leftover[:, None])
    across = np.concatenate([start, np.broadcast_to(tip_across, tips_shape), end_across], axis=1)
    return along, across


def canny_edges(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An outline drawing: Canny edges as scikit-image finds them by default (sigma 1, hysteresis thresholds 0.1 and
    0.2 on the unscaled Sobel magnitude), white on black. Nothing random."""
    smooth = _smooth_inside(x, 1.0)
    along_rows, along_columns = _sobel(smooth)
    magnitude = np.hypot(along_rows, along_columns)
    peaks = _thin_to_ridges(magnitude, along_rows, along_columns)
    weak = peaks & (magnitude >= 0.1)
    strong = weak & (magnitude >= 0.2)
    return _hysteresis(weak, strong).astype(np.float32)


def _smooth_inside(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing that treats the outside as unknown, not black: blur with zeros outside, then divide by the
    blurred picture frame, so the weights that fall off the picture are given back to the pixels inside."""
    frame = gaussian_blur(np.ones((1, SIDE, SIDE), np.float32), sigma, edge="constant")
    return gaussian_blur(x, sigma, edge="constant") / frame


def _sobel(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unscaled Sobel derivatives down the rows and along the columns (taps 1, 2, 1 across, -1, 0, 1 along)."""
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1)), mode="reflect")
    spread_down = padded[:, :-2, :] + 2 * padded[:, 1:-1, :] + padded[:, 2:, :]  # [N, 28, 30]
    spread_across = padded[:, :, :-2] + 2 * padded[:, :, 1:-1] + padded[:, :, 2:]  # [N, 30, 28]
    along_columns = spread_down[:, :, 2:] - spread_down[:, :, :-2]
    along_rows = spread_across[:, 2:, :] - spread_across[:, :-2, :]
    return along_rows, along_columns


def _thin_to_ridges(magnitude: np.ndarray, along_rows: np.ndarray, along_columns: np.ndarray) -> np.ndarray:
    """Non-maximum suppression: keep a pixel when its gradient magnitude is at least the magnitude interpolated one
    step ahead and one step behind along the gradient (between the axial and the diagonal neighbour). The picture's
    outermost pixels and flat pixels are never edges."""
    steep = np.abs(along_rows) >= np.abs(along_columns)  # the gradient points more down the rows than across
    big = np.maximum(np.abs(along_rows), np.abs(along_columns))
    small = np.minimum(np.abs(along_rows), np.abs(along_columns))
    weight = np.divide(small, big, out=np.zeros_like(big), where=big > 0)
    down, right = along_rows >= 0, along_columns >= 0
    shifted = _shifted_copies(magnitude)
    peaks = magnitude > 0
    for ahead in (True, False):  # one step along the gradient, then one step against it
        row_step = np.where(down == ahead, 1, -1)
        column_step = np.where(right == ahead, 1, -1)
        axial = np.where(steep, _pick(shifted, row_step, 0), _pick(shifted, 0, column_step))
        diagonal = _pick(shifted, row_step, column_step)
        peaks &= magnitude >= weight * diagonal + (1.0 - weight) * axial
    peaks[:, [0, -1], :] = False
    peaks[:, :, [0, -1]] = False
    return peaks


def _shifted_copies(values: np.ndarray) -> dict[tuple[int, int], np.ndarray]:
    """values[r + dr, c + dc] for every pixel and each step (dr, dc) in {-1, 0, 1}^2, zero past the picture."""
    padded = np.pad(values, ((0, 0), (1, 1), (1, 1)))
    height, width = values.shape[1:]
    return {
        (dr, dc): padded[:, 1 + dr : 1 + dr + height, 1 + dc : 1 + dc + width] for dr in (-1, 0, 1) for dc in (-1, 0, 1)
    }


def _pick(shifted: dict[tuple[int, int], np.ndarray], row_step: Step, column_step: Step) -> np.ndarray:
    """Per pixel, the neighbour at (row_step, column_step); a step is 0, or an array of -1 and +1 per pixel."""
    picked = np.empty_like(shifted[(0, 0)])
    for dr in (0,) if isinstance(row_step, int) else (-1, 1):
        for dc in (0,) if isinstance(column_step, int) else (-1, 1):
            np.copyto(picked, shifted[(dr, dc)], where=(row_step == dr) & (column_step == dc))
    return picked


def _hysteresis(weak: np.ndarray, strong: np.ndarray) -> np.ndarray:
    """Keep the weak edge pixels 8-connected through weak pixels to a strong one: grow the strong set inside the
    weak one until it stops growing, working only on the pictures that still grow."""
    kept = strong.copy()
    growing = np.nonzero((weak & ~strong).any(axis=(1, 2)))[0]
    while len(growing):
        before = kept[growing]
        grown = _dilate(before) & weak[growing]
        kept[growing] = grown
        growing = growing[(grown != before).any(axis=(1, 2))]
    return kept


def _dilate(mask: np.ndarray) -> np.ndarray:
    """3 x 3 binary dilation of masks [N, H, W]."""
    across = mask.copy()
    across[:, :, 1:] |= mask[:, :, :-1]
    across[:, :, :-1] |= mask[:, :, 1:]
    grown = across.copy()
    grown[:, 1:] |= across[:, :-1]
    grown[:, :-1] |= across[:, 1:]
    return grown


# ---------------------------------------------------------------- the public entry point

_CORRUPTIONS: dict[str, Corruption] = {
    "shot_noise": shot_noise,
    "impulse_noise": impulse_noise,
    "glass_blur": glass_blur,
    "motion_blur": motion_blur,
    "shear": shear,
    "scale": scale,
    "rotate": rotate,
    "brightness": brightness,
    "translate": translate,
    "stripe": stripe,
    "fog": fog,
    "spatter": spatter,
    "dotted_line": dotted_line,
    "zigzag": zigzag,
    "canny_edges": canny_edges,
}
CORRUPTIONS: tuple[str, ...] = tuple(_CORRUPTIONS)


def corrupt(name: str, images: torch.Tensor, seed: int) -> torch.Tensor:
    """images: uint8 [N, 28, 28], MNIST's form (light ink on black). Returns uint8 [N, 28, 28], each image
    corrupted with its own random draw; deterministic for a given seed (numpy Generator seeded from `seed` and name)."""
    if name not in _CORRUPTIONS:
        raise ValueError(f"unknown corruption {name!r}; the MNIST-C corruptions are: {', '.join(CORRUPTIONS)}")
    if images.dtype != torch.uint8 or images.dim() != 3 or tuple(images.shape[1:]) != (SIDE, SIDE):
        raise ValueError(f"expected uint8 images [N, 28, 28], got {images.dtype} {tuple(images.shape)}")
    # The name joins the seed so that one seed gives unrelated draws to different corruptions; crc32, unlike hash(),
    # is the same in every process.
    if len(images) == 0:
        return images.clone()
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    pixels = images.detach().cpu().numpy().astype(np.float32) / 255.0
    corrupted = _CORRUPTIONS[name](pixels, rng)
    return torch.from_numpy(np.rint(np.clip(corrupted, 0.0, 1.0) * 255.0).astype(np.uint8))
