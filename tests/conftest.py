"""Shared fixtures. Every test uses its own MNIST cache (the user's ~/.cache is never touched) and no network."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mnist_lightning.mnist_files import load_split

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def cache_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("mnist_cache")
    os.environ["MNIST_LIGHTNING_CACHE"] = str(path)  # read by conf/data/mnist.yaml, also in subprocesses
    return path


@pytest.fixture(scope="session")
def train_split(cache_dir):
    return load_split(train=True, cache_dir=cache_dir)


@pytest.fixture(scope="session")
def test_split(cache_dir):
    return load_split(train=False, cache_dir=cache_dir)


def run_module(module: str, *overrides: str, cwd: Path, check: bool = True):
    """Run `python -m module overrides...` in a fresh process, as a user would."""
    result = subprocess.run(
        [sys.executable, "-m", module, *overrides, "trainer.enable_progress_bar=false"],
        cwd=cwd, capture_output=True, text=True, timeout=900,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{module} {overrides} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def train_run(run_dir: Path, *overrides: str, check: bool = True):
    """`python -m mnist_lightning.train` writing into `run_dir` (Hydra's default folder is named by the second)."""
    return run_module("mnist_lightning.train", f"hydra.run.dir={run_dir}", *overrides, cwd=run_dir.parent, check=check)


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


# Settings that keep a real (non-fast_dev_run) training run to seconds: checkpoints, validation and test all
# happen, on a fraction of the batches.
TINY_RUN = ("trainer.max_epochs=1", "trainer.limit_train_batches=20", "trainer.limit_val_batches=2", "trainer.log_every_n_steps=5")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """One short real run (outputs/<run>/ with checkpoints), shared by the tests that inspect what a run leaves."""
    run_dir = tmp_path_factory.mktemp("tiny") / "outputs" / "run"
    run_dir.parent.mkdir()
    train_run(run_dir, *TINY_RUN, "regularizer.dropout=0.3")
    return run_dir
