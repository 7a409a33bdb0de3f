"""Scoring a saved checkpoint: the one path that both training's final numbers and `mnist_lightning.eval` take."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F

from mnist_lightning.data.datamodule import InMemoryDataset, MNISTDataModule
from mnist_lightning.inference.checkpoint import load_classifier
from mnist_lightning.inference.ensemble import Ensemble, average_probabilities
from mnist_lightning.inference.model_card import check_same_data, trained_on
from mnist_lightning.reporting.loggers import log_pictures, log_results
from mnist_lightning.reporting.mistakes import PICTURES, mistake_pictures


def score_checkpoint(
    trainer: L.Trainer, datamodule: MNISTDataModule, path: str | Path, validate: bool, pictures_dir: Path | None
) -> dict:
    """Metrics of the network saved in `path`: validation (when `validate`), then the official test set, with
    pictures of its mistakes in `pictures_dir` (and in TensorBoard, when the trainer logs there; None: no pictures).

    The network is rebuilt from the file, so the numbers are those of the weights as saved (the weight average,
    when the run kept one), whatever the trainer did before. The test set is scored in one pass, on every process
    (10,000 images take a fraction of a second); `trainer.limit_test_batches` (trainer=debug: one batch) limits it
    as it limits trainer.test, and `test/images` says how many were scored.
    """
    model = load_classifier(path)
    data = trained_on(model)
    check_same_data(data, datamodule.dataset, path)
    results: dict[str, Any] = {"trained_on": data}
    if validate:
        results.update(trainer.validate(model, datamodule=datamodule)[0])
    test_set = official_test_set(datamodule)
    count = within_limit(len(test_set), trainer.limit_test_batches, datamodule.eval_batch_size)
    images, labels = test_set.images[:count], test_set.labels[:count]
    logits = model.to(trainer.strategy.root_device).logits(images.float().div(255)).cpu()
    images, labels = images.cpu(), labels.cpu()
    results["test/images"] = count
    # What _evaluate logs per batch, over the whole set: the loss of the logits as trained, and the accuracy.
    results["test/loss"] = F.cross_entropy(logits, labels).item()
    results["test/acc"] = accuracy(logits, labels)
    if not trainer.is_global_zero:
        return results
    log_results(
        trainer.loggers, {"test/loss": results["test/loss"], "test/acc": results["test/acc"]}, trainer.global_step
    )
    temperature = model.hparams.temperature
    calibrated = torch.softmax(logits / temperature, dim=1)
    # As trained, to show what the temperature changed; None when there is no temperature.
    uncalibrated = torch.softmax(logits, dim=1) if temperature != 1 else None
    results.update(mistake_pictures(calibrated, labels, images, pictures_dir, model.hparams.class_names, uncalibrated))
    if pictures_dir is not None:
        log_pictures(trainer.loggers, {f"test/{name}": pictures_dir / f"{name}.png" for name in PICTURES})
    return results


def score_ensemble(ensemble: Ensemble, datamodule: MNISTDataModule, pictures_dir: Path) -> dict:
    """Official-test metrics of an ensemble (its members' calibrated probabilities averaged) and of each member
    alone, with pictures of the ensemble's mistakes in `pictures_dir`."""
    check_same_data(ensemble.trained_on, datamodule.dataset, ensemble.files[0])
    datamodule.prepare_data()  # training did it for score_checkpoint; eval's datamodule is new
    test_set = official_test_set(datamodule)
    images, labels = test_set.images.cpu(), test_set.labels.cpu()
    each = ensemble.member_log_probabilities(images.float().div(255))
    log_probabilities = average_probabilities(each)
    results = {
        "trained_on": ensemble.trained_on,
        "test/acc": accuracy(log_probabilities, labels),
        "test/loss": F.nll_loss(log_probabilities, labels).item(),
        "members": [
            {"file": str(path), "test/acc": accuracy(member, labels)} for path, member in zip(ensemble.files, each)
        ],
    }
    results.update(
        mistake_pictures(log_probabilities.exp(), labels, images, pictures_dir, ensemble.trained_on["class_names"])
    )
    return results


def official_test_set(datamodule: MNISTDataModule) -> InMemoryDataset:
    """The official test images (MNIST's 10,000), loaded from the cache prepare_data verified."""
    datamodule.setup("test")
    assert datamodule.test_set is not None, "setup('test') loads it"
    return datamodule.test_set


def within_limit(images: int, limit: int | float | None, batch_size: int) -> int:
    """How many of `images` a trainer's limit_{val,test}_batches lets through: an int counts batches, a float is a
    share of them (Lightning's rule); None or 1.0: all."""
    if limit is None:
        return images
    batches = -(-images // batch_size)
    allowed = limit if isinstance(limit, int) else int(batches * limit)
    return min(images, max(1, allowed) * batch_size)


def accuracy(scores: torch.Tensor, labels: torch.Tensor) -> float:
    return (scores.argmax(dim=1) == labels).double().mean().item()
