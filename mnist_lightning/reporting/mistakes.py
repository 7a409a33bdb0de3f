"""What a model gets wrong on the official test set, as pictures: the confusion matrix, the misclassified images,
accuracy per class, and a reliability diagram (does 90 % confidence mean 90 % right?). Classes are named as the
data set names them (conf/data/, `class_names`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

MAX_MISTAKES = 64  # the grid shows the most confident mistakes first; there are rarely more worth a look
CALIBRATION_BINS = 15
PICTURES = ("confusion_matrix", "mistakes", "per_class_accuracy", "reliability")  # each written as <name>.png


def calibration_bins(probabilities: torch.Tensor, labels: torch.Tensor, bins: int = CALIBRATION_BINS) -> list[tuple]:
    """(mean confidence, accuracy, count) of each non-empty equal-width bin of the top probability."""
    confidence, predicted = probabilities.max(dim=1)
    correct = (predicted == labels).double()
    edges = torch.linspace(0, 1, bins + 1)
    found = []
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            found.append((float(confidence[inside].double().mean()), float(correct[inside].mean()), int(inside.sum())))
    return found


def expected_calibration_error(bins: list[tuple]) -> float:
    """Mean gap between confidence and accuracy over the bins of `calibration_bins`, weighted by their counts."""
    total = sum(count for _, _, count in bins)
    return sum(count / total * abs(confidence - accuracy) for confidence, accuracy, count in bins)


def mistake_pictures(
    probabilities: torch.Tensor,
    labels: torch.Tensor,
    images: torch.Tensor,
    out_dir: Path | None,
    class_names: Sequence[str],
    uncalibrated: torch.Tensor | None = None,
) -> dict:
    """Writes the PICTURES into `out_dir` as <name>.png (none when `out_dir` is None), for `images` as stored
    (uint8 [N, 28, 28]) whose classes are `class_names`; returns the numbers for
    metrics.json (per-class accuracy, expected calibration error). `uncalibrated`: the probabilities before
    temperature scaling, when there was one; the reliability diagram and the numbers then show both."""
    predicted = probabilities.argmax(dim=1)
    k = len(class_names)
    confusion = torch.zeros(k, k, dtype=torch.long).index_put_(
        (labels, predicted), torch.ones_like(labels), accumulate=True
    )
    # A class with no test image has no accuracy (None), rather than a division by zero.
    per_class = {
        name: round(float(confusion[c, c] / confusion[c].sum()), 4) if confusion[c].sum() else None
        for c, name in enumerate(class_names)
    }
    in_use = calibration_bins(probabilities, labels)
    before = calibration_bins(uncalibrated, labels) if uncalibrated is not None else None
    numbers = {"test/per_class_acc": per_class, "test/ece": round(expected_calibration_error(in_use), 5)}
    if before:
        numbers["test/ece_uncalibrated"] = round(expected_calibration_error(before), 5)
    if out_dir is None:
        return numbers
    import matplotlib  # here: a run that draws nothing never pays for importing it

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    curves = {"as trained": before, "temperature-scaled": in_use} if before else {"this model": in_use}
    figures = {
        "confusion_matrix": _confusion_figure(plt, confusion, class_names),
        "mistakes": _mistakes_figure(plt, probabilities, labels, predicted, images, class_names),
        "per_class_accuracy": _per_class_figure(plt, confusion, class_names),
        "reliability": _reliability_figure(plt, curves),
    }
    for name, figure in figures.items():
        figure.savefig(out_dir / f"{name}.png", dpi=100)
        plt.close(figure)
    return numbers


def _class_ticks(axis, class_names: Sequence[str]) -> None:
    """One tick per class, named; names longer than a digit are turned so that they do not overlap."""
    axis.set_ticks(range(len(class_names)))
    if axis.axis_name == "x" and max(map(len, class_names)) > 2:
        axis.set_ticklabels(class_names, rotation=45, ha="right")
    else:
        axis.set_ticklabels(class_names)


def _confusion_figure(plt, confusion: torch.Tensor, class_names: Sequence[str]):
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    off_diagonal = confusion.clone().fill_diagonal_(0)
    ax.imshow(off_diagonal.numpy(), cmap="Reds")  # colour shows the mistakes; the diagonal would drown them out
    dark_above = 0.6 * int(off_diagonal.max())  # cells this full are dark red, where black counts would vanish
    for true in range(len(class_names)):
        for said in range(len(class_names)):
            count = int(confusion[true, said])
            if count:
                dark = true != said and count > dark_above
                ax.text(
                    said,
                    true,
                    str(count),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="tab:green" if true == said else "white" if dark else "black",
                    fontweight="bold" if true == said else None,
                )
    _class_ticks(ax.xaxis, class_names)
    _class_ticks(ax.yaxis, class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"official test set: {int(off_diagonal.sum())} mistakes of {int(confusion.sum()):,}")
    fig.tight_layout()
    return fig


def _mistakes_figure(plt, probabilities, labels, predicted, images, class_names: Sequence[str]):
    wrong = (predicted != labels).nonzero().flatten()
    wrong = wrong[probabilities[wrong].max(dim=1).values.argsort(descending=True)][:MAX_MISTAKES]
    columns, gap, caption = 8, 4, 14  # pixels between images, and above each for its caption
    long = max(map(len, class_names)) > 2  # "T-shirt/top → Shirt" needs two lines and a smaller type
    rows = max(1, -(-len(wrong) // columns))
    # One picture of all the digits on one set of axes: 64 small axes took 2.7 s of a run's closing seconds.
    cell_w, cell_h = 28 + gap, 28 + caption
    sheet = torch.ones(rows * cell_h, columns * cell_w)  # white between the digits
    fig, ax = plt.subplots(figsize=(1.5 * columns, 1.65 * rows + 0.4))
    for k, index in enumerate(wrong.tolist()):
        top, left = (k // columns) * cell_h + caption, (k % columns) * cell_w + gap // 2
        sheet[top : top + 28, left : left + 28] = images[index] / 255  # uint8 as stored: light ink on black
        ax.text(
            left + 14,
            top - 2,
            f"{class_names[labels[index]]} →{chr(10) if long else ' '}{class_names[predicted[index]]}"
            f"  {float(probabilities[index].max()):.0%}",
            ha="center",
            va="bottom",
            fontsize=6 if long else 9,
        )
    ax.imshow(sheet.numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")
    ax.set_title(
        f"misclassified test images, most confident first (true → predicted, probability); {len(wrong)} shown",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def _per_class_figure(plt, confusion: torch.Tensor, class_names: Sequence[str]):
    right, total = confusion.diagonal(), confusion.sum(dim=1)
    accuracy = (right / total).numpy()  # NaN for a class with no test image: no bar, and never the worst
    worst = int(np.nanargmin(accuracy))
    low = 100 * float(accuracy[worst])
    bottom = max(0.0, low - (100 - low) * 0.6 - 0.1)  # zoomed in: at 99 %, full-height bars would all look alike
    fig, ax = plt.subplots(figsize=(6.4, 4))
    bars = ax.bar(
        range(len(class_names)),
        100 * accuracy,
        color=["tab:red" if k == worst else "tab:blue" for k in range(len(accuracy))],
    )
    for bar, wrong, n in zip(bars, (total - right).tolist(), total.tolist()):
        ax.annotate(
            f"{wrong} of {n:,}\nwrong" if n else "no test\nimages",
            (bar.get_x() + bar.get_width() / 2, bar.get_height() if n else bottom),
            textcoords="offset points",
            xytext=(0, 2),
            ha="center",
            fontsize=7,
        )
    ax.set_ylim(bottom, 100 + (100 - bottom) * 0.15)  # room for the labels above the bars
    ax.axhline(100, color="gray", linewidth=0.8, linestyle=":")
    _class_ticks(ax.xaxis, class_names)
    ax.set_xlabel("true class")
    ax.set_ylabel("accuracy on its test images (%)")
    ax.set_title(f"accuracy per class on the official test set (worst: {class_names[worst]}, in red)", fontsize=10)
    fig.tight_layout()
    return fig


def _reliability_figure(plt, curves: dict[str, list[tuple]]):
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="gray", linestyle="--", linewidth=1, label="perfectly calibrated")
    for (name, bins), colour in zip(curves.items(), ("tab:orange", "tab:blue") if len(curves) > 1 else ("tab:blue",)):
        centres, accuracy, counts = zip(*bins)
        ax.plot(
            centres, accuracy, marker="o", color=colour, label=f"{name}: ECE {expected_calibration_error(bins):.2%}"
        )
        if colour == "tab:blue":  # image counts for the probabilities in use only: two sets would overlap
            for x, y, n in zip(centres, accuracy, counts):
                ax.annotate(f"{n:,}", (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.set_xlabel("confidence (top probability), mean per bin")
    ax.set_ylabel("accuracy in the bin")
    ax.set_title("reliability on the official test set\n(ECE: expected calibration error)", fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig
