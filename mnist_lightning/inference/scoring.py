"""Scoring a saved checkpoint: the one path that both training's final numbers and `mnist_lightning.eval` take."""

from __future__ import annotations

from pathlib import Path

import lightning as L

from mnist_lightning.inference.checkpoint import load_classifier


def score_checkpoint(trainer: L.Trainer, datamodule: L.LightningDataModule, path: str | Path, validate: bool) -> dict:
    """Metrics of the network saved in `path`: validation (when `validate`), then the official test set.

    The network is rebuilt from the file, so the numbers are those of the weights as saved (the weight average,
    when the run kept one), whatever the trainer did before.
    """
    model = load_classifier(path)
    results = {}
    if validate:
        results.update(trainer.validate(model, datamodule=datamodule)[0])
    results.update(trainer.test(model, datamodule=datamodule)[0])
    return results
