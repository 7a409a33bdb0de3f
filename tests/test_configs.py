"""conf/: every group ships in the wheel, every recipe trains with its own values, every knob reaches its consumer."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from helpers import compose_train_config, train_in_process
from mnist_lightning import CONFIG_DIR

EXPERIMENTS = sorted(path.stem for path in (Path(CONFIG_DIR) / "experiment").glob("*.yaml"))


def test_every_config_group_ships_in_the_wheel():
    """A config folder missing from pyproject.toml works in a checkout and is absent after `pip install .`."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    setuptools = tomllib.loads((Path(CONFIG_DIR).parent / "pyproject.toml").read_text())["tool"]["setuptools"]
    groups = {
        "mnist_lightning.conf." + ".".join(path.relative_to(CONFIG_DIR).parts)  # nested ones too (hydra/launcher)
        for path in Path(CONFIG_DIR).rglob("*")
        if path.is_dir() and any(path.glob("*.yaml"))
    }
    assert groups - set(setuptools["packages"]) == set()
    assert groups - set(setuptools["package-data"]) == set()


@pytest.mark.parametrize(
    "command, groups",
    [
        ("predict", ("model_file", "unsure")),
        ("serve", ("model_file", "unsure")),
        ("export", ("model_file",)),
        ("eval", ()),
        ("robustness", ("model_file", "unsure")),
    ],
)
def test_commands_share_one_rule_for_the_model_file_unsure_and_run_folder(command, groups):
    """Which model, when to say unsure and where to write are set once, in their groups: a command that spelled a key
    out again would drift from the others."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name=command, overrides=["inputs=a.png"] if command == "predict" else [])
    own = OmegaConf.load(Path(CONFIG_DIR) / f"{command}.yaml")
    for group in groups:
        shared = OmegaConf.load(Path(CONFIG_DIR) / group / "default.yaml")
        for key, value in shared.items():
            assert cfg[key] == value and key not in own, (command, key)
    # Where it writes: one rule, keyed by the command's name (outputs/<command>/<date>/<time>), not its own copy.
    assert {"run_dir": "command"} in own.defaults and "hydra" not in own


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_trains_and_wins_over_the_defaults(tmp_path, experiment, request):
    """Each named recipe trains (one batch per stage), and every value it sets is the one the run used, even
    where a group it composes after (the model's own max_epochs) sets the same key."""
    used = compose_train_config(f"experiment={experiment}", "trainer=debug", run_dir=tmp_path)
    recipe = OmegaConf.load(Path(CONFIG_DIR) / "experiment" / f"{experiment}.yaml")
    recipe.pop("defaults", None)
    recipe.pop("hydra", None)  # sweep settings: Hydra's, not the job's
    for key, value in _leaves(OmegaConf.to_container(recipe)):
        assert OmegaConf.select(used, key) == value, key
    # A student is taught by a small trained model here: the recipe's own teachers take an hour to train.
    teachers = [f"distillation.teachers=[{request.getfixturevalue('trained_checkpoint')}]"] if used.distillation else []
    # In fp32: a CPU without bf16 units emulates it, many times slower (docs/speed.md); the recipe's precision is
    # checked above, and bf16 training itself in test_precision.py.
    fp32 = "trainer.precision=32-true"
    assert (
        0 <= train_in_process(tmp_path, f"experiment={experiment}", "trainer=debug", fp32, *teachers)["test/acc"] <= 1
    )


def _leaves(node: dict, prefix: str = ""):
    for key, value in node.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def test_every_regularizer_knob_is_wired_into_the_part_it_acts_on(tmp_path):
    """conf/regularizer/default.yaml declares each knob and wires it; this builds every part and looks inside."""
    wiring = (Path(CONFIG_DIR) / "regularizer" / "default.yaml").read_text().split("\nregularizer:\n", 1)[1]
    cfg = compose_train_config(
        "regularizer.dropout=0.25",
        "regularizer.weight_decay=0.01",
        "regularizer.weight_decay_mode=l2",
        "regularizer.l1=1e-5",
        "regularizer.label_smoothing=0.1",
        "regularizer.gradient_clip_val=0.5",
        "regularizer.early_stopping_patience=4",
        "regularizer.ema_epochs=2",
        "regularizer.augment.rotate_deg=7",
        run_dir=tmp_path,
    )
    unwired = [knob for knob in cfg.regularizer if "${regularizer." + knob + "}" not in wiring]
    assert not unwired, f"knobs declared but wired into nothing: {unwired}"
    model = instantiate(cfg.classifier, mean=0.13, std=0.31)
    for argument in OmegaConf.load(Path(CONFIG_DIR) / "regularizer" / "default.yaml").classifier:
        assert model.hparams[argument] == cfg.classifier[argument], argument  # every wired argument arrived
    assert model.hparams.weight_decay_mode == "l2" and model.hparams.label_smoothing == 0.1
    assert model.backbone[4].p == 0.25  # Linear, BatchNorm, ReLU, then Dropout
    assert instantiate(cfg.data).augment.rotate_deg == 7
    assert instantiate(cfg.trainer).gradient_clip_val == 0.5
    callbacks = {name: instantiate(node) for name, node in cfg.callbacks.items()}
    assert callbacks["early_stopping"].patience == 4 and callbacks["weight_average"].epochs == 2


def test_each_way_of_teaching_changes_only_the_teaching(tmp_path):
    """conf/teaching/: the ablation's variants share the student, the schedule and the holdout."""
    variants = sorted(path.stem for path in (Path(CONFIG_DIR) / "teaching").glob("*.yaml") if path.stem != "student")
    student = compose_train_config("experiment=distill_ablation", "+teaching=student", run_dir=tmp_path)
    for variant in variants:
        cfg = compose_train_config("experiment=distill_ablation", f"+teaching={variant}", run_dir=tmp_path)
        assert cfg.data.val_size == 5000 and cfg.trainer.max_epochs == 8 and cfg.model == student.model, variant
        assert cfg.regularizer == student.regularizer and cfg.optimizer == student.optimizer, variant
    assert (
        compose_train_config("experiment=distill_ablation", "+teaching=hard_labels", run_dir=tmp_path).distillation
        is None
    )
    taught = {
        variant: compose_train_config(
            "experiment=distill_ablation", f"+teaching={variant}", run_dir=tmp_path
        ).distillation
        for variant in ("one_teacher", "ensemble", "ensemble_t1")
    }
    assert taught["one_teacher"].teachers != taught["ensemble"].teachers == taught["ensemble_t1"].teachers
    assert taught["ensemble"].temperature == 4.0 and taught["ensemble_t1"].temperature == 1.0
