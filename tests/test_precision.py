"""training/precision.py: a run that asks for bf16 on a CPU that would emulate it says so before it starts."""

from __future__ import annotations

import warnings

import lightning as L
import pytest

from helpers import train_in_process
from mnist_lightning.training import precision


@pytest.mark.parametrize(
    "has_bf16, trainer_precision, warned",
    [
        (False, "bf16-mixed", True),
        (False, "32-true", False),
        (True, "bf16-mixed", False),
    ],
)
def test_emulated_bf16_is_named_with_its_fix(monkeypatch, has_bf16, trainer_precision, warned):
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: has_bf16)
    trainer = L.Trainer(accelerator="cpu", precision=trainer_precision, logger=False, enable_progress_bar=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        precision.warn_if_bf16_is_emulated(trainer)
    assert any("Add trainer.precision=32-true" in str(w.message) for w in caught) == warned


def test_a_bf16_mixed_run_trains_and_is_scored(tmp_path):
    """What the recipes ask for where the hardware has bf16 (test_configs trains them in fp32, for speed)."""
    metrics = train_in_process(tmp_path, "trainer=debug", "trainer.precision=bf16-mixed", "model.hidden_sizes=[32]")
    assert 0 <= metrics["test/acc"] <= 1 and "trainer.precision=bf16-mixed" in metrics["overrides"]
