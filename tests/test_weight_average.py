"""training/weight_average.py: the bias-corrected average, its horizon, and scoring a checkpoint after fit."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn
from torch.optim.swa_utils import AveragedModel

from mnist_lightning.classifier.lightning_module import MNISTClassifier
from mnist_lightning.data.datamodule import MNISTDataModule
from mnist_lightning.training.weight_average import EMAWeights, fold_in

MLP = {"_target_": "mnist_lightning.models.mlp.MLP", "hidden_sizes": [32]}


def test_ema_is_bias_corrected_and_forgets_the_untrained_weights():
    """After t updates the average is sum_k (1-d) d^(t-k) x_k / (1-d^t): no leftover share of the first step."""
    decay, steps = 0.9, 30
    torch.manual_seed(0)
    net = nn.Linear(3, 2)
    average = AveragedModel(net, multi_avg_fn=lambda a, c, n: fold_in(a, c, n, decay), use_buffers=True)
    history = []
    for _ in range(steps):
        with torch.no_grad():
            net.weight.add_(torch.randn_like(net.weight))
        history.append(net.weight.detach().clone())
        average.update_parameters(net)
    weights = torch.tensor([(1 - decay) * decay ** (steps - 1 - k) for k in range(steps)], dtype=torch.float64)
    expected = (weights[:, None, None] * torch.stack(history).double()).sum(0) / weights.sum()
    assert torch.allclose(average.module.weight.double(), expected, atol=1e-5)
    # A plain EMA would still hold decay**(steps-1) = 4.7% of the first step's weights; this one 0.49%.
    assert weights[0] / weights.sum() == pytest.approx(0.0049, abs=1e-4)


def fit(tmp_path, cache_dir, ema: EMAWeights) -> tuple[L.Trainer, MNISTClassifier, ModelCheckpoint, MNISTDataModule]:
    datamodule = MNISTDataModule(cache_dir=str(cache_dir), val_size=1000, batch_size=128)
    model = MNISTClassifier(backbone=MLP, optimizer={"_target_": "torch.optim.AdamW", "lr": 1e-2}, mean=0.13, std=0.31)
    checkpoint = ModelCheckpoint(dirpath=tmp_path)
    trainer = L.Trainer(
        max_epochs=1,
        limit_train_batches=10,
        limit_val_batches=1,
        limit_test_batches=1,
        logger=False,
        callbacks=[ema, checkpoint],
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, datamodule=datamodule)
    return trainer, model, checkpoint, datamodule


def test_testing_a_checkpoint_after_fit_scores_the_saved_average(tmp_path, cache_dir):
    """Lightning's own WeightAveraging puts the raw training weights back when the same trainer loads a
    checkpoint to test it; EMAWeights leaves the saved average in place."""
    trainer, model, checkpoint, datamodule = fit(tmp_path, cache_dir, EMAWeights(decay=0.9))
    saved = torch.load(checkpoint.best_model_path, weights_only=True)
    average, raw = saved["state_dict"], saved["current_model_state"]
    weight = "backbone.1.weight"  # the first Linear layer
    assert not torch.equal(average[weight], raw[weight])  # the two differ: the check below can fail
    trainer.test(model, datamodule=datamodule, ckpt_path=checkpoint.best_model_path, weights_only=True)
    assert torch.equal(model.state_dict()[weight], average[weight])


def test_a_horizon_in_epochs_becomes_a_per_step_decay(tmp_path, cache_dir):
    ema = EMAWeights(epochs=2)
    fit(tmp_path, cache_dir, ema)
    assert ema.decay == pytest.approx(1 - 1 / (2 * 10))  # 10 steps per epoch in this run


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"decay": 1.5}, r"ema_decay must be in \(0, 1\)"),
        ({"epochs": 0}, "ema_epochs must be > 0"),
        ({}, "one horizon"),
        ({"decay": 0.9, "epochs": 2}, "one horizon"),
    ],
)
def test_bad_horizons_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EMAWeights(**kwargs)
