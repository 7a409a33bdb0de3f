"""mnist_lightning/eval.py: scoring a saved checkpoint from the command line gives training's own numbers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers import RELEASE_0_1_0, read_json, run_in_process, run_module
from mnist_lightning.user_errors import user_error


def test_eval_reports_the_same_test_accuracy(tiny_run, tmp_path):
    metrics = read_json(tiny_run / "metrics.json")
    eval_dir = tmp_path / "eval"
    result = run_module(
        "mnist_lightning.eval", f"ckpt_path={metrics['best_checkpoint']}", f"hydra.run.dir={eval_dir}", cwd=tmp_path
    )
    report = read_json(eval_dir / "eval.json")
    assert report["test/acc"] == pytest.approx(metrics["test/acc"], abs=1e-6)
    assert report["model"].startswith("MLP(")
    assert report["temperature"] == metrics["calibration"]["temperature"] != 1.0  # the one fitted in training
    assert (
        report["test/ece"] == metrics["test/ece"]
        and report["test/ece_uncalibrated"] == metrics["test/ece_uncalibrated"]
    )
    assert report["provenance"]["code"] == metrics["provenance"]["code"]  # the same code scored it
    said = result.stdout + result.stderr
    assert "Tip:" not in said and "is deprecated" not in said  # no advertisements or third-party deprecations


def test_eval_scores_a_checkpoint_of_release_0_1_0(tmp_path):
    report = run_in_process("eval", tmp_path / "eval", f"ckpt_path={RELEASE_0_1_0 / 'cnn.ckpt'}")
    assert report["model"] == "CNN(channels=[4], convs_per_stage=1, hidden_size=8, init=kaiming)"
    assert read_json(tmp_path / "eval" / "eval.json") == report


def test_eval_refuses_a_corrupt_checkpoint(tiny_run, tmp_path):
    broken = tmp_path / "broken.ckpt"
    broken.write_bytes((tiny_run / "checkpoints" / "last.ckpt").read_bytes()[:5000])
    with pytest.raises(ValueError) as caught:
        run_in_process("eval", tmp_path / "e", f"ckpt_path={broken}")
    assert user_error(caught.value).startswith(f"Checkpoint {broken} cannot be read as a weights-only torch checkpoint")


def test_eval_scores_an_exported_file_as_onnxruntime_runs_it(exported_model, trained_checkpoint, tmp_path):
    report = run_in_process("eval", tmp_path / "eval", f"ckpt_path={exported_model / 'model.onnx'}")
    assert report["model"].startswith("MLP(") and report["members"][0]["file"].endswith("model.onnx")
    assert report["test/acc"] == pytest.approx(read_json(exported_model / "parity.json")["test_accuracy"], abs=1e-9)


def test_eval_of_several_checkpoints_scores_their_ensemble_and_each_member(tiny_run, trained_checkpoint, tmp_path):
    members = tmp_path / "members"
    members.mkdir()
    for name, source in (
        ("a.ckpt", trained_checkpoint),
        ("b.ckpt", Path(read_json(tiny_run / "metrics.json")["best_checkpoint"])),
    ):
        (members / name).write_bytes(source.read_bytes())
    eval_dir = tmp_path / "eval"
    report = run_in_process("eval", eval_dir, f"ckpt_path={members}/*.ckpt")
    assert [Path(m["file"]).name for m in report["members"]] == ["a.ckpt", "b.ckpt"]
    assert report["model"].startswith("ensemble of 2: MLP(")
    # The ensemble's own probabilities, averaged by hand from each member's:
    from mnist_lightning.data.idx_files import MNIST, load_split
    from mnist_lightning.inference.checkpoint import load_classifier

    images, labels = load_split(MNIST, train=False, cache_dir=Path(os.environ["MNIST_LIGHTNING_CACHE"]))
    x = images.float().div(255)
    averaged = sum(load_classifier(members / name).probabilities(x) for name in ("a.ckpt", "b.ckpt")) / 2
    assert report["test/acc"] == pytest.approx((averaged.argmax(1) == labels).double().mean().item(), abs=1e-4)
    assert report["members"][0]["test/acc"] == pytest.approx(
        read_json(trained_checkpoint.parent.parent / "metrics.json")["test/acc"], abs=1e-4
    )
    assert all((eval_dir / f"{name}.png").is_file() for name in ("confusion_matrix", "mistakes", "reliability"))


def test_eval_names_a_pattern_that_matches_no_file_and_says_nothing_of_teachers(tmp_path):
    with pytest.raises(FileNotFoundError) as caught:
        run_in_process("eval", tmp_path / "e", f"ckpt_path=[{tmp_path}/a.ckpt,{tmp_path}/b*.ckpt]")
    message = user_error(caught.value)  # what the command prints, after "Error: "
    assert message.startswith(f"No model file matches '{tmp_path}/a.ckpt'") and "teacher" not in message
