"""conf/logger/ and reporting/loggers.py: a run's settings, results and pictures reach whichever loggers it names."""

from __future__ import annotations

import csv
import json

import pytest
import yaml

from helpers import TINY_RUN, train_in_process
from mnist_lightning.reporting.loggers import loggers_from
from mnist_lightning.reporting.mistakes import PICTURES


def test_csv_and_mlflow_record_settings_results_and_pictures(tmp_path):
    """Offline: MLflow in a SQLite file, CSV in the run folder."""
    mlflow = pytest.importorskip("mlflow")
    store = f"sqlite:///{tmp_path}/mlflow.db"
    run_dir = tmp_path / "run"
    metrics = train_in_process(
        run_dir,
        *TINY_RUN,
        "logger=[csv,mlflow]",
        f"logger.mlflow.tracking_uri={store}",
        f"logger.mlflow.artifact_location={tmp_path}/artifacts",
        "figures=true",
    )
    with open(run_dir / "csv" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert {"train/loss", "val/acc", "test/acc", "hp/test_acc"} <= set(rows[0])
    assert [float(row["hp/test_acc"]) for row in rows if row["hp/test_acc"]] == pytest.approx([metrics["test/acc"]])
    assert yaml.safe_load((run_dir / "csv" / "hparams.yaml").read_text())["model.hidden_sizes"] == "[512, 256]"

    mlflow.set_tracking_uri(store)
    (run,) = mlflow.search_runs(experiment_names=["mnist_lightning"], output_format="list")
    assert run.info.status == "FINISHED" and run.data.tags["run_folder"] == str(run_dir)
    assert run.data.metrics["hp/test_acc"] == pytest.approx(metrics["test/acc"])
    assert run.data.metrics["val/acc"] == pytest.approx(metrics["val/acc"])
    assert run.data.params["regularizer.dropout"] == "0.0" and run.data.params["model.hidden_sizes"] == "[512, 256]"
    pictures = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "test")}
    assert pictures == {f"test/{name}.png" for name in PICTURES}


def test_without_a_logger_a_run_keeps_its_own_record(tmp_path):
    metrics = train_in_process(tmp_path / "run", "trainer=debug", "logger=none")
    assert 0 <= metrics["test/acc"] <= 1 and (tmp_path / "run" / "metrics.json").is_file()
    assert not (tmp_path / "run" / "tensorboard").exists()


@pytest.mark.slow  # ~25 s a run: W&B starts its own service process
def test_wandb_offline_records_settings_results_and_pictures_one_run_per_job(tmp_path):
    """Offline, as conf/logger/wandb.yaml runs it, twice in one process as a sweep's jobs run: each job has its own
    record file (run-*.wandb, protobuf records) holding the settings' and results' keys and its own test accuracy,
    and its pictures in its media folder."""
    pytest.importorskip("wandb")
    for seed in (0, 1):
        run_dir = tmp_path / f"job{seed}"
        metrics = train_in_process(run_dir, *TINY_RUN, "logger=wandb", "figures=true", f"seed={seed}")
        (offline,) = (run_dir / "wandb").glob("offline-run-*")  # not the first job's run, reused
        (record,) = offline.glob("run-*.wandb")
        data = record.read_bytes()
        for key in (
            "regularizer.dropout",
            "model.hidden_sizes",
            "data.dataset",
            "train/loss",
            "val/acc",
            "hp/test_acc",
        ):
            assert key.encode() in data, key
        assert json.dumps(metrics["test/acc"]).encode() in data
        pictures = {
            path.name.rsplit("_", 2)[0] for path in (offline / "files" / "media" / "images" / "test").glob("*.png")
        }
        assert pictures == set(PICTURES)


def test_a_logger_whose_package_is_missing_names_the_extra_to_install(monkeypatch):
    import lightning.pytorch.loggers.wandb

    monkeypatch.setattr(lightning.pytorch.loggers.wandb, "_WANDB_AVAILABLE", False)  # as without the package
    with pytest.raises(
        ModuleNotFoundError, match=r"logger=wandb needs the wandb package: `pip install -e '\.\[wandb\]'`"
    ):
        loggers_from({"wandb": {"_target_": "lightning.pytorch.loggers.WandbLogger", "offline": True}})
