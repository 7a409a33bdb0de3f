"""evaluation/calibration.py: the temperature fitted on validation data, stored in the checkpoint, and used."""

from __future__ import annotations

import shutil

import pytest
import torch

from helpers import RELEASE_0_1_0, read_json
from mnist_lightning.data.datamodule import MNISTDataModule
from mnist_lightning.evaluation.calibration import TEMPERATURE_RANGE, calibrate_checkpoint, fit_temperature
from mnist_lightning.inference.checkpoint import load_classifier, read_checkpoint


@pytest.mark.parametrize("true_temperature", [0.5, 1.0, 2.5])
def test_fitting_recovers_the_temperature_labels_were_drawn_with(true_temperature):
    generator = torch.Generator().manual_seed(0)
    logits = 4 * torch.randn(20_000, 10, generator=generator)
    labels = torch.multinomial(torch.softmax(logits / true_temperature, dim=1), 1, generator=generator).flatten()
    assert fit_temperature(logits, labels) == pytest.approx(true_temperature, rel=0.05)


def test_a_validation_split_without_mistakes_sharpens_but_stays_finite():
    # Every answer right: the likelihood only grows as T shrinks, so the search must stop somewhere sensible.
    logits = torch.eye(10).repeat(50, 1) * 5
    temperature = fit_temperature(logits, torch.arange(10).repeat(50))
    assert TEMPERATURE_RANGE[0] <= temperature < 1


def test_the_fitted_temperature_is_written_into_the_checkpoint_and_used(trained_checkpoint, cache_dir, tmp_path):
    path = tmp_path / "model.ckpt"
    shutil.copy(trained_checkpoint, path)
    datamodule = MNISTDataModule(cache_dir=str(cache_dir), val_size=5000)
    datamodule.setup("fit")
    found = calibrate_checkpoint(path, datamodule.val_set.images, datamodule.val_set.labels)
    assert found["val_nll_after"] < found["val_nll_before"] and found["fitted_on"] == "validation split, 5,000 images"
    stored = read_checkpoint(path)["hyper_parameters"]["temperature"]  # plain data: read weights-only
    assert isinstance(stored, float) and stored == pytest.approx(found["temperature"], abs=1e-4) and stored != 1.0
    model = load_classifier(path)
    images = datamodule.val_set.images[:200].float() / 255
    calibrated, raw = model.probabilities(images), model.probabilities(images, calibrated=False)
    assert torch.equal(calibrated.argmax(1), raw.argmax(1))  # a temperature changes no answer...
    assert torch.allclose(calibrated, torch.softmax(model.logits(images) / stored, dim=1))  # ...only how sure it is
    assert not path.with_name("model.ckpt.partial").exists()


def test_training_fits_the_temperature_and_reports_test_calibration_before_and_after(trained_checkpoint):
    metrics = read_json(trained_checkpoint.parent.parent / "metrics.json")
    assert metrics["calibration"]["temperature"] == pytest.approx(
        read_checkpoint(trained_checkpoint)["hyper_parameters"]["temperature"], abs=1e-4
    )
    # Fitted on validation images only, it still brings the test set's calibration error down (1.4 % -> 0.4 %).
    assert metrics["test/ece"] < metrics["test/ece_uncalibrated"]


def test_checkpoints_without_a_temperature_load_with_none():
    assert load_classifier(RELEASE_0_1_0 / "cnn.ckpt").hparams.temperature == 1.0
