"""Building blocks shared by the networks: layer choices, their checks, weight initialization, a cheap dropout."""

from __future__ import annotations

import torch
from torch import nn

from mnist_lightning.random_bits import random_int16

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "tanh": nn.Tanh, "leaky_relu": nn.LeakyReLU}
NORMS = ("batch", "layer", "none")
INITS = ("kaiming", "xavier", "torch")


def check_choice(name: str, value: str, choices) -> None:
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not one of: {', '.join(choices)}.")


def check_dropout(dropout: float) -> None:
    if not 0 <= dropout < 1:
        raise ValueError(
            f"regularizer.dropout must be in [0, 1) (the probability of zeroing a unit; 1 would zero them all), "
            f"got {dropout}."
        )


def init_weights(module: nn.Module, scheme: str) -> None:
    """He (kaiming) init keeps activation variance constant through ReLU layers; Xavier suits tanh; 'torch' keeps
    PyTorch's default (a uniform He variant with a=sqrt(5)). Biases start at zero."""
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d)) and scheme != "torch":
            if scheme == "kaiming":
                nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            else:
                nn.init.xavier_normal_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


class FastDropout(nn.Dropout):
    """nn.Dropout with a cheaper random mask on the CPU, where torch draws one 32-bit random number per unit
    (more time than that layer's matrix multiply: docs/speed.md). Here each unit gets a
    16-bit number (`random_int16`) compared with a threshold: the same Bernoulli(1 - p) mask (p rounded to a
    multiple of 1/65536) at about a quarter of the cost. GPUs keep torch's fused kernel."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0 or x.device.type != "cpu":
            return super().forward(x)
        # int16 values are uniform on [-32768, 32767]: P(value >= threshold) = 1 - p
        keep = random_int16(tuple(x.shape)) >= round(self.p * 65536) - 32768
        return x * keep * (1 / (1 - self.p))
