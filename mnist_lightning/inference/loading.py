"""A trained model from its file, whichever kind: a checkpoint, rebuilt as its PyTorch network, or an .onnx file
from `mnist_lightning.export`, run by onnxruntime. Both answer as a Classifier (classifier/protocol.py); what a
person asks about one before trusting it is its card (inference/model_card.py)."""

from __future__ import annotations

from pathlib import Path

from mnist_lightning.classifier.lightning_module import MNISTClassifier
from mnist_lightning.inference.checkpoint import load_classifier
from mnist_lightning.inference.onnx_classifier import OnnxClassifier


def load_model(path: str | Path) -> MNISTClassifier | OnnxClassifier:
    """The model in `path`, in eval mode, ready to predict."""
    path = Path(path).expanduser()
    return OnnxClassifier(path) if path.suffix == ".onnx" else load_classifier(path)
