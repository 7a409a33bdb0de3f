"""The notebook must keep working with the code it explores: run its code cells, plots to a file backend."""

from __future__ import annotations

import json
import re

from helpers import REPO


def test_explore_notebook_runs(tiny_run, monkeypatch, capsys):
    import matplotlib

    matplotlib.use("Agg")
    notebook = json.loads((REPO / "notebooks" / "explore.ipynb").read_text())
    notebooks = tiny_run.parent.parent / "notebooks"  # beside the outputs/ that holds a trained checkpoint
    notebooks.mkdir()
    monkeypatch.chdir(notebooks)
    namespace: dict = {}
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), "explore.ipynb", "exec"), namespace)  # noqa: S102
    out = capsys.readouterr().out
    assert "{'train': 55000, 'val': 5000, 'test': 10000}" in out
    assert "all 60,000:       0.1307 0.3081" in out
    assert namespace["moved"].shape == (8, 1, 28, 28)
    scored = re.search(r"epoch00-val_acc[0-9.]+ckpt: test accuracy (0\.[0-9]{4}), [0-9]+ mistakes", out)
    assert scored and float(scored.group(1)) > 0.5  # the tiny run's checkpoint was found and scored
