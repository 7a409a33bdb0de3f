"""Running an exported .onnx file with onnxruntime alone: what predict uses when given one instead of a checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime
import torch

from mnist_lightning.inference.onnx_contract import INPUT_NAME, INPUT_SHAPE, OUTPUT_NAMES


class OnnxClassifier:
    """An ONNX file written by `mnist_lightning.export` (or its bytes), with MNISTClassifier's way of asking."""

    def __init__(self, source: str | Path | bytes):
        name = "the exported model" if isinstance(source, bytes) else str(source)
        if not isinstance(source, bytes) and not Path(source).is_file():
            raise FileNotFoundError(f"{name} does not exist. Pass the .onnx file that mnist_lightning.export wrote.")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()  # as many as PyTorch (OMP_NUM_THREADS) is given
        try:
            self.session = onnxruntime.InferenceSession(
                source if isinstance(source, bytes) else str(source),
                options,
                providers=onnxruntime.get_available_providers(),
            )
        except Exception as err:  # noqa: BLE001 - onnxruntime raises its own types for every kind of bad file
            raise ValueError(
                f"{name} cannot be read as an ONNX model ({type(err).__name__}: {err}). "
                "It is truncated or not an ONNX file; export it again."
            ) from err
        inputs = {i.name: i.shape for i in self.session.get_inputs()}
        outputs = {o.name for o in self.session.get_outputs()}
        if list(inputs) != [INPUT_NAME] or inputs[INPUT_NAME][1:] != INPUT_SHAPE or not set(OUTPUT_NAMES) <= outputs:
            raise ValueError(
                f"{name} is an ONNX model, but not one mnist_lightning.export wrote: it takes {inputs} "
                f"and returns {sorted(outputs)}, not {INPUT_NAME} [N, 1, 28, 28] -> {list(OUTPUT_NAMES)}."
            )
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)

    def _run(self, output: str, images: torch.Tensor) -> torch.Tensor:
        """`output` for `images`, computed on the CPU and returned on the images' device."""
        batches = images.detach().float().cpu().numpy()[:, None].astype(np.float32, copy=False)
        chunks = np.array_split(batches, max(1, len(batches) // 1000))  # about 1,000 images a call
        found = np.concatenate([self.session.run([output], {INPUT_NAME: chunk})[0] for chunk in chunks])
        return torch.from_numpy(found).to(images.device)

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """[N, 10] logits, already divided by the temperature, for [N, 28, 28] images (pixel/255)."""
        return self._run("logits", images)

    def log_probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """[N, 10] log class probabilities (calibrated) for [N, 28, 28] images."""
        return torch.log_softmax(self.logits(images), dim=1)

    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """[N, 10] class probabilities (calibrated: the temperature is inside the file) for [N, 28, 28] images."""
        return self._run("probabilities", images)
