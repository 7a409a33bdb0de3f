"""After a Hydra multirun: a table with one row per job (its overrides, val and test accuracy), as CSV and markdown."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

COLUMNS = ("job", "overrides", "val_acc", "test_acc", "epochs", "train_seconds")


def collect_rows(sweep_dir: Path) -> list[dict]:
    rows = []
    job_dirs = sorted((p for p in sweep_dir.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))
    for job_dir in job_dirs:
        metrics_file = job_dir / "metrics.json"
        if not metrics_file.is_file():  # a job that failed: show it rather than drop it
            rows.append({"job": job_dir.name, "overrides": "(no metrics.json: the job failed)"})
            continue
        metrics = json.loads(metrics_file.read_text())
        val = metrics.get("val/acc")
        rows.append({
            "job": job_dir.name,
            "overrides": " ".join(metrics["overrides"]),
            "val_acc": f"{val:.4f}" if val is not None else "",
            "test_acc": f"{metrics['test/acc']:.4f}",
            "epochs": metrics["epochs"],
            "train_seconds": metrics["train_seconds"],
        })
    return rows


def write_summary(sweep_dir: Path) -> str:
    rows = collect_rows(sweep_dir)
    with open(sweep_dir / "summary.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(str(row.get(c, "")) for c in COLUMNS) + " |" for row in rows]
    table = "\n".join(lines) + "\n"
    (sweep_dir / "summary.md").write_text(table)
    return table


class SweepSummary(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        table = write_summary(sweep_dir)
        print(f"\nSweep summary (choose on val_acc; test_acc is the official test set), also in {sweep_dir}/summary.md:\n")
        print(table)
