"""What an exported .onnx file takes and returns: the one agreement between the exporter (inference/exporting.py)
and the runtime (inference/onnx_classifier.py), so that running a file needs neither the exporter nor Lightning."""

INPUT_NAME, OUTPUT_NAMES = "images", ("logits", "probabilities")
INPUT_SHAPE = [1, 28, 28]  # after the free batch dimension
INPUT_CONTRACT = (
    "images: float32 [N, 1, 28, 28], pixel/255 in [0, 1]; for digits, a light digit on a dark background in MNIST's form "
    "(longer side of the ink 20 px, centred by its centre of mass); mnist_lightning.inference.preprocess makes "
    "that from any picture. Normalization is inside the model: do not subtract a mean."
)
OUTPUT_CONTRACT = (
    "logits: float32 [N, classes] (10 for digits; class_names names them), already divided by the temperature; "
    "probabilities: float32 [N, classes], their softmax"
)
