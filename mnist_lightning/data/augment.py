"""Batched random distortions of digit images: affine (rotation, shear, zoom, shift) and elastic.

Every image in the batch gets its own random parameters, and the whole batch is resampled by one `grid_sample`
call on its device: no PIL, no Python loop over images. Elastic distortion (Simard, Steinkraus & Platt, 2003)
moves every pixel by a smooth random field: uniform noise blurred by a Gaussian of width `elastic_sigma`, scaled
by `elastic_alpha` (computed here by matrix products, see `_grid`). It imitates the wobble of handwriting,
which affine maps cannot.

There is deliberately no flip: a mirrored 2, 3, 4, 5, 6, 7 or 9 is no longer that digit.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mnist_lightning.random_bits import random_int16


@dataclass(frozen=True)
class RandomDistortion:
    rotate_deg: float = 0.0  # each image turns by a uniform angle in [-rotate_deg, +rotate_deg]
    shear_deg: float = 0.0  # horizontal shear angle in [-shear_deg, +shear_deg], like slanted handwriting
    translate: float = 0.0  # shift by up to this fraction of the image size, per axis
    scale: tuple[float, float] = (1.0, 1.0)  # zoom factor drawn uniformly from this range
    elastic_alpha: float = 0.0  # strength: alpha x blurred noise, in pixels (0 = off; Simard et al. used 34)
    elastic_sigma: float = 4.0  # smoothness of the displacement field, in pixels

    def __post_init__(self) -> None:
        lo, hi = self.scale
        checks = (
            (0 <= self.rotate_deg <= 180, "rotate_deg must be in [0, 180]", self.rotate_deg),
            (0 <= self.shear_deg < 90, "shear_deg must be in [0, 90)", self.shear_deg),
            (0 <= self.translate < 1, "translate must be in [0, 1)", self.translate),
            (0 < lo <= hi, "scale must be [low, high] with 0 < low <= high", self.scale),
            (self.elastic_alpha >= 0, "elastic_alpha must be >= 0", self.elastic_alpha),
            (self.elastic_sigma > 0, "elastic_sigma must be > 0", self.elastic_sigma),
        )
        for ok, rule, value in checks:
            if not ok:
                raise ValueError(f"regularizer.augment.{rule}, got {value}.")

    @property
    def enabled(self) -> bool:
        affine = self.rotate_deg or self.shear_deg or self.translate or tuple(self.scale) != (1.0, 1.0)
        return bool(affine or self.elastic_alpha)

    def _affine(self, n: int, device, dtype) -> torch.Tensor:
        """[n, 3, 2] transposed affine matrices mapping output to input coordinates ([-1, 1], as affine_grid)."""
        u = torch.rand(5, n, device=device, dtype=dtype) * 2 - 1  # one draw for all five parameters
        angle = u[0] * math.radians(self.rotate_deg)
        shear = torch.tan(u[1] * math.radians(self.shear_deg))
        lo, hi = self.scale
        zoom = lo + (u[2] + 1) / 2 * (hi - lo)  # zooming in = sampling a smaller area
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        shift_x, shift_y = u[3] * (2 * self.translate), u[4] * (2 * self.translate)  # t of the image is 2t here
        # rows: the coefficients of x, y and 1 in (input x, input y) = rotation @ [[1, shear], [0, 1]] @ (x, y) + shift
        return torch.stack([
            torch.stack([cos, sin], dim=1),
            torch.stack([cos * shear - sin, sin * shear + cos], dim=1),
            torch.stack([shift_x, shift_y], dim=1),
        ], dim=1)

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
        """images: float [B, C, H, W] with background 0; returns the same shape, each image distorted on its own."""
        n, _, height, width = images.shape
        grid = self._grid(n, height, width, images.device, images.dtype)
        # grid_sample wants [n, H, W, 2]; it reads the permuted view as fast as a contiguous copy.
        return F.grid_sample(images, grid.permute(0, 2, 3, 1), mode="bilinear", padding_mode="zeros", align_corners=False)


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
