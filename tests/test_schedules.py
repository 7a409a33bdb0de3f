"""classifier/schedules.py: a scheduler config -> a scheduler sized to the run, with its guards."""

from __future__ import annotations

import pytest
import torch

from mnist_lightning.classifier.schedules import lr_scheduler_config

ONE_CYCLE = {
    "_target_": "torch.optim.lr_scheduler.OneCycleLR",
    "max_lr": 0.01,
    "total_steps": None,
    "pct_start": 0.05,
    "interval": "step",
}


def optimizer() -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.01)


def test_a_null_length_becomes_the_runs_steps():
    config = lr_scheduler_config(optimizer(), ONE_CYCLE, run_steps=1000)
    assert config["interval"] == "step" and "monitor" not in config
    assert config["scheduler"].total_steps == 1000
    cosine = {
        "_target_": "torch.optim.lr_scheduler.CosineAnnealingLR",
        "T_max": None,
        "eta_min": 0.0,
        "interval": "step",
    }
    assert lr_scheduler_config(optimizer(), cosine, run_steps=300)["scheduler"].T_max == 300


def test_a_given_length_is_kept():
    assert (
        lr_scheduler_config(optimizer(), {**ONE_CYCLE, "total_steps": 50}, run_steps=1000)["scheduler"].total_steps
        == 50
    )


def test_a_short_one_cycle_run_keeps_two_warm_up_steps():
    """OneCycleLR divides by (warm-up steps - 1): 5 % of 20 steps is 1 step, which would divide by zero."""
    scheduler = lr_scheduler_config(optimizer(), ONE_CYCLE, run_steps=20)["scheduler"]
    for _ in range(20):
        scheduler.optimizer.step()
        scheduler.step()  # would raise ZeroDivisionError with one warm-up step
    assert scheduler._schedule_phases[0]["end_step"] >= 1


def test_plateau_passes_lightnings_keys_and_not_to_the_class():
    plateau = {
        "_target_": "torch.optim.lr_scheduler.ReduceLROnPlateau",
        "mode": "max",
        "factor": 0.5,
        "patience": 2,
        "interval": "epoch",
        "monitor": "val/acc",
    }
    config = lr_scheduler_config(optimizer(), plateau, run_steps=100)
    assert (config["interval"], config["monitor"]) == ("epoch", "val/acc")
    assert isinstance(config["scheduler"], torch.optim.lr_scheduler.ReduceLROnPlateau)


def test_resuming_a_schedule_of_another_length_is_refused():
    with pytest.raises(ValueError, match="schedule spans 20 steps, but this run has 40"):
        lr_scheduler_config(optimizer(), ONE_CYCLE, run_steps=40, resumed=[{"total_steps": 20}])
    lr_scheduler_config(optimizer(), ONE_CYCLE, run_steps=40, resumed=[{"total_steps": 40}])  # same length: fine
