"""Data sets other than MNIST in its IDX layout (conf/data/): data=idx for a folder of your own and the
Fashion-MNIST preset, trained end to end on small synthetic files the tests write. Their class names reach the
model, its metrics, its pictures and its card; the tools made for digits refuse such a model."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest
import torch

from helpers import compose_config, read_json, run_in_process, train_in_process, write_idx_dataset
from mnist_lightning.data.idx_files import IdxDataError
from mnist_lightning.inference.checkpoint import read_checkpoint
from mnist_lightning.inference.ensemble import Ensemble
from mnist_lightning.inference.loading import load_digit_model, load_model
from mnist_lightning.inference.model_card import model_card

STROKES = ["flat", "rising", "falling"]  # class c of helpers.strokes lies at c x 60 degrees
QUICK = ("trainer.max_epochs=4", "data.batch_size=50", "data.eval_batch_size=100", "data.val_size=100")


@pytest.fixture(scope="module")
def own_run(tmp_path_factory) -> tuple[Path, Path]:
    """A model trained with data=idx on a folder of three synthetic classes: (the folder, the run folder)."""
    root = tmp_path_factory.mktemp("own")
    write_idx_dataset(root / "strokes", classes=3)
    folder = f"data.dataset.folder={root / 'strokes'}"
    train_in_process(
        root / "run", "data=idx", folder, f"data.dataset.class_names=[{','.join(STROKES)}]", *QUICK, "figures=true"
    )
    return root / "strokes", root / "run"


def checkpoint_of(run: Path) -> Path:
    (best,) = (run / "checkpoints").glob("epoch*.ckpt")
    return best


def test_your_own_idx_folder_trains_and_its_class_names_flow_everywhere(own_run):
    _, run = own_run
    metrics = read_json(run / "metrics.json")
    assert metrics["test/images"] == 200 and metrics["test/acc"] > 0.9  # chance: 1/3
    assert list(metrics["test/per_class_acc"]) == STROKES
    assert metrics["normalization"]["train_images"] == 500  # 600 less the 100 held out
    hparams = read_checkpoint(checkpoint_of(run))["hyper_parameters"]
    assert (hparams["dataset"], hparams["class_names"], hparams["digits"]) == ("idx", STROKES, False)
    model = load_model(checkpoint_of(run))
    assert model.probabilities(torch.zeros(2, 28, 28)).shape == (2, 3)  # three outputs, not ten
    card = model_card(checkpoint_of(run), model)
    assert card["trained_on"] == {"dataset": "idx", "class_names": STROKES, "digits": False}
    for picture in ("confusion_matrix", "mistakes", "per_class_accuracy", "reliability"):
        assert (run / f"{picture}.png").stat().st_size > 5000


def test_the_digit_tools_refuse_a_model_of_other_classes(own_run, tmp_path):
    folder, run = own_run
    with pytest.raises(
        ValueError, match="was trained on data=idx \\(flat, rising, falling\\), not on handwritten digits"
    ):
        load_digit_model(checkpoint_of(run), "predict")
    with pytest.raises(ValueError, match="not on handwritten digits 0 to 9 in that order: predict turns every picture"):
        run_in_process("predict", tmp_path / "predict", f"ckpt_path={checkpoint_of(run)}", f"inputs={folder}")


def test_eval_scores_it_on_its_own_test_set_and_refuses_another(own_run, tmp_path):
    folder, run = own_run
    with pytest.raises(ValueError, match="was trained on data=idx .* but these are the test images of data=mnist"):
        run_in_process("eval", tmp_path / "mnist", f"ckpt_path={checkpoint_of(run)}")
    own = ("data=idx", f"data.dataset.folder={folder}", f"data.dataset.class_names=[{','.join(STROKES)}]")
    report = run_in_process("eval", tmp_path / "own", f"ckpt_path={checkpoint_of(run)}", *own)
    assert report["test/acc"] == read_json(run / "metrics.json")["test/acc"]


def test_export_records_the_classes_and_the_file_is_refused_for_digits(own_run, tmp_path):
    folder, run = own_run
    own = ("data=idx", f"data.dataset.folder={folder}", f"data.dataset.class_names=[{','.join(STROKES)}]")
    run_in_process("export", tmp_path / "export", f"ckpt_path={checkpoint_of(run)}", *own)
    exported = tmp_path / "export" / "model.onnx"
    metadata = {p.key: p.value for p in onnx.load(exported).metadata_props}
    assert json.loads(metadata["class_names"]) == STROKES and metadata["digits"] == "false"
    assert "official 200-image IDX data test set" in metadata["test_accuracy_measured"]
    with pytest.raises(ValueError, match="not on handwritten digits"):
        load_digit_model(exported, "serve")


def test_an_ensemble_of_models_of_different_classes_is_refused(own_run, trained_checkpoint):
    _, run = own_run
    with pytest.raises(ValueError, match="members of an ensemble must tell the same classes apart"):
        Ensemble([str(trained_checkpoint), str(checkpoint_of(run))])


def test_fashion_mnist_trains_on_files_with_its_published_md5_and_refuses_others(tmp_path):
    """The preset as a user with the real files has it, except that the files are synthetic: first with
    Fashion-MNIST's own md5s (refused), then with the md5s of the files written here."""
    md5 = write_idx_dataset(tmp_path / "cache" / "fashion_mnist", classes=10, n_train=1000, gz=True)
    fashion = ("data=fashion_mnist", f"data.cache_dir={tmp_path / 'cache'}", *QUICK)
    with pytest.raises(
        IdxDataError,
        match="is not the Fashion-MNIST file train-images-idx3-ubyte.gz that the md5 Fashion-MNIST publishes names",
    ):
        train_in_process(tmp_path / "refused", *fashion)
    metrics = train_in_process(tmp_path / "run", *fashion, *(f"data.dataset.md5.{role}={h}" for role, h in md5.items()))
    assert list(metrics["test/per_class_acc"])[:2] == ["T-shirt/top", "Trouser"] and metrics["test/acc"] > 0.5


def test_numbers_as_class_names_are_names_and_digits_need_all_ten(own_run, tmp_path):
    folder, _ = own_run
    own = ("data=idx", f"data.dataset.folder={folder}", "data.dataset.class_names=[0,1,2]", "data.dataset.digits=true")
    metrics = train_in_process(tmp_path / "run", *own, *QUICK, "trainer.max_epochs=1")
    assert list(metrics["test/per_class_acc"]) == ["0", "1", "2"]
    with pytest.raises(ValueError, match="not on handwritten digits 0 to 9 in that order"):
        load_digit_model(checkpoint_of(tmp_path / "run"), "predict")


def test_each_data_option_sets_its_ground_step_and_your_own_md5s_can_be_given():
    """The eval-time ground step would erase a garment: only MNIST's digits get it. And docs/data.md's override."""
    windows = {
        d: compose_config("train", f"data={d}").classifier.background_window
        for d in ("mnist", "fashion_mnist", "kmnist", "idx")
    }
    assert windows == {"mnist": 11, "fashion_mnist": 0, "kmnist": 0, "idx": 0}
    given = compose_config("train", "data=idx", "data.dataset.md5={train_images:" + "a" * 32 + "}").data.dataset.md5
    assert dict(given) == {"train_images": "a" * 32}
