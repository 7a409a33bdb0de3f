"""Batched random distortions of digit images: affine (rotation, shear, zoom, shift) and elastic.

Every image in the batch gets its own random parameters, and the whole batch is resampled by one `grid_sample`
call on its device: no PIL, no Python loop over images. Elastic distortion (Simard, Steinkraus & Platt, 2003)
moves every pixel by a smooth random field: uniform noise blurred by a Gaussian of width `elastic_sigma`, scaled
to `elastic_alpha` pixels. It imitates the wobble of handwriting, which affine maps cannot.

There is deliberately no flip: a mirrored 2, 3, 4, 5, 6, 7 or 9 is no longer that digit.
"""

from __future__ import annotations

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
    elastic_alpha: float = 0.0  # size of the elastic displacement, in pixels (0 = off; Simard et al. used 34)
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
        """[n, 2, 3] matrices mapping output to input coordinates (affine_grid's convention, in [-1, 1])."""

        def uniform(bound: float, *shape: int) -> torch.Tensor:
            return (torch.rand(n, *shape, device=device, dtype=dtype) * 2 - 1) * bound

        angle = uniform(math.radians(self.rotate_deg))
        shear = torch.tan(uniform(math.radians(self.shear_deg)))
        lo, hi = self.scale
        zoom = lo + torch.rand(n, device=device, dtype=dtype) * (hi - lo)  # zooming in = sampling a smaller area
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        shift = uniform(2 * self.translate, 2)  # a fraction t of the image is 2t in [-1, 1] coordinates
        # rotation @ shear, with shear = [[1, s], [0, 1]]
        row0 = torch.stack([cos, cos * shear - sin, shift[:, 0]], dim=1)
        row1 = torch.stack([sin, sin * shear + cos, shift[:, 1]], dim=1)
        return torch.stack([row0, row1], dim=1)

    def _elastic(self, n: int, height: int, width: int, device, dtype) -> torch.Tensor:
        """[n, H, W, 2] smooth random displacements, in grid_sample's [-1, 1] units."""
        radius = math.ceil(3 * self.elastic_sigma)
        offsets = torch.arange(-radius, radius + 1, device=device, dtype=dtype)
        kernel = torch.exp(-(offsets**2) / (2 * self.elastic_sigma**2))
        kernel = kernel / kernel.sum()
        noise = torch.rand(n * 2, 1, height, width, device=device, dtype=dtype) * 2 - 1
        # A separable Gaussian blur: along x, then along y.
        field = F.conv2d(noise, kernel.view(1, 1, 1, -1), padding=(0, radius))
        field = F.conv2d(field, kernel.view(1, 1, -1, 1), padding=(radius, 0))
        pixel = torch.tensor([2 / width, 2 / height], device=device, dtype=dtype)  # one pixel in [-1, 1] units
        return field.view(n, 2, height, width).permute(0, 2, 3, 1) * (self.elastic_alpha * pixel)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """images: float [B, C, H, W] with background 0; returns the same shape, each image distorted on its own."""
        n, _, height, width = images.shape
        grid = F.affine_grid(self._affine(n, images.device, images.dtype), list(images.shape), align_corners=False)
        if self.elastic_alpha:
            grid = grid + self._elastic(n, height, width, images.device, images.dtype)
        return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
