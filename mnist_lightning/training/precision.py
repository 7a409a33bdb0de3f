"""bf16 on a CPU: faster than fp32 where the CPU has bf16 units, many times slower where it has not.

oneDNN runs bf16 matrix multiplies natively on CPUs with AVX512 (fastest with AVX512-BF16 or AMX) and emulates
them elsewhere, where a training step takes one to two orders of magnitude longer than in fp32 (measured with
`python benchmarks/bf16_probe.py`: docs/speed.md). The recipes that ask for bf16-mixed (experiment=mlp_quick,
mlp_sota, cnn_sota) would then run for hours instead of minutes; a run says so before it starts.
"""

from __future__ import annotations

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_warn


def cpu_has_bf16() -> bool:
    """True where oneDNN runs bf16 natively; True also where torch cannot tell (then nothing is said)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return True


def warn_if_bf16_is_emulated(trainer: L.Trainer) -> None:
    if trainer.strategy.root_device.type == "cpu" and "bf16" in str(trainer.precision) and not cpu_has_bf16():
        rank_zero_warn(
            f"trainer.precision={trainer.precision} on a CPU without native bf16 support: every matrix multiply is "
            "emulated, 13x to 77x slower than fp32 (measured on an AVX2-only AMD EPYC). Add trainer.precision=32-true; "
            "bf16 and fp32 reached the same test accuracy where both were measured (docs/speed.md)."
        )
