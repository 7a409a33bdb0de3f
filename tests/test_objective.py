"""training/objective.py: a sweep is judged on validation, and a run that cannot report its objective says so."""

from __future__ import annotations

import pytest

from helpers import compose_train_config
from mnist_lightning.training.objective import GRID_SWEEPER, check_objective

OPTUNA = "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper"


def test_the_default_objective_is_validation_accuracy():
    cfg = compose_train_config()
    assert cfg.objective == "val/acc"
    check_objective(cfg, sweeper=OPTUNA)  # a validation set exists: an optimizing sweeper may use it


def test_a_test_metric_is_never_the_objective():
    with pytest.raises(ValueError, match="objective=test/acc is not a validation metric"):
        check_objective(compose_train_config("objective=test/acc"), sweeper=None)


def test_an_optimizing_sweeper_refuses_a_run_without_validation():
    cfg = compose_train_config("data.val_size=0")
    with pytest.raises(ValueError, match="optimizes val/acc, but data.val_size=0 leaves no validation set"):
        check_objective(cfg, sweeper=OPTUNA)
    check_objective(cfg, sweeper=GRID_SWEEPER)  # seeded final fits on all 60,000 images: allowed, objective None
    check_objective(cfg, sweeper=None)


@pytest.mark.parametrize(
    "override, named",
    [("regularizer.early_stopping_patience=3", "early_stopping_patience"), ("scheduler=plateau", "scheduler=plateau")],
)
def test_what_watches_val_acc_needs_a_validation_set(override, named):
    with pytest.raises(ValueError, match=f"{named}.*data.val_size=0 leaves no validation set"):
        check_objective(compose_train_config("data.val_size=0", override), sweeper=None)
