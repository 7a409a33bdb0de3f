"""Batched random distortions of digit images: affine (rotation, shear, zoom, shift) and elastic.

Every image in the batch gets its own random parameters, and the whole batch is resampled by one `grid_sample`
call on its device: no PIL, no Python loop over images. Elastic distortion (Simard, Steinkraus & Platt, 2003)
moves every pixel by a smooth random field: uniform noise blurred by a Gaussian of width `elastic_sigma`, scaled
by `elastic_alpha` (computed here by matrix products, see `_elastic`). It imitates the wobble of handwriting,
which affine maps cannot.

There is deliberately no flip: a mirrored 2, 3, 4, 5, 6, 7 or 9 is no longer that digit.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


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

    def _elastic(self, n: int, height: int, width: int, device, dtype) -> torch.Tensor:
        """[n, 2, H, W]: smooth random displacements (x, y) of each pixel, in grid_sample's [-1, 1] units.

        Simard et al.: uniform noise in [-1, 1] per pixel, blurred by a Gaussian of width sigma, times alpha.
        Blurring is linear and separable, so it is two small matrix products, B_y @ noise @ B_x^T, instead of
        a 25-tap convolution (which costs more than a whole MLP training step on a CPU). The noise is drawn
        per cell of floor(sigma) x floor(sigma) pixels rather than per pixel (16x fewer random numbers at
        sigma=4): blurred by a Gaussian as wide as the cell, the field is as smooth as the original (its
        correlation at 4 and 8 pixels within 0.04 of it), and dividing by the cell size keeps its standard
        deviation (within 5%; tests/test_models.py compares both with a direct convolution).
        """
        cell = max(1, math.floor(self.elastic_sigma))
        blur_y = _cell_blur_matrix(height, cell, self.elastic_sigma, device, dtype)
        blur_x = _cell_blur_matrix(width, cell, self.elastic_sigma, device, dtype)
        # Per axis, one pixel is 2/size in [-1, 1] units; scaling the small noise is cheaper than the field.
        scale = torch.tensor([2 / width, 2 / height], device=device, dtype=dtype) * (self.elastic_alpha / cell)
        noise = (torch.rand(n, 2, blur_y.shape[1], blur_x.shape[1], device=device, dtype=dtype) * 2 - 1)
        noise = (noise * scale.view(1, 2, 1, 1)).view(n * 2, blur_y.shape[1], blur_x.shape[1])  # 3-D: fast matmuls
        return (blur_y @ noise @ blur_x.T).view(n, 2, height, width)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """images: float [B, C, H, W] with background 0; returns the same shape, each image distorted on its own."""
        n, _, height, width = images.shape
        base = _base_grid(height, width, images.device, images.dtype)  # [H, W, 3]: (x, y, 1) of each pixel
        grid = (base.view(1, -1, 3) @ self._affine(n, images.device, images.dtype)).view(n, height, width, 2)
        if self.elastic_alpha:
            grid += self._elastic(n, height, width, images.device, images.dtype).permute(0, 2, 3, 1)
        return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


@functools.lru_cache(maxsize=16)
def _base_grid(height: int, width: int, device, dtype) -> torch.Tensor:
    """Pixel centres in [-1, 1] (align_corners=False) with a 1 appended: the identity for affine_grid."""
    ys = (torch.arange(height, dtype=torch.float64) * 2 + 1) / height - 1
    xs = (torch.arange(width, dtype=torch.float64) * 2 + 1) / width - 1
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([x, y, torch.ones_like(x)], dim=-1).to(device=device, dtype=dtype)


@functools.lru_cache(maxsize=16)
def _cell_blur_matrix(size: int, cell: int, sigma: float, device, dtype) -> torch.Tensor:
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
    matrix = torch.zeros(size, int(cells[-1]) + 1, dtype=torch.float64).index_add_(1, cells, pixel_weights)
    return matrix.to(device=device, dtype=dtype)
