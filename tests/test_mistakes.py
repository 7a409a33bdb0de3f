"""reporting/mistakes.py: the confusion matrix, the misclassified digits, per-class accuracy, calibration."""

from __future__ import annotations

import pytest
import torch

from mnist_lightning.classifier.lightning_module import DIGITS
from mnist_lightning.reporting.mistakes import PICTURES, calibration_bins, expected_calibration_error, mistake_pictures


def test_calibration_error_is_the_gap_between_confidence_and_accuracy():
    labels = torch.tensor([0, 0, 0, 0])
    sure_and_right = torch.tensor([[0.9, 0.1]] * 4)
    assert expected_calibration_error(calibration_bins(sure_and_right, labels)) == pytest.approx(
        0.1
    )  # 90 % sure, 100 % right
    half_right = torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.1, 0.9], [0.1, 0.9]])
    assert expected_calibration_error(calibration_bins(half_right, labels)) == pytest.approx(
        0.4
    )  # 90 % sure, 50 % right


def test_pictures_and_numbers_of_the_mistakes(tmp_path, test_split):
    images, labels = test_split[0][:500], test_split[1][:500]
    probabilities = torch.nn.functional.one_hot(labels, 10).float() * 0.9 + 0.01
    probabilities[:10] = probabilities[:10].roll(1, dims=1)  # the first 10 predicted as the next digit
    numbers = mistake_pictures(probabilities, labels, images, tmp_path, DIGITS)
    wrong_per_class = torch.bincount(labels[:10], minlength=10)
    total_per_class = torch.bincount(labels, minlength=10)
    assert numbers["test/per_class_acc"] == {
        str(c): round(float(1 - wrong_per_class[c] / total_per_class[c]), 4) for c in range(10)
    }
    assert 0 <= numbers["test/ece"] <= 1
    assert all((tmp_path / f"{name}.png").read_bytes()[:4] == b"\x89PNG" for name in PICTURES)


def test_with_the_probabilities_before_scaling_both_calibration_errors_are_reported(tmp_path, test_split):
    images, labels = test_split[0][:500], test_split[1][:500]
    logits = 4 * torch.nn.functional.one_hot(labels, 10).float()
    logits[:50] = logits[:50].roll(1, dims=1)  # 10 % wrong, with the same confidence as the right ones
    scaled, as_trained = torch.softmax(logits / 2, dim=1), torch.softmax(logits, dim=1)
    numbers = mistake_pictures(scaled, labels, images, tmp_path, DIGITS, uncalibrated=as_trained)
    assert numbers["test/ece"] == pytest.approx(expected_calibration_error(calibration_bins(scaled, labels)), abs=1e-5)
    assert numbers["test/ece_uncalibrated"] == pytest.approx(
        expected_calibration_error(calibration_bins(as_trained, labels)), abs=1e-5
    )
    assert numbers["test/ece_uncalibrated"] != numbers["test/ece"]
