"""The feed-forward network. It takes normalized images [B, 1, 28, 28] and returns logits [B, 10]."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from mnist_lightning.models.layers import (
    ACTIVATIONS,
    INITS,
    NORMS,
    FastDropout,
    check_choice,
    check_dropout,
    init_weights,
)


class MLP(nn.Sequential):
    """Flatten -> [Linear -> Norm -> Activation -> Dropout] per hidden size -> Linear(10).

    The default 784-512-256-10 with BatchNorm1d and Dropout is the classic feed-forward MNIST network.
    BatchNorm1d standardizes each unit over the batch (running averages are used in eval mode); Dropout zeroes
    units at random during training only. Both behave differently in train() and eval() mode, which is why
    Lightning switches the mode around validation and test.
    """

    def __init__(
        self,
        hidden_sizes: Sequence[int] = (512, 256),
        activation: str = "relu",
        norm: str = "batch",
        dropout: float = 0.2,
        init: str = "kaiming",
        in_features: int = 28 * 28,
        num_classes: int = 10,
    ):
        if not hidden_sizes or any(not isinstance(h, int) or h < 1 for h in hidden_sizes):
            raise ValueError(
                f"model.hidden_sizes must be a non-empty list of positive integers, e.g. [512, 256]; got "
                f"{list(hidden_sizes) if hidden_sizes is not None else None}."
            )
        check_choice("model.activation", activation, ACTIVATIONS)
        check_choice("model.norm", norm, NORMS)
        check_choice("model.init", init, INITS)
        check_dropout(dropout)
        layers: list[nn.Module] = [nn.Flatten()]  # [B,1,28,28] -> [B,784], the same as x.view(B, -1)
        width = in_features
        for hidden in hidden_sizes:
            # A bias right before BatchNorm is wasted: BN subtracts the batch mean, bias included, then adds its own.
            layers.append(nn.Linear(width, hidden, bias=norm != "batch"))
            if norm == "batch":
                layers.append(nn.BatchNorm1d(hidden))
            elif norm == "layer":
                layers.append(nn.LayerNorm(hidden))
            layers += [ACTIVATIONS[activation](), FastDropout(dropout)]
            width = hidden
        layers.append(nn.Linear(width, num_classes))
        super().__init__(*layers)
        init_weights(self, init)
