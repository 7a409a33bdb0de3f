"""evaluation/scoring.py: training's final numbers and a later scoring of the same checkpoint agree exactly."""

from __future__ import annotations

import lightning as L
import pytest
import torch.nn.functional as F

from helpers import TINY_RUN, train_in_process
from mnist_lightning.data.datamodule import MNISTDataModule
from mnist_lightning.evaluation.scoring import score_checkpoint, within_limit
from mnist_lightning.inference.checkpoint import load_classifier
from mnist_lightning.reporting.mistakes import PICTURES


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


def test_without_validation_only_the_test_set_is_scored(tiny_run, cache_dir, tmp_path, test_split):
    datamodule = MNISTDataModule(cache_dir=str(cache_dir), val_size=5000)
    trainer = L.Trainer(logger=False, enable_progress_bar=False, limit_test_batches=1)
    results = score_checkpoint(
        trainer, datamodule, tiny_run / "checkpoints" / "last.ckpt", validate=False, pictures_dir=tmp_path
    )
    assert set(results) == {"trained_on", "test/loss", "test/acc", "test/images", "test/per_class_acc", "test/ece"}
    assert results["trained_on"] == {"dataset": "mnist", "class_names": list("0123456789"), "digits": True}
    # One batch (limit_test_batches=1) of 1,000: the numbers are those of exactly these images, as trained.
    assert results["test/images"] == 1000
    model = load_classifier(tiny_run / "checkpoints" / "last.ckpt")
    logits = model.logits(test_split[0][:1000].float() / 255)
    assert results["test/acc"] == pytest.approx((logits.argmax(1) == test_split[1][:1000]).double().mean().item())
    assert results["test/loss"] == pytest.approx(F.cross_entropy(logits, test_split[1][:1000]).item(), rel=1e-6)
    assert all((tmp_path / f"{name}.png").is_file() for name in PICTURES)


@pytest.mark.parametrize(
    "images, limit, batch_size, expected",
    [
        (10_000, None, 1000, 10_000),
        (10_000, 1.0, 1000, 10_000),
        (10_000, 1, 1000, 1000),
        (10_000, 0.25, 500, 2500),
        (5000, 7, 1000, 5000),
        (5000, 0.01, 1000, 1000),
    ],
)
def test_the_trainers_limit_counts_batches_or_a_share_of_them(images, limit, batch_size, expected):
    assert within_limit(images, limit, batch_size) == expected
