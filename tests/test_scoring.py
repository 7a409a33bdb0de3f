"""evaluation/scoring.py: training's final numbers and a later scoring of the same checkpoint agree exactly."""

from __future__ import annotations

import lightning as L
import pytest

from helpers import TINY_RUN, train_in_process
from mnist_lightning.data.datamodule import MNISTDataModule
from mnist_lightning.evaluation.scoring import score_checkpoint


@pytest.mark.parametrize("overrides", [(), ("regularizer.ema_decay=0.9",)], ids=["raw", "weight_average"])
def test_a_fresh_trainer_scores_the_checkpoint_as_training_did(tmp_path, cache_dir, overrides):
    metrics = train_in_process(tmp_path / "run", *TINY_RUN, *overrides)
    datamodule = MNISTDataModule(cache_dir=str(cache_dir), val_size=5000)
    trainer = L.Trainer(logger=False, enable_progress_bar=False, limit_val_batches=2)
    again = score_checkpoint(trainer, datamodule, metrics["best_checkpoint"], validate=True, pictures_dir=tmp_path)
    assert again["val/acc"] == pytest.approx(metrics["val/acc"], abs=1e-6)
    assert again["test/acc"] == pytest.approx(metrics["test/acc"], abs=1e-6)
    assert again["test/per_class_acc"] == metrics["test/per_class_acc"] and again["test/ece"] == metrics["test/ece"]
    assert 0.5 < again["test/acc"] < 1


def test_without_validation_only_the_test_set_is_scored(tiny_run, cache_dir, tmp_path):
    datamodule = MNISTDataModule(cache_dir=str(cache_dir), val_size=5000)
    trainer = L.Trainer(logger=False, enable_progress_bar=False, limit_test_batches=1)
    results = score_checkpoint(
        trainer, datamodule, tiny_run / "checkpoints" / "last.ckpt", validate=False, pictures_dir=tmp_path
    )
    assert set(results) == {"test/loss", "test/acc", "test/per_class_acc", "test/ece"}
