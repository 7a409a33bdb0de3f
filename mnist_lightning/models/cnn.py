"""The convolutional network, to compare with the MLP. It takes normalized images [B, 1, 28, 28] and returns logits."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from mnist_lightning.models.layers import INITS, FastDropout, check_choice, check_dropout, init_weights


class CNN(nn.Sequential):
    """Stages of [Conv3x3 -> BatchNorm2d -> ReLU] x convs_per_stage -> MaxPool2, then FC(hidden) -> FC(10).

    The default, channels (32, 64) with one conv per stage, is the classic small MNIST CNN. Each stage halves the
    image (28 -> 14 -> 7 -> 3); more convs per stage see wider context before each pooling step.
    """

    def __init__(
        self,
        channels: Sequence[int] = (32, 64),
        convs_per_stage: int = 1,
        hidden_size: int = 128,
        dropout: float = 0.2,
        init: str = "kaiming",
        num_classes: int = 10,
    ):
        if not 1 <= len(channels) <= 3 or any(not isinstance(c, int) or c < 1 for c in channels):
            raise ValueError(
                f"model.channels must be 1 to 3 positive integers (one per stage), e.g. [32, 64]; got {list(channels)}."
            )
        if not isinstance(convs_per_stage, int) or convs_per_stage < 1:
            raise ValueError(f"model.convs_per_stage must be a positive integer, got {convs_per_stage!r}.")
        if not isinstance(hidden_size, int) or hidden_size < 1:
            raise ValueError(f"model.hidden_size must be a positive integer, got {hidden_size!r}.")
        check_choice("model.init", init, INITS)
        check_dropout(dropout)
        layers: list[nn.Module] = []
        width, size = 1, 28
        for out in channels:
            for _ in range(convs_per_stage):
                layers += [nn.Conv2d(width, out, kernel_size=3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU()]
                width = out
            layers.append(nn.MaxPool2d(2))
            size //= 2
        layers += [
            nn.Flatten(),
            FastDropout(dropout),
            nn.Linear(width * size * size, hidden_size),
            nn.ReLU(),
            FastDropout(dropout),
            nn.Linear(hidden_size, num_classes),
        ]
        super().__init__(*layers)
        init_weights(self, init)
        # channels_last (NHWC) kernels and activations: oneDNN's convolutions are faster in that layout
        # (docs/speed.md), and GPUs' tensor cores prefer it too. Only the 4-D conv weights change.
        self.to(memory_format=torch.channels_last)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return super().forward(images.contiguous(memory_format=torch.channels_last))
