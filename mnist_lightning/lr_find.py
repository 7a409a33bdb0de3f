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
from collections.abc import Callable
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
from mnist_lightning.reporting.provenance import provenance
from mnist_lightning.reporting.quiet import quiet_third_party_output
from mnist_lightning.training.allocator import keep_freed_memory
from mnist_lightning.training.precision import warn_if_bf16_is_emulated
from mnist_lightning.user_errors import reported

MIN_STEPS = 20  # the suggestion leaves out the first SKIP_BEGIN and last SKIP_END points, as Lightning's does
SKIP_BEGIN, SKIP_END = 10, 1
SMOOTHING_DECADES = 0.2  # the curve at lr averages the batches trained within a fifth of a decade of it, either side
STOP_WINDOW = 3  # batches whose mean loss the early stop compares


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


def reach(lrs: list[float]) -> int:
    """How many points either side the curve averages: those within SMOOTHING_DECADES, and at least one."""
    decades = math.log10(lrs[-1] / lrs[0]) if len(lrs) > 1 else 0.0
    return max(1, round(SMOOTHING_DECADES * (len(lrs) - 1) / decades)) if decades > 0 else 1


def smoothed(lrs: list[float], losses: list[float]) -> list[float]:
    """Each point's loss averaged with those of its neighbours, `reach(lrs)` either side (fewer at the ends),
    leaving out losses that are not finite; a point whose own loss is not finite stays NaN. Centred, so the curve
    does not trail the batch losses the way a running average does."""
    half = reach(lrs)
    out = []
    for i in range(len(losses)):
        window = [v for v in losses[max(0, i - half) : i + half + 1] if math.isfinite(v)]
        out.append(sum(window) / len(window) if math.isfinite(losses[i]) else math.nan)
    return out


def lowest_point(losses: list[float]) -> int | None:
    finite = [i for i, loss in enumerate(losses) if math.isfinite(loss)]
    return min(finite, key=losses.__getitem__) if finite else None


def steepest_descent(lrs: list[float], losses: list[float]) -> int | None:
    """The index of the point where `losses` falls fastest against log10(lr), among the finite points from the
    SKIP_BEGIN-th to the lowest one (a fall after the blow-up, of a network already wrecked, is no guide), and
    before the last SKIP_END; None when fewer than 2 are left."""
    lowest = lowest_point(losses)
    end = len(losses) - SKIP_END if lowest is None else min(len(losses) - SKIP_END, lowest + 1)
    candidates = [i for i in range(SKIP_BEGIN, end) if math.isfinite(losses[i])]
    if len(candidates) < 2:
        return None
    log_lrs = torch.tensor([math.log10(lrs[i]) for i in candidates], dtype=torch.float64)
    values = torch.tensor([losses[i] for i in candidates], dtype=torch.float64)
    slopes = torch.gradient(values, spacing=(log_lrs,))[0]
    return candidates[int(torch.argmin(slopes))]


class BatchLosses(list):
    """Each training batch's loss, as the model's training_step returns it (the Tuner keeps only its own running
    average, and runs no callback but its own while it sweeps). It also ends the sweep: once the mean of the last
    STOP_WINDOW losses exceeds `threshold` times the lowest such mean (None: never), or a loss is not finite."""

    def __init__(self, model: L.LightningModule, threshold: float | None):
        super().__init__()
        self.threshold, self.lowest = threshold, math.inf
        training_step: Callable = model.training_step

        def recorded(*args, **kwargs):
            try:
                loss = training_step(*args, **kwargs)
            except FloatingPointError:  # the module's own check: the loss is inf or NaN at this rate
                self.append(math.nan)
                model.trainer.should_stop = True
                return None  # Lightning skips the optimizer step; the Tuner records a NaN point
            self.append(float(loss.detach()))
            if len(self) >= STOP_WINDOW:
                recent = sum(self[-STOP_WINDOW:]) / STOP_WINDOW
                self.lowest = min(self.lowest, recent)
                if self.threshold is not None and recent > self.threshold * self.lowest:
                    model.trainer.should_stop = True
            return loss

        model.training_step = recorded  # type: ignore[method-assign]


def train_command(lr: float, overrides: list[str]) -> str:
    """The training command with this run's own overrides, its optimizer.lr replaced by `lr`."""
    kept = [o for o in overrides if not o.lstrip("+~").startswith(("lr_find.", "lr_find=", "optimizer.lr="))]
    return " ".join(["python -m mnist_lightning.train", f"optimizer.lr={lr:.2g}", *map(shlex.quote, kept)])


def plot(report: dict, title: str, path: Path) -> None:
    """Loss against learning rate on a log axis: each batch's loss, the smoothed curve, the suggestion and the
    configured optimizer.lr. The y axis ends a little above the first batches' losses, so that the blow-up at the
    largest rates does not squash the part of the curve that matters."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    points = report["points"]
    lrs = [p["lr"] for p in points]
    raw = [math.nan if p["batch_loss"] is None else p["batch_loss"] for p in points]
    smooth = [math.nan if p["loss"] is None else p["loss"] for p in points]
    finite = [v for v in raw + smooth if math.isfinite(v)]
    start = [v for v in raw[:SKIP_BEGIN] if math.isfinite(v)] or finite

    fig, ax = plt.subplots(figsize=(8.5, 5.2))
    ax.plot(lrs, raw, color="0.7", linewidth=0.8, label="loss of each batch")
    ax.plot(
        lrs,
        smooth,
        color="tab:blue",
        linewidth=2,
        label=f"averaged over ±{report['smoothing']['decades_either_side']:.2g} decades of lr",
    )
    ax.set_xscale("log")
    configured = report["configured_lr"]
    ax.axvline(
        configured, color="0.25", linestyle=":", linewidth=1.5, label=f"configured optimizer.lr = {configured:g}"
    )
    if report["lowest_loss"] is not None:
        low = report["lowest_loss"]
        ax.plot(
            low["lr"], low["loss"], "v", color="tab:green", markersize=9, label=f"lowest loss, at lr {low['lr']:.2g}"
        )
    if report["suggestion"] is not None:
        lr, loss = report["suggestion"], report["suggestion_loss"]
        ax.axvline(lr, color="tab:red", linestyle="--", linewidth=1.2)
        ax.plot(lr, loss, "o", color="tab:red", markersize=9, label=f"suggestion: steepest descent, lr {lr:.2g}")
        ax.annotate(
            f"suggested lr = {lr:.2g}",
            (lr, loss),
            xytext=(-12, -28),
            textcoords="offset points",
            ha="right",
            color="tab:red",
            fontsize=11,
            fontweight="bold",
        )
    top = min(max(finite), 1.15 * max(start))
    bottom = min(finite)
    ax.set_ylim(bottom - 0.05 * (top - bottom), top + 0.05 * (top - bottom))
    ax.set_xlim(report["range"]["min_lr"], report["range"]["max_lr"])
    ax.set_xlabel("learning rate (log scale; one batch per rate)")
    ax.set_ylabel("training loss")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="major", color="0.9")
    ax.legend(loc="lower left", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


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
