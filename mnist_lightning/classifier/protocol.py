"""What every runnable model answers, whatever runs it: a checkpoint's MNISTClassifier (PyTorch), an exported
file's OnnxClassifier (onnxruntime), an Ensemble of either. predict, serve, eval, robustness and distillation's
teachers ask only this."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class Classifier(Protocol):
    def log_probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """[N, 10] calibrated log class probabilities for [N, 28, 28] images (pixel/255, MNIST's form)."""
        ...

    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """[N, 10] calibrated class probabilities for [N, 28, 28] images: exp of `log_probabilities`."""
        ...
