"""Batched random affine augmentation: one matrix per image, one `grid_sample` call for the whole batch.

Small rotations, shifts and rescalings leave a digit's class unchanged; a horizontal flip does not (a mirrored
2 or 7 is no longer that digit), so there is no flip here. Everything runs on the batch's device in a few
tensor ops: no PIL, no Python loop over images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AffineAugment:
    rotate_deg: float = 0.0  # each image turns by a uniform angle in [-rotate_deg, +rotate_deg]
    translate: float = 0.0  # shift by up to this fraction of the image size, per axis
    scale: tuple[float, float] = (1.0, 1.0)  # zoom factor drawn uniformly from this range

    def __post_init__(self) -> None:
        lo, hi = self.scale
        if not 0 <= self.rotate_deg <= 180:
            raise ValueError(f"regularizer.augment.rotate_deg must be in [0, 180], got {self.rotate_deg}.")
        if not 0 <= self.translate < 1:
            raise ValueError(f"regularizer.augment.translate must be in [0, 1), got {self.translate}.")
        if not 0 < lo <= hi:
            raise ValueError(f"regularizer.augment.scale must be [low, high] with 0 < low <= high, got {self.scale}.")

    @property
    def enabled(self) -> bool:
        return self.rotate_deg > 0 or self.translate > 0 or tuple(self.scale) != (1.0, 1.0)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """images: float [B, C, H, W] with background 0; returns the same shape, each image moved independently."""
        n = images.shape[0]
        dev = images.device
        angle = (torch.rand(n, device=dev) * 2 - 1) * math.radians(self.rotate_deg)
        lo, hi = self.scale
        zoom = lo + torch.rand(n, device=dev) * (hi - lo)
        # affine_grid maps output to input coordinates in [-1, 1]: a shift of t (fraction of the size) is 2t there,
        # and zooming in by s means sampling a region 1/s as large.
        shift = (torch.rand(n, 2, device=dev) * 2 - 1) * (2 * self.translate)
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
        grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
        return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
