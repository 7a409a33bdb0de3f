"""Which code, libraries and hardware produced a result: recorded in every metrics.json and eval.json.

A number without its provenance needs prose ("measured before the EMA fix"); with it, `git show <commit>` says
what ran. A source checkout reports its git commit and whether the tree had uncommitted changes; an installed
wheel, which has no git history, reports its package version.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

import lightning
import torch

PACKAGE_DIR = Path(__file__).resolve().parent.parent


def code_version() -> dict:
    checkout = PACKAGE_DIR.parent
    if (checkout / ".git").exists():  # a source checkout (an editable install included)

        def git(*args: str) -> str:
            return subprocess.run(
                ["git", "-C", str(checkout), *args], capture_output=True, text=True, check=True
            ).stdout

        try:
            return {"git_commit": git("rev-parse", "HEAD").strip(), "dirty": bool(git("status", "--porcelain").strip())}
        except (OSError, subprocess.CalledProcessError):  # no git program, or a broken repository
            pass
    try:
        return {"package_version": importlib.metadata.version("mnist_lightning")}
    except importlib.metadata.PackageNotFoundError:
        return {"package_version": None}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:  # not Linux
        pass
    return platform.processor() or platform.machine()


def provenance() -> dict:
    return {
        "code": code_version(),
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }
