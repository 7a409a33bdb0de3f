"""Distillation's teachers: loaded when fitting starts and handed to the student (classifier/distillation_loss.py
says what it learns from them). A callback, so that the LightningModule only learns; loading files, choosing a
runtime and checking what the teachers have seen are jobs of the training run that uses it."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_warn

from mnist_lightning.classifier.lightning_module import MNISTClassifier
from mnist_lightning.inference.ensemble import Ensemble
from mnist_lightning.inference.exporting import onnx_model
from mnist_lightning.inference.model_card import run_metrics, trained_on
from mnist_lightning.inference.onnx_classifier import OnnxClassifier


class Teachers(L.Callback):
    """Loads the teachers that the student's `distillation.teachers` names, as one Ensemble on the student's device,
    and hands them to it (`pl_module.teacher`). Does nothing for a student without distillation. `files`: the
    teachers' files as loaded (the run records them)."""

    def __init__(self) -> None:
        self.files: list[Path] = []

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        distillation = pl_module.hparams.get("distillation")
        if not distillation:
            return
        assert isinstance(pl_module, MNISTClassifier), "only the classifier of record distills"
        try:
            teacher = Ensemble(distillation["teachers"])
        except FileNotFoundError as err:
            raise FileNotFoundError(
                f"distillation.teachers: {err} Teachers for experiment=mlp_distill are trained by "
                "`python -m mnist_lightning.train -m experiment=cnn_teacher seed=0,1`."
            ) from err
        if teacher.trained_on != trained_on(pl_module):
            raise ValueError(
                f"distillation.teachers were trained on {teacher.trained_on}, the student learns {trained_on(pl_module)}: "
                "a teacher can only teach the classes it knows. Use teachers trained with the student's data=."
            )
        # On a CPU onnxruntime runs the teachers (fp32), several times as fast as PyTorch for the CNN teachers
        # (docs/speed.md, "Distillation"); on a GPU they stay in PyTorch, in bf16 where the GPU has it.
        teacher = on_onnxruntime(teacher) if pl_module.device.type == "cpu" else teacher.to(pl_module.device)
        datamodule = trainer.datamodule  # type: ignore[attr-defined]  # set by Lightning at run time, not declared
        train_images = len(datamodule.train_set) + len(datamodule.val_set)
        warn_if_teachers_saw_the_holdout(teacher.files, datamodule.val_size, train_images)
        self.files = teacher.files
        pl_module.teacher = teacher
        pl_module.teacher_in_bf16 = teacher_in_bf16(pl_module.device)


def on_onnxruntime(ensemble: Ensemble) -> Ensemble:
    """The ensemble with its PyTorch members run by onnxruntime instead, from an in-memory export
    (inference/exporting.py): on a CPU its fused convolutions run the CNN teachers several times as fast."""
    ensemble.members = tuple(
        OnnxClassifier(onnx_model(member).SerializeToString()) if isinstance(member, MNISTClassifier) else member
        for member in ensemble.members
    )
    return ensemble


def warn_if_teachers_saw_the_holdout(files: list[Path], val_size: int, train_images: int) -> None:
    """A teacher trained on all `train_images` (MNIST: 60,000) has seen the validation holdout: a student it
    teaches then reads too high on validation. Known from the teacher's run record (metrics.json); files without
    one say nothing."""
    if not val_size:
        return
    seen = [str(f) for f in files if run_metrics(f).get("normalization", {}).get("train_images") == train_images]
    if seen:
        rank_zero_warn(
            f"These teachers were trained on all {train_images:,} training images, including this run's validation "
            f"holdout: {', '.join(seen)}. Its val/acc will read high. Choose settings with teachers trained with "
            "data.val_size=5000 (experiment=cnn_teacher), and use these for final fits with data.val_size=0."
        )


def teacher_in_bf16(device: torch.device) -> bool:
    """Whether PyTorch teachers run in bf16 on `device`: on GPUs that have it (on a CPU, onnxruntime runs them)."""
    return device.type == "cuda" and torch.cuda.is_bf16_supported()
