"""Official-test metrics of a checkpoint: `python -m mnist_lightning.eval ckpt_path=.../checkpoints/<best>.ckpt`.

The network is rebuilt from the checkpoint's own saved config (no pickled code), loaded with weights_only=True,
and scored on the 10,000 official test images. Prints the metrics and writes eval.json in the run folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from mnist_lightning import CONFIG_DIR
from mnist_lightning.classifier import MNISTClassifier, describe, read_checkpoint


def evaluate(cfg: DictConfig) -> dict:
    checkpoint = read_checkpoint(cfg.ckpt_path)
    hp = checkpoint["hyper_parameters"]
    try:
        model = MNISTClassifier(**hp)
        model.load_state_dict(checkpoint["state_dict"])
    except (RuntimeError, ValueError, TypeError) as err:
        raise ValueError(
            f"Checkpoint {cfg.ckpt_path} says it holds a {describe(hp['backbone'])}, but its weights do not fit that "
            f"network ({err}). The file was altered or written by another program."
        ) from err
    datamodule = hydra.utils.instantiate(cfg.data)
    trainer = hydra.utils.instantiate(cfg.trainer, logger=False, callbacks=[])
    results = trainer.test(model, datamodule=datamodule)[0]
    report = {**results, "checkpoint": str(Path(cfg.ckpt_path).resolve()), "model": describe(hp["backbone"])}
    (Path(HydraConfig.get().runtime.output_dir) / "eval.json").write_text(json.dumps(report, indent=2))
    return report


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="eval")
def main(cfg: DictConfig) -> None:
    print(json.dumps(evaluate(cfg), indent=2))


if __name__ == "__main__":
    main()
