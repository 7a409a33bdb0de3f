"""The tables and plot a multirun ends with, from job folders written here (no training)."""

from __future__ import annotations

import json

from mnist_lightning.reporting.sweep_summary import record_failure, write_summary


def write_job(sweep_dir, job: int, overrides: list[str], val: float, test: float) -> None:
    job_dir = sweep_dir / str(job)
    job_dir.mkdir(parents=True)
    metrics = {"val/acc": val, "test/acc": test, "epochs": 3, "train_seconds": 10.0 + job, "overrides": overrides}
    (job_dir / "metrics.json").write_text(json.dumps(metrics))


def test_seeded_settings_are_averaged_labelled_and_plotted(tmp_path):
    jobs = [  # the ablation's shape: a variant and a seed per job, plus an override every job shares
        (["experiment=ablation", "+ablation=plain", "seed=0"], 0.980, 0.979),
        (["experiment=ablation", "+ablation=plain", "seed=1"], 0.982, 0.981),
        (["experiment=ablation", "+ablation=plain+batchnorm", "seed=0"], 0.985, 0.984),
        (["experiment=ablation", "+ablation=plain+batchnorm", "seed=1"], 0.989, 0.986),
    ]
    for job, (overrides, val, test) in enumerate(jobs):
        write_job(tmp_path, job, overrides, val, test)
    table, _ = write_summary(tmp_path)
    rows = (tmp_path / "by_setting.md").read_text().splitlines()[2:]
    assert rows == [
        "| plain | 2 | 98.10 ± 0.14 | 98.00 ± 0.14 | 10 |",
        "| plain+batchnorm | 2 | 98.70 ± 0.28 | 98.50 ± 0.14 | 12 |",
    ]
    assert "Mean ± std over seeds" in table
    assert (tmp_path / "by_setting.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "summary.md").read_text().count("\n") == 6  # header, rule, 4 jobs


def test_a_sweep_without_repeated_settings_has_no_averages(tmp_path):
    for job, dropout in enumerate(("0.0", "0.5")):
        write_job(tmp_path, job, [f"regularizer.dropout={dropout}"], 0.99, 0.99)
    write_summary(tmp_path)
    assert (tmp_path / "summary.csv").is_file() and not (tmp_path / "by_setting.md").exists()


def test_a_failed_job_is_shown_with_the_first_line_of_its_error(tmp_path):
    write_job(tmp_path, 0, ["seed=0"], 0.99, 0.99)
    (tmp_path / "1" / ".hydra").mkdir(parents=True)
    (tmp_path / "1" / ".hydra" / "overrides.yaml").write_text("- regularizer.dropout=1.5\n")
    try:
        raise ValueError("regularizer.dropout must be in [0, 1), got 1.5.")
    except ValueError as err:
        record_failure(tmp_path / "1", err)
    (tmp_path / "2").mkdir()  # killed before it wrote anything
    table, rows = write_summary(tmp_path)
    assert [row["status"] for row in rows] == [
        "ok",
        "failed: ValueError: regularizer.dropout must be in [0, 1), got 1.5.",
        "interrupted: no metrics.json",
    ]
    assert rows[1]["overrides"] == "regularizer.dropout=1.5" and "failed: ValueError" in table
    assert "Traceback" in (tmp_path / "1" / "error.txt").read_text()  # the whole story stays in the job's folder


def test_job_folders_named_by_the_sweep_config_are_found_by_their_hydra_folder(tmp_path):
    """experiment=cnn_teacher names its jobs seed0, seed1 (hydra.sweep.subdir); other folders are not jobs."""
    for seed in (1, 0):
        write_job(tmp_path, 0, [f"seed={seed}"], 0.99, 0.98)
        (tmp_path / "0").rename(tmp_path / f"seed{seed}")
        (tmp_path / f"seed{seed}" / ".hydra").mkdir()
    (tmp_path / "not_a_job").mkdir()
    table, rows = write_summary(tmp_path)
    assert [row["job"] for row in rows] == ["seed0", "seed1"] and all(row["status"] == "ok" for row in rows)
