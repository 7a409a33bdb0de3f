"""The real commands, in fresh processes: train, sweep, resume, eval, TensorBoard output, and their errors."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import TINY_RUN, read_json, run_module, train_run
from mnist_lightning import CONFIG_DIR

EXPERIMENTS = sorted(path.stem for path in (Path(CONFIG_DIR) / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_fast_dev_run(tmp_path, model):
    run_dir = tmp_path / model
    result = train_run(run_dir, f"model={model}", "trainer=debug")
    metrics = read_json(run_dir / "metrics.json")
    assert 0 <= metrics["test/acc"] <= 1 and "val/acc" in metrics
    assert "Normalization from the 55,000 training images only" in result.stdout + result.stderr
    assert (run_dir / ".hydra" / "config.yaml").is_file()


def test_every_config_group_ships_in_the_wheel():
    """A config folder missing from pyproject.toml works in a checkout and is absent after `pip install .`."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    setuptools = tomllib.loads((Path(CONFIG_DIR).parent / "pyproject.toml").read_text())["tool"]["setuptools"]
    groups = {f"mnist_lightning.conf.{path.name}" for path in Path(CONFIG_DIR).iterdir() if path.is_dir()}
    assert groups - set(setuptools["packages"]) == set()
    assert groups - set(setuptools["package-data"]) == set()


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_runs_and_wins_over_the_defaults(tmp_path, experiment):
    """Each named recipe trains (one batch per stage), and every value it sets is the one the run used, even
    where a group it composes after (the model's own max_epochs) sets the same key."""
    run_dir = tmp_path / experiment
    train_run(run_dir, f"experiment={experiment}", "trainer=debug")
    assert 0 <= read_json(run_dir / "metrics.json")["test/acc"] <= 1
    recipe = OmegaConf.load(Path(CONFIG_DIR) / "experiment" / f"{experiment}.yaml")
    recipe.pop("defaults", None)
    recipe.pop("hydra", None)  # sweep settings: Hydra's, not the job's
    used = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    for key, value in _leaves(OmegaConf.to_container(recipe)):
        assert OmegaConf.select(used, key) == value, key


def _leaves(node: dict, prefix: str = ""):
    for key, value in node.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def test_run_writes_checkpoints_config_metrics(tiny_run):
    metrics = read_json(tiny_run / "metrics.json")
    checkpoints = {p.name for p in (tiny_run / "checkpoints").iterdir()}
    assert "last.ckpt" in checkpoints and any(name.startswith("epoch00-val_acc") for name in checkpoints)
    assert metrics["best_checkpoint"].endswith(".ckpt") and metrics["epochs"] == 1
    assert "regularizer.dropout=0.3" in metrics["overrides"]
    assert metrics["normalization"]["train_images"] == 55000
    assert "dropout: 0.3" in (tiny_run / ".hydra" / "config.yaml").read_text()


def test_checkpoint_is_plain_data(tiny_run):
    checkpoint = torch.load(tiny_run / "checkpoints" / "last.ckpt", weights_only=True)  # raises on pickled code
    hp = checkpoint["hyper_parameters"]
    assert hp["backbone"]["_target_"] == "mnist_lightning.backbones.MLP" and hp["backbone"]["dropout"] == 0.3
    assert 0.12 < hp["mean"] < 0.14


def test_tensorboard_has_scalars_and_hparams(tiny_run):
    events = EventAccumulator(str(tiny_run / "tensorboard")).Reload()  # all event files of the run
    scalars = set(events.Tags()["scalars"])
    assert {"train/loss", "train/acc", "val/loss", "val/acc", "test/acc", "hp/test_acc"} <= scalars
    assert any(tag.startswith("lr-AdamW") for tag in scalars), scalars
    assert events.Scalars("hp/test_acc")[-1].value == pytest.approx(read_json(tiny_run / "metrics.json")["test/acc"])
    plugin = events.PluginTagToContent("hparams")
    assert "_hparams_/session_start_info" in plugin
    assert b"regularizer.dropout" in plugin["_hparams_/session_start_info"]


def test_eval_reports_the_same_test_accuracy(tiny_run, tmp_path):
    metrics = read_json(tiny_run / "metrics.json")
    eval_dir = tmp_path / "eval"
    run_module("mnist_lightning.eval", f"ckpt_path={metrics['best_checkpoint']}", f"hydra.run.dir={eval_dir}", cwd=tmp_path)
    report = read_json(eval_dir / "eval.json")
    assert report["test/acc"] == pytest.approx(metrics["test/acc"], abs=1e-6)
    assert report["model"].startswith("MLP(")


def test_ema_weights_are_validated_tested_and_saved(tmp_path):
    run_dir = tmp_path / "ema"
    train_run(run_dir, *TINY_RUN, "regularizer.ema_decay=0.9")
    metrics = read_json(run_dir / "metrics.json")
    checkpoint = torch.load(metrics["best_checkpoint"], weights_only=True)
    average, raw = checkpoint["state_dict"], checkpoint["current_model_state"]  # Lightning keeps both
    weight = "backbone.1.weight"  # the first Linear layer
    assert average.keys() == raw.keys() and not torch.equal(average[weight], raw[weight])
    # The test accuracy of the run is that of the averaged weights: eval, which loads state_dict, agrees.
    eval_dir = tmp_path / "eval"
    run_module("mnist_lightning.eval", f"ckpt_path={metrics['best_checkpoint']}", f"hydra.run.dir={eval_dir}", cwd=tmp_path)
    assert read_json(eval_dir / "eval.json")["test/acc"] == pytest.approx(metrics["test/acc"], abs=1e-6)


def test_resume_continues_from_the_checkpoint(tmp_path):
    first, resumed = tmp_path / "first", tmp_path / "resumed"
    train_run(first, *TINY_RUN, "scheduler=none")
    last = first / "checkpoints" / "last.ckpt"
    train_run(resumed, *TINY_RUN, "scheduler=none", "trainer.max_epochs=2", f"ckpt_path={last}")
    assert read_json(resumed / "metrics.json")["epochs"] == 2  # one epoch restored, one trained
    assert torch.load(resumed / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 40


def test_last_checkpoint_is_the_last_epoch_even_without_a_new_best(tmp_path):
    """At learning rate 0 (and no BatchNorm statistics to drift) epoch 2 cannot beat epoch 1 on validation:
    the best checkpoint stays at epoch 1, but last.ckpt, the one to resume from, must hold epoch 2."""
    run_dir = tmp_path / "flat"
    train_run(run_dir, *TINY_RUN, "trainer.max_epochs=2", "optimizer.lr=0", "scheduler=none", "model.norm=none")
    metrics = read_json(run_dir / "metrics.json")
    assert Path(metrics["best_checkpoint"]).name.startswith("epoch00-")
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 40


def test_resume_with_a_longer_one_cycle_schedule_is_refused(tiny_run, tmp_path):
    last = tiny_run / "checkpoints" / "last.ckpt"
    result = train_run(tmp_path / "longer", *TINY_RUN, "trainer.max_epochs=2", f"ckpt_path={last}",
                       "regularizer.dropout=0.3", check=False)
    assert result.returncode != 0
    assert "schedule spans 20 steps, but this run has 40" in result.stderr


def test_checkpoint_of_another_architecture_is_refused(tiny_run, tmp_path):
    result = train_run(tmp_path / "cnn", "model=cnn", "trainer=debug", f"ckpt_path={tiny_run / 'checkpoints' / 'last.ckpt'}", check=False)
    assert result.returncode != 0
    assert "holds a MLP(hidden_sizes=[512, 256]" in result.stderr and "this run builds a CNN(" in result.stderr
    assert not (tmp_path / "cnn" / "metrics.json").exists()


def test_eval_refuses_a_corrupt_checkpoint(tiny_run, tmp_path):
    broken = tmp_path / "broken.ckpt"
    broken.write_bytes((tiny_run / "checkpoints" / "last.ckpt").read_bytes()[:5000])
    result = run_module("mnist_lightning.eval", f"ckpt_path={broken}", f"hydra.run.dir={tmp_path / 'e'}", cwd=tmp_path, check=False)
    assert result.returncode != 0 and "truncated, corrupt" in result.stderr


def test_multirun_sweep_writes_a_summary(tmp_path):
    sweep_dir = tmp_path / "sweep"
    result = run_module(
        "mnist_lightning.train", "-m", f"hydra.sweep.dir={sweep_dir}", *TINY_RUN,
        "regularizer.dropout=0.0,0.5", "regularizer.weight_decay=0,1e-3", cwd=tmp_path,
    )
    with open(sweep_dir / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert [row["job"] for row in rows] == ["0", "1", "2", "3"]
    assert "regularizer.dropout=0.5 regularizer.weight_decay=0.001" in rows[3]["overrides"]
    assert all(0 < float(row["val_acc"]) <= 1 and 0 < float(row["test_acc"]) <= 1 for row in rows)
    assert "| job | overrides | val_acc | test_acc |" in result.stdout
    assert (sweep_dir / "summary.md").read_text().count("\n") == 6


def test_training_really_learns(tmp_path):
    """A short real run on 12,800 training images must be far above chance (10%) on the official test set."""
    run_dir = tmp_path / "learns"
    train_run(run_dir, "trainer.max_epochs=1", "trainer.limit_train_batches=50", "trainer.limit_val_batches=1")
    assert read_json(run_dir / "metrics.json")["test/acc"] > 0.9


@pytest.mark.parametrize(
    "override, message",
    [
        ("model=transformer", "Available options in 'model':\n\tcnn\n\tmlp"),
        ("regularizer=strong", "Available options in 'regularizer'"),
        ("experiment=sota", "Could not find 'experiment/sota'\n\nAvailable options in 'experiment'"),
        ("regularizer.dropout=1.5", "regularizer.dropout must be in [0, 1)"),
        ("regularizer.weight_decay=-1e-4", "regularizer.weight_decay must be >= 0"),
        ("regularizer.ema_decay=1.5", "regularizer.ema_decay must be in (0, 1)"),
        ("regularizer.augment_fade_epochs=-2", "regularizer.augment_fade_epochs must be an integer >= 0"),
        ("model.hidden_sizes=[]", "model.hidden_sizes must be a non-empty list"),
        ("data.val_size=60000", "data.val_size must be an integer in [0, 59999]"),
        ("optimizer=sgd", "Use regularizer.weight_decay_mode=l2 with it"),
        ("scheduler=plateau data.val_size=0", "data.val_size=0 leaves no validation set"),
    ],
)
def test_bad_config_fails_before_training_with_a_clear_message(tmp_path, override, message):
    run_dir = tmp_path / "bad"
    result = train_run(run_dir, *override.split(), "trainer=debug", check=False)
    assert result.returncode != 0
    assert message in result.stderr + result.stdout
    assert "Epoch 0" not in result.stderr + result.stdout and not (run_dir / "checkpoints").exists()


def test_val_size_zero_trains_on_all_60000(tmp_path):
    run_dir = tmp_path / "all"
    train_run(run_dir, "data.val_size=0", *TINY_RUN)
    metrics = read_json(run_dir / "metrics.json")
    assert metrics["normalization"]["train_images"] == 60000 and "val/acc" not in metrics and "test/acc" in metrics
    assert metrics["best_checkpoint"] == str(run_dir / "checkpoints" / "last.ckpt")  # no validation: the last epoch
