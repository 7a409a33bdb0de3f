"""What a run tells its loggers (conf/logger/): its settings, its results and its pictures, to each logger in the
form it takes. TensorBoard pairs settings with results in its HParams tab; every logger gets the results as
metrics, and those that store images get the pictures (CSV keeps them as the PNGs in the run folder)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.pytorch.loggers import Logger, MLFlowLogger, TensorBoardLogger, WandbLogger
from PIL import Image

# The pip extra that brings each optional logger's package (pyproject.toml); the core install has TensorBoard and CSV.
EXTRAS = {"MLFlowLogger": "mlflow", "WandbLogger": "wandb"}
RESULTS = ("hp/val_acc", "hp/test_acc")  # what the HParams tab pairs with the settings


def loggers_from(configs: Mapping | None) -> list[Logger]:
    """The loggers a run's `logger` node names (none for logger=none), or an error naming the extra to install."""
    loggers = []
    for name, config in (configs or {}).items():
        try:
            loggers.append(instantiate(config))
        except InstantiationException as err:
            if not isinstance(err.__cause__, ModuleNotFoundError):
                raise
            extra = EXTRAS.get(str(config["_target_"]).rsplit(".", 1)[-1], name)
            raise ModuleNotFoundError(
                f"logger={name} needs the {extra} package: `pip install -e '.[{extra}]'` in the project's folder (or "
                f"`pip install {extra}`), or use logger=tensorboard, logger=csv or logger=none, which need nothing more."
            ) from err
    return loggers


def log_settings(loggers: list[Logger], settings: dict) -> None:
    """The run's settings; TensorBoard also gets placeholders for the results, so its HParams tab pairs them."""
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.log_hyperparams(settings, metrics={name: float("nan") for name in RESULTS})
        else:
            logger.log_hyperparams(settings)


def log_results(loggers: list[Logger], results: dict[str, float], step: int) -> None:
    for logger in loggers:
        logger.log_metrics(results, step=step)


def log_pictures(loggers: list[Logger], pictures: dict[str, Path]) -> None:
    """PNG files under their tags (e.g. 'test/mistakes'), to each logger that stores images."""
    for logger in loggers:
        for tag, path in pictures.items():
            if isinstance(logger, TensorBoardLogger):
                image = np.asarray(Image.open(path).convert("RGB"))
                logger.experiment.add_image(tag, image, dataformats="HWC")
            elif isinstance(logger, MLFlowLogger):
                logger.experiment.log_artifact(logger.run_id, str(path), artifact_path=tag.rsplit("/", 1)[0])
            elif isinstance(logger, WandbLogger):
                logger.log_image(key=tag, images=[str(path)])


def finish(loggers: list[Logger]) -> None:
    """Writes out what was logged after fitting ended (the test results, the pictures), and ends the W&B run:
    Lightning leaves it open until the process exits, and the next job of a sweep would log into the same run."""
    for logger in loggers:
        logger.save()
        logger.finalize("success")
        if isinstance(logger, WandbLogger):
            logger.experiment.finish()
