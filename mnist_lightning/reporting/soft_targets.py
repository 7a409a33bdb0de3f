"""What a teacher teaches, as a picture: distorted training digits beside the teachers' probabilities for them,
as they are (temperature 1) and softened by the student's temperature. Written as soft_targets.png when a
distilled run starts (and logged to TensorBoard): the small bars are what a label cannot say."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, cast

import lightning as L
import numpy as np
import torch

from mnist_lightning.reporting.loggers import log_pictures

SHOWN = 6  # digits in the picture: of a batch, those the teachers find most like another digit
CANDIDATES = 512


class Student(Protocol):
    """What this callback asks of the module it runs with: classifier/lightning_module.py's MNISTClassifier,
    described rather than imported (reporting sits below the classifier layer)."""

    @property
    def teacher(self) -> object | None: ...

    def teacher_log_probabilities(self, images: torch.Tensor) -> torch.Tensor: ...


class SoftTargetsPicture(L.Callback):
    """Draws soft_targets.png into `run_dir` before the first training step of a distilled run (rank 0)."""

    def __init__(self, run_dir: str):
        self.run_dir = Path(run_dir)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        student = cast(Student, pl_module)
        if student.teacher is None or not trainer.is_global_zero:
            return
        datamodule = trainer.datamodule  # type: ignore[attr-defined]  # set by Lightning at run time, not declared
        generator = torch.Generator().manual_seed(0)
        pick = torch.randperm(len(datamodule.train_set), generator=generator)[:CANDIDATES].to(
            datamodule.train_set.images.device
        )
        images = datamodule.augment(datamodule.train_set.images[pick].unsqueeze(1).float().div(255))
        log_probabilities = student.teacher_log_probabilities(images).float().cpu()
        figure = soft_targets_figure(
            images[:, 0].cpu(),
            log_probabilities,
            datamodule.train_set.labels[pick].cpu(),
            pl_module.hparams["distillation"]["temperature"],
        )
        self.run_dir.mkdir(parents=True, exist_ok=True)
        figure.savefig(self.run_dir / "soft_targets.png", dpi=100)
        log_pictures(trainer.loggers, {"train/soft_targets": self.run_dir / "soft_targets.png"})
        import matplotlib.pyplot as plt

        plt.close(figure)


def soft_targets_figure(
    images: torch.Tensor, log_probabilities: torch.Tensor, labels: torch.Tensor, temperature: float
):
    """The SHOWN images whose second most likely class is most likely, each over its two distributions."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    second = log_probabilities.exp().topk(2, dim=1).values[:, 1]
    chosen = second.argsort(descending=True)[:SHOWN].tolist()
    softened = torch.softmax(log_probabilities / temperature, dim=1)
    fig, axes = plt.subplots(2, SHOWN, figsize=(2.3 * SHOWN, 4.6), gridspec_kw={"height_ratios": [1, 1.1]})
    for column, index in enumerate(chosen):
        image_ax, bars_ax = axes[0, column], axes[1, column]
        image_ax.imshow(images[index].numpy(), cmap="gray")
        image_ax.axis("off")
        image_ax.set_title(f"label: {int(labels[index])}", fontsize=10)
        digits = np.arange(log_probabilities.shape[1])  # one bar per class
        bars_ax.bar(digits - 0.2, log_probabilities[index].exp().numpy(), width=0.4, color="tab:blue", label="T = 1")
        bars_ax.bar(digits + 0.2, softened[index].numpy(), width=0.4, color="tab:orange", label=f"T = {temperature:g}")
        bars_ax.set_xticks(digits)
        bars_ax.set_ylim(0, 1)
        bars_ax.tick_params(labelsize=8)
        if column == 0:
            bars_ax.set_ylabel("teacher's probability")
            bars_ax.legend(fontsize=8, loc="upper left")
    fig.suptitle(
        "What the teachers say about distorted training digits (the student learns all ten bars, not just "
        "the label); the most ambiguous of a batch",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return fig
