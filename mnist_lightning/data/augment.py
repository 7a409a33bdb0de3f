"""Batched random distortions of digit images: the hand (rotation, slant, aspect, zoom, shift, elastic wobble) and
the pen and the picture (stroke width, broken and faint strokes, blur, low resolution, speckle).

Every image in the batch gets its own random geometry, and the whole batch is resampled by one `grid_sample`
call on its device: no PIL, no Python loop over images. Elastic distortion (Simard, Steinkraus & Platt, 2003)
moves every pixel by a smooth random field: uniform noise blurred by a Gaussian of width `elastic_sigma`, scaled
by `elastic_alpha` (computed here by matrix products, see `_grid`). It imitates the wobble of handwriting,
which affine maps cannot.

The pen-and-picture knobs imitate what is left of a photo or a drawing once `inference/preprocess.py` has put it
into MNIST's form: a fine pen or a marker gives strokes thinner or thicker than MNIST's, a digit small in its photo
is upscaled from a few pixels (blurred, blocky), a skipping pen or a faint scan breaks strokes, paper grain leaves
specks. Each is one batched tensor operation on a random share of the batch, its strength drawn per image (the
resolution per batch).

There is deliberately no flip: a mirrored 2, 3, 4, 5, 6, 7 or 9 is no longer that digit.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mnist_lightning.morphology import window_max
from mnist_lightning.random_bits import random_int16


@dataclass(frozen=True)
class RandomDistortion:
    rotate_deg: float = 0.0  # each image turns by a uniform angle in [-rotate_deg, +rotate_deg]
    shear_deg: float = 0.0  # horizontal shear angle in [-shear_deg, +shear_deg], like slanted handwriting
    translate: float = 0.0  # shift by up to this fraction of the image size, per axis
    scale: tuple[float, float] = (1.0, 1.0)  # zoom factor drawn uniformly from this range
    elastic_alpha: float = 0.0  # strength: alpha x blurred noise, in pixels (0 = off; Simard et al. used 34)
    elastic_sigma: float = 4.0  # smoothness of the displacement field, in pixels
    aspect: float = 0.0  # width scaled against height by a factor in [1 / (1 + aspect), 1 + aspect], log-uniform
    pen_width: float = 0.0  # strokes thickened by up to this many pixels a side, or thinned by up to one
    broken: float = 0.0  # share of the picture cut away in a few smooth gaps (a skipping pen, a faint scan)
    faint: float = 0.0  # ink darkness varies smoothly along the strokes by up to this share (pressure, a dry pen)
    blur_sigma: float = 0.0  # Gaussian blur, sigma uniform in [0, blur_sigma] pixels (defocus, a soft pencil)
    low_res: float = 0.0  # seen at down to (1 - low_res) x 28 pixels and scaled back (a small digit), one per batch
    speckle: float = 0.0  # share of pixels turned into specks of random brightness (grain, dust, noise)
    share: float = 0.5  # each pen-and-picture change acts on this share of a batch, its own images; 0 turns them off

    def __post_init__(self) -> None:
        lo, hi = self.scale
        checks = (
            (0 <= self.rotate_deg <= 180, "rotate_deg must be in [0, 180]", self.rotate_deg),
            (0 <= self.shear_deg < 90, "shear_deg must be in [0, 90)", self.shear_deg),
            (0 <= self.translate < 1, "translate must be in [0, 1)", self.translate),
            (0 < lo <= hi, "scale must be [low, high] with 0 < low <= high", self.scale),
            (self.elastic_alpha >= 0, "elastic_alpha must be >= 0", self.elastic_alpha),
            (self.elastic_sigma > 0, "elastic_sigma must be > 0", self.elastic_sigma),
            (0 <= self.aspect <= 1, "aspect must be in [0, 1]", self.aspect),
            (0 <= self.pen_width <= 2, "pen_width must be in [0, 2] (pixels a side)", self.pen_width),
            (0 <= self.broken < 1, "broken must be in [0, 1) (a share of the picture)", self.broken),
            (0 <= self.faint < 1, "faint must be in [0, 1)", self.faint),
            (0 <= self.blur_sigma <= 3, "blur_sigma must be in [0, 3] (pixels)", self.blur_sigma),
            (0 <= self.low_res <= 0.9, "low_res must be in [0, 0.9]", self.low_res),
            (0 <= self.speckle <= 0.1, "speckle must be in [0, 0.1] (a share of pixels)", self.speckle),
            (0 <= self.share <= 1, "share must be in [0, 1] (0: the pen-and-picture changes off)", self.share),
        )
        for ok, rule, value in checks:
            if not ok:
                raise ValueError(f"regularizer.augment.{rule}, got {value}.")

    @property
    def geometric(self) -> bool:
        affine = self.rotate_deg or self.shear_deg or self.translate or tuple(self.scale) != (1.0, 1.0) or self.aspect
        return bool(affine or self.elastic_alpha)

    @property
    def pen_and_picture(self) -> bool:
        changes = self.pen_width or self.broken or self.faint or self.blur_sigma or self.low_res or self.speckle
        return bool(changes and self.share)

    @property
    def enabled(self) -> bool:
        return self.geometric or self.pen_and_picture

    def _affine(self, n: int, device, dtype) -> torch.Tensor:
        """[n, 3, 2] transposed affine matrices mapping output to input coordinates ([-1, 1], as affine_grid)."""
        # One draw for all parameters; a sixth row only with aspect on, so that older recipes draw what they drew.
        u = torch.rand(6 if self.aspect else 5, n, device=device, dtype=dtype) * 2 - 1
        angle = u[0] * math.radians(self.rotate_deg)
        shear = torch.tan(u[1] * math.radians(self.shear_deg))
        lo, hi = self.scale
        zoom = lo + (u[2] + 1) / 2 * (hi - lo)  # zooming in = sampling a smaller area
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        shift_x, shift_y = u[3] * (2 * self.translate), u[4] * (2 * self.translate)  # t of the image is 2t here
        # Stretching the output's width by w samples the input at x / w: the coefficients of x shrink by w.
        widen = torch.exp(u[5] * math.log1p(self.aspect)) if self.aspect else torch.ones_like(zoom)
        # rows: the coefficients of x, y and 1 in (input x, input y) = rotation @ [[1, shear], [0, 1]] @ (x, y) + shift
        return torch.stack(
            [
                torch.stack([cos / widen, sin / widen], dim=1),
                torch.stack([cos * shear - sin, sin * shear + cos], dim=1),
                torch.stack([shift_x, shift_y], dim=1),
            ],
            dim=1,
        )

    def _grid(self, n: int, height: int, width: int, device, dtype) -> torch.Tensor:
        """[n, 2, H, W]: for each output pixel, the input position (x, y) to sample, in [-1, 1] units.

        The affine part is a x + b y + t per component. The elastic part follows Simard et al.: uniform noise in
        [-1, 1] per pixel, blurred by a Gaussian of width sigma, times alpha. Blurring is linear and separable,
        B_y @ noise @ B_x^T, and the noise is drawn per cell of floor(sigma)^2 pixels (16x fewer random numbers
        at sigma=4; blurred by a Gaussian as wide as the cell, the field keeps the original's smoothness and,
        divided by the cell size, its size: tests/test_augment.py compares both with a direct convolution).
        Both parts fit one product per component, L @ M @ R^T, with L = [B_y | y | 1] and R = [B_x | x | 1]:
        M holds the scaled noise in its top-left block and a, b, t in the corner. One batched product builds
        the whole grid, several times cheaper than a 25-tap convolution plus affine_grid plus an addition.
        """
        cell = max(1, math.floor(self.elastic_sigma))
        left = _grid_basis(height, cell, self.elastic_sigma if self.elastic_alpha else 0.0, device, dtype)
        right = _grid_basis(width, cell, self.elastic_sigma if self.elastic_alpha else 0.0, device, dtype)
        rows, cols = left.shape[1] - 2, right.shape[1] - 2  # noise cells along y and x (0 without elastic)
        core = torch.zeros(n, 2, rows + 2, cols + 2, device=device, dtype=dtype)
        if self.elastic_alpha:
            # Uniform noise in [-1, 1) is int16 / 32768 (a third of torch.rand's cost); one pixel is 2/size in
            # [-1, 1] units, per axis.
            noise = random_int16((n, 2, rows, cols), device)
            unit = self.elastic_alpha / cell / 32768
            core[:, 0, :rows, :cols] = noise[:, 0] * (unit * 2 / width)
            core[:, 1, :rows, :cols] = noise[:, 1] * (unit * 2 / height)
        affine = self._affine(n, device, dtype)  # [n, 3, 2]: coefficients of x, y and 1 per component
        core[:, :, rows + 1, cols] = affine[:, 0]  # 1 (from L) x (from R): a x
        core[:, :, rows, cols + 1] = affine[:, 1]  # y x 1: b y
        core[:, :, rows + 1, cols + 1] = affine[:, 2]  # 1 x 1: t
        # M @ R^T first: one flat product over all images, then a batched one (a little faster than the other order).
        return (left @ (core.view(n * 2, rows + 2, cols + 2) @ right.T)).view(n, 2, height, width)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """images: float [B, C, H, W] in [0, 1] with background 0; returns the same shape, each image distorted on
        its own."""
        if self.geometric:
            n, _, height, width = images.shape
            grid = self._grid(n, height, width, images.device, images.dtype)
            # grid_sample wants [n, H, W, 2]; it reads the permuted view as fast as a contiguous copy.
            images = F.grid_sample(
                images, grid.permute(0, 2, 3, 1), mode="bilinear", padding_mode="zeros", align_corners=False
            )
        if self.pen_and_picture:
            # In place from here on: on a copy when the batch is still the caller's.
            images = self._pen_and_picture(images if self.geometric else images.clone())
        return images

    def _pen_and_picture(self, x: torch.Tensor) -> torch.Tensor:
        """The pen's and the picture's changes, in the order they happen: the pen draws (width, gaps, pressure),
        then the camera or scanner sees (resolution, blur, grain). Each acts on its own `share` of the batch."""
        if self.pen_width:
            self._on_share(
                x, lambda w: _pen_width(w, _per_image(w, -self.pen_width, self.pen_width), self.pen_width > 1)
            )
        if self.broken:
            self._on_share(x, lambda w: w * _gaps(w, self.broken))
        if self.faint:
            self._on_share(x, lambda w: w * (1 - _per_image(w, 0, self.faint) * _smooth_field(w, 4)))
        if self.low_res:
            self._on_share(x, self._low_resolution)
        if self.blur_sigma:
            radius = math.ceil(2 * self.blur_sigma)
            self._on_share(x, lambda w: _gaussian_blur(w, _per_image(w, 0, self.blur_sigma).flatten(), radius))
        if self.speckle:
            self._on_share(x, lambda w: _speckled(w, self.speckle))
        return x.clamp_(0, 1)

    def _on_share(self, x: torch.Tensor, change) -> None:
        """x's images from a random one on, `share` of them, wrapping round the batch's end, replaced in place by
        `change` of them: a random subset, every image equally likely, since batches come shuffled; and one or two
        slices instead of a gather (these changes would otherwise double an MLP's step time on a CPU)."""
        size = x.shape[0]
        n = max(1, round(self.share * size))
        start = int(torch.randint(size, ()))
        for window in (x[start : start + n], x[: max(0, start + n - size)]):
            if len(window):
                window.copy_(change(window))

    def _low_resolution(self, x: torch.Tensor) -> torch.Tensor:
        """x seen at one random resolution between (1 - low_res) x and 1 x its own, and scaled back."""
        height, width = x.shape[-2:]
        side = max(2, round(width * (1 - self.low_res * float(torch.rand(())))))
        # Area-averaged down, bilinear back up: both linear and separable, so one matrix per axis.
        rows, cols = (_resampling(size, side, "area", x.device, x.dtype) for size in (height, width))
        rows, cols = (
            _resampling(side, size, "linear", x.device, x.dtype) @ m for size, m in ((height, rows), (width, cols))
        )
        return rows @ x @ cols.T


def _per_image(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """[B, 1, 1, 1]: one uniform number in [low, high] per image of the batch x."""
    return low + (high - low) * torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype)


def _smooth_field(x: torch.Tensor, cells: int) -> torch.Tensor:
    """[B, 1, H, W] in [0, 1]: uniform noise on a cells x cells grid, smoothly upsampled to x's size."""
    noise = torch.rand(x.shape[0], 1, cells, cells, device=x.device, dtype=x.dtype)
    height, width = x.shape[-2:]  # bilinear upsampling is one matrix per axis: 10x faster than interpolate here
    return (
        _resampling(cells, height, "linear", x.device, x.dtype)
        @ noise
        @ _resampling(cells, width, "linear", x.device, x.dtype).T
    )


def _pen_width(x: torch.Tensor, change: torch.Tensor, two_steps: bool) -> torch.Tensor:
    """Strokes `change` pixels a side thicker (> 0) or thinner (< 0), per image. Thicker: grey dilations by a 3x3
    square (a second one when `two_steps`), blended in by the fraction of a pixel. Thinner, by at most a pixel a
    side: the soft edges below a level are cut and the rest stretched back to full ink, which narrows a stroke
    without erasing MNIST's 2-pixel ones as an erosion would."""
    dilated = window_max(x, 3)
    thicker = x + change.clamp(0, 1) * (dilated - x)
    if two_steps:
        thicker = thicker + (change - 1).clamp(0, 1) * (window_max(dilated, 3) - dilated)
    level = (-change).clamp(0, 1) * 0.6  # the share of the edge's ink range cut away
    thinner = ((x - level) / (1 - level)).clamp(min=0)
    return torch.where(change > 0, thicker, thinner)


def _gaps(x: torch.Tensor, share: float) -> torch.Tensor:
    """[B, 1, H, W] of 0 and 1: `share` of each image's area cut away in smooth blobs (a smooth random field's
    lowest values), strokes included."""
    field = _smooth_field(x, 7).flatten(1)
    cut = field.kthvalue(max(1, round(share * field.shape[1])), dim=1, keepdim=True).values
    return (field > cut).view_as(x).to(x.dtype)


def _gaussian_blur(x: torch.Tensor, sigma: torch.Tensor, radius: int) -> torch.Tensor:
    """x [B, 1, H, W] blurred by a Gaussian of its own sigma per image ([B]; 0 leaves it as it is): one grouped
    convolution per axis for the whole batch."""
    offsets = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    kernels = torch.exp(-(offsets**2) / (2 * sigma.clamp(min=1e-3)[:, None] ** 2))
    kernels = kernels / kernels.sum(dim=1, keepdim=True)  # [B, 2 * radius + 1]

    def along(size: int) -> torch.Tensor:  # [B, 1, size, size]: entry (i, j) weighs pixel j in the blur of pixel i
        apart = torch.arange(size, device=x.device)[None, :] - torch.arange(size, device=x.device)[:, None]
        near = apart.abs() <= radius
        return (kernels[:, (apart.clamp(-radius, radius) + radius)] * near)[:, None]

    # As banded matrices, one per image and axis: a batched product, 4x faster than a grouped convolution here.
    return along(x.shape[-2]) @ x @ along(x.shape[-1]).transpose(-1, -2)


def _speckled(x: torch.Tensor, share: float) -> torch.Tensor:
    """x with `share` of its pixels, at random places, turned to specks of random brightness."""
    count = round(share * x.numel())
    out = x.clone()
    out.view(-1)[torch.randint(x.numel(), (count,), device=x.device)] = torch.rand(
        count, device=x.device, dtype=x.dtype
    )
    return out


@functools.lru_cache(maxsize=64)
def _resampling(size: int, to: int, mode: str, device, dtype) -> torch.Tensor:
    """[to, size]: the matrix of F.interpolate's 1-D resampling from `size` to `to` samples ("linear", pixel
    centres aligned as align_corners=False, or "area"), read off by resampling each unit vector."""
    unit = torch.eye(size, dtype=torch.float64)[:, None, :]
    options = {"align_corners": False} if mode == "linear" else {}
    return F.interpolate(unit, size=to, mode=mode, **options)[:, 0, :].T.to(device=device, dtype=dtype).contiguous()


@functools.lru_cache(maxsize=16)
def _grid_basis(size: int, cell: int, sigma: float, device, dtype) -> torch.Tensor:
    """[size, cells + 2]: the Gaussian blur of cell noise (no columns when sigma is 0), then the pixel-centre
    coordinate in [-1, 1] (align_corners=False), then ones. See RandomDistortion._grid."""
    coordinate = (torch.arange(size, dtype=torch.float64) * 2 + 1) / size - 1
    columns = [coordinate[:, None], torch.ones(size, 1, dtype=torch.float64)]
    if sigma:
        columns.insert(0, _cell_blur_matrix(size, cell, sigma))
    return torch.cat(columns, dim=1).to(device=device, dtype=dtype)


def _cell_blur_matrix(size: int, cell: int, sigma: float) -> torch.Tensor:
    """[size, ceil(size / cell)]: entry (i, j) is the weight a 1-D Gaussian blur centred on pixel i gives to the
    pixels of cell j, so that blurring noise that is constant over each cell is one matrix product. Pixels
    outside the image count as zero noise, as with a zero-padded convolution."""
    radius = math.ceil(3 * sigma)
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
    kernel /= kernel.sum()
    pixel_weights = torch.zeros(size, size, dtype=torch.float64)  # pixel_weights[i, k]: weight of pixel k at i
    for i in range(size):
        lo, hi = max(0, i - radius), min(size, i + radius + 1)
        pixel_weights[i, lo:hi] = kernel[lo - i + radius : hi - i + radius]
    cells = torch.arange(size) // cell
    return torch.zeros(size, int(cells[-1]) + 1, dtype=torch.float64).index_add_(1, cells, pixel_weights)
