"""Temperature scaling (Guo et al. 2017): one number that makes the model's probabilities mean what they say.

A network trained to 99 % with cross-entropy is sure of almost everything, and its "99 %" is not always 99 %
right. Dividing every logit by one temperature T changes no answer (the largest logit stays the largest), only
how sure the softmax is: T > 1 softens, T < 1 sharpens. T is fitted on the validation split, images the weights
never trained on, by minimizing their negative log-likelihood, and stored in the checkpoint as a plain float
(hyper_parameters.temperature), where predict, eval and an ONNX export find it.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F

from mnist_lightning.inference.checkpoint import classifier_from, read_checkpoint

# T is searched in this range: a validation split the model gets entirely right would otherwise drive T to 0.
TEMPERATURE_RANGE = (0.05, 20.0)


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The T in TEMPERATURE_RANGE that minimizes the mean negative log-likelihood of softmax(logits / T)."""
    logits = logits.double()
    low, high = (torch.tensor(bound, dtype=torch.float64).log() for bound in TEMPERATURE_RANGE)
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=1.0, max_iter=100, line_search_fn="strong_wolfe")

    def nll() -> torch.Tensor:
        # The NLL is convex in 1/T, hence has one minimum along log T: a quasi-Newton search on log T finds it.
        optimizer.zero_grad()
        loss = F.cross_entropy(logits / log_t.clamp(low, high).exp(), labels)
        loss.backward()
        return loss

    optimizer.step(nll)
    return float(log_t.detach().clamp(low, high).exp())


def calibrate_checkpoint(path: str | Path, images: torch.Tensor, labels: torch.Tensor) -> dict:
    """Fits the temperature of the network saved in `path` on validation `images` ([N, 28, 28] uint8) and
    `labels`, and writes it into the file (replaced whole, never left half-written). Returns what it found."""
    checkpoint = read_checkpoint(path)
    logits = classifier_from(checkpoint, path).logits(images.cpu().float().div(255))
    labels = labels.cpu()
    temperature = fit_temperature(logits, labels)
    checkpoint["hyper_parameters"]["temperature"] = temperature
    partial = Path(f"{path}.partial")
    torch.save(checkpoint, partial)
    os.replace(partial, path)
    return {
        "temperature": temperature,  # as stored in the file
        "fitted_on": f"validation split, {len(labels):,} images",
        "val_nll_before": round(float(F.cross_entropy(logits, labels)), 5),
        "val_nll_after": round(float(F.cross_entropy(logits / temperature, labels)), 5),
    }


NOT_CALIBRATED = {
    "temperature": 1.0,
    "fitted_on": None,
    "why": "no validation split (data.val_size=0), so nothing the weights did not train on to fit a temperature "
    "on: probabilities are the softmax as trained",
}
