"""The run's resolved settings as a tree, one branch per config group: printed when a run starts, and written
beside .hydra/ as config_tree.txt (.hydra/config.yaml keeps the interpolations; this shows what they became)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.syntax import Syntax
from rich.tree import Tree

SKIPPED = ("callbacks",)  # wiring, the same in every run: .hydra/config.yaml has it


def config_tree(cfg: DictConfig) -> Tree:
    tree = Tree("[bold]settings[/bold] (resolved)")
    scalars = {key: value for key, value in cfg.items() if not isinstance(value, DictConfig)}
    if scalars:
        tree.add("run").add(Syntax(OmegaConf.to_yaml(scalars).rstrip(), "yaml", theme="ansi_dark"))
    for key, value in cfg.items():
        if isinstance(value, DictConfig) and key not in SKIPPED:
            branch = tree.add(str(key))
            branch.add(Syntax(OmegaConf.to_yaml(value, resolve=True).rstrip(), "yaml", theme="ansi_dark"))
    return tree


def show_config(cfg: DictConfig, run_dir: Path) -> None:
    """Prints the tree and writes it, without colours, to run_dir/config_tree.txt."""
    tree = config_tree(cfg)
    Console().print(tree)
    with open(run_dir / "config_tree.txt", "w") as f:
        Console(file=f, color_system=None, width=120).print(tree)
