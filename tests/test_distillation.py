"""classifier/distillation_loss.py, training/teachers.py and a student's training: the loss, the teachers it
loads, and what it learns."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from helpers import TINY_RUN, train_in_process
from mnist_lightning.classifier.distillation_loss import distillation_loss
from mnist_lightning.classifier.lightning_module import MNISTClassifier

STUDENT = dict(
    backbone={"_target_": "mnist_lightning.models.mlp.MLP", "hidden_sizes": [64], "dropout": 0.0},
    optimizer={"_target_": "torch.optim.AdamW", "lr": 3e-3},
    mean=0.1307,
    std=0.3081,
)


def distilled(**settings) -> dict:
    return {"teachers": ["teacher.ckpt"], "temperature": 4.0, "hard_label_weight": 0.0, **settings}


def test_the_loss_is_the_softened_kl_times_the_temperature_squared():
    torch.manual_seed(0)
    student, teacher = torch.randn(8, 10), torch.randn(8, 10)
    for temperature in (1.0, 4.0):
        p_teacher = torch.softmax(teacher / temperature, dim=1)
        by_hand = (p_teacher * (p_teacher.log() - torch.log_softmax(student / temperature, dim=1))).sum(1).mean()
        found = distillation_loss(student, torch.log_softmax(teacher, dim=1), temperature)
        assert found.item() == pytest.approx(temperature**2 * by_hand.item(), rel=1e-5)
    assert distillation_loss(teacher, torch.log_softmax(teacher, dim=1), 4.0).item() == pytest.approx(0, abs=1e-6)


def test_a_student_matching_its_teacher_moves_towards_the_teachers_second_choice():
    """What soft targets teach: for a teacher that says 90 % "7", 9 % "1", the gradient raises the student's "1"
    above its other wrong classes, which a hard label would push down alike."""
    teacher = torch.full((1, 10), 1e-3).index_put_((torch.tensor([0]), torch.tensor([7])), torch.tensor(0.9))
    teacher[0, 1] = 0.091
    student = torch.zeros(1, 10, requires_grad=True)
    distillation_loss(student, teacher.log(), temperature=2.0).backward()
    assert student.grad[0, 1] < 0 and (student.grad[0, 1] < student.grad[0, [2, 3, 4, 5, 6, 8, 9]]).all()
    assert student.grad[0, 7] == student.grad[0].min()


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"hard_label_weight": 1.0}, "would ignore the teacher"),
        ({"temperature": 0.0}, "temperature must be > 0"),
        ({"teachers": []}, "teachers is empty"),
    ],
)
def test_settings_a_student_cannot_train_with_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        MNISTClassifier(**STUDENT, distillation=distilled(**settings))


class RecordingTeacher:
    """A teacher that remembers what it was shown and answers with fixed log probabilities."""

    def __init__(self, answer: torch.Tensor):
        self.answer, self.seen = answer, []

    def log_probabilities(self, images: torch.Tensor) -> torch.Tensor:
        self.seen.append(images.clone())
        return self.answer


def test_the_teacher_sees_exactly_the_batch_the_student_learns_from():
    model = MNISTClassifier(**STUDENT, distillation=distilled(hard_label_weight=0.25))
    images, labels = torch.rand(6, 1, 28, 28), torch.arange(6)
    model.teacher = RecordingTeacher(torch.log_softmax(torch.randn(6, 10), dim=1))
    loss = model.training_step((images, labels), 0)
    assert torch.equal(model.teacher.seen[0], images[:, 0])
    logits = model(images)
    expected = 0.25 * F.cross_entropy(logits, labels) + 0.75 * distillation_loss(logits, model.teacher.answer, 4.0)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_a_distilling_student_without_the_teachers_callback_refuses_to_start():
    """Training it without teachers would quietly fall back to the labels alone."""
    with pytest.raises(RuntimeError, match="given no teachers.*Teachers callback"):
        MNISTClassifier(**STUDENT, distillation=distilled()).on_fit_start()
    MNISTClassifier(**STUDENT).on_fit_start()  # no distillation: nothing to hand over


def test_with_no_weight_on_the_labels_a_student_learns_the_digits_from_its_teacher_alone(
    trained_checkpoint, train_split, test_split
):
    """Every label the student is given is 0, so all it knows of the digits comes from the teacher."""
    from mnist_lightning.inference.ensemble import Ensemble

    torch.manual_seed(0)
    model = MNISTClassifier(**STUDENT, distillation=distilled(temperature=2.0))
    model.teacher = Ensemble(str(trained_checkpoint))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    images = train_split[0][:12_800].float().div(255)
    for batch in images.split(128):
        loss = model.training_step((batch[:, None], torch.zeros(len(batch), dtype=torch.long)), 0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    test_images, test_labels = test_split
    accuracy = (model.eval().logits(test_images[:2000].float().div(255)).argmax(1) == test_labels[:2000]).float().mean()
    assert accuracy > 0.85  # chance is 0.10; the labels alone (all 0) would teach 0.10


def test_a_distilled_run_records_its_teachers_and_the_student_loads_without_them(exported_model, tmp_path):
    """The teacher is an exported file (onnxruntime runs it as given); test_configs' mlp_distill is taught by a
    checkpoint, which the Teachers callback exports in memory on a CPU."""
    teacher = tmp_path / "teacher.onnx"
    teacher.write_bytes((exported_model / "model.onnx").read_bytes())
    metrics = train_in_process(
        tmp_path / "student", *TINY_RUN, "distillation=teachers", f"distillation.teachers=['{tmp_path}/teach*.onnx']"
    )
    assert metrics["distillation"]["teacher_files"] == [str(teacher)]
    assert metrics["distillation"]["temperature"] == 4.0
    assert (tmp_path / "student" / "soft_targets.png").is_file()  # what the teachers said, drawn before training
    teacher.unlink()  # a trained student is a plain network: predicting with it needs no teacher
    from mnist_lightning.inference.checkpoint import load_classifier

    student = load_classifier(metrics["best_checkpoint"])
    assert student.teacher is None and student.hparams.distillation["teachers"] == [f"{tmp_path}/teach*.onnx"]
    assert not any("teacher" in key for key in student.state_dict())
    from mnist_lightning.inference.model_card import model_card

    card = model_card(metrics["best_checkpoint"], student)
    assert "distilled from trained teachers (temperature 4.0" in card["training"]


def test_teachers_that_name_no_file_fail_before_training_and_say_how_to_make_them(tmp_path):
    with pytest.raises(FileNotFoundError, match="distillation.teachers: No model file matches.*experiment=cnn_teacher"):
        train_in_process(
            tmp_path / "student", *TINY_RUN, "distillation=teachers", f"distillation.teachers=['{tmp_path}/none*.ckpt']"
        )
    assert not (tmp_path / "student" / "checkpoints").exists()


def test_a_teacher_that_saw_the_validation_holdout_is_named_in_a_warning(trained_checkpoint, tmp_path):
    from mnist_lightning.training.teachers import warn_if_teachers_saw_the_holdout

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    teacher = run / "checkpoints" / "last.ckpt"
    teacher.write_bytes(trained_checkpoint.read_bytes())
    (run / "metrics.json").write_text(f'{{"best_checkpoint": "{teacher}", "normalization": {{"train_images": 60000}}}}')
    with pytest.warns(UserWarning, match="including this run's validation holdout"):
        warn_if_teachers_saw_the_holdout([teacher], val_size=5000, train_images=60000)
    warn_if_teachers_saw_the_holdout(
        [teacher], val_size=0, train_images=60000
    )  # a final fit on all 60,000: nothing to say


def test_the_ensemble_averages_probabilities_without_losing_tiny_ones():
    from mnist_lightning.inference.ensemble import average_probabilities

    each = torch.log_softmax(torch.tensor([[[0.0, 200.0]], [[0.0, 0.0]]]), dim=2)  # one member gives class 0 e^-200
    averaged = average_probabilities(each)
    assert torch.allclose(averaged.exp(), torch.tensor([[0.25, 0.75]]))
    single = average_probabilities(each[:1])
    assert single[0, 0].item() == pytest.approx(-200, abs=1e-3) and math.isfinite(single[0, 0].item())
