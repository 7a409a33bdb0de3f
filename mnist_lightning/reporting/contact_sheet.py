"""A contact sheet of predictions: each picture as given, the 28x28 image the model saw, and its answer."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from PIL import Image

PER_ROW = 4  # pictures per row; each takes two panels
MAX_PICTURES = 100  # a sheet stays readable; predictions.csv has them all


def thumbnail(image: Image.Image) -> Image.Image:
    """The picture as the sheet shows it: RGBA, at most 256 pixels a side (a sheet of 40-megapixel photos
    would otherwise hold them all in memory at full size)."""
    small = image.convert("RGBA")
    small.thumbnail((256, 256))
    return small


def draw_contact_sheet(pictures: list[Image.Image], digits: torch.Tensor, rows: list[dict], path: Path) -> None:
    """pictures: `thumbnail`s; digits: [N, 28, 28], what the model saw; rows: predict's, with digit and probability."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    n = min(len(pictures), MAX_PICTURES)
    lines = math.ceil(n / PER_ROW)
    fig, axes = plt.subplots(lines, 2 * PER_ROW, figsize=(2.2 * PER_ROW * 2 * 0.75, 2.4 * lines), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i in range(n):
        given, seen = axes[i // PER_ROW, 2 * (i % PER_ROW)], axes[i // PER_ROW, 2 * (i % PER_ROW) + 1]
        checker = Image.new("RGBA", pictures[i].size, (200, 200, 200, 255))  # transparency shows as grey
        given.imshow(Image.alpha_composite(checker, pictures[i]))
        given.set_title(Path(rows[i]["file"]).name[:18], fontsize=8)
        seen.imshow(digits[i].numpy(), cmap="gray", vmin=0, vmax=1)
        unsure = bool(rows[i]["unsure"])
        seen.set_title(
            f"{rows[i]['digit']}  {rows[i]['probability']:.0%}" + ("  unsure" if unsure else ""),
            fontsize=10,
            color="tab:red" if unsure else "black",
            fontweight="bold",
        )
    fig.suptitle("each picture, then what the model saw (28x28) and its answer", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / fig.get_figheight()))  # a third of an inch above the first row's titles
    fig.savefig(path, dpi=100)
    plt.close(fig)
