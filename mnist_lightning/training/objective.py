"""What a run is judged by: the objective a sweep optimizes (conf/train.yaml `objective`, default val/acc).

It is never a test metric: a hyperparameter chosen by its test accuracy makes that test accuracy a biased
estimate. A run without the objective (data.val_size=0 trains on all 60,000 images, so there is no validation
set) reports none; a sweeper that optimizes (anything but Hydra's basic grid sweeper) refuses such a run
before it trains, as do early stopping and a plateau schedule, which read val/acc every epoch.
"""

from __future__ import annotations

from omegaconf import DictConfig

GRID_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"  # runs every job, compares nothing


def check_objective(cfg: DictConfig, sweeper: str | None) -> None:
    """Fail before training when the run's objective or a callback needs a metric the run will not have.

    sweeper: the `_target_` of the multirun's sweeper, or None for a single run.
    """
    if not cfg.objective.startswith("val/"):
        raise ValueError(
            f"objective={cfg.objective} is not a validation metric. Sweeps choose on validation data carved from the "
            "training images; test metrics are for reporting only. Use objective=val/acc (or another val/ metric)."
        )
    if cfg.data.val_size > 0:
        return
    if sweeper not in (None, GRID_SWEEPER):
        raise ValueError(
            f"The sweeper {sweeper} optimizes {cfg.objective}, but data.val_size=0 leaves no validation set, so no "
            f"run would report it. Search with data.val_size > 0, then train the chosen settings on all 60,000 "
            "images with data.val_size=0."
        )
    needs_val = {
        "regularizer.early_stopping_patience": cfg.regularizer.early_stopping_patience is not None,
        "scheduler=plateau": cfg.scheduler.get("monitor") is not None,
    }
    if any(needs_val.values()):
        raise ValueError(
            f"{', '.join(k for k, v in needs_val.items() if v)} watch val/acc, but data.val_size=0 leaves no validation "
            "set. Keep a validation split, or turn them off (early_stopping_patience=null, another scheduler)."
        )
