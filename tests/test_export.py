"""mnist_lightning/export.py and inference/exporting.py: one ONNX file that computes what the checkpoint does,
checked on the 10,000 test images before it is written, and readable without this package's model code."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import onnx
import onnxruntime
import pytest
import torch

from helpers import REPO, picture, read_json, run_in_process, run_module
from mnist_lightning.classifier.protocol import Classifier
from mnist_lightning.export import ParityError
from mnist_lightning.inference.checkpoint import load_classifier
from mnist_lightning.inference.ensemble import Ensemble
from mnist_lightning.inference.exporting import parity
from mnist_lightning.inference.loading import load_model
from mnist_lightning.inference.onnx_classifier import OnnxClassifier
from mnist_lightning.user_errors import user_error


def test_the_export_matches_pytorch_on_every_test_image(exported_model, trained_checkpoint):
    check = read_json(exported_model / "parity.json")
    assert check["passed"] and check["images"] == check["same_class"] == 10_000 and check["differing"] == []
    assert 0 < check["max_logit_difference"] < 1e-3
    metrics = read_json(trained_checkpoint.parent.parent / "metrics.json")
    assert check["test_accuracy"] == pytest.approx(metrics["test/acc"], abs=1e-4)  # the file scores as training did
    assert (exported_model / "model.onnx").is_file()


def test_the_file_says_what_it_takes_and_where_it_came_from(exported_model, trained_checkpoint):
    metadata = {p.key: p.value for p in onnx.load(exported_model / "model.onnx").metadata_props}
    assert "float32 [N, 1, 28, 28], pixel/255" in metadata["input"]
    assert json.loads(metadata["class_names"]) == [str(d) for d in range(10)]
    assert metadata["source_checkpoint"] == trained_checkpoint.name  # the name and the sha256, not where it lay
    assert str(trained_checkpoint.parent) not in " ".join(metadata.values())
    accuracy = read_json(exported_model / "parity.json")["test_accuracy"]
    assert (
        metadata["test_accuracy"] == f"{accuracy:.4f}" and "official 10,000-image" in metadata["test_accuracy_measured"]
    )
    assert (
        metadata["training"].startswith("AdamW (lr 0.003), OneCycleLR schedule")
        and "3 epochs on 55,000 images" in metadata["training"]
    )
    assert len(json.loads(metadata["code_version"])["git_commit"]) == 40
    assert json.loads(metadata["temperature"]) == load_classifier(trained_checkpoint).hparams.temperature


@pytest.mark.parametrize("batch", [1, 37])
def test_any_batch_size_and_the_temperature_inside(exported_model, trained_checkpoint, test_split, batch):
    images = test_split[0][:batch].float() / 255
    session = onnxruntime.InferenceSession(str(exported_model / "model.onnx"))  # plain onnxruntime, nothing of ours
    logits, probabilities = session.run(["logits", "probabilities"], {"images": images[:, None].numpy()})
    model = load_classifier(trained_checkpoint)
    assert probabilities.shape == (batch, 10)
    assert torch.allclose(torch.from_numpy(probabilities), model.probabilities(images), atol=1e-5)  # calibrated
    assert not torch.allclose(torch.from_numpy(probabilities), model.probabilities(images, calibrated=False), atol=1e-5)
    assert torch.allclose(torch.from_numpy(logits), model.logits(images) / model.hparams.temperature, atol=1e-4)


def test_a_different_answer_fails_the_check_and_is_named():
    reference = torch.eye(10).repeat(3, 1)
    exported = reference.clone()
    exported[4] = torch.tensor([0, 0, 0, 0, 0, 2.0, 0, 0, 0, 0])  # image 4 (a 4) now reads as a 5
    check = parity(reference, exported, torch.arange(10).repeat(3), tolerance=1e-3)
    assert not check["passed"] and check["same_class"] == 29
    assert check["differing"] == [{"index": 4, "label": 4, "pytorch": 4, "exported": 5}]
    assert not parity(reference, reference + 0.01, torch.arange(10).repeat(3), tolerance=1e-3)["passed"]


def test_a_failed_check_writes_no_model(trained_checkpoint, exported_model, tmp_path, monkeypatch):
    # Tolerance 0: float32 ONNX and PyTorch differ in the last bits, so the check must fail, as a real mismatch would.
    # The graph is the one the command-line export wrote (the same checkpoint): exporting again would take seconds.
    monkeypatch.setattr(
        "mnist_lightning.export.onnx_model", lambda classifier: onnx.load(exported_model / "model.onnx")
    )
    run_dir = tmp_path / "run"
    with pytest.raises(ParityError, match="no model was written"):
        run_in_process("export", run_dir, f"ckpt_path={trained_checkpoint}", "tolerance=0")
    assert not (run_dir / "model.onnx").exists() and not read_json(run_dir / "parity.json")["passed"]


@pytest.mark.parametrize(
    "override, message",
    [
        ("format=torchscript", "format=torchscript is not one this exporter writes; use one of ('onnx',)"),
        ("ckpt_path={onnx}", "is an exported ONNX file, not a checkpoint: this needs the .ckpt it was exported from"),
    ],
)
def test_what_cannot_be_exported_is_refused_with_the_fix(
    trained_checkpoint, exported_model, tmp_path, override, message
):
    overrides = [f"ckpt_path={trained_checkpoint}", override.format(onnx=exported_model / "model.onnx")]
    with pytest.raises(ValueError) as caught:
        run_in_process("export", tmp_path / "run", *overrides)
    assert message in user_error(caught.value)
    assert not (tmp_path / "run" / "model.onnx").exists()


def test_a_corrupt_checkpoint_is_refused_from_the_command_line_in_one_line_without_unsafe_advice(
    trained_checkpoint, tmp_path
):
    """Not two tracebacks, and not torch's advice to load the file with weights_only=False: that would run whatever
    code a file of unknown origin carries."""
    broken = tmp_path / "broken.ckpt"
    broken.write_bytes(trained_checkpoint.read_bytes()[:5000])
    result = run_module("mnist_lightning.export", f"ckpt_path={broken}", "hydra.run.dir=x", cwd=tmp_path, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1
    assert (
        result.stderr.startswith(f"Error: Checkpoint {broken} cannot be read") and "truncated, corrupt" in result.stderr
    )
    assert "weights_only" not in result.stderr and "trust" not in result.stderr


def test_bad_onnx_files_are_refused_with_the_reason(exported_model, tmp_path):
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes((exported_model / "model.onnx").read_bytes()[:3000])
    with pytest.raises(ValueError, match="cannot be read as an ONNX model"):
        OnnxClassifier(truncated)
    other = tmp_path / "other.onnx"
    torch.onnx.export(torch.nn.Linear(4, 2).eval(), (torch.zeros(1, 4),), str(other), dynamo=True, input_names=["x"])
    with pytest.raises(ValueError, match="not one mnist_lightning.export wrote"):
        OnnxClassifier(other)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        OnnxClassifier(tmp_path / "missing.onnx")


def test_the_readmes_numpy_and_onnxruntime_lines_classify_a_digit(exported_model, test_split, tmp_path):
    """The README's snippet, as written there, next to a model.onnx and a digit.png (an MNIST test digit)."""
    section = (REPO / "README.md").read_text().split("## Use your model", 1)[1]
    snippet = section.split("```python\n", 1)[1].split("```", 1)[0]
    shutil.copy(exported_model / "model.onnx", tmp_path / "model.onnx")
    picture(test_split[0][0]).save(tmp_path / "digit.png")
    result = subprocess.run([sys.executable, "-c", snippet], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    digit, probability = result.stdout.split()
    expected = OnnxClassifier(tmp_path / "model.onnx").probabilities(test_split[0][:1].float() / 255)[0]
    assert int(digit) == int(expected.argmax()) == int(test_split[1][0])
    assert float(probability) == pytest.approx(float(expected.max()), abs=1e-5)


def test_every_runnable_model_answers_as_one_classifier(exported_model, trained_checkpoint, test_split):
    """A checkpoint, its export and an ensemble of both satisfy classifier/protocol.py and agree on what they say;
    running the .onnx file alone loads neither the exporter nor Lightning."""
    checkpoint, exported = load_model(trained_checkpoint), load_model(exported_model / "model.onnx")
    ensemble = Ensemble([str(trained_checkpoint), str(exported_model / "model.onnx")])
    images = test_split[0][:64].float() / 255
    answers = [model.probabilities(images) for model in (checkpoint, exported, ensemble)]
    assert all(isinstance(model, Classifier) for model in (checkpoint, exported, ensemble))
    for found in answers[1:]:
        assert torch.allclose(found, answers[0], atol=1e-4)
    runtime_only = (
        "import sys, torch; from mnist_lightning.inference.onnx_classifier import OnnxClassifier; "
        f"OnnxClassifier('{exported_model / 'model.onnx'}').probabilities(torch.zeros(1, 28, 28)); "
        "print([m for m in ('lightning', 'mnist_lightning.inference.exporting', 'onnxscript') if m in sys.modules])"
    )
    loaded = subprocess.run([sys.executable, "-c", runtime_only], capture_output=True, text=True, timeout=120)
    assert loaded.returncode == 0 and loaded.stdout.strip() == "[]", loaded.stdout + loaded.stderr
