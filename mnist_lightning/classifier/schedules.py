"""A learning-rate schedule sized to the run: the one place that turns a scheduler config into a scheduler.

A scheduler config (conf/scheduler/) holds the class's own arguments, plus Lightning's `interval` (step the
schedule every optimizer step or every epoch) and `monitor` (the metric a plateau schedule watches). A schedule
that spans the whole run leaves its length argument null (OneCycleLR's `total_steps`, CosineAnnealingLR's
`T_max`); it is filled in here from the run's number of optimizer steps.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from hydra.utils import get_class

RUN_LENGTH_ARGS = ("total_steps", "T_max")  # a null value means: the whole run, in optimizer steps


def lr_scheduler_config(
    optimizer: torch.optim.Optimizer, scheduler: dict, run_steps: int, resumed: Sequence[dict] = ()
) -> dict:
    """Lightning's `lr_scheduler` dict: the scheduler of `scheduler` (a `_target_` config) on `optimizer`.

    run_steps: the optimizer steps of the whole run (`trainer.estimated_stepping_batches`).
    resumed: the scheduler states of the checkpoint a run resumes from; a schedule fitted to a run of another
        length cannot be continued, so that is refused here rather than silently kept at the old length.
    """
    arguments = dict(scheduler)
    target = arguments.pop("_target_")
    lightning = {key: arguments.pop(key) for key in ("interval", "monitor") if key in arguments}
    for name in RUN_LENGTH_ARGS:
        if name in arguments and arguments[name] is None:
            arguments[name] = run_steps
            _check_resumed_length(name, run_steps, resumed)
    if "pct_start" in arguments and arguments.get("total_steps", 0) >= 4:
        # OneCycleLR divides by (warm-up steps - 1): a short run (20 steps at 5 %) needs at least 2 warm-up steps.
        arguments["pct_start"] = max(arguments["pct_start"], 2 / arguments["total_steps"])
    return {"interval": "epoch", **lightning, "scheduler": get_class(target)(optimizer, **arguments)}


def _check_resumed_length(name: str, run_steps: int, resumed: Sequence[dict]) -> None:
    for state in resumed:
        if state.get(name, run_steps) != run_steps:
            raise ValueError(
                f"The checkpoint's learning-rate schedule spans {state[name]} steps, but this run has {run_steps}: "
                "a one-cycle or cosine schedule cannot be stretched. Resume with the trainer settings of the "
                "original run (same max_epochs and batches), or train longer with scheduler=none or plateau."
            )
