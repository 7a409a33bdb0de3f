"""mnist_lightning/train.py: what a run builds, trains, scores and leaves behind; its command line and errors.

Command-line behaviour (exit codes, what a user reads, multirun) runs `python -m mnist_lightning.train` in a
fresh process; tests that only need a finished run call `train` in this process, which is several times quicker.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from helpers import TINY_RUN, read_json, run_module, train_in_process
from mnist_lightning.user_errors import user_error


def test_fast_dev_run(tmp_path, caplog):
    run_dir = tmp_path / "mlp"
    with caplog.at_level(logging.INFO):
        metrics = train_in_process(run_dir, "trainer=debug")
    assert read_json(run_dir / "metrics.json") == metrics
    assert 0 <= metrics["test/acc"] <= 1 and "val/acc" in metrics
    assert "Normalization from the 55,000 training images only" in caplog.text
    assert not list(run_dir.glob("*.png"))  # figures=false: no pictures drawn
    # A debug run writes no checkpoint while it trains; it saves its weights to be scored like any run.
    assert metrics["best_checkpoint"] == str(run_dir / "checkpoints" / "last.ckpt")


def test_run_writes_checkpoints_config_metrics(tiny_run):
    metrics = read_json(tiny_run / "metrics.json")
    checkpoints = {p.name for p in (tiny_run / "checkpoints").iterdir()}
    assert "last.ckpt" in checkpoints and any(name.startswith("epoch00-val_acc") for name in checkpoints)
    assert metrics["best_checkpoint"].endswith(".ckpt") and metrics["epochs"] == 1
    assert "regularizer.dropout=0.3" in metrics["overrides"]
    assert metrics["normalization"]["train_images"] == 55000
    assert metrics["objective"] == {"name": "val/acc", "value": metrics["val/acc"]}
    assert set(metrics["test/per_class_acc"]) == {str(c) for c in range(10)} and 0 <= metrics["test/ece"] <= 1
    assert all(
        (tiny_run / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
        for name in ("confusion_matrix", "mistakes", "per_class_accuracy", "reliability")
    )
    assert "dropout: 0.3" in (tiny_run / ".hydra" / "config.yaml").read_text()
    # The settings tree printed at the start, resolved (the run folder itself, not an interpolation).
    tree = (tiny_run / "config_tree.txt").read_text()
    assert "├── regularizer" in tree and "dropout: 0.3" in tree and f"default_root_dir: {tiny_run}" in tree


def test_several_loggers_each_keep_their_record(tiny_run):
    """logger=[tensorboard,csv]: TensorBoard's event files (test_tensorboard_has_scalars_and_hparams) and the CSV."""
    with open(tiny_run / "csv" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    test_acc = [float(row["test/acc"]) for row in rows if row["test/acc"]]
    assert test_acc == pytest.approx([read_json(tiny_run / "metrics.json")["test/acc"]])


def test_metrics_json_names_the_code_and_hardware_that_produced_it(tiny_run):
    provenance = read_json(tiny_run / "metrics.json")["provenance"]
    assert len(provenance["code"]["git_commit"]) == 40 and isinstance(provenance["code"]["dirty"], bool)
    assert provenance["torch"] == torch.__version__ and provenance["cpu"] and provenance["torch_threads"] >= 1


def test_tensorboard_has_scalars_and_hparams(tiny_run):
    events = EventAccumulator(str(tiny_run / "tensorboard")).Reload()  # all event files of the run
    scalars = set(events.Tags()["scalars"])
    assert {"train/loss", "train/acc", "val/loss", "val/acc", "test/acc", "hp/test_acc"} <= scalars
    assert any(tag.startswith("lr-AdamW") for tag in scalars), scalars
    assert set(events.Tags()["images"]) == {
        "test/confusion_matrix",
        "test/mistakes",
        "test/per_class_accuracy",
        "test/reliability",
    }
    assert events.Scalars("hp/test_acc")[-1].value == pytest.approx(read_json(tiny_run / "metrics.json")["test/acc"])
    session = events.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    assert b"regularizer.dropout" in session and b"model.hidden_sizes" in session
    assert b"callbacks." not in session and b"classifier." not in session  # wiring, not settings
    assert b"data.dataset" in session and b"data.dataset.md5" not in session  # the data set by its name only


def test_resume_continues_from_the_checkpoint(tmp_path):
    first, resumed = tmp_path / "first", tmp_path / "resumed"
    train_in_process(first, *TINY_RUN, "scheduler=none")
    last = first / "checkpoints" / "last.ckpt"
    metrics = train_in_process(resumed, *TINY_RUN, "scheduler=none", "trainer.max_epochs=2", f"ckpt_path={last}")
    assert metrics["epochs"] == 2  # one epoch restored, one trained
    assert torch.load(resumed / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 40


def test_tied_epochs_keep_the_latest_as_best_and_last_checkpoint_is_the_last_epoch(tmp_path):
    """At learning rate 0 (and no BatchNorm statistics to drift) all three epochs tie on validation: the best
    checkpoint is the latest of them (Lightning alone would keep the first), one file, and last.ckpt holds epoch 3."""
    run_dir = tmp_path / "flat"
    metrics = train_in_process(
        run_dir, *TINY_RUN, "trainer.max_epochs=3", "optimizer.lr=0", "scheduler=none", "model.norm=none"
    )
    assert Path(metrics["best_checkpoint"]).name.startswith("epoch02-")
    assert [p.name for p in (run_dir / "checkpoints").glob("epoch*.ckpt")] == [Path(metrics["best_checkpoint"]).name]
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 60


def test_resume_with_a_longer_one_cycle_schedule_is_refused(tiny_run, tmp_path):
    last = tiny_run / "checkpoints" / "last.ckpt"
    with pytest.raises(ValueError, match="schedule spans 20 steps, but this run has 40"):
        train_in_process(
            tmp_path / "longer", *TINY_RUN, "trainer.max_epochs=2", f"ckpt_path={last}", "regularizer.dropout=0.3"
        )


@pytest.mark.parametrize("epochs", [0, -1])
def test_no_epochs_is_refused_instead_of_scoring_an_untrained_network(tmp_path, epochs):
    with pytest.raises(ValueError, match="trainer.max_epochs must be 1 or more"):
        train_in_process(tmp_path / "none", f"trainer.max_epochs={epochs}")
    assert not (tmp_path / "none" / "metrics.json").exists()


def test_checkpoint_of_another_architecture_is_refused_before_training(tiny_run, tmp_path):
    with pytest.raises(ValueError, match=r"holds a MLP\(hidden_sizes=\[512, 256\].*this run builds a CNN\("):
        train_in_process(
            tmp_path / "cnn", "model=cnn", "trainer=debug", f"ckpt_path={tiny_run / 'checkpoints' / 'last.ckpt'}"
        )
    assert not (tmp_path / "cnn" / "checkpoints").exists()


def test_a_multirun_sweep_writes_a_summary_and_a_bad_point_fails_alone(tmp_path):
    """A 2 x 2 grid whose first dropout is invalid: its two jobs fail, the two others train and are summarized,
    and the sweep exits 1 once every job has run."""
    sweep_dir = tmp_path / "sweep"
    result = run_module(
        "mnist_lightning.train",
        "-m",
        f"hydra.sweep.dir={sweep_dir}",
        *TINY_RUN,
        "figures=false",
        "trainer.limit_train_batches=5",
        "regularizer.dropout=1.5,0.5",
        "regularizer.weight_decay=0,1e-3",
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 1, result.stderr[-2000:]
    with open(sweep_dir / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert [row["job"] for row in rows] == [str(job) for job in range(4)]
    assert "regularizer.dropout=0.5 regularizer.weight_decay=0.001" in rows[3]["overrides"]
    assert all(
        row["status"].startswith("failed: ValueError: regularizer.dropout must be in [0, 1)") for row in rows[:2]
    )
    assert all(row["status"] == "ok" for row in rows[2:])  # the jobs after the bad ones still ran
    assert all(0 < float(row["val_acc"]) <= 1 and 0 < float(row["test_acc"]) <= 1 for row in rows[2:])
    assert "| job | status | overrides | val_acc | test_acc |" in result.stdout
    assert (sweep_dir / "summary.md").read_text().count("\n") == 6
    assert "2 job(s) failed" in result.stderr and (sweep_dir / "0" / "error.txt").is_file()


def test_training_really_learns(tmp_path):
    """A short real run on 12,800 training images must be far above chance (10%) on the official test set."""
    metrics = train_in_process(
        tmp_path / "learns", "trainer.max_epochs=1", "trainer.limit_train_batches=50", "trainer.limit_val_batches=1"
    )
    assert metrics["test/acc"] > 0.9


def test_the_cnn_trains_and_is_scored(tmp_path):
    metrics = train_in_process(tmp_path / "cnn", "model=cnn", "trainer=debug")
    assert 0 <= metrics["test/acc"] <= 1 and Path(metrics["best_checkpoint"]).is_file()


@pytest.mark.parametrize(
    "override, message",
    [
        ("model=transformer", "Available options in 'model':\n\tcnn\n\tmlp"),
        ("regularizer=strong", "Available options in 'regularizer'"),
        ("regularizer.dropout=1.5", "regularizer.dropout must be in [0, 1)"),
        ("experiment=sota", "Could not find 'experiment/sota'\n\nAvailable options in 'experiment'"),
        ("regularizer.weight_decay=-1e-4", "regularizer.weight_decay must be >= 0"),
        ("regularizer.ema_decay=1.5", "regularizer.ema_decay must be in (0, 1)"),
        ("regularizer.ema_epochs=-2", "regularizer.ema_epochs must be > 0"),
        ("model.hidden_sizes=[]", "model.hidden_sizes must be a non-empty list"),
        ("data.val_size=60000", "data.val_size=60000 would hold out every one of the 60,000 training images"),
        ("optimizer=sgd", "Use regularizer.weight_decay_mode=l2 with it"),
        ("scheduler=plateau data.val_size=0", "data.val_size=0 leaves no validation set"),
        ("objective=test/acc", "objective=test/acc is not a validation metric"),
    ],
)
def test_bad_config_fails_before_training_with_a_clear_message(tmp_path, override, message):
    run_dir = tmp_path / "bad"
    with pytest.raises(Exception) as error:
        train_in_process(run_dir, *override.split(), "trainer=debug")
    # Hydra reports a config it cannot compose itself, in a few lines; the rest is what the command prints.
    assert message in (str(error.value) if "options in" in message else user_error(error.value))
    assert not (run_dir / "checkpoints").exists()


def test_val_size_zero_trains_on_all_60000_and_reports_no_objective(tmp_path):
    run_dir = tmp_path / "all"
    metrics = train_in_process(run_dir, "data.val_size=0", *TINY_RUN)
    assert metrics["normalization"]["train_images"] == 60000 and "val/acc" not in metrics and "test/acc" in metrics
    assert metrics["best_checkpoint"] == str(run_dir / "checkpoints" / "last.ckpt")  # no validation: the last epoch
    assert metrics["objective"] == {"name": "val/acc", "value": None}  # never the test accuracy instead
    # Nothing held out to fit a temperature on: it says so and keeps 1.0.
    assert metrics["calibration"]["temperature"] == 1.0 and "data.val_size=0" in metrics["calibration"]["why"]
    assert "temperature" not in metrics and "test/ece_uncalibrated" not in metrics


@pytest.mark.slow  # as SLURM runs them, each job its own process
def test_a_sweep_by_the_submitit_launcher_runs_every_job_and_summarizes_a_bad_point(tmp_path):
    sweep_dir = tmp_path / "sweep"
    result = run_module(
        "mnist_lightning.train",
        "-m",
        "hydra/launcher=submitit_local",
        f"hydra.sweep.dir={sweep_dir}",
        "trainer=debug",
        "regularizer.dropout=1.5,0.1",
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 1, result.stderr[-2000:]
    with open(sweep_dir / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert [row["overrides"].split()[1] for row in rows] == ["regularizer.dropout=1.5", "regularizer.dropout=0.1"]
    assert rows[0]["status"].startswith("failed: ValueError: regularizer.dropout must be in [0, 1)")
    assert rows[1]["status"] == "ok" and float(rows[1]["test_acc"]) >= 0  # the job after the bad one still ran
    assert "1 job(s) failed" in result.stderr and (sweep_dir / "0" / "error.txt").is_file()


def _last_train_accuracy(run_dir: Path) -> float:
    with open(run_dir / "csv" / "metrics.csv") as f:
        return [float(row["train/acc"]) for row in csv.DictReader(f) if row["train/acc"]][-1]


@pytest.mark.parametrize(
    "preset, shorter, shows",
    [
        ("overfit", "trainer.max_epochs=10", lambda run: _last_train_accuracy(run) >= 0.99),  # memorized
        (
            "profiler",
            "trainer.limit_train_batches=5",
            lambda run: "run_training_batch" in (run / "fit-profile.txt").read_text(),
        ),
        ("limit", "trainer.max_epochs=1", lambda run: read_json(run / "metrics.json")["test/images"] == 1000),
        ("anomaly", "trainer.limit_train_batches=3", lambda run: (run / "metrics.json").is_file()),
    ],
)
def test_each_debug_preset_runs_and_shows_what_it_is_for(tmp_path, preset, shorter, shows):
    run_dir = tmp_path / preset
    train_in_process(run_dir, f"debug={preset}", "logger=csv", shorter)
    assert shows(run_dir)
