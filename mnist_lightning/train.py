"""Train one model: `python -m mnist_lightning.train model=mlp` (add `-m` and comma lists for a sweep).

Everything a run is made of is composed in conf/ (train.yaml and its groups): this module builds it, trains,
scores the chosen checkpoint and writes the record. It writes into the run folder (outputs/<date>/<time>/, or
outputs/multirun/<date>/<time>/<job>/):
  tensorboard/   event files: losses, accuracies, learning rate, and the run's hyperparameters (HParams tab)
  checkpoints/   the best epoch by val/acc (with its fitted temperature, evaluation/calibration.py) and the last one
  .hydra/        the composed config and the overrides
  metrics.json   val and official-test metrics of the chosen checkpoint, and what produced them
  confusion_matrix.png, mistakes.png, per_class_accuracy.png, reliability.png
                 what it gets wrong on the test set (also in TensorBoard)
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import hydra
import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.core.plugins import Plugins
from hydra.types import RunMode
from hydra.utils import instantiate
from hydra_plugins.mnist_lightning.search import ResumingOptunaSweeper
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_info, rank_zero_only, rank_zero_warn
from omegaconf import DictConfig, OmegaConf

from mnist_lightning import CONFIG_DIR
from mnist_lightning.evaluation.calibration import NOT_CALIBRATED, calibrate_checkpoint
from mnist_lightning.evaluation.scoring import score_checkpoint, within_limit
from mnist_lightning.inference.checkpoint import check_same_architecture, read_checkpoint
from mnist_lightning.reporting.config_tree import show_config
from mnist_lightning.reporting.loggers import finish, log_results, log_settings, loggers_from
from mnist_lightning.reporting.provenance import provenance
from mnist_lightning.reporting.quiet import quiet_third_party_output
from mnist_lightning.reporting.sweep_summary import record_failure
from mnist_lightning.training.allocator import keep_freed_memory
from mnist_lightning.training.objective import check_objective
from mnist_lightning.training.precision import warn_if_bf16_is_emulated
from mnist_lightning.training.teachers import Teachers
from mnist_lightning.user_errors import reported

log = logging.getLogger(__name__)
# Hydra finds sweepers by scanning the hydra_plugins namespace, which misses this package in an editable install.
Plugins.instance().register(ResumingOptunaSweeper)
WIRING = ("classifier", "callbacks", "logger")  # config nodes that only connect the groups: not hyperparameters


def flat_hparams(cfg: DictConfig) -> dict:
    """The resolved settings as one level of 'group.key' -> scalar, the form TensorBoard's HParams tab shows."""
    flat = {}

    def walk(node, prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")
            else:
                flat[f"{prefix}{key}"] = value if isinstance(value, (int, float, str, bool)) else str(value)

    settings = plain(cfg)
    if isinstance(settings.get("data", {}).get("dataset"), dict):  # its files, md5s and names: one column, not 20
        settings["data"]["dataset"] = settings["data"]["dataset"]["name"]
    walk({key: value for key, value in settings.items() if key not in WIRING}, "")
    return flat


def plain(node: DictConfig) -> dict:
    """A config node as plain, resolved Python data (what JSON and TensorBoard take)."""
    container = OmegaConf.to_container(node, resolve=True)
    assert isinstance(container, dict)
    return container


def chosen_checkpoint(trainer: L.Trainer, run_dir: Path) -> str:
    """The checkpoint chosen on validation (the last epoch's without a validation set). A run that wrote none
    (trainer=debug) saves its final weights now, so that it is scored the way every run is: from the file."""
    callback = trainer.checkpoint_callback
    path = callback.best_model_path if isinstance(callback, ModelCheckpoint) else ""
    if not path:
        path = str(run_dir / "checkpoints" / "last.ckpt")
        trainer.save_checkpoint(path, weights_only=True)
    return path


def calibrate(trainer: L.Trainer, datamodule, checkpoint: str) -> dict:
    """Fits the chosen checkpoint's temperature on the validation split and writes it into the file (rank 0;
    the other ranks wait, then read the same file)."""
    if not datamodule.val_size:
        rank_zero_warn(f"Temperature not fitted: {NOT_CALIBRATED['why']}.")
        return NOT_CALIBRATED
    found = None
    if trainer.is_global_zero:
        # On the validation images the trainer's limit_val_batches lets through (trainer=debug: one batch).
        count = within_limit(len(datamodule.val_set), trainer.limit_val_batches, datamodule.eval_batch_size)
        found = calibrate_checkpoint(checkpoint, datamodule.val_set.images[:count], datamodule.val_set.labels[:count])
        rank_zero_info(
            f"Temperature {found['temperature']:.4f} fitted on the {found['fitted_on']}: validation NLL "
            f"{found['val_nll_before']} -> {found['val_nll_after']}; written into {checkpoint}"
        )
    shared = trainer.strategy.broadcast(found, src=0)
    assert shared is not None
    return shared


def train(cfg: DictConfig) -> dict:
    hydra_cfg = HydraConfig.get()
    check_objective(cfg, hydra_cfg.sweeper._target_ if hydra_cfg.mode == RunMode.MULTIRUN else None)
    if not (cfg.trainer.max_epochs or 0) >= 1:  # 0 would report an untrained network's ~10 % as a result
        raise ValueError(
            f"trainer.max_epochs must be 1 or more, got {cfg.trainer.max_epochs}: it is how many passes "
            "over the training images to make (the default MLP makes 40)."
        )
    run_dir = Path(hydra_cfg.runtime.output_dir)
    rank_zero_only(show_config)(cfg, run_dir)
    L.seed_everything(cfg.seed, workers=True)
    torch.set_float32_matmul_precision("high")  # TF32 on GPUs that have it; no effect on the CPU

    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")  # computes the normalization statistics the model is built with
    model = instantiate(cfg.classifier, mean=datamodule.mean, std=datamodule.std)
    if cfg.ckpt_path:
        check_same_architecture(model, read_checkpoint(cfg.ckpt_path), cfg.ckpt_path)
    callbacks = [callback for callback in map(instantiate, cfg.callbacks.values()) if callback is not None]
    loggers = loggers_from(cfg.get("logger"))
    log_settings(loggers, {**flat_hparams(cfg), "data.mean": datamodule.mean, "data.std": datamodule.std})
    if not loggers:  # logger=none: nothing to show the learning rate in (Lightning's monitor refuses to start)
        callbacks = [callback for callback in callbacks if not isinstance(callback, LearningRateMonitor)]
    trainer = instantiate(cfg.trainer, logger=loggers or False, callbacks=callbacks)
    warn_if_bf16_is_emulated(trainer)

    start = time.perf_counter()
    # Compiled, the forward runs as fused kernels after a compilation at the first steps; the checkpoint is the same.
    trainable = torch.compile(model) if cfg.compile else model
    trainer.fit(trainable, datamodule=datamodule, ckpt_path=cfg.ckpt_path, weights_only=True)
    train_seconds = time.perf_counter() - start  # with distillation, the teachers' forward passes included

    # The files the teachers were loaded from, not the patterns globbed again: new files may match them by now.
    teacher_files = [file for callback in callbacks if isinstance(callback, Teachers) for file in callback.files]
    checkpoint = chosen_checkpoint(trainer, run_dir)
    calibration = calibrate(trainer, datamodule, checkpoint)
    results = score_checkpoint(
        trainer, datamodule, checkpoint, validate=cfg.data.val_size > 0, pictures_dir=run_dir if cfg.figures else None
    )
    hp_results = {"hp/val_acc": results.get("val/acc", float("nan")), "hp/test_acc": results["test/acc"]}
    log_results(loggers, hp_results, step=trainer.global_step)
    finish(loggers)
    metrics = {
        **results,
        "objective": {"name": cfg.objective, "value": results.get(cfg.objective)},
        "best_checkpoint": checkpoint,
        "calibration": calibration,
        "epochs": trainer.current_epoch,
        "train_seconds": round(train_seconds, 1),
        "device": str(trainer.strategy.root_device),
        "normalization": {"mean": datamodule.mean, "std": datamodule.std, "train_images": len(datamodule.train_set)},
        "regularizer": plain(cfg.regularizer),  # what a model card says of training
        "distillation": cfg.distillation
        and {**plain(cfg.distillation), "teacher_files": [str(path) for path in teacher_files]},
        "overrides": list(hydra_cfg.overrides.task),
        "provenance": provenance(),
    }
    if trainer.is_global_zero:
        (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
@reported
def main(cfg: DictConfig) -> float | None:
    keep_freed_memory()
    quiet_third_party_output()
    try:
        metrics = train(cfg)
    except Exception as err:
        if HydraConfig.get().mode != RunMode.MULTIRUN:
            raise
        # One bad grid point must not end the sweep: the job's folder keeps the error, the summary lists it,
        # and the multirun exits non-zero once every job has run (reporting/sweep_summary.py).
        record_failure(Path(HydraConfig.get().runtime.output_dir), err)
        log.exception("This job failed; the sweep goes on")
        return None
    rank_zero_info(json.dumps({k: v for k, v in metrics.items() if "/" in k}, indent=2))
    # What a sweeper compares: the objective (val/acc by default), never test accuracy; None without it.
    return metrics["objective"]["value"]


if __name__ == "__main__":
    main()
