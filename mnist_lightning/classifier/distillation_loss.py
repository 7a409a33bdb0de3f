"""Knowledge distillation's loss (Hinton, Vinyals & Dean 2015): a student learns from a trained teacher's probabilities.

A label says "this is a 7"; a teacher's probabilities also say how much it looks like a 1 or a 9. Softened by a
temperature, those small probabilities carry most of what the teacher knows about which digits resemble which,
and a student that matches them on every (distorted) training image learns it too. The teacher sees exactly
the distorted batch the student sees, so the two are compared on the same image ("consistent views", Beyer et
al. 2022). Which teachers, and how they are run, is training's business (training/teachers.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

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
            "distillation.temperature must be > 0 (1 = the teacher's probabilities as they are), "
            f"got {distillation['temperature']}."
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
