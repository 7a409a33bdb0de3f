"""Fixtures. Every test uses its own MNIST cache (the user's ~/.cache is never touched) and no network.
Helpers that test modules import live in helpers.py."""

from __future__ import annotations

import os

# `make test` runs one pytest-xdist worker per core. Each worker computes with its share of the cores (set before
# torch is imported, and inherited by the commands tests run): torch would otherwise start as many threads as there
# are cores in every worker, and they would fight over them.
if _workers := os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // int(_workers))))

import shutil  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from filelock import FileLock  # noqa: E402

from helpers import TINY_RUN, run_in_process, train_in_process, train_run  # noqa: E402
from mnist_lightning.data.idx_files import MNIST, load_split  # noqa: E402


def made_once(tmp_path_factory, name: str, make: Callable[[Path], None]) -> Path:
    """A folder that `make` fills once per test session: under pytest-xdist, by the first worker that asks, while
    the others wait for it and then reuse it."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the session's folder, above each worker's own
    folder = root / f"once_{name}"
    with FileLock(f"{folder}.lock"):
        if not (folder / ".made").is_file():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            make(folder)
            (folder / ".made").touch()
    return folder


@pytest.fixture(scope="session", autouse=True)
def cache_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("mnist_cache")
    os.environ["MNIST_LIGHTNING_CACHE"] = str(path)  # read by conf/data/mnist.yaml, also in subprocesses
    return path


@pytest.fixture(scope="session")
def train_split(cache_dir):
    return load_split(MNIST, train=True, cache_dir=cache_dir)


@pytest.fixture(scope="session")
def test_split(cache_dir):
    return load_split(MNIST, train=False, cache_dir=cache_dir)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """One short real run from the command line (outputs/<run>/ with checkpoints, .hydra/, TensorBoard files),
    shared by the tests that inspect what a run leaves."""

    def make(folder: Path) -> None:
        (folder / "outputs").mkdir()
        train_run(folder / "outputs" / "run", *TINY_RUN, "regularizer.dropout=0.3", "logger=[tensorboard,csv]")

    return made_once(tmp_path_factory, "tiny", make) / "outputs" / "run"


@pytest.fixture(scope="session")
def trained_checkpoint(tmp_path_factory) -> Path:
    """A model worth asking (3 epochs of the default MLP, about 98 % on the test set), trained in-process once."""

    def make(folder: Path) -> None:
        train_in_process(folder / "run", "trainer.max_epochs=3", "trainer.limit_val_batches=1")

    (best,) = (made_once(tmp_path_factory, "trained", make) / "run" / "checkpoints").glob("epoch*.ckpt")
    return best


@pytest.fixture(scope="session")
def exported_model(trained_checkpoint, tmp_path_factory) -> Path:
    """trained_checkpoint exported, in process (the slow suite's README flow runs the command): the run folder,
    holding model.onnx and parity.json."""

    def make(folder: Path) -> None:
        run_in_process("export", folder / "run", f"ckpt_path={trained_checkpoint}")

    return made_once(tmp_path_factory, "export", make) / "run"
