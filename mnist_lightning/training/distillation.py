"""Knowledge distillation (Hinton, Vinyals & Dean 2015): a student learns from a trained teacher's probabilities.

A label says "this is a 7"; a teacher's probabilities also say how much it looks like a 1 or a 9. Softened by a
temperature, those small probabilities carry most of what the teacher knows about which digits resemble which,
and a student that matches them on every (distorted) training image learns it too. The teacher sees exactly
the distorted batch the student sees, so the two are compared on the same image ("consistent views", Beyer et
al. 2022), and it is run forward only, without gradients.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from lightning.pytorch.utilities import rank_zero_warn

from mnist_lightning.data.datamodule import N_TRAIN

SETTINGS = ("teachers", "temperature", "hard_label_weight")


def check_settings(distillation: dict) -> None:
    """Fails on settings a run cannot train with (conf/distillation/teachers.yaml documents them)."""
    if set(distillation) != set(SETTINGS):
        raise ValueError(f"distillation must set exactly {', '.join(SETTINGS)}; got {sorted(distillation)}.")
    if not distillation["teachers"]:
        raise ValueError(
            "distillation.teachers is empty: name one or more .ckpt/.onnx files or globs, or use distillation=none."
        )
    if not distillation["temperature"] > 0:
        raise ValueError(
            f"distillation.temperature must be > 0 (1 = the teacher's probabilities as they are), got {distillation['temperature']}."
        )
    if not 0 <= distillation["hard_label_weight"] < 1:
        raise ValueError(
            f"distillation.hard_label_weight must be in [0, 1) (1 would ignore the teacher: use distillation=none), "
            f"got {distillation['hard_label_weight']}."
        )


def distillation_loss(
    student_logits: torch.Tensor, teacher_log_probabilities: torch.Tensor, temperature: float
) -> torch.Tensor:
    """temperature^2 * KL(teacher || student), both softened by `temperature`, averaged over the batch.

    Softening divides log probabilities by the temperature and renormalizes (for one model, the same as dividing
    its logits). The temperature^2 keeps the gradient's size the same at every temperature (Hinton et al.).
    """
    target = torch.log_softmax(teacher_log_probabilities.float() / temperature, dim=1)
    student = torch.log_softmax(student_logits.float() / temperature, dim=1)
    return F.kl_div(student, target, log_target=True, reduction="batchmean") * temperature**2


def load_teacher(distillation: dict, device: torch.device, val_size: int):
    """The teachers as one Ensemble on `device`, after a warning if they have seen the validation holdout."""
    # Imported here: inference/ builds MNISTClassifier, whose module imports this one.
    from mnist_lightning.inference.ensemble import Ensemble

    teacher = Ensemble(distillation["teachers"])
    # On a CPU onnxruntime runs the teachers (fp32), several times as fast as PyTorch for the CNN teachers
    # (docs/speed.md, "Distillation"); on a GPU they stay in PyTorch, in bf16 where the GPU has it.
    teacher = teacher.on_onnxruntime() if device.type == "cpu" else teacher.to(device)
    warn_if_teachers_saw_the_holdout(teacher.files, val_size)
    return teacher


def warn_if_teachers_saw_the_holdout(files: list[Path], val_size: int) -> None:
    """A teacher trained on all 60,000 images has seen the validation holdout: a student it teaches then reads
    too high on validation. Known from the teacher's run record (metrics.json); files without one say nothing."""
    from mnist_lightning.inference.loading import run_metrics

    if not val_size:
        return
    seen = [str(f) for f in files if run_metrics(f).get("normalization", {}).get("train_images") == N_TRAIN]
    if seen:
        rank_zero_warn(
            f"These teachers were trained on all {N_TRAIN:,} training images, including this run's validation "
            f"holdout: {', '.join(seen)}. Its val/acc will read high. Choose settings with teachers trained with "
            "data.val_size=5000 (experiment=cnn_teacher), and use these for final fits with data.val_size=0."
        )


def teacher_in_bf16(device: torch.device) -> bool:
    """Whether PyTorch teachers run in bf16 on `device`: on GPUs that have it (on a CPU, onnxruntime runs them)."""
    return device.type == "cuda" and torch.cuda.is_bf16_supported()
