"""user_errors.py: a user's mistake becomes one message and exit status 2; a bug keeps its traceback."""

from __future__ import annotations

import numpy as np
import pytest
from hydra.utils import instantiate

from mnist_lightning.inference.checkpoint import read_checkpoint
from mnist_lightning.user_errors import USAGE_EXIT, reported, user_error

MLP = "mnist_lightning.models.mlp.MLP"


def caught(action) -> BaseException:
    try:
        action()
    except Exception as err:  # noqa: BLE001 - whatever it raised is what the test looks at
        return err
    raise AssertionError("nothing was raised")


def test_a_check_of_this_package_is_the_users_mistake_and_its_message_is_shown(tmp_path):
    err = caught(lambda: read_checkpoint(tmp_path / "no.ckpt"))
    assert (
        user_error(err)
        == f"Checkpoint {tmp_path / 'no.ckpt'} does not exist. Pass ckpt_path=<a .ckpt under outputs/.../checkpoints>."
    )


def test_hydras_wrapping_is_taken_off_a_bad_setting():
    err = caught(lambda: instantiate({"classifier": {"backbone": {"_target_": MLP, "dropout": 2.0}}}))
    assert type(err).__name__ == "InstantiationException" and "Error in call to target" in str(err)
    assert user_error(err) == (
        "regularizer.dropout must be in [0, 1) (the probability of zeroing a unit; 1 would zero them all), got 2.0."
    )


def test_a_setting_a_part_does_not_take_is_named_with_its_part():
    err = caught(lambda: instantiate({"_target_": MLP, "hidden_sizez": [8]}))
    message = user_error(err)
    assert "unexpected keyword argument 'hidden_sizez'" in message and f"building {MLP}" in message


def test_the_same_kind_of_error_raised_inside_a_library_is_a_bug():
    assert user_error(caught(lambda: np.zeros(3) + np.zeros(4))) is None  # a ValueError from numpy
    assert user_error(caught(lambda: {}["key"])) is None  # a KeyError is never a user's setting


def test_the_command_prints_one_line_and_exits_2_or_keeps_the_traceback(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    with pytest.raises(SystemExit) as exited:
        reported(lambda: read_checkpoint(tmp_path / "no.ckpt"))()
    assert exited.value.code == USAGE_EXIT == 2
    assert (
        capsys.readouterr().err
        == f"Error: Checkpoint {tmp_path / 'no.ckpt'} does not exist. Pass ckpt_path=<a .ckpt under outputs/.../checkpoints>.\n"
    )
    with pytest.raises(KeyError):  # a bug: to Hydra, which prints its traceback
        reported(lambda: {}["key"])()
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    with pytest.raises(FileNotFoundError):  # asked for the full traceback: the error goes on, unchanged
        reported(lambda: read_checkpoint(tmp_path / "no.ckpt"))()
    assert reported(lambda: 7)() == 7
