"""A trained model's card: what a person asks about a model before trusting it (what it tells apart, architecture,
size, test accuracy, calibration, how it was trained), read from the model and the record of the run that made it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import onnx

from mnist_lightning.classifier.lightning_module import DIGITS, MNISTClassifier
from mnist_lightning.data.idx_files import IdxDataset
from mnist_lightning.inference.checkpoint import describe
from mnist_lightning.inference.onnx_classifier import OnnxClassifier


def trained_on(model: MNISTClassifier | OnnxClassifier) -> dict:
    """What the model tells apart: {dataset, class_names, digits}. A file from before these were recorded, or an
    .onnx file without this package's metadata, is an MNIST digit model."""
    if isinstance(model, OnnxClassifier):
        meta = model.metadata
        return {
            "dataset": meta.get("dataset", "mnist"),
            "class_names": json.loads(meta["class_names"]) if "class_names" in meta else list(DIGITS),
            "digits": json.loads(meta.get("digits", "true")),
        }
    hparams = model.hparams
    return {
        "dataset": hparams.get("dataset", "mnist"),
        "class_names": list(hparams.get("class_names", DIGITS)),
        "digits": bool(hparams.get("digits", True)),
    }


def check_same_data(data: dict, dataset: IdxDataset, path: str | Path) -> None:
    """Fail before scoring a model (`data`: its trained_on) on a data set whose classes are not the ones it learned."""
    if data["dataset"] != dataset.name or list(data["class_names"]) != list(dataset.class_names):
        raise ValueError(
            f"{Path(path).name} was trained on data={data['dataset']} (classes {', '.join(data['class_names'])}), "
            f"but these are the test images of data={dataset.name} (classes {', '.join(dataset.class_names)}). "
            f"Add data={data['dataset']} to the command (for data=idx, with the data.dataset.folder and class_names "
            "it was trained with)."
        )


def model_card(path: str | Path, model: MNISTClassifier | OnnxClassifier) -> dict:
    """The card of `model`, loaded from `path` (inference/loading.py). It names the file, never the folders it
    sits in."""
    path = Path(path).expanduser()
    if isinstance(model, OnnxClassifier):
        meta = model.metadata
        return {
            "file": path.name,
            "trained_on": trained_on(model),
            "runtime": "onnxruntime",
            "architecture": meta.get("model", "unknown: the file has no mnist_lightning metadata"),
            "parameters": sum(math.prod(tensor.dims) for tensor in onnx.load(path).graph.initializer),
            "test_accuracy": float(meta["test_accuracy"]) if "test_accuracy" in meta else None,
            "temperature": float(meta.get("temperature", 1.0)),
            "training": meta.get("training", "not recorded in the file"),
        }
    hparams = model.hparams
    run = run_metrics(path)
    return {
        "file": path.name,
        "trained_on": trained_on(model),
        "runtime": "PyTorch",
        "architecture": describe(hparams["backbone"]),
        "parameters": sum(p.numel() for p in model.parameters()),
        "test_accuracy": run.get("test/acc"),
        "temperature": hparams.get("temperature", 1.0),
        "training": describe_training(hparams, run),
    }


def run_metrics(checkpoint: Path) -> dict:
    """metrics.json of the run that chose this checkpoint (<run>/checkpoints/<file> -> <run>/metrics.json), or {}
    when the checkpoint was not the run's scored one (last.ckpt of a run with validation, a copied file)."""
    metrics_file = checkpoint.resolve().parent.parent / "metrics.json"
    if not metrics_file.is_file():
        return {}
    metrics = json.loads(metrics_file.read_text())
    return metrics if Path(metrics.get("best_checkpoint", "")).name == checkpoint.name else {}


def describe_training(hparams: dict, run: dict) -> str:
    """One line on how the network was trained, from its hyperparameters and (when known) its run's record."""
    optimizer = hparams["optimizer"]
    parts = [f"{optimizer['_target_'].rsplit('.', 1)[-1]} (lr {optimizer.get('lr')})"]
    if hparams.get("scheduler"):
        parts.append(f"{hparams['scheduler']['_target_'].rsplit('.', 1)[-1]} schedule")
    penalties = {
        "dropout": hparams["backbone"].get("dropout"),
        "weight decay": hparams.get("weight_decay"),
        "L1": hparams.get("l1"),
        "label smoothing": hparams.get("label_smoothing"),
        "max-norm": hparams.get("max_norm"),
    }
    parts += [f"{name} {value}" for name, value in penalties.items() if value]
    regularizer = run.get("regularizer", {})
    augment = {key: value for key, value in regularizer.get("augment", {}).items() if value and value != [1.0, 1.0]}
    if not set(augment) & {"pen_width", "broken", "faint", "blur_sigma", "low_res", "speckle"}:
        augment.pop("share", None)  # the share of a batch those changes act on says nothing when none is on
    if augment:
        parts.append("augmented (" + ", ".join(f"{key} {value}" for key, value in augment.items()) + ")")
    if regularizer.get("ema_decay") or regularizer.get("ema_epochs"):
        parts.append("weights averaged (EMA)")
    if distillation := hparams.get("distillation"):
        parts.append(
            f"distilled from trained teachers (temperature {distillation['temperature']}, "
            f"hard-label weight {distillation['hard_label_weight']})"
        )
    if run:
        parts.append(f"{run['epochs']} epochs on {run['normalization']['train_images']:,} images")
    return ", ".join(parts)
