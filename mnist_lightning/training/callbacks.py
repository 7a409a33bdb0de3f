"""The callbacks a setting can switch off. Each factory returns its callback, or None when the setting says
"off"; train.py leaves the Nones out. conf/train.yaml and conf/regularizer/default.yaml name them as `_target_`."""

from __future__ import annotations

from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

from mnist_lightning.training.weight_average import EMAWeights


def best_checkpoint(dirpath: str, val_size: int) -> ModelCheckpoint | None:
    """checkpoints/epochNN-val_accX.ckpt, the epoch with the best val/acc; none without a validation set (the
    model is then the last epoch's, last.ckpt)."""
    if not val_size:
        return None
    return ModelCheckpoint(dirpath=dirpath, monitor="val/acc", mode="max", filename="epoch{epoch:02d}-val_acc{val/acc:.4f}",
                           auto_insert_metric_name=False)


def last_checkpoint(dirpath: str) -> ModelCheckpoint:
    """checkpoints/last.ckpt, rewritten every epoch, to resume from. (Lightning's own save_last follows the best
    checkpoint: it is only written in epochs that improve val/acc, so a run that plateaued would resume from its
    best epoch.)"""
    return ModelCheckpoint(dirpath=dirpath, filename="last", monitor=None, save_top_k=1, enable_version_counter=False)


def early_stopping(patience: int | None) -> EarlyStopping | None:
    """Stop after `patience` epochs without a better val/acc; null: never."""
    return None if patience is None else EarlyStopping(monitor="val/acc", mode="max", patience=patience)


def weight_average(decay: float | None, epochs: float | None) -> EMAWeights | None:
    """Validate, save and test an average of the weights (EMAWeights); both null: the weights as trained."""
    return None if decay is None and epochs is None else EMAWeights(decay=decay, epochs=epochs)
