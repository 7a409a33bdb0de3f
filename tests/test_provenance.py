"""reporting/provenance.py: which code, libraries and hardware produced a number."""

from __future__ import annotations

import importlib.metadata
import subprocess

import lightning
import torch

from helpers import REPO
from mnist_lightning.reporting import provenance as module
from mnist_lightning.reporting.provenance import provenance


def test_a_checkout_reports_its_commit_and_whether_it_was_dirty():
    record = provenance()
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain"], capture_output=True, text=True, check=True
    )
    assert record["code"] == {"git_commit": head.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    assert record["torch"] == torch.__version__ and record["lightning"] == lightning.__version__
    assert record["cpu"] and record["torch_threads"] == torch.get_num_threads() >= 1
    assert record["gpu"] == (torch.cuda.get_device_name() if torch.cuda.is_available() else None)


def test_an_installed_package_reports_its_version(tmp_path, monkeypatch):
    monkeypatch.setattr(module, "PACKAGE_DIR", tmp_path / "site-packages" / "mnist_lightning")  # no .git beside it
    assert module.code_version() == {"package_version": importlib.metadata.version("mnist_lightning")}
