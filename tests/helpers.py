"""What several test modules share: running the project's commands, and training in-process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from mnist_lightning import CONFIG_DIR

REPO = Path(__file__).resolve().parent.parent

# Settings that keep a real (non-fast_dev_run) training run to seconds: checkpoints, validation and test all
# happen, on a fraction of the batches.
TINY_RUN = ("trainer.max_epochs=1", "trainer.limit_train_batches=20", "trainer.limit_val_batches=2", "trainer.log_every_n_steps=5")


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def run_module(module: str, *overrides: str, cwd: Path, check: bool = True):
    """Run `python -m module overrides...` in a fresh process, as a user would."""
    quiet = ("trainer.enable_progress_bar=false",) if module in ("mnist_lightning.train", "mnist_lightning.eval") else ()
    result = subprocess.run(
        [sys.executable, "-m", module, *overrides, *quiet],
        cwd=cwd, capture_output=True, text=True, timeout=900,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{module} {overrides} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def train_run(run_dir: Path, *overrides: str, check: bool = True):
    """`python -m mnist_lightning.train` writing into `run_dir` (Hydra's default folder is named by the second)."""
    return run_module("mnist_lightning.train", f"hydra.run.dir={run_dir}", *overrides, cwd=run_dir.parent, check=check)


def compose_train_config(*overrides: str, run_dir: Path | None = None):
    """conf/train.yaml composed as `python -m mnist_lightning.train overrides...` would, with Hydra's own
    settings made current (so that `${hydra:runtime.output_dir}` resolves to `run_dir`)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=[*overrides, "trainer.enable_progress_bar=false"], return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(run_dir or Path.cwd())
        HydraConfig.instance().set_config(cfg)
        del cfg["hydra"]  # as a task function sees it
    return cfg


def train_in_process(run_dir: Path, *overrides: str) -> dict:
    """mnist_lightning.train's `train` on the composed config, in this process: metrics.json's contents."""
    from mnist_lightning.train import train

    run_dir.mkdir(parents=True, exist_ok=True)
    return train(compose_train_config(*overrides, run_dir=run_dir))
