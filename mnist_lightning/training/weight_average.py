"""An exponential moving average (EMA) of the weights, without the pull towards the untrained network.

A plain EMA starts from the first step's weights, barely trained, and keeps decay**t of them after t steps: with
decay 0.999 that is 20 % after 1,600 steps (15 epochs of the ablation's plain MLP) and still 4 % after 3,200 (30
CNN epochs), mixed into the weights that get validated, saved and tested. Here the average is bias-corrected as
Adam corrects its moments: the weight of step k's parameters after t steps is (1 - decay) * decay**(t - k) /
(1 - decay**t). Early on that is close to a plain mean of every step so far; once t is well past 1 / (1 - decay)
steps it is the usual EMA over the last ~1 / (1 - decay) steps.
"""

from __future__ import annotations

import lightning as L
import torch
from lightning.pytorch.callbacks import WeightAveraging
from lightning.pytorch.trainer.states import TrainerFn


@torch.no_grad()
def fold_in(
    averaged: list[torch.Tensor], current: list[torch.Tensor], num_averaged: torch.Tensor, decay: float
) -> None:
    """One more step's parameters into the average, in place (the `multi_avg_fn` of torch's AveragedModel)."""
    # AveragedModel copies the first step's parameters itself; this is update number num_averaged + 1.
    weight = (1 - decay) / (1 - decay ** (int(num_averaged) + 1))
    if torch.is_floating_point(averaged[0]):
        torch._foreach_lerp_(averaged, current, weight)
    else:  # integer buffers (BatchNorm's count of batches seen): keep the latest
        for average, value in zip(averaged, current, strict=True):
            average.copy_(value)


class EMAWeights(WeightAveraging):
    """Keeps the average during training; Lightning swaps it in for validation and saves it in checkpoints.

    The horizon is `decay` per optimizer step, or `epochs`: the average then spans about that many epochs of this
    run (decay = 1 - 1 / (epochs x steps per epoch)), whatever the batch size and training-set size.
    """

    def __init__(self, decay: float | None = None, epochs: float | None = None):
        if (decay is None) == (epochs is None):
            raise ValueError(
                f"Give the weight average one horizon: regularizer.ema_decay or regularizer.ema_epochs, got {decay=}, {epochs=}."
            )
        if decay is not None and (isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0 < decay < 1):
            raise ValueError(
                f"regularizer.ema_decay must be in (0, 1) (e.g. 0.999), or null for no averaging; got {decay}."
            )
        if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, (int, float)) or epochs <= 0):
            raise ValueError(
                f"regularizer.ema_epochs must be > 0 (the epochs the average spans), or null; got {epochs}."
            )
        self.decay, self.epochs = decay, epochs
        super().__init__(multi_avg_fn=lambda averaged, current, n: self._fold_in(averaged, current, n))

    def _fold_in(self, averaged: list[torch.Tensor], current: list[torch.Tensor], num_averaged: torch.Tensor) -> None:
        assert self.decay is not None, "given, or set from `epochs` by on_fit_start before the first step"
        fold_in(averaged, current, num_averaged, self.decay)

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.epochs is not None:
            max_epochs = trainer.max_epochs
            assert max_epochs is not None, "fit resolves an unset max_epochs (to 1000, or -1 when max_steps is set)"
            steps_per_epoch = trainer.estimated_stepping_batches / max(1, max_epochs)
            self.decay = 1 - 1 / max(1.0, self.epochs * steps_per_epoch)

    # Lightning's WeightAveraging keeps its average after fit and acts on any later validate/test of the same
    # trainer: it would swap the final average into the network being scored, and, when that network is loaded
    # from a checkpoint, put the checkpoint's raw training weights back in place of the saved average. Outside
    # fit, the checkpoint's state_dict (the average) is the model, so the callback stands aside.
    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn == TrainerFn.FITTING:
            super().on_validation_epoch_start(trainer, pl_module)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn == TrainerFn.FITTING:
            super().on_validation_epoch_end(trainer, pl_module)

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        if trainer.state.fn == TrainerFn.FITTING:
            super().on_load_checkpoint(trainer, pl_module, checkpoint)
