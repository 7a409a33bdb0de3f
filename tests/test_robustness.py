"""mnist_lightning.robustness: a model scored on the suites of pictures people bring, from a checkpoint and from an
.onnx file; its numbers are the model's own answers, and split=val chooses the unsure thresholds it reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from helpers import compose_config, run_module
from mnist_lightning.inference.loading import load_model
from mnist_lightning.realworld import drawings
from mnist_lightning.realworld.mnist_c import CORRUPTIONS
from mnist_lightning.robustness import robustness
from mnist_lightning.user_errors import user_error

LIMIT = 40  # digits of the split each suite is built from: seconds, not minutes


def compose_robustness(run_dir: Path, *overrides: str):
    run_dir.mkdir(parents=True, exist_ok=True)
    return compose_config("robustness", f"limit={LIMIT}", "drawings_per_setting=1", *overrides, run_dir=run_dir)


@pytest.fixture(scope="module")
def test_report(trained_checkpoint, tmp_path_factory) -> tuple[dict, Path]:
    run_dir = tmp_path_factory.mktemp("robustness") / "run"
    return robustness(compose_robustness(run_dir, f"ckpt_path={trained_checkpoint}")), run_dir


def test_every_suite_and_group_is_scored(test_report):
    result, run_dir = test_report
    suites = result["suites"]
    assert set(suites) == {"mnist_c", "mnist_c_read", "photos", "drawings", "encodings"}
    assert set(suites["mnist_c"]) == {"clean", *CORRUPTIONS, "mean over corruptions"}
    assert set(drawings.STYLES) | set(drawings.PLACEMENTS) <= set(suites["drawings"])
    assert suites["photos"]["all"]["images"] == LIMIT and suites["encodings"]["all"]["images"] == LIMIT
    for groups in suites.values():
        for name, m in groups.items():
            if "accuracy" in m:
                assert 0 <= m["accuracy"] <= 1 and 0 <= m["unsure"] <= 1 and m["images"] > 0, name
    assert result["split"] == "test" and len(result["model_sha256"]) == 64 and result["provenance"]["cpu"]
    assert json.loads((run_dir / "robustness.json").read_text())["suites"] == suites
    table = (run_dir / "robustness.md").read_text()
    assert "| photos | all |" in table and "paper's CNN" in table
    assert (run_dir / "examples.png").stat().st_size > 10_000


def test_the_numbers_are_the_models_own_answers(test_report, trained_checkpoint, test_split):
    """Clean MNIST-C, as the paper feeds it, is the test digits themselves: its accuracy is the model's there."""
    result, _ = test_report
    model = load_model(trained_checkpoint)
    images, labels = test_split[0][:LIMIT], test_split[1][:LIMIT]
    with torch.no_grad():
        expected = (model.probabilities(images.float() / 255).argmax(1) == labels).float().mean()
    assert result["suites"]["mnist_c"]["clean"]["accuracy"] == pytest.approx(float(expected))
    clean = result["suites"]["mnist_c"]
    errors = [1 - clean[name]["accuracy"] for name in CORRUPTIONS]
    assert clean["mean over corruptions"]["error"] == pytest.approx(sum(errors) / len(errors))


def test_validation_chooses_unsure_thresholds_on_other_digits(trained_checkpoint, test_report, tmp_path):
    result = robustness(
        compose_robustness(
            tmp_path / "val",
            f"ckpt_path={trained_checkpoint}",
            "split=val",
            "suites=[photos,encodings]",
            "unsure_target=0.99",
        )
    )
    chosen = result["chosen_unsure"]
    assert result["split"] == "val" and chosen["suites"] == ["photos", "encodings"]
    assert chosen["meets_target"] == (chosen["sure_accuracy"] >= 0.99) and 0 <= chosen["flagged"] <= 1
    # The same generators on other digits: the validation holdout, not the test set.
    assert result["suites"]["photos"]["all"] != test_report[0]["suites"]["photos"]["all"]
    assert "Chosen on this split" in (tmp_path / "val" / "robustness.md").read_text()


def test_from_the_command_line_on_an_onnx_file(exported_model, tmp_path):
    run_dir = tmp_path / "onnx"
    result = run_module(
        "mnist_lightning.robustness",
        f"ckpt_path={exported_model / 'model.onnx'}",
        f"limit={LIMIT}",
        "suites=[encodings,mnist_c]",
        f"hydra.run.dir={run_dir}",
        cwd=tmp_path,
    )
    report = json.loads((run_dir / "robustness.json").read_text())
    assert report["model"]["runtime"] == "onnxruntime" and "| encodings | all |" in result.stdout
    assert report["suites"]["encodings"]["all"]["accuracy"] > 0.8


def test_an_unknown_suite_is_refused_with_the_choices(trained_checkpoint, tmp_path):
    with pytest.raises(ValueError, match="unknown suite 'sketches'; choose from") as caught:
        robustness(compose_robustness(tmp_path, f"ckpt_path={trained_checkpoint}", "suites=[sketches]"))
    assert user_error(caught.value).startswith("suites: unknown suite 'sketches'")  # the line after "Error: "


def test_split_val_refuses_a_model_trained_on_the_holdout(trained_checkpoint, tmp_path):
    record = trained_checkpoint.parent.parent / "metrics.json"
    metrics = json.loads(record.read_text())
    copy = tmp_path / "run" / "checkpoints" / trained_checkpoint.name
    copy.parent.mkdir(parents=True)
    copy.write_bytes(trained_checkpoint.read_bytes())
    metrics["best_checkpoint"] = str(copy)
    metrics["normalization"]["train_images"] = 60_000  # as a final fit with data.val_size=0 records it
    (tmp_path / "run" / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(ValueError, match="trained on 60,000 images, the validation holdout included"):
        robustness(compose_robustness(tmp_path / "out", f"ckpt_path={copy}", "split=val", "suites=[encodings]"))
