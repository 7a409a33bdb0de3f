"""Is bf16 worth it on this CPU? Forward + backward of two MLPs at batch 512, fp32 against bf16 autocast.

    python benchmarks/bf16_probe.py

Where oneDNN has no native bf16 (AVX2-only CPUs) it emulates it, many times slower than fp32; with AVX512-BF16
or AMX it is faster. Prints milliseconds per step and the ratio; the recipes' bf16-mixed follows from it.
"""

from __future__ import annotations

import statistics
import time

import torch

from mnist_lightning.reporting.provenance import cpu_model
from mnist_lightning.training.precision import cpu_has_bf16


def step_ms(hidden: int, bf16: bool, repeats: int = 3) -> float:
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(784, hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(hidden, hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(hidden, 10),
    )
    images = torch.randn(512, 784)
    times = []
    for _ in range(repeats + 1):  # the first step warms up kernels and allocator
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            net(images).sum().backward()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times[1:])


def main() -> None:
    print(
        f"{cpu_model()}, {torch.get_num_threads()} threads, torch {torch.__version__}; "
        f"native bf16 in oneDNN: {cpu_has_bf16()}"
    )
    for hidden in (512, 2048):
        fp32, bf16 = step_ms(hidden, False), step_ms(hidden, True)
        print(
            f"784-{hidden}-{hidden}-10, batch 512: fp32 {fp32:.1f} ms, bf16 {bf16:.1f} ms a step: bf16 takes {bf16 / fp32:.2f}x"
        )


if __name__ == "__main__":
    main()
