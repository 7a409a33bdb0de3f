"""examples.png of a robustness run: for every group, one picture as a person gave it, what the model saw (28x28),
and the group's accuracy; a row of groups per suite."""

from __future__ import annotations

from pathlib import Path

import torch

PER_ROW = 6  # groups a row; each takes two panels


def draw_examples(groups: list, report: dict, path: Path, title: str) -> None:
    """groups: realworld.suites.Group; report: suite -> group name -> metrics with 'accuracy'."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    suites = list(dict.fromkeys(group.suite for group in groups))
    lines = [(suite, chunk) for suite in suites for chunk in _chunks([g for g in groups if g.suite == suite], PER_ROW)]
    fig, axes = plt.subplots(len(lines), 2 * PER_ROW, figsize=(1.45 * 2 * PER_ROW, 1.9 * len(lines)), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for row, (suite, chunk) in enumerate(lines):
        for i, group in enumerate(chunk):
            given, seen = axes[row, 2 * i], axes[row, 2 * i + 1]
            given.imshow(_on_grey(group.example).numpy())
            given.set_title(f"{suite}\n{group.name}"[:44], fontsize=7, loc="left")
            seen.imshow(group.seen[0].numpy(), cmap="gray", vmin=0, vmax=1)
            accuracy = report[suite][group.name]["accuracy"]
            seen.set_title(
                f"{100 * accuracy:.1f} %",
                fontsize=10,
                fontweight="bold",
                color="black" if accuracy >= 0.97 else "tab:red",
            )
    fig.suptitle(
        f"{title}: each group's first picture as given, what the model saw, and the group's accuracy", fontsize=10
    )
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / max(1, len(lines))))  # room for the title above the first row
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _chunks(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)] or [[]]


def _on_grey(rgba: torch.Tensor) -> torch.Tensor:
    """An RGBA picture over light grey, so that a transparent ground shows as such."""
    alpha = rgba[..., 3:].float() / 255
    return (rgba[..., :3].float() * alpha + 200 * (1 - alpha)).round().to(torch.uint8)
