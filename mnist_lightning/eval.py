"""Official-test metrics of a checkpoint: `python -m mnist_lightning.eval ckpt_path=.../checkpoints/<best>.ckpt`,
or of an ensemble: several files (`ckpt_path='[a.ckpt,b.ckpt]'`) or a glob (`ckpt_path='outputs/x/*/checkpoints/epoch*.ckpt'`),
their calibrated probabilities averaged, reported beside each member's own accuracy. An exported .onnx file is
scored as it runs when served: by onnxruntime.

The network is rebuilt from the checkpoint's own saved config (no pickled code), loaded with weights_only=True,
and scored on the official test images (MNIST's 10,000; data=... for a model of another data set) by the same code that scores a run at the end of training
(evaluation/scoring.py). Prints the metrics and writes eval.json and the pictures of the mistakes
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
from mnist_lightning.evaluation.scoring import score_checkpoint, score_ensemble
from mnist_lightning.inference.checkpoint import describe, read_checkpoint
from mnist_lightning.inference.ensemble import Ensemble, expand
from mnist_lightning.reporting.provenance import provenance
from mnist_lightning.reporting.quiet import quiet_third_party_output
from mnist_lightning.user_errors import reported


def evaluate(cfg: DictConfig) -> dict:
    patterns = cfg.ckpt_path if isinstance(cfg.ckpt_path, str) else list(cfg.ckpt_path)
    files = expand(patterns)
    datamodule = instantiate(cfg.data)
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    if len(files) > 1 or files[0].suffix == ".onnx":  # an exported file is scored by onnxruntime, as served
        ensemble = Ensemble(files)
        architectures = "; ".join(card["architecture"] for card in ensemble.cards)
        report = {
            **score_ensemble(ensemble, datamodule, out_dir),
            "model": f"ensemble of {len(ensemble)}: {architectures}" if len(ensemble) > 1 else architectures,
        }
    else:
        hparams = read_checkpoint(files[0])["hyper_parameters"]  # fails early on a bad file
        trainer = instantiate(cfg.trainer, logger=False, callbacks=[])
        report = {
            **score_checkpoint(trainer, datamodule, files[0], validate=False, pictures_dir=out_dir),
            "checkpoint": str(files[0].resolve()),
            "model": describe(hparams["backbone"]),
            "temperature": hparams.get("temperature", 1.0),  # fitted at the end of training; 1.0: none
        }
    report["provenance"] = provenance()
    (out_dir / "eval.json").write_text(json.dumps(report, indent=2))
    return report


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="eval")
@reported
def main(cfg: DictConfig) -> None:
    quiet_third_party_output()
    print(json.dumps(evaluate(cfg), indent=2))


if __name__ == "__main__":
    main()
