"""mnist_lightning/eval.py: scoring a saved checkpoint from the command line gives training's own numbers."""

from __future__ import annotations

import pytest

from helpers import RELEASE_0_1_0, read_json, run_module


def test_eval_reports_the_same_test_accuracy(tiny_run, tmp_path):
    metrics = read_json(tiny_run / "metrics.json")
    eval_dir = tmp_path / "eval"
    run_module("mnist_lightning.eval", f"ckpt_path={metrics['best_checkpoint']}", f"hydra.run.dir={eval_dir}", cwd=tmp_path)
    report = read_json(eval_dir / "eval.json")
    assert report["test/acc"] == pytest.approx(metrics["test/acc"], abs=1e-6)
    assert report["model"].startswith("MLP(")
    assert report["temperature"] == metrics["calibration"]["temperature"] != 1.0  # the one fitted in training
    assert report["test/ece"] == metrics["test/ece"] and report["test/ece_uncalibrated"] == metrics["test/ece_uncalibrated"]
    assert report["provenance"]["code"] == metrics["provenance"]["code"]  # the same code scored it


def test_eval_scores_a_checkpoint_of_release_0_1_0(tmp_path):
    eval_dir = tmp_path / "eval"
    run_module("mnist_lightning.eval", f"ckpt_path={RELEASE_0_1_0 / 'cnn.ckpt'}", f"hydra.run.dir={eval_dir}", cwd=tmp_path)
    assert read_json(eval_dir / "eval.json")["model"] == "CNN(channels=[4], convs_per_stage=1, hidden_size=8, init=kaiming)"


def test_eval_refuses_a_corrupt_checkpoint(tiny_run, tmp_path):
    broken = tmp_path / "broken.ckpt"
    broken.write_bytes((tiny_run / "checkpoints" / "last.ckpt").read_bytes()[:5000])
    result = run_module("mnist_lightning.eval", f"ckpt_path={broken}", f"hydra.run.dir={tmp_path / 'e'}", cwd=tmp_path, check=False)
    assert result.returncode != 0 and "truncated, corrupt" in result.stderr
