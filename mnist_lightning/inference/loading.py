"""A trained model from its file, whichever kind: a checkpoint, rebuilt as its PyTorch network, or an .onnx file
from `mnist_lightning.export`, run by onnxruntime. Both answer as a Classifier (classifier/protocol.py); what a
person asks about one before trusting it is its card (inference/model_card.py)."""

from __future__ import annotations

from pathlib import Path

from mnist_lightning.classifier.lightning_module import DIGITS, MNISTClassifier
from mnist_lightning.inference.checkpoint import load_classifier
from mnist_lightning.inference.model_card import trained_on
from mnist_lightning.inference.onnx_classifier import OnnxClassifier


def load_model(path: str | Path) -> MNISTClassifier | OnnxClassifier:
    """The model in `path`, in eval mode, ready to predict."""
    path = Path(path).expanduser()
    return OnnxClassifier(path) if path.suffix == ".onnx" else load_classifier(path)


def load_digit_model(path: str | Path, command: str) -> MNISTClassifier | OnnxClassifier:
    """load_model for `command`, whose preprocessing makes every picture an MNIST-style digit (predict, serve and
    its draw page): a model trained on other classes (clothes, letters) is refused rather than fed digits."""
    model = load_model(path)
    data = trained_on(model)
    if not data["digits"] or list(data["class_names"]) != list(DIGITS):
        raise ValueError(
            f"{Path(path).name} was trained on data={data['dataset']} ({', '.join(data['class_names'])}), not on "
            f"handwritten digits 0 to 9 in that order: {command} turns every picture into a centred MNIST-style "
            "digit first, which would feed it the wrong kind of image. Score it on its own test set with `python -m mnist_lightning.eval "
            f"ckpt_path=<file> data={data['dataset']}`; {command} takes models trained with data=mnist (or on your "
            "own digits: data.dataset.digits=true, class_names 0 to 9)."
        )
    return model
