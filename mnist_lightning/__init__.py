"""Train an MLP (and a CNN to compare) on MNIST with PyTorch Lightning and Hydra, offline."""

from pathlib import Path

_HERE = Path(__file__).resolve().parent
# conf/ sits at the top of a source checkout; a wheel carries the same files inside the package.
CONFIG_DIR = str(_HERE.parent / "conf" if (_HERE.parent / "conf" / "train.yaml").is_file() else _HERE / "conf")
