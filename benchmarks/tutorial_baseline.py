"""The classic MNIST MLP tutorial, reproduced faithfully as the baseline for time-to-accuracy.

784-512-256-10 with BatchNorm1d and Dropout 0.5, Adam at 1e-3, batch 64, trained on all 60,000 training images
through torchvision's MNIST dataset with per-image PIL `ToTensor` and `Normalize((0.1307,), (0.3081,))` in a
DataLoader: the pipeline most people copy. It reads the same verified files as the project (no download).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from mnist_lightning.data.idx_files import MNIST, ROLES, verified_bytes


def run_tutorial(cache_dir: Path, max_epochs: int, target: float) -> list[tuple[float, float]]:
    """Train until official-test accuracy reaches `target` or `max_epochs` pass; returns (training seconds so
    far, test accuracy) after each epoch. Test evaluation is kept off the clock."""
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    with tempfile.TemporaryDirectory(prefix="tutorial_mnist_") as root:  # torchvision reads the files in __init__
        raw = Path(root) / "MNIST" / "raw"  # where torchvision looks for the unpacked IDX files
        raw.mkdir(parents=True)
        for role in ROLES:  # the same checked bytes training reads
            (raw / MNIST.files[role]).write_bytes(verified_bytes(MNIST, role, cache_dir))
        train_set = datasets.MNIST(root, train=True, transform=transform)
        test_set = datasets.MNIST(root, train=False, transform=transform)
    train_loader = DataLoader(train_set, batch_size=64, shuffle=True)
    test_loader = DataLoader(test_set, batch_size=1000)

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 512),
        nn.BatchNorm1d(512),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(512, 256),
        nn.BatchNorm1d(256),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(256, 10),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    criterion = nn.CrossEntropyLoss()
    curve, trained = [], 0.0
    for _ in range(max_epochs):
        model.train()
        start = time.perf_counter()
        for images, labels in train_loader:
            optimizer.zero_grad()
            loss = criterion(model(images), labels)
            loss.backward()
            optimizer.step()
        trained += time.perf_counter() - start
        model.eval()
        correct = 0
        with torch.no_grad():
            for images, labels in test_loader:
                correct += (model(images).argmax(1) == labels).sum().item()
        curve.append((trained, correct / len(test_loader.dataset)))
        if curve[-1][1] >= target:
            break
    return curve
