"""Export a trained model to ONNX: `python -m mnist_lightning.export [ckpt_path=...] [format=onnx]`.

The file computes everything from pixel/255 to calibrated probabilities (inference/exporting.py), takes any batch
size, and carries its input contract, class names, source checkpoint, test accuracy and code version as metadata.
Before it is written, onnxruntime runs it on all the official test images (data=, MNIST's 10,000) and must give PyTorch's class for
every one, with no logit further off than `tolerance`; otherwise the export fails and writes no model. The check
is printed and written to parity.json in the run folder (outputs/export/<date>/<time>/).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import hydra
import onnx
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from mnist_lightning import CONFIG_DIR
from mnist_lightning.data.idx_files import IdxDataset, load_split
from mnist_lightning.inference.checkpoint import classifier_from, describe, model_to_use, read_checkpoint
from mnist_lightning.inference.exporting import onnx_model, parity, with_metadata
from mnist_lightning.inference.model_card import check_same_data, describe_training, run_metrics, trained_on
from mnist_lightning.inference.onnx_classifier import OnnxClassifier
from mnist_lightning.inference.onnx_contract import INPUT_CONTRACT, OUTPUT_CONTRACT
from mnist_lightning.reporting.provenance import code_version
from mnist_lightning.user_errors import reported

FORMATS = ("onnx",)


class ParityError(RuntimeError):
    """The exported file does not compute what the checkpoint does."""


def export(cfg: DictConfig) -> dict:
    if cfg.format not in FORMATS:
        raise ValueError(f"format={cfg.format} is not one this exporter writes; use one of {FORMATS}.")
    ckpt_path = model_to_use(cfg.ckpt_path, cfg.search_dir)
    checkpoint = read_checkpoint(ckpt_path)
    classifier = classifier_from(checkpoint, ckpt_path)
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    output = Path(cfg.output).expanduser() if cfg.output else run_dir / "model.onnx"

    data, dataset = trained_on(classifier), IdxDataset.from_config(cfg.data.dataset)
    check_same_data(data, dataset, ckpt_path)
    model = onnx_model(classifier)
    images, labels = load_split(dataset, train=False, cache_dir=cfg.data.cache_dir)
    pixels = images.float().div(255)
    # The PyTorch side computes exactly what the file should: logits / temperature, the classifier in eval mode.
    reference = classifier.logits(pixels) / classifier.hparams.temperature
    check = parity(reference, OnnxClassifier(model.SerializeToString()).logits(pixels), labels, cfg.tolerance)
    (run_dir / "parity.json").write_text(json.dumps({"checkpoint": str(ckpt_path.resolve()), **check}, indent=2))
    print(parity_summary(check))
    if not check["passed"]:
        raise ParityError(
            f"The exported model does not compute what {ckpt_path} does (above; parity.json in "
            f"{run_dir}); no model was written. Report it with parity.json and the versions of "
            "torch, onnx and onnxruntime."
        )
    with_metadata(
        model,
        {
            "input": INPUT_CONTRACT,
            "outputs": OUTPUT_CONTRACT,
            **data,  # dataset, class_names, digits: what the file tells apart, and whether predict may use it
            "model": describe(checkpoint["hyper_parameters"]["backbone"]),
            "normalization": {"mean": classifier.hparams.mean, "std": classifier.hparams.std},
            "temperature": classifier.hparams.temperature,
            "source_checkpoint": ckpt_path.name,  # not its path: a file meant to be shared keeps the exporter's disk out
            "source_checkpoint_sha256": hashlib.sha256(ckpt_path.read_bytes()).hexdigest(),
            "test_accuracy": f"{check['test_accuracy']:.4f}",
            "test_accuracy_measured": (
                f"on the official {len(labels):,}-image {dataset.title} test set, by onnxruntime on this file at export"
            ),
            "training": describe_training(checkpoint["hyper_parameters"], run_metrics(ckpt_path)),
            "code_version": code_version(),
        },
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, output)
    print(f"Written: {output} ({output.stat().st_size / 1e6:.1f} MB)")
    return {"output": str(output), **check}


def parity_summary(check: dict) -> str:
    differing = "".join(
        f"\n  test image {d['index']} (a {d['label']}): PyTorch says {d['pytorch']}, the export {d['exported']}"
        for d in check["differing"]
    )
    return (
        f"Parity with PyTorch on the {check['images']:,} official test images: the same class for "
        f"{check['same_class']:,}{differing}\nLargest logit difference {check['max_logit_difference']:.2e} "
        f"(tolerance {check['tolerance']:.0e}); test accuracy of the exported file {check['test_accuracy']:.2%}. "
        + ("Passed." if check["passed"] else "FAILED.")
    )


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="export")
@reported
def main(cfg: DictConfig) -> None:
    try:
        export(cfg)
    except ParityError as err:
        print(err, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
