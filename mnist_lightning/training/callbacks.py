"""The callbacks a setting can switch off. Each factory returns its callback, or None when the setting says
"off"; train.py leaves the Nones out. conf/train.yaml and conf/regularizer/default.yaml name them as `_target_`."""

from __future__ import annotations

from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

from mnist_lightning.training.weight_average import EMAWeights


class LatestBestCheckpoint(ModelCheckpoint):
    """ModelCheckpoint that, among epochs tied for the best score, keeps the latest. On 5,000 validation images
    one image is 0.02 %, so ties are common late in a run, and the later epoch has had more of the decaying
    learning rate and of the weight average (Lightning keeps the first)."""

    def check_monitor_top_k(self, trainer, current=None) -> bool:
        if current is None or self.save_top_k != 1 or not self.best_k_models:
            return super().check_monitor_top_k(trainer, current)
        best = self.best_k_models[self.kth_best_model_path]
        at_least_as_good = current >= best if self.mode == "max" else current <= best
        return trainer.strategy.reduce_boolean_decision(bool(at_least_as_good))


def best_checkpoint(dirpath: str, val_size: int) -> ModelCheckpoint | None:
    """checkpoints/epochNN-val_accX.ckpt, the latest of the epochs with the best val/acc; none without a validation
    set (the model is then the last epoch's, last.ckpt)."""
    if not val_size:
        return None
    return LatestBestCheckpoint(
        dirpath=dirpath,
        monitor="val/acc",
        mode="max",
        filename="epoch{epoch:02d}-val_acc{val/acc:.4f}",
        auto_insert_metric_name=False,
    )


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
