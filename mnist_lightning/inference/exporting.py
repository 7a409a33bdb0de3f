"""A trained classifier as one ONNX file that runs without this package, Lightning or PyTorch (onnxruntime only).

The file holds the whole computation from pixels to answers: pixel/255 -> the training split's normalization ->
the backbone -> logits / temperature -> softmax. Its metadata says what to feed it (onnx_contract.py), what it
returns, which checkpoint it came from, the test accuracy measured on the file itself, and the code version.
"""

from __future__ import annotations

import json
import logging

import onnx
import torch

from mnist_lightning.classifier.lightning_module import MNISTClassifier
from mnist_lightning.inference.onnx_contract import INPUT_NAME, INPUT_SHAPE, OUTPUT_NAMES


class CalibratedNetwork(torch.nn.Module):
    """What the exported file computes: the classifier's logits divided by its temperature, and their softmax."""

    def __init__(self, classifier: MNISTClassifier):
        super().__init__()
        self.classifier = classifier
        self.temperature = float(classifier.hparams.temperature)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.classifier(images) / self.temperature
        return logits, torch.softmax(logits, dim=1)


def onnx_model(classifier: MNISTClassifier) -> onnx.ModelProto:
    """The classifier (in eval mode) as an ONNX graph whose batch dimension is free."""
    network = CalibratedNetwork(classifier.cpu().eval()).eval()
    for chatty in ("onnxscript", "onnx_ir"):  # their graph optimizer logs every pass at INFO
        logging.getLogger(chatty).setLevel(logging.WARNING)
    # torch.export traces with a batch of 2: a batch of 1 would be specialized to a constant 1.
    program = torch.onnx.export(
        network,
        (torch.zeros(2, *INPUT_SHAPE),),
        dynamo=True,
        verbose=False,
        input_names=[INPUT_NAME],
        output_names=list(OUTPUT_NAMES),
        dynamic_shapes={INPUT_NAME: {0: torch.export.Dim("batch")}},
    )
    assert program is not None, "dynamo=True returns the ONNXProgram (only the legacy exporter returns None)"
    return program.model_proto


def with_metadata(model: onnx.ModelProto, metadata: dict) -> onnx.ModelProto:
    """`metadata` written into the file's metadata_props (strings; other values as JSON)."""
    del model.metadata_props[:]
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value if isinstance(value, str) else json.dumps(value)
    return model


def parity(reference: torch.Tensor, exported: torch.Tensor, labels: torch.Tensor, tolerance: float) -> dict:
    """How far the exported file's logits are from PyTorch's on the same images; `passed` when every image gets
    the same class and no logit differs by more than `tolerance`."""
    differing = (reference.argmax(1) != exported.argmax(1)).nonzero().flatten().tolist()
    largest = float((reference - exported).abs().max())
    return {
        "images": len(labels),
        "same_class": len(labels) - len(differing),
        "differing": [
            {
                "index": i,
                "label": int(labels[i]),
                "pytorch": int(reference[i].argmax()),
                "exported": int(exported[i].argmax()),
            }
            for i in differing[:20]
        ],
        "max_logit_difference": largest,
        "tolerance": tolerance,
        "test_accuracy": float((exported.argmax(1) == labels).double().mean()),
        "passed": not differing and largest <= tolerance,
    }
