"""Hyperparameter search with Optuna (`python -m mnist_lightning.train -m hparams_search=mlp_optuna`).

hydra-optuna-sweeper does the searching; this adds what a long search needs. The study lives in SQLite in the
sweep folder, and the same command, run again after the search was killed, resumes it: it counts the trials
already finished towards `n_trials`, runs only the rest, and numbers their job folders after the ones there.
At the end the sweep folder holds trials.csv and trials.md (every trial: state, objective, parameters),
optimization_history.png, and the sweeper's optimization_results.yaml (best parameters and value).
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

from hydra.utils import instantiate
from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper

# optuna itself (with scipy and SQLAlchemy: ~2.5 s) is imported inside the methods: train.py registers this class
# at every start, and only a search should pay for it.

log = logging.getLogger(__name__)


class ResumingOptunaSweeper(OptunaSweeper):
    def sweep(self, arguments: list[str]) -> None:
        import optuna

        search = self.sweeper  # the plugin's implementation: its settings and the launcher
        config = search.config
        assert config is not None, "Hydra calls setup(), which sets the config, before sweep()"
        Path(config.hydra.sweep.dir).mkdir(parents=True, exist_ok=True)  # SQLite needs the folder
        requested = search.n_trials
        study = self._study(search)
        if study is not None:
            for trial in study.trials:  # trials of a run that was killed: they will never report
                if trial.state == optuna.trial.TrialState.RUNNING:
                    study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
            finished = sum(trial.state == optuna.trial.TrialState.COMPLETE for trial in study.trials)
            search.n_trials = max(0, requested - finished)
            search.job_idx = len(study.trials)  # new trials get new folders, after those of the earlier run(s)
            # A sampler seeded as before would propose the earlier run's points again: shift its seed.
            sampler = config.hydra.sweeper.sampler
            if sampler.get("seed") is not None:
                search.sampler = instantiate(sampler, seed=sampler.seed + len(study.trials))
            log.info(
                f"Resuming study {study.study_name}: {finished} of {requested} trials finished, {search.n_trials} to go"
            )
        super().sweep(arguments)
        report(self._study(search), Path(config.hydra.sweep.dir))

    @staticmethod
    def _study(search):
        import optuna

        if not search.storage or not search.study_name:
            return None
        try:
            return optuna.load_study(study_name=search.study_name, storage=search.storage)
        except KeyError:  # optuna's answer for a study that is not in the storage yet
            return None


def report(study, sweep_dir: Path) -> None:
    """trials.csv, trials.md and optimization_history.png for the optuna study (or None), in `sweep_dir`."""
    import optuna

    if study is None:
        return
    names = sorted({name for trial in study.trials for name in trial.params})
    rows = [
        {
            "trial": t.number,
            "state": t.state.name.lower(),
            "objective": "" if t.value is None else f"{t.value:.4f}",
            **{name: t.params.get(name, "") for name in names},
        }
        for t in study.trials
    ]
    columns = ["trial", "state", "objective", *names]
    with open(sweep_dir / "trials.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_shown(row[c]) for c in columns) + " |" for row in rows]
    (sweep_dir / "trials.md").write_text("\n".join(lines) + "\n")
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if done:
        _plot_history(
            done, study.direction == optuna.study.StudyDirection.MAXIMIZE, sweep_dir / "optimization_history.png"
        )
        best = study.best_trial
        print(
            f"\nBest of {len(done)} finished trials: trial {best.number}, objective {best.value:.4f}, "
            f"parameters {best.params}. All trials: {sweep_dir / 'trials.md'}"
        )


def _shown(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _plot_history(trials: list, maximize: bool, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    numbers, values = [t.number for t in trials], [t.value for t in trials]
    best, so_far = [], None
    for value in values:
        so_far = value if so_far is None else (max if maximize else min)(so_far, value)
        best.append(so_far)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(numbers, [100 * v for v in values], "o", color="tab:blue", label="trial")
    ax.step(numbers, [100 * v for v in best], where="post", color="tab:orange", label="best so far")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # trials are numbered, not measured
    ax.set_xlabel("trial")
    ax.set_ylabel("objective (validation accuracy, %)")
    ax.set_title(f"optimization history: {len(trials)} finished trials")
    ax.legend(loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
