"""An exponential moving average (EMA) of the weights, without the pull towards the untrained network.

A plain EMA starts from the first step's weights, barely trained, and keeps decay**t of them after t steps: with
decay 0.999 that is 20 % after 1,600 steps (15 epochs of the ablation's plain MLP) and still 4 % after 3,200 (30
CNN epochs), mixed into the weights that get validated, saved and tested. Here the average is bias-corrected as
Adam corrects its moments: the weight of step k's parameters after t steps is (1 - decay) * decay**(t - k) /
(1 - decay**t). Early on that is close to a plain mean of every step so far; once t is well past 1 / (1 - decay)
steps it is the usual EMA over the last ~1 / (1 - decay) steps.
"""

from __future__ import annotations

import torch
from lightning.pytorch.callbacks import WeightAveraging


def bias_corrected_ema(decay: float):
    """The `multi_avg_fn` of torch's AveragedModel: folds in one more step's parameters, in place."""

    @torch.no_grad()
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], num_averaged: torch.Tensor) -> None:
        # AveragedModel copies the first step's parameters itself; this is update number num_averaged + 1.
        weight = (1 - decay) / (1 - decay ** (int(num_averaged) + 1))
        if torch.is_floating_point(averaged[0]):
            torch._foreach_lerp_(averaged, current, weight)
        else:  # integer buffers (BatchNorm's count of batches seen): keep the latest
            for average, value in zip(averaged, current, strict=True):
                average.copy_(value)

    return update


class EMAWeights(WeightAveraging):
    """Keeps the average during training; Lightning swaps it in for validation and saves it in checkpoints."""

    def __init__(self, decay: float):
        if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0 < decay < 1:
            raise ValueError(f"regularizer.ema_decay must be in (0, 1) (e.g. 0.999), or null for no averaging; got {decay}.")
        super().__init__(multi_avg_fn=bias_corrected_ema(decay))
