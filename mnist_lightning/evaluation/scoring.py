"""Scoring a saved checkpoint: the one path that both training's final numbers and `mnist_lightning.eval` take."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch.loggers import TensorBoardLogger
from PIL import Image

from mnist_lightning.inference.checkpoint import load_classifier
from mnist_lightning.inference.ensemble import Ensemble, average_probabilities
from mnist_lightning.reporting.mistakes import PICTURES, mistake_pictures


def score_checkpoint(
    trainer: L.Trainer, datamodule: L.LightningDataModule, path: str | Path, validate: bool, pictures_dir: Path
) -> dict:
    """Metrics of the network saved in `path`: validation (when `validate`), then the official test set, with
    pictures of its mistakes in `pictures_dir` (and in TensorBoard, when the trainer logs there).

    The network is rebuilt from the file, so the numbers are those of the weights as saved (the weight average,
    when the run kept one), whatever the trainer did before.
    """
    model = load_classifier(path)
    results = {}
    if validate:
        results.update(trainer.validate(model, datamodule=datamodule)[0])
    results.update(trainer.test(model, datamodule=datamodule)[0])
    if trainer.is_global_zero:
        results.update(picture_the_mistakes(model, datamodule, pictures_dir, trainer.logger))
    return results


def picture_the_mistakes(model: L.LightningModule, datamodule, pictures_dir: Path, logger) -> dict:
    images, labels = datamodule.test_set.images.cpu(), datamodule.test_set.labels.cpu()
    model = model.cpu().eval()
    probabilities = model.probabilities(images.float().div(255))
    # As trained, to show what the temperature changed; the same probabilities when there is none.
    uncalibrated = (
        model.probabilities(images.float().div(255), calibrated=False) if model.hparams.temperature != 1 else None
    )
    numbers = mistake_pictures(probabilities, labels, images, pictures_dir, uncalibrated)
    if isinstance(logger, TensorBoardLogger):
        for name in PICTURES:
            picture = np.asarray(Image.open(pictures_dir / f"{name}.png").convert("RGB"))
            logger.experiment.add_image(f"test/{name}", picture, dataformats="HWC")
    return numbers


def score_ensemble(ensemble: Ensemble, datamodule: L.LightningDataModule, pictures_dir: Path) -> dict:
    """Official-test metrics of an ensemble (its members' calibrated probabilities averaged) and of each member
    alone, with pictures of the ensemble's mistakes in `pictures_dir`."""
    datamodule.prepare_data()
    datamodule.setup("test")
    images, labels = datamodule.test_set.images.cpu(), datamodule.test_set.labels.cpu()
    each = ensemble.member_log_probabilities(images.float().div(255))
    log_probabilities = average_probabilities(each)
    results = {
        "test/acc": accuracy(log_probabilities, labels),
        "test/loss": F.nll_loss(log_probabilities, labels).item(),
        "members": [
            {"file": str(path), "test/acc": accuracy(member, labels)} for path, member in zip(ensemble.files, each)
        ],
    }
    results.update(mistake_pictures(log_probabilities.exp(), labels, images, pictures_dir))
    return results


def accuracy(scores: torch.Tensor, labels: torch.Tensor) -> float:
    return (scores.argmax(dim=1) == labels).double().mean().item()
