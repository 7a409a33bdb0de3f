"""After a Hydra multirun: a table with one row per job (its overrides, val and test accuracy), as CSV and markdown.

When some settings ran with several seeds (`seed=0,1,...` in the sweep), a second table averages each setting
over its seeds (mean ± std, the way results should be reported) and draws it as a bar plot: by_setting.md,
by_setting.csv and by_setting.png. The ablation (experiment=ablation) is such a sweep.
"""

from __future__ import annotations

import csv
import json
import statistics
import sys
import traceback
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

COLUMNS = ("job", "status", "overrides", "val_acc", "test_acc", "epochs", "train_seconds")
FAILURE_FILE = "error.txt"  # what a failed job leaves in its folder (record_failure)


def record_failure(job_dir: Path, err: BaseException) -> None:
    """Writes the error that ended a sweep's job into its folder: first the root cause in one line (Hydra wraps a
    constructor's ValueError in an InstantiationException that says less), then the whole traceback."""
    cause = err
    while cause.__cause__ is not None:
        cause = cause.__cause__
    (job_dir / FAILURE_FILE).write_text(
        f"{type(cause).__name__}: {cause}\n\n{''.join(traceback.format_exception(err))}"
    )


def first_line(text: str, limit: int = 200) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "unknown error"
    return line if len(line) <= limit else line[: limit - 1] + "…"


SETTING_COLUMNS = ("setting", "seeds", "val_acc", "test_acc", "train_seconds")


def collect_rows(sweep_dir: Path) -> list[dict]:
    rows = []
    # Hydra names job folders by job number unless hydra.sweep.subdir says otherwise (experiment=cnn_teacher: seed0,
    # seed1); a job folder is then known by its .hydra/.
    job_dirs = sorted(
        (p for p in sweep_dir.iterdir() if p.is_dir() and (p.name.isdigit() or (p / ".hydra").is_dir())),
        key=lambda p: (not p.name.isdigit(), int(p.name) if p.name.isdigit() else p.name),
    )
    for job_dir in job_dirs:
        overrides_file = job_dir / ".hydra" / "overrides.yaml"
        overrides = " ".join(OmegaConf.load(overrides_file)) if overrides_file.is_file() else ""
        metrics_file = job_dir / "metrics.json"
        if not metrics_file.is_file():  # a job that failed: show it, with why, rather than drop it
            failure = job_dir / FAILURE_FILE
            status = (
                f"failed: {first_line(failure.read_text())}" if failure.is_file() else "interrupted: no metrics.json"
            )
            rows.append({"job": job_dir.name, "status": status, "overrides": overrides})
            continue
        metrics = json.loads(metrics_file.read_text())
        val = metrics.get("val/acc")
        rows.append(
            {
                "job": job_dir.name,
                "status": "ok",
                "overrides": overrides or " ".join(metrics["overrides"]),
                "val_acc": f"{val:.4f}" if val is not None else "",
                "test_acc": f"{metrics['test/acc']:.4f}",
                "epochs": metrics["epochs"],
                "train_seconds": metrics["train_seconds"],
            }
        )
    return rows


def markdown(columns: tuple[str, ...], rows: list[dict]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_csv(path: Path, columns: tuple[str, ...], rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def by_setting(rows: list[dict]) -> list[dict]:
    """Rows grouped by their overrides less `seed=`, in order of first appearance, with mean ± std over seeds.
    Overrides shared by every setting are left out of the labels (they say nothing about the difference)."""
    groups: dict[tuple[str, ...], list[dict]] = {}
    for row in rows:
        if "test_acc" in row:
            key = tuple(o for o in row["overrides"].split() if not o.startswith("seed="))
            groups.setdefault(key, []).append(row)
    common = set.intersection(*(set(key) for key in groups)) if groups else set()
    settings = []
    for key, members in groups.items():
        label = " ".join(o.split("=", 1)[1] if o.startswith("+ablation=") else o for o in key if o not in common)
        setting = {"setting": label or "(the sweep's common settings)", "seeds": len(members)}
        for metric in ("val_acc", "test_acc"):
            values = [100 * float(m[metric]) for m in members if m[metric]]
            setting[f"{metric}_values"] = values
            if values:
                spread = statistics.stdev(values) if len(values) > 1 else 0.0
                setting[metric] = f"{statistics.mean(values):.2f} ± {spread:.2f}"
        setting["train_seconds"] = f"{statistics.mean(float(m['train_seconds']) for m in members):.0f}"
        settings.append(setting)
    return settings


def plot(settings: list[dict], path: Path) -> None:
    """Horizontal bars of mean val and test accuracy per setting, with the seed-to-seed std as error bars."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    n = len(settings)
    fig, ax = plt.subplots(figsize=(8, 1.0 + 0.42 * n))
    for offset, metric, color in ((-0.2, "val_acc", "tab:blue"), (0.2, "test_acc", "tab:orange")):
        means = [statistics.mean(s[f"{metric}_values"]) if s[f"{metric}_values"] else 0 for s in settings]
        stds = [statistics.stdev(s[f"{metric}_values"]) if len(s[f"{metric}_values"]) > 1 else 0 for s in settings]
        ax.barh(
            [i + offset for i in range(n)], means, height=0.4, xerr=stds, color=color, label=metric.replace("_", " ")
        )
    all_values = [v for s in settings for m in ("val_acc", "test_acc") for v in s[f"{m}_values"]]
    ax.set_xlim(min(all_values) - 0.2, min(100.0, max(all_values) + 0.1))  # the differences, not the 0-99% part
    ax.set_yticks(range(n), [s["setting"] for s in settings])
    ax.invert_yaxis()
    if settings[0]["val_acc_values"]:  # the first setting is the reference (the ablation's plain MLP)
        ax.axvline(statistics.mean(settings[0]["val_acc_values"]), color="gray", linestyle="--", linewidth=1)
    ax.set_xlabel("accuracy, % (mean ± std over seeds); dashed: the first setting's val accuracy")
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_summary(sweep_dir: Path) -> tuple[str, list[dict]]:
    """Writes summary.{csv,md} (and by_setting.* for seeded settings); returns the printed table and the rows."""
    rows = collect_rows(sweep_dir)
    write_csv(sweep_dir / "summary.csv", COLUMNS, rows)
    table = markdown(COLUMNS, rows)
    (sweep_dir / "summary.md").write_text(table)
    settings = by_setting(rows)
    if any(s["seeds"] > 1 for s in settings):
        write_csv(sweep_dir / "by_setting.csv", SETTING_COLUMNS, settings)
        averaged = markdown(SETTING_COLUMNS, settings)
        (sweep_dir / "by_setting.md").write_text(averaged)
        plot(settings, sweep_dir / "by_setting.png")
        table += "\nMean ± std over seeds, per setting (also by_setting.png):\n\n" + averaged
    return table, rows


class SweepSummary(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        table, rows = write_summary(sweep_dir)
        print(
            f"\nSweep summary (choose on val_acc; test_acc is the official test set), also in {sweep_dir}/summary.md:\n"
        )
        print(table)
        # A job killed with its process (a search stopped and resumed) is listed as interrupted; one that raised
        # left its error and makes the exit code say so, once every job has run and is summarized.
        failed = [row for row in rows if row["status"].startswith("failed")]
        if failed:
            print(
                f"{len(failed)} job(s) failed (their folders hold {FAILURE_FILE}): "
                + ", ".join(f"job {row['job']}" for row in failed),
                file=sys.stderr,
            )
            sys.exit(1)
