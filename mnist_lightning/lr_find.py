"""Find a learning rate: `python -m mnist_lightning.lr_find [any train overrides: model=cnn optimizer=sgd ...]`.

The learning-rate range test (Smith 2017), run by Lightning's Tuner: from freshly initialized weights, the network
trains `lr_find.num_training` batches while the learning rate grows exponentially from `lr_find.min_lr` to
`lr_find.max_lr`, and the loss of each batch is recorded. The suggestion is the learning rate where the smoothed
loss falls fastest against log10(lr). Network, data, optimizer and trainer are the training run's own
(conf/lr_find.yaml composes conf/train.yaml, with the same overrides). How to read the result: docs/concepts.md,
"Choosing a learning rate". It writes into outputs/lr_find/<date>/<time>/:
  lr_find.png    loss against learning rate (log axis), the suggestion and the configured optimizer.lr marked
  lr_find.json   the suggestion, the configured lr, the range and every (lr, loss) point
and prints the suggestion with the training command that uses it.

What is done here rather than by the Tuner (Lightning 2.6):
- The run's scheduler is left out. The Tuner swaps it for its own sweep, but building OneCycleLR first would
  already have changed the optimizer: it sets the momentum (Adam's beta1, SGD's momentum) to its cycle's 0.95.
- The curve is each batch's loss averaged over the points within SMOOTHING_DECADES of its learning rate (at least
  one) on both sides. The Tuner keeps only a running average (beta 0.98), which trails the batch losses by up to
  50 batches, half of the sweep: on the default MLP its lowest point was at lr 0.87, where the batch losses had
  been rising since 0.03; and its first points read about half the real loss (Lightning-AI/pytorch-lightning#14167).
- The search stops on that account too: once the mean loss of the last STOP_WINDOW batches exceeds
  `early_stop_threshold` times the lowest such mean, or a loss is not finite, rather than on the trailing average.
- The steepest descent is measured against log10(lr), the axis the rates are spaced on and plotted on; Lightning's
  `suggestion()` differentiates against lr itself, which favours the smallest rates (#21141).
"""

from __future__ import annotations

import json
import math
import shlex
import time
from pathlib import Path

import hydra
import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from lightning.pytorch.tuner import Tuner
from omegaconf import DictConfig, OmegaConf

from mnist_lightning import CONFIG_DIR
from mnist_lightning.inference.checkpoint import describe
from mnist_lightning.reporting.lr_find_plot import plot
from mnist_lightning.reporting.provenance import provenance
from mnist_lightning.reporting.quiet import quiet_third_party_output
from mnist_lightning.training.allocator import keep_freed_memory
from mnist_lightning.training.lr_range import (
    SKIP_BEGIN,
    SKIP_END,
    STOP_WINDOW,
    BatchLosses,
    lowest_point,
    reach,
    smoothed,
    steepest_descent,
)
from mnist_lightning.training.precision import warn_if_bf16_is_emulated
from mnist_lightning.user_errors import reported

MIN_STEPS = SKIP_BEGIN + 10  # the suggestion needs a curve after the first SKIP_BEGIN points


def check_settings(settings: DictConfig) -> None:
    if not 0 < settings.min_lr < settings.max_lr:
        raise ValueError(
            f"lr_find.min_lr and lr_find.max_lr must satisfy 0 < min_lr < max_lr, got {settings.min_lr} and "
            f"{settings.max_lr} (the defaults sweep 1e-6 to 1)."
        )
    if not settings.num_training >= MIN_STEPS:
        raise ValueError(
            f"lr_find.num_training must be {MIN_STEPS} or more, got {settings.num_training}: the suggestion leaves "
            f"out the first {SKIP_BEGIN} points, at rates too small to move the loss, and needs a curve after them."
        )
    threshold = settings.early_stop_threshold
    if threshold is not None and not threshold > 1:
        raise ValueError(
            f"lr_find.early_stop_threshold must be > 1 (stop once the mean loss of the last {STOP_WINDOW} batches "
            f"exceeds that many times its lowest) or null (stop only at max_lr or a loss that is not finite), got "
            f"{threshold}."
        )


def train_command(lr: float, overrides: list[str]) -> str:
    """The training command with this run's own overrides, its optimizer.lr replaced by `lr`."""
    kept = [o for o in overrides if not o.lstrip("+~").startswith(("lr_find.", "lr_find=", "optimizer.lr="))]
    return " ".join(["python -m mnist_lightning.train", f"optimizer.lr={lr:.2g}", *map(shlex.quote, kept)])


def find_lr(cfg: DictConfig) -> dict:
    settings = cfg.lr_find
    check_settings(settings)
    if cfg.distillation:
        raise ValueError(
            "lr_find sweeps the loss against the labels, without teachers: run it with distillation=none (the "
            "student's own network and optimizer) and train the student with the rate it suggests."
        )
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    L.seed_everything(cfg.seed, workers=True)
    torch.set_float32_matmul_precision("high")  # as train.py: TF32 on GPUs that have it

    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    # No scheduler: the sweep is the schedule (the module docstring says why it is left out rather than swapped).
    model = instantiate(cfg.classifier, mean=datamodule.mean, std=datamodule.std, scheduler=None)
    batch_losses = BatchLosses(model, settings.early_stop_threshold)
    trainer = instantiate(
        cfg.trainer,
        logger=False,
        callbacks=[],
        enable_checkpointing=False,
        num_sanity_val_steps=0,
        max_epochs=-1,  # the sweep's length is num_training steps, however few batches an epoch has
        # Validation is no part of the search: without this the Tuner would validate at every epoch's end.
        check_val_every_n_epoch=None,
        val_check_interval=settings.num_training + 1,
    )
    if trainer.world_size > 1:
        raise ValueError(
            f"lr_find runs in one process, got {trainer.world_size} (trainer.devices x trainer.num_nodes): add "
            "trainer.devices=1 trainer.num_nodes=1, and for a rate meant for a data-parallel run, set "
            "data.batch_size to that run's total batch (per-device batch x devices)."
        )
    warn_if_bf16_is_emulated(trainer)

    start = time.perf_counter()
    finder = Tuner(trainer).lr_find(
        model,
        datamodule=datamodule,
        min_lr=settings.min_lr,
        max_lr=settings.max_lr,
        num_training=settings.num_training,
        mode="exponential",
        early_stop_threshold=None,  # BatchLosses stops it (the module docstring says why)
        update_attr=False,  # the suggestion is printed for the user to choose, not set on a model thrown away
    )
    seconds = time.perf_counter() - start
    assert finder is not None, "the Tuner skips only under fast_dev_run, which trainer configs do not set"
    lrs = [float(lr) for lr in finder.results["lr"]]
    assert len(batch_losses) == len(lrs), (len(batch_losses), len(lrs))
    losses = smoothed(lrs, batch_losses)
    best = steepest_descent(lrs, losses)
    lowest = lowest_point(losses)
    decades_per_step = math.log10(lrs[-1] / lrs[0]) / max(1, len(lrs) - 1)
    overrides = list(hydra_cfg.overrides.task)
    report = {
        "suggestion": lrs[best] if best is not None else None,
        "suggestion_loss": losses[best] if best is not None else None,
        "lowest_loss": {"lr": lrs[lowest], "loss": losses[lowest]} if lowest is not None else None,
        "configured_lr": float(cfg.optimizer.lr),
        "command": train_command(lrs[best], overrides) if best is not None else None,
        "range": {
            "min_lr": float(settings.min_lr),
            "max_lr": float(settings.max_lr),
            "num_training": int(settings.num_training),
            "mode": "exponential",
            "early_stop_threshold": settings.early_stop_threshold,
        },
        "smoothing": {"points_either_side": reach(lrs), "decades_either_side": reach(lrs) * decades_per_step},
        "steps": len(lrs),
        "stopped_early": len(lrs) < settings.num_training,
        "seconds": round(seconds, 1),
        "how": (
            "batch_loss: the training loss of the one batch trained at lr. loss: the mean batch_loss of the points "
            "within `smoothing` of it. suggestion: the lr where loss falls fastest against log10(lr), from the "
            f"point {SKIP_BEGIN} to the lowest loss, leaving out the last {SKIP_END}."
        ),
        "points": [
            {"lr": lr, "loss": _number(loss), "batch_loss": _number(raw)}
            for lr, loss, raw in zip(lrs, losses, batch_losses)
        ],
        "model": describe(OmegaConf.to_container(cfg.model, resolve=True)),  # type: ignore[arg-type]
        "optimizer": OmegaConf.to_container(cfg.optimizer, resolve=True),
        "batch_size": cfg.data.batch_size,
        "precision": str(trainer.precision),
        "device": str(trainer.strategy.root_device),
        "overrides": overrides,
        "provenance": provenance(),
    }
    (run_dir / "lr_find.json").write_text(json.dumps(report, indent=2))
    optimizer_name = str(cfg.optimizer._target_).rsplit(".", 1)[-1]
    title = (
        f"Learning-rate range test, {report['steps']} steps"
        + (" (stopped early: the loss blew up)" if report["stopped_early"] else "")
        + f"\n{report['model']}, {optimizer_name}, batch {cfg.data.batch_size}"
    )
    plot(report, title, run_dir / "lr_find.png")
    if best is None:
        raise ValueError(
            f"No suggestion: the loss did not fall over {len(lrs)} steps past the first {SKIP_BEGIN}, which are "
            "left out (the sweep stops where the loss blows up). Raise lr_find.num_training or lower "
            f"lr_find.min_lr (or lr_find.max_lr if it stopped early); the curve is in {run_dir / 'lr_find.png'}."
        )
    return report


def summary(report: dict, run_dir: Path) -> str:
    """The line the command prints: the suggestion, and the training command that uses it."""
    return (
        f"Suggested learning rate: {report['suggestion']:.2g} (optimizer.lr is {report['configured_lr']:g}; curve: "
        f"{run_dir / 'lr_find.png'}). Use it: {report['command']}"
    )


def _number(value: float) -> float | None:
    return value if math.isfinite(value) else None  # JSON has no NaN


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="lr_find")
@reported
def main(cfg: DictConfig) -> None:
    keep_freed_memory()
    quiet_third_party_output()
    report = find_lr(cfg)
    print(summary(report, Path(HydraConfig.get().runtime.output_dir)))


if __name__ == "__main__":
    main()
