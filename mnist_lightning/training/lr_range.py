"""The learning-rate range test's curve (Smith 2017): each batch's loss as the rate grows, a centred average of
it, the lowest point and the steepest descent against log10(lr), and the recorder that stops the sweep where the
loss blows up. mnist_lightning/lr_find.py runs the sweep (Lightning's Tuner) and says why these are computed here
rather than taken from the Tuner."""

from __future__ import annotations

import math
from collections.abc import Callable

import lightning as L
import torch

SKIP_BEGIN, SKIP_END = 10, 1  # the suggestion leaves out the first and last points, as Lightning's does
SMOOTHING_DECADES = 0.2  # the curve at lr averages the batches trained within a fifth of a decade of it, either side
STOP_WINDOW = 3  # batches whose mean loss the early stop compares


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
