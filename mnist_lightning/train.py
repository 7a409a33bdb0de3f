"""Train one model: `python -m mnist_lightning.train model=mlp` (add `-m` and comma lists for a sweep).

Writes into the run folder (outputs/<date>/<time>/, or outputs/multirun/<date>/<time>/<job>/):
  tensorboard/   event files: losses, accuracies, learning rate, and the run's hyperparameters (HParams tab)
  checkpoints/   the best epoch by val/acc and the last one
  .hydra/        the composed config and the overrides
  metrics.json   val and official-test metrics of the best checkpoint
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import hydra
import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_info
from omegaconf import DictConfig, OmegaConf

from mnist_lightning import CONFIG_DIR
from mnist_lightning.allocator import keep_freed_memory
from mnist_lightning.augment import FadeOutDistortion
from mnist_lightning.classifier import MNISTClassifier, check_same_architecture, read_checkpoint
from mnist_lightning.weight_average import EMAWeights


def build_classifier(cfg: DictConfig, mean: float, std: float) -> MNISTClassifier:
    reg = cfg.regularizer
    return MNISTClassifier(
        backbone=OmegaConf.to_container(cfg.model, resolve=True),
        optimizer=OmegaConf.to_container(cfg.optimizer, resolve=True),
        scheduler=OmegaConf.to_container(cfg.scheduler, resolve=True),
        mean=mean,
        std=std,
        weight_decay=reg.weight_decay,
        weight_decay_mode=reg.weight_decay_mode,
        l1=reg.l1,
        label_smoothing=reg.label_smoothing,
    )


def build_callbacks(cfg: DictConfig, run_dir: Path) -> list[L.Callback]:
    has_val = cfg.data.val_size > 0
    patience = cfg.regularizer.early_stopping_patience
    if not has_val and (patience is not None or cfg.scheduler.get("monitor")):
        raise ValueError(
            "regularizer.early_stopping_patience and scheduler=plateau watch val/acc, but data.val_size=0 leaves no "
            "validation set. Keep a validation split, or turn them off (early_stopping_patience=null, another scheduler)."
        )
    # last.ckpt is rewritten every epoch, for resuming. (Lightning's own save_last follows the best checkpoint:
    # it is only written in epochs that improve val/acc, so a run that plateaued would resume from its best epoch.)
    latest = ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="last", monitor=None, save_top_k=1,
                             enable_version_counter=False)
    callbacks: list[L.Callback] = [latest, LearningRateMonitor()]
    if has_val:  # first in the list: trainer.checkpoint_callback, whose best_model_path is tested
        callbacks.insert(0, ModelCheckpoint(
            dirpath=run_dir / "checkpoints",
            monitor="val/acc",
            mode="max",
            filename="epoch{epoch:02d}-val_acc{val/acc:.4f}",
            auto_insert_metric_name=False,
        ))
    # With no validation set there is no "best": the model is the last epoch's, last.ckpt.
    if patience is not None:
        callbacks.append(EarlyStopping(monitor="val/acc", mode="max", patience=patience))
    if cfg.regularizer.ema_decay is not None:
        # Validation, checkpoints (hence test and eval) use the averaged weights; training goes on with the raw ones.
        callbacks.append(EMAWeights(cfg.regularizer.ema_decay))
    fade = cfg.regularizer.augment_fade_epochs
    if fade:
        callbacks.append(FadeOutDistortion(fade))
    return callbacks


def flat_hparams(cfg: DictConfig) -> dict:
    """The resolved config as one level of 'group.key' -> scalar, the form TensorBoard's HParams tab shows."""
    flat = {}

    def walk(node, prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")
            else:
                flat[f"{prefix}{key}"] = value if isinstance(value, (int, float, str, bool)) else str(value)

    walk(OmegaConf.to_container(cfg, resolve=True), "")
    return flat


def train(cfg: DictConfig) -> dict:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    L.seed_everything(cfg.seed, workers=True)
    torch.set_float32_matmul_precision("high")  # TF32 on GPUs that have it; no effect on the CPU

    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")  # computes the normalization statistics the model is built with
    model = build_classifier(cfg, datamodule.mean, datamodule.std)
    if cfg.ckpt_path:
        check_same_architecture(model, read_checkpoint(cfg.ckpt_path), cfg.ckpt_path)
    callbacks = build_callbacks(cfg, run_dir)

    logger = TensorBoardLogger(save_dir=str(run_dir), name="tensorboard", version="", default_hp_metric=False)
    # Placeholders for the final metrics, so the HParams tab pairs this run's settings with its results.
    hparams = {**flat_hparams(cfg), "data.mean": datamodule.mean, "data.std": datamodule.std}  # the values used
    logger.log_hyperparams(hparams, metrics={"hp/val_acc": float("nan"), "hp/test_acc": float("nan")})
    trainer = hydra.utils.instantiate(cfg.trainer, logger=logger, callbacks=callbacks, default_root_dir=str(run_dir))

    start = time.perf_counter()
    trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.ckpt_path, weights_only=True)
    train_seconds = time.perf_counter() - start

    checkpoint = trainer.checkpoint_callback
    best = checkpoint.best_model_path if checkpoint is not None and checkpoint.best_model_path else None
    # Both evaluations use the weights chosen on validation, never the ones test accuracy would pick.
    # They evaluate the checkpoint's weights as saved (the average, with EMA): the averaging callback would
    # put the raw weights back when the checkpoint loads, so it leaves once training is over.
    trainer.callbacks = [c for c in trainer.callbacks if not isinstance(c, EMAWeights)]
    results = {}
    if cfg.data.val_size:
        results.update(trainer.validate(model, datamodule=datamodule, ckpt_path=best, weights_only=True)[0])
    results.update(trainer.test(model, datamodule=datamodule, ckpt_path=best, weights_only=True)[0])
    logger.log_metrics({"hp/val_acc": results.get("val/acc", float("nan")), "hp/test_acc": results["test/acc"]},
                       step=trainer.global_step)

    metrics = {
        **results,
        "best_checkpoint": best,
        "epochs": trainer.current_epoch,
        "train_seconds": round(train_seconds, 1),
        "device": str(trainer.strategy.root_device),
        "normalization": {"mean": datamodule.mean, "std": datamodule.std, "train_images": len(datamodule.train_set)},
        "overrides": list(HydraConfig.get().overrides.task),
    }
    if trainer.is_global_zero:
        (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(cfg: DictConfig) -> float:
    keep_freed_memory()
    metrics = train(cfg)
    rank_zero_info(json.dumps({k: v for k, v in metrics.items() if "/" in k}, indent=2))
    return metrics.get("val/acc", metrics["test/acc"])


if __name__ == "__main__":
    main()
