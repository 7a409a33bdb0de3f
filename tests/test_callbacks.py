"""training/callbacks.py: a setting that says "off" builds no callback; the rest are built where the run writes."""

from __future__ import annotations

from hydra.utils import instantiate

from helpers import compose_train_config


def test_switched_off_callbacks_are_not_built(tmp_path):
    cfg = compose_train_config("data.val_size=0", run_dir=tmp_path)
    built = {name: instantiate(node) for name, node in cfg.callbacks.items()}
    assert built["early_stopping"] is None and built["weight_average"] is None and built["best_checkpoint"] is None
    assert built["last_checkpoint"].dirpath == str(tmp_path / "checkpoints")
