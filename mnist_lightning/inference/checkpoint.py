"""Reading a trained model back: a checkpoint file -> the MNISTClassifier it holds, or an error naming the problem.

A checkpoint's hyperparameters are plain data (numbers, strings, `_target_` class paths), so the file loads with
`torch.load(weights_only=True)`, which refuses pickled code, and the network is rebuilt from its own config.
Checkpoints written by release 0.1.0 (whose modules lived at the package's top level) are upgraded on reading.
"""

from __future__ import annotations

from pathlib import Path

import torch

from mnist_lightning.classifier.lightning_module import MNISTClassifier

# Release 0.1.0's class paths, and the scheduler key it used to name the argument that gets the run's length.
MOVED_CLASSES = {
    "mnist_lightning.backbones.MLP": "mnist_lightning.models.mlp.MLP",
    "mnist_lightning.backbones.CNN": "mnist_lightning.models.cnn.CNN",
}


def read_checkpoint(path: str | Path) -> dict:
    """torch.load with weights_only=True, and errors that say what is wrong with the file."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"Checkpoint {path} does not exist. Pass ckpt_path=<a .ckpt under outputs/.../checkpoints>."
        )
    if path.suffix == ".onnx":
        raise ValueError(
            f"{path} is an exported ONNX file, not a checkpoint: this needs the .ckpt it was exported from."
        )
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - truncated zip, pickle with code, not a torch file: same advice
        raise ValueError(
            f"Checkpoint {path} cannot be read as a weights-only torch checkpoint ({why_unreadable(err)}). "
            "It is truncated, corrupt, or holds pickled Python objects; use a .ckpt written by mnist_lightning."
        ) from err
    if not isinstance(checkpoint, dict) or "backbone" not in checkpoint.get("hyper_parameters", {}):
        raise ValueError(f"{path} is not an mnist_lightning checkpoint (its hyperparameters name no backbone).")
    checkpoint["hyper_parameters"] = upgraded_hparams(checkpoint["hyper_parameters"])
    return checkpoint


def why_unreadable(err: Exception) -> str:
    """torch.load's reason in a line, without its advice to load the file with weights_only=False: that would run
    whatever code the file carries, the one thing never to do with a file of unknown origin."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    reason = next((line for line in lines if line.startswith("WeightsUnpickler error:")), lines[0] if lines else "")
    return f"{type(err).__name__}: {reason.split('. ')[0].rstrip('.')[:200]}"


def upgraded_hparams(hparams: dict) -> dict:
    """Release 0.1.0's hyperparameters in today's form: the same network and training, new class paths, and a
    scheduler whose run-length argument is null (conf/scheduler/) instead of named by `total_steps_arg`."""
    hparams = dict(hparams)
    backbone = dict(hparams["backbone"])
    target = backbone.get("_target_")
    backbone["_target_"] = MOVED_CLASSES.get(target, target) if isinstance(target, str) else target
    hparams["backbone"] = backbone
    if hparams.get("scheduler") and "total_steps_arg" in hparams["scheduler"]:
        scheduler = dict(hparams["scheduler"])
        scheduler[scheduler.pop("total_steps_arg")] = None
        hparams["scheduler"] = scheduler
    return hparams


def describe(backbone: dict) -> str:
    arch = {k: v for k, v in backbone.items() if k not in ("_target_", "dropout")}
    return f"{backbone.get('_target_', '?').rsplit('.', 1)[-1]}({', '.join(f'{k}={v}' for k, v in arch.items())})"


def load_classifier(path: str | Path) -> MNISTClassifier:
    """The checkpoint's network with its saved weights (the weight average, if the run kept one), in eval mode."""
    return classifier_from(read_checkpoint(path), path)


def classifier_from(checkpoint: dict, path: str | Path) -> MNISTClassifier:
    """load_classifier for a checkpoint already read (by read_checkpoint) from `path`."""
    hparams = checkpoint["hyper_parameters"]
    try:
        model = MNISTClassifier(**hparams)
        model.load_state_dict(checkpoint["state_dict"])
    except (RuntimeError, ValueError, TypeError) as err:
        raise ValueError(
            f"Checkpoint {path} says it holds a {describe(hparams['backbone'])}, but its weights do not fit that "
            f"network ({err}). The file was altered or written by another program."
        ) from err
    return model.eval()


def check_same_architecture(model: MNISTClassifier, checkpoint: dict, path: str | Path) -> None:
    """Fail before training when a checkpoint's tensors do not fit the network this run builds."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in checkpoint["state_dict"].items()}
    if expected != found:
        raise ValueError(
            f"Checkpoint {path} holds a {describe(checkpoint['hyper_parameters']['backbone'])}, but this run builds "
            f"a {describe(model.hparams.backbone)}. Use the model settings the checkpoint was trained with (its "
            "run folder's .hydra/config.yaml has them), or drop ckpt_path to start fresh."
        )


def newest_checkpoint(search_dir: str | Path) -> Path:
    """The newest checkpoint chosen on validation (epochNN-val_acc*.ckpt) under `search_dir`, or failing that
    the newest last.ckpt (runs trained on all 60,000 images have no other)."""
    root = Path(search_dir).expanduser()
    for pattern in ("**/checkpoints/epoch*.ckpt", "**/checkpoints/last.ckpt"):
        found = sorted(root.glob(pattern), key=lambda p: p.stat().st_mtime)
        if found:
            return found[-1]
    raise FileNotFoundError(
        f"No checkpoint under {root.resolve()}. Train one (`make train`), or pass ckpt_path=<a .ckpt file>."
    )


def model_to_use(ckpt_path: str | None, search_dir: str | Path) -> Path:
    """`ckpt_path` when given, else newest_checkpoint(search_dir); says which it took (predict, export, serve)."""
    path = Path(ckpt_path) if ckpt_path else newest_checkpoint(search_dir)
    print(f"Model: {path}" + ("" if ckpt_path else f" (the newest under {search_dir})"), flush=True)
    return path
