"""Fixtures. Every test uses its own MNIST cache (the user's ~/.cache is never touched) and no network.
Helpers that test modules import live in helpers.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers import TINY_RUN, run_module, train_in_process, train_run
from mnist_lightning.data.mnist_files import load_split


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


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """One short real run from the command line (outputs/<run>/ with checkpoints, .hydra/, TensorBoard files),
    shared by the tests that inspect what a run leaves."""
    run_dir = tmp_path_factory.mktemp("tiny") / "outputs" / "run"
    run_dir.parent.mkdir()
    train_run(run_dir, *TINY_RUN, "regularizer.dropout=0.3")
    return run_dir


@pytest.fixture(scope="session")
def trained_checkpoint(tmp_path_factory) -> Path:
    """A model worth asking (3 epochs of the default MLP, about 98 % on the test set), trained in-process once."""
    metrics = train_in_process(
        tmp_path_factory.mktemp("trained") / "run", "trainer.max_epochs=3", "trainer.limit_val_batches=1"
    )
    return Path(metrics["best_checkpoint"])


@pytest.fixture(scope="session")
def exported_model(trained_checkpoint, tmp_path_factory) -> Path:
    """trained_checkpoint exported from the command line: the run folder, holding model.onnx and parity.json."""
    run_dir = tmp_path_factory.mktemp("export") / "run"
    run_module(
        "mnist_lightning.export", f"ckpt_path={trained_checkpoint}", f"hydra.run.dir={run_dir}", cwd=run_dir.parent
    )
    return run_dir
