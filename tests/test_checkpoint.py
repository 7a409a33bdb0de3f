"""inference/checkpoint.py: a checkpoint file -> the network it holds, or an error that names the problem."""

from __future__ import annotations

import os
import time

import pytest
import torch

from helpers import RELEASE_0_1_0, RELEASE_0_2_0
from mnist_lightning.classifier.lightning_module import MNISTClassifier
from mnist_lightning.inference.checkpoint import (
    check_same_architecture,
    load_classifier,
    newest_checkpoint,
    read_checkpoint,
)


def test_checkpoint_is_plain_data(tiny_run):
    checkpoint = torch.load(tiny_run / "checkpoints" / "last.ckpt", weights_only=True)  # raises on pickled code
    hp = checkpoint["hyper_parameters"]
    assert hp["backbone"]["_target_"] == "mnist_lightning.models.mlp.MLP" and hp["backbone"]["dropout"] == 0.3
    assert 0.12 < hp["mean"] < 0.14 and isinstance(hp["scheduler"], dict)


@pytest.mark.parametrize("name", ["mlp_ema_onecycle", "cnn"])
def test_checkpoints_of_release_0_1_0_still_load_and_predict_the_same(name):
    """Files written by release 0.1.0's code (tests/fixtures/release_0.1.0/README.md says how), with the logits
    that code computed for the first 8 test images."""
    model = load_classifier(RELEASE_0_1_0 / f"{name}.ckpt")
    expected = torch.load(RELEASE_0_1_0 / f"{name}.logits.pt", weights_only=True)
    with torch.no_grad():
        assert torch.allclose(model(expected["images"]), expected["logits"], atol=1e-5)
    assert not model.training  # ready to predict: BatchNorm's running averages, no dropout


@pytest.mark.parametrize("name", ["mlp", "cnn", "mlp_distilled"])
def test_checkpoints_of_release_0_2_0_still_load_and_predict_the_same(name):
    """Release 0.2.0's chosen checkpoints (tests/fixtures/release_0.2.0/README.md): the background step, the fitted
    temperature, and a distilled student, which loads without its teachers."""
    model = load_classifier(RELEASE_0_2_0 / f"{name}.ckpt")
    expected = torch.load(RELEASE_0_2_0 / f"{name}.logits.pt", weights_only=True)
    assert model.hparams.background_window == 11 and model.hparams.temperature == expected["temperature"] != 1
    assert bool(model.hparams.distillation) == (name == "mlp_distilled") and model.teacher is None
    with torch.no_grad():
        assert torch.allclose(model(expected["images"]), expected["logits"], atol=1e-5)
    calibrated = torch.softmax(expected["logits"] / expected["temperature"], dim=1)
    assert torch.allclose(model.probabilities(expected["images"][:, 0]), calibrated, atol=1e-5)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"Checkpoint {tmp_path / 'no.ckpt'} does not exist"):
        read_checkpoint(tmp_path / "no.ckpt")


def test_a_truncated_file_is_refused(tiny_run, tmp_path):
    broken = tmp_path / "broken.ckpt"
    broken.write_bytes((tiny_run / "checkpoints" / "last.ckpt").read_bytes()[:5000])
    with pytest.raises(ValueError, match="truncated, corrupt"):
        read_checkpoint(broken)


def test_a_file_with_pickled_code_is_refused(tmp_path):
    unsafe = tmp_path / "unsafe.ckpt"
    torch.save({"hyper_parameters": {"backbone": {}}, "hook": print}, unsafe)  # a function: not plain data
    with pytest.raises(ValueError, match="holds pickled Python objects"):
        read_checkpoint(unsafe)


def test_another_programs_checkpoint_is_refused(tmp_path):
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(ValueError, match="is not an mnist_lightning checkpoint"):
        read_checkpoint(foreign)


def test_weights_that_do_not_fit_their_network_are_refused(tiny_run, tmp_path):
    checkpoint = torch.load(tiny_run / "checkpoints" / "last.ckpt", weights_only=True)
    checkpoint["state_dict"]["backbone.1.weight"] = torch.zeros(3, 3)
    altered = tmp_path / "altered.ckpt"
    torch.save(checkpoint, altered)
    with pytest.raises(ValueError, match="its weights do not fit that network"):
        load_classifier(altered)


def test_a_checkpoint_of_another_architecture_is_named(tiny_run):
    path = tiny_run / "checkpoints" / "last.ckpt"
    cnn = MNISTClassifier(
        backbone={"_target_": "mnist_lightning.models.cnn.CNN"}, optimizer={"_target_": "torch.optim.AdamW"}
    )
    with pytest.raises(ValueError, match=r"holds a MLP\(hidden_sizes=\[512, 256\].*this run builds a CNN\("):
        check_same_architecture(cnn, read_checkpoint(path), path)


def test_without_ckpt_path_the_newest_best_checkpoint_is_taken(tmp_path):
    with pytest.raises(FileNotFoundError, match="make train"):
        newest_checkpoint(tmp_path)
    paths = [
        tmp_path / run / "checkpoints" / name
        for run, name in (
            ("old", "epoch03-val_acc0.9900.ckpt"),
            ("new", "epoch01-val_acc0.9800.ckpt"),
            ("new", "last.ckpt"),
        )
    ]
    for age, path in enumerate(paths):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
        os.utime(path, (time.time() - 100 + age, time.time() - 100 + age))
    assert newest_checkpoint(tmp_path) == paths[1]  # a best checkpoint before any last.ckpt
