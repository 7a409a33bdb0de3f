"""Several trained models as one: the average of their class probabilities (a checkpoint and an .onnx file mix).

An ensemble is scored by `mnist_lightning.eval` (give it several files) and teaches a student in distillation
(training/teachers.py). Averaging probabilities, not logits, is what "ensemble" means in the papers this
project compares with; it is done in log space, so that a class one member gives 1e-30 is not rounded to zero.
"""

from __future__ import annotations

import glob
import math
from collections.abc import Sequence
from pathlib import Path

import torch

from mnist_lightning.classifier.protocol import Classifier
from mnist_lightning.inference.loading import load_model
from mnist_lightning.inference.model_card import model_card


def expand(patterns: str | Sequence[str | Path]) -> list[Path]:
    """Model files named by `patterns`: paths or globs (`outputs/teachers/cnn_teacher/*/checkpoints/epoch*.ckpt`),
    in sorted order, each file once. A pattern that names nothing is an error: an ensemble silently one member
    short would be a different model."""
    files: list[Path] = []
    for pattern in [patterns] if isinstance(patterns, str) else list(patterns):
        found = sorted(glob.glob(str(Path(pattern).expanduser()), recursive=True))
        if not found:
            raise FileNotFoundError(
                f"No model file matches {pattern!r} (from {Path.cwd()}). Give .ckpt or .onnx files, or globs that "
                "name them."
            )
        files += [Path(name) for name in found if Path(name) not in files]
    return files


class Ensemble:
    """The models in `files` (see `expand`), answering like one model: `log_probabilities` and `probabilities`
    of [N, 28, 28] images (pixel/255) -> [N, 10], each member's calibrated probabilities averaged."""

    def __init__(self, patterns: str | Sequence[str | Path]):
        self.files = expand(patterns)
        models = [load_model(path) for path in self.files]
        self.members: tuple[Classifier, ...] = tuple(models)
        self.cards = [model_card(path, model) for path, model in zip(self.files, models)]
        self.trained_on = self.cards[0]["trained_on"]  # what every member tells apart, checked next
        for path, card in zip(self.files, self.cards):
            if card["trained_on"] != self.trained_on:
                raise ValueError(
                    f"{path} was trained on {card['trained_on']}, but {self.files[0]} on {self.trained_on}: the "
                    "members of an ensemble must tell the same classes apart, in the same order."
                )

    def __len__(self) -> int:
        return len(self.members)

    def to(self, device: torch.device) -> Ensemble:
        """Moves the PyTorch members (onnxruntime ones stay on the CPU and take their inputs there)."""
        for member in self.members:
            if isinstance(member, torch.nn.Module):
                member.to(device)
        return self

    @torch.no_grad()
    def member_log_probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """[members, N, 10]: each member's own calibrated log probabilities."""
        return torch.stack([member.log_probabilities(images).float() for member in self.members])

    def log_probabilities(self, images: torch.Tensor) -> torch.Tensor:
        return average_probabilities(self.member_log_probabilities(images))

    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        return self.log_probabilities(images).exp()


def average_probabilities(log_probabilities: torch.Tensor) -> torch.Tensor:
    """log(mean over the first dimension of exp(log_probabilities)), computed without leaving log space."""
    return torch.logsumexp(log_probabilities, dim=0) - math.log(len(log_probabilities))
