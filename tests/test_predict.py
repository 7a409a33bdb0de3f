"""mnist_lightning/predict.py: your own pictures in, a table, predictions.csv and a contact sheet out; a file
that cannot be read is reported with its reason while the rest are still classified."""

from __future__ import annotations

import csv

import pytest
from PIL import Image

from helpers import CHANGES, picture, run_in_process, run_module
from mnist_lightning.predict import find_inputs
from mnist_lightning.user_errors import user_error


def test_a_folder_of_pictures_is_classified_and_bad_files_are_named(trained_checkpoint, test_split, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    images, labels = test_split
    for i, change in enumerate(CHANGES.values()):  # one picture per kind of change, in several formats
        extension = ("png", "jpg", "bmp", "webp", "tiff", "gif", "png", "png")[i]
        picture_i = change(picture(images[i]))
        picture_i.convert("RGB" if extension == "jpg" else picture_i.mode).save(photos / f"{i}_{labels[i]}.{extension}")
    (photos / "notes.txt").write_text("not a picture")
    Image.new("L", (64, 64), 255).save(photos / "blank.png")
    run_dir = tmp_path / "run"
    result = run_module(
        "mnist_lightning.predict",
        f"inputs={photos}",
        f"ckpt_path={trained_checkpoint}",
        f"hydra.run.dir={run_dir}",
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 1, result.stderr  # some files failed, which the exit code says
    assert (run_dir / "predictions.csv").is_file(), result.stderr
    with open(run_dir / "predictions.csv") as f:
        rows = {row["file"].rsplit("/", 1)[-1]: row for row in csv.DictReader(f)}
    assert "no digit found" in rows["blank.png"]["error"] and "not an image" in rows["notes.txt"]["error"]
    answers = [(name.split("_")[1].split(".")[0], row["digit"]) for name, row in rows.items() if "_" in name]
    assert len(answers) == len(CHANGES) and sum(true == said for true, said in answers) >= len(CHANGES) - 1
    assert all(row["top3"].count(":") == 3 for name, row in rows.items() if "_" in name)
    assert "| file | digit | probability | top 3 |" in result.stdout and "failed: no digit found" in result.stdout
    assert (run_dir / "contact_sheet.png").read_bytes()[:4] == b"\x89PNG"


def test_inputs_are_files_folders_and_patterns_and_empty_ones_are_reported(tmp_path):
    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "b.jpg").write_bytes(b"")
    (tmp_path / "empty").mkdir()
    files, problems = find_inputs(
        [str(tmp_path / "a.png"), str(tmp_path / "*.jpg"), str(tmp_path / "empty"), str(tmp_path / "*.gif")]
    )
    assert [f.name for f in files] == ["a.png", "b.jpg"]
    assert [p["error"] for p in problems] == [
        f"the folder {tmp_path / 'empty'} holds no files",
        f"{tmp_path / '*.gif'} is no file or folder, and as a pattern it matches no file",
    ]


def test_an_exported_onnx_file_predicts_as_its_checkpoint_does(
    exported_model, trained_checkpoint, test_split, tmp_path
):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, change in enumerate(CHANGES.values()):
        change(picture(test_split[0][i])).save(photos / f"{i}.png")
    answers = {}
    for name, model in (("checkpoint", trained_checkpoint), ("onnx", exported_model / "model.onnx")):
        run_in_process("predict", tmp_path / name, f"inputs={photos}", f"ckpt_path={model}")
        with open(tmp_path / name / "predictions.csv") as f:
            answers[name] = [(row["file"], row["digit"], float(row["probability"])) for row in csv.DictReader(f)]
    assert [row[:2] for row in answers["onnx"]] == [row[:2] for row in answers["checkpoint"]]
    assert [row[2] for row in answers["onnx"]] == pytest.approx([row[2] for row in answers["checkpoint"]], abs=1e-3)


def test_a_model_file_of_another_program_is_refused(tmp_path):
    import torch

    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(ValueError) as caught:
        run_in_process("predict", tmp_path / "run", f"ckpt_path={foreign}", f"inputs={tmp_path}")
    assert (
        user_error(caught.value)
        == f"{foreign} is not an mnist_lightning checkpoint (its hyperparameters name no backbone)."
    )


@pytest.mark.parametrize("model", ["missing.ckpt", "missing.onnx"])
def test_a_missing_model_file_is_named_with_the_fix(tmp_path, model):
    with pytest.raises(FileNotFoundError) as caught:
        run_in_process("predict", tmp_path / "run", f"ckpt_path={tmp_path / model}", f"inputs={tmp_path}")
    assert str(tmp_path / model) in user_error(caught.value) and "does not exist. Pass" in user_error(caught.value)
