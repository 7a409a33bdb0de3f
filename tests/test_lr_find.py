"""mnist_lightning/lr_find.py: the learning-rate range test writes its curve and record and suggests a rate in its
range, on the descending part of the curve."""

from __future__ import annotations

import math

import pytest

from helpers import compose_config, read_json
from mnist_lightning.lr_find import find_lr, summary
from mnist_lightning.training.lr_range import smoothed, steepest_descent
from mnist_lightning.user_errors import user_error

STEPS = 20
TINY = (
    f"lr_find.num_training={STEPS}",
    "lr_find.early_stop_threshold=null",  # every step runs: the curve has exactly STEPS points
    "trainer.limit_train_batches=5",  # epochs of 5 batches: the sweep crosses epoch ends, as a short one does
    "model.hidden_sizes=[32]",
    "data.batch_size=128",
    "regularizer=none",  # no distortions of the batches: two thirds of a tiny network's step on a CPU
    "trainer.enable_progress_bar=false",
)


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("lr_find")
    return find_lr(compose_config("lr_find", *TINY, run_dir=run_dir)), run_dir


def test_the_sweep_writes_its_curve_and_record_and_suggests_a_rate_in_its_range(swept):
    report, run_dir = swept
    assert (run_dir / "lr_find.png").stat().st_size > 10_000
    assert read_json(run_dir / "lr_find.json") == report
    assert not list(run_dir.glob("*.ckpt"))  # the Tuner's copy of the starting weights is gone
    rates = report["range"]
    assert (rates["min_lr"], rates["max_lr"], rates["num_training"]) == (1e-6, 1.0, STEPS)
    assert rates["min_lr"] <= report["suggestion"] <= rates["max_lr"]
    assert report["configured_lr"] == 3e-3  # conf/optimizer/adamw.yaml: the one the suggestion would replace
    points = report["points"]
    assert len(points) == report["steps"] == STEPS and not report["stopped_early"]
    assert points[0]["lr"] == pytest.approx(1e-6) and points[-1]["lr"] == pytest.approx(1.0)
    assert all(a["lr"] < b["lr"] for a, b in zip(points, points[1:]))
    assert all(math.isfinite(p["loss"]) and math.isfinite(p["batch_loss"]) for p in points)
    # Training moved the loss: the tiny network starts near ln(10) and is lower where the suggestion is.
    assert report["suggestion_loss"] < points[0]["loss"]


def test_it_prints_the_training_command_with_the_suggested_rate(swept):
    report, run_dir = swept
    line = summary(report, run_dir)
    assert "\n" not in line and line.startswith(f"Suggested learning rate: {report['suggestion']:.2g} ")
    command = report["command"]
    assert command.startswith(f"python -m mnist_lightning.train optimizer.lr={report['suggestion']:.2g} ")
    assert command.endswith(line.rsplit("Use it: ", 1)[1])
    # The run's own overrides are kept (quoted for a shell), the finder's own are not.
    assert "trainer.limit_train_batches=5 'model.hidden_sizes=[32]' data.batch_size=128 regularizer=none" in command
    assert "lr_find" not in command


def test_the_curve_is_centred_and_the_suggestion_is_on_the_way_down():
    lrs = [10 ** (-6 + 6 * i / 39) for i in range(40)]  # 40 points over 6 decades: 0.15 decades apart
    # Flat, falling until point 25, a blow-up, then a steeper fall of a wrecked network: not a guide.
    losses = [2.3] * 12 + [2.3 - 0.12 * i for i in range(1, 14)] + [5.0, 40.0, 400.0, 30.0, 1.0] + [0.9] * 10
    curve = smoothed(lrs, losses)
    assert curve[:10] == pytest.approx([2.3] * 10)  # no climb from zero at the start, as a running average has
    assert curve[2] == pytest.approx(2.3)
    assert 12 <= steepest_descent(lrs, curve) <= 25
    with_nan = smoothed(lrs, [*losses[:20], math.nan])
    assert math.isnan(with_nan[-1]) and math.isfinite(with_nan[-2])


@pytest.mark.parametrize(
    "override, message",
    [
        ("lr_find.num_training=10", "lr_find.num_training must be 20 or more, got 10"),
        ("lr_find.min_lr=1.0", "0 < min_lr < max_lr, got 1.0 and 1.0"),
        ("distillation=teachers", "run it with distillation=none"),
    ],
)
def test_it_refuses_settings_it_cannot_sweep_with(tmp_path, override, message):
    with pytest.raises(ValueError) as caught:
        find_lr(compose_config("lr_find", override, run_dir=tmp_path))
    assert message in user_error(caught.value)
