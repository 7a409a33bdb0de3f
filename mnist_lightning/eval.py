"""Official-test metrics of a checkpoint: `python -m mnist_lightning.eval ckpt_path=.../checkpoints/<best>.ckpt`.

The network is rebuilt from the checkpoint's own saved config (no pickled code), loaded with weights_only=True,
and scored on the 10,000 official test images by the same code that scores a run at the end of training
(inference/scoring.py). Prints the metrics and writes eval.json and the pictures of the mistakes
(confusion_matrix.png, mistakes.png, per_class_accuracy.png, reliability.png) in its folder (outputs/eval/<date>/<time>/).
"""

from __future__ import annotations

import json
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig

from mnist_lightning import CONFIG_DIR
from mnist_lightning.inference.checkpoint import describe, read_checkpoint
from mnist_lightning.inference.scoring import score_checkpoint
from mnist_lightning.reporting.provenance import provenance


def evaluate(cfg: DictConfig) -> dict:
    hparams = read_checkpoint(cfg.ckpt_path)["hyper_parameters"]  # fails early on a bad file
    datamodule = instantiate(cfg.data)
    trainer = instantiate(cfg.trainer, logger=False, callbacks=[])
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    results = score_checkpoint(trainer, datamodule, cfg.ckpt_path, validate=False, pictures_dir=out_dir)
    report = {
        **results,
        "checkpoint": str(Path(cfg.ckpt_path).resolve()),
        "model": describe(hparams["backbone"]),
        "temperature": hparams.get("temperature", 1.0),  # fitted at the end of training; 1.0: none
        "provenance": provenance(),
    }
    (out_dir / "eval.json").write_text(json.dumps(report, indent=2))
    return report


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="eval")
def main(cfg: DictConfig) -> None:
    print(json.dumps(evaluate(cfg), indent=2))


if __name__ == "__main__":
    main()
