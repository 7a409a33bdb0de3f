"""A model's ten probabilities for one picture -> the answer a person reads, with "unsure" when it is."""

from __future__ import annotations

import torch


def answer(probabilities: torch.Tensor, unsure_below: float, unsure_margin: float) -> dict:
    """The digit, its probability, the top 3 as (digit, probability), and `unsure`: the top probability is below
    `unsure_below`, or the runner-up is within `unsure_margin` of it (a 4 that could be a 9)."""
    top = probabilities.topk(3)
    best, second = float(top.values[0]), float(top.values[1])
    return {
        "digit": int(top.indices[0]),
        "probability": best,
        "top3": [(int(i), float(v)) for v, i in zip(top.values, top.indices)],
        "unsure": best < unsure_below or best - second < unsure_margin,
    }
