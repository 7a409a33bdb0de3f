"""The learning-rate range test as a picture (lr_find.png): loss against learning rate on a log axis, with the
suggestion, the lowest loss and the configured optimizer.lr marked (mnist_lightning/lr_find.py)."""

from __future__ import annotations

import math
from pathlib import Path

FIRST_POINTS = 10  # the y axis ends a little above the loss of these first batches


def plot(report: dict, title: str, path: Path) -> None:
    """Loss against learning rate on a log axis: each batch's loss, the smoothed curve, the suggestion and the
    configured optimizer.lr. The y axis ends a little above the first batches' losses, so that the blow-up at the
    largest rates does not squash the part of the curve that matters."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    points = report["points"]
    lrs = [p["lr"] for p in points]
    raw = [math.nan if p["batch_loss"] is None else p["batch_loss"] for p in points]
    smooth = [math.nan if p["loss"] is None else p["loss"] for p in points]
    finite = [v for v in raw + smooth if math.isfinite(v)]
    start = [v for v in raw[:FIRST_POINTS] if math.isfinite(v)] or finite

    fig, ax = plt.subplots(figsize=(8.5, 5.2))
    ax.plot(lrs, raw, color="0.7", linewidth=0.8, label="loss of each batch")
    ax.plot(
        lrs,
        smooth,
        color="tab:blue",
        linewidth=2,
        label=f"averaged over ±{report['smoothing']['decades_either_side']:.2g} decades of lr",
    )
    ax.set_xscale("log")
    configured = report["configured_lr"]
    ax.axvline(
        configured, color="0.25", linestyle=":", linewidth=1.5, label=f"configured optimizer.lr = {configured:g}"
    )
    if report["lowest_loss"] is not None:
        low = report["lowest_loss"]
        ax.plot(
            low["lr"], low["loss"], "v", color="tab:green", markersize=9, label=f"lowest loss, at lr {low['lr']:.2g}"
        )
    if report["suggestion"] is not None:
        lr, loss = report["suggestion"], report["suggestion_loss"]
        ax.axvline(lr, color="tab:red", linestyle="--", linewidth=1.2)
        ax.plot(lr, loss, "o", color="tab:red", markersize=9, label=f"suggestion: steepest descent, lr {lr:.2g}")
        ax.annotate(
            f"suggested lr = {lr:.2g}",
            (lr, loss),
            xytext=(-12, -28),
            textcoords="offset points",
            ha="right",
            color="tab:red",
            fontsize=11,
            fontweight="bold",
        )
    top = min(max(finite), 1.15 * max(start))
    bottom = min(finite)
    ax.set_ylim(bottom - 0.05 * (top - bottom), top + 0.05 * (top - bottom))
    ax.set_xlim(report["range"]["min_lr"], report["range"]["max_lr"])
    ax.set_xlabel("learning rate (log scale; one batch per rate)")
    ax.set_ylabel("training loss")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="major", color="0.9")
    ax.legend(loc="lower left", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
