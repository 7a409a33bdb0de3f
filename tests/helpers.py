"""What several test modules share: running the project's commands, training in-process, checkpoints of an
earlier release, and pictures of digits changed the way people's own pictures differ from MNIST."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFilter

from mnist_lightning import CONFIG_DIR

REPO = Path(__file__).resolve().parent.parent
RELEASE_0_1_0 = Path(__file__).parent / "fixtures" / "release_0.1.0"  # checkpoints that release wrote (README there)
RELEASE_0_2_0 = Path(__file__).parent / "fixtures" / "release_0.2.0"

# Settings that keep a real (non-fast_dev_run) training run to seconds: checkpoints, validation and test all
# happen, on a fraction of the batches.
TINY_RUN = (
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=20",
    "trainer.limit_val_batches=2",
    "trainer.log_every_n_steps=5",
)


IDX_NAMES = {  # MNIST's file names, which Fashion-MNIST, KMNIST and data=idx share
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def idx_bytes(array: np.ndarray) -> bytes:
    """`array` (uint8) in the IDX format: magic 0x0000080N, the N sizes big-endian, then the bytes."""
    return np.array([0x800 + array.ndim, *array.shape], dtype=">u4").tobytes() + array.astype(np.uint8).tobytes()


def strokes(labels: np.ndarray, classes: int, rng: np.random.Generator) -> np.ndarray:
    """[N, 28, 28] uint8 pictures a small network can learn to tell apart: class c is a bright stroke through the
    middle at angle c x 180/classes degrees, each drawn with its own shift, width and brightness, over noise."""
    n = len(labels)
    y, x = np.mgrid[0:28, 0:28].astype(np.float32) - 13.5
    angle = (labels * np.pi / classes + rng.normal(0, 0.04, n))[:, None, None]
    shift = rng.uniform(-3, 3, (n, 1, 1))
    width = rng.uniform(1.2, 2.5, (n, 1, 1))
    distance = np.abs(x * np.sin(angle) - y * np.cos(angle) - shift)
    ink = np.clip(1.5 - distance / width, 0, 1) * (np.hypot(x, y) < 12) * rng.uniform(150, 255, (n, 1, 1))
    return np.clip(ink + rng.uniform(0, 40, (n, 28, 28)), 0, 255).astype(np.uint8)


def write_idx_dataset(
    folder: Path, classes: int, n_train: int = 600, n_test: int = 200, gz: bool = False, seed: int = 0
) -> dict[str, str]:
    """Four IDX files of a synthetic data set (`strokes`) in `folder`, named as MNIST's (.gz when `gz`, written
    byte-identically every time); returns the md5 of each file as written, by role."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    made = {}
    for split, n in (("train", n_train), ("test", n_test)):
        labels = np.arange(n) % classes
        rng.shuffle(labels)
        for role, array in ((f"{split}_images", strokes(labels, classes, rng)), (f"{split}_labels", labels)):
            data = idx_bytes(array)
            data = gzip.compress(data, mtime=0) if gz else data
            (folder / (IDX_NAMES[role] + (".gz" if gz else ""))).write_bytes(data)
            made[role] = hashlib.md5(data).hexdigest()
    return made


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def run_module(module: str, *overrides: str, cwd: Path, check: bool = True):
    """Run `python -m module overrides...` in a fresh process, as a user would."""
    quiet = (
        ("trainer.enable_progress_bar=false",) if module in ("mnist_lightning.train", "mnist_lightning.eval") else ()
    )
    result = subprocess.run(
        [sys.executable, "-m", module, *overrides, *quiet],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{module} {overrides} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def train_run(run_dir: Path, *overrides: str, check: bool = True):
    """`python -m mnist_lightning.train` writing into `run_dir` (Hydra's default folder is named by the second)."""
    return run_module("mnist_lightning.train", f"hydra.run.dir={run_dir}", *overrides, cwd=run_dir.parent, check=check)


def compose_config(command: str, *overrides: str, run_dir: Path | None = None):
    """conf/<command>.yaml composed as `python -m mnist_lightning.<command> overrides...` would, with Hydra's own
    settings made current (so that `${hydra:runtime.output_dir}` resolves to `run_dir`)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    quiet = ["trainer.enable_progress_bar=false"] if command in ("train", "eval") else []
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(command, overrides=[*overrides, *quiet], return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(run_dir or Path.cwd())
        HydraConfig.instance().set_config(cfg)
        del cfg["hydra"]  # as a task function sees it
    return cfg


def compose_train_config(*overrides: str, run_dir: Path | None = None):
    return compose_config("train", *overrides, run_dir=run_dir)


def train_in_process(run_dir: Path, *overrides: str) -> dict:
    """mnist_lightning.train's `train` on the composed config, in this process: metrics.json's contents. Without
    the figures of the test set's mistakes unless asked (figures=true): the tests that look at them ask."""
    from mnist_lightning.train import train

    run_dir.mkdir(parents=True, exist_ok=True)
    return train(compose_train_config("figures=false", *overrides, run_dir=run_dir))


def run_in_process(command: str, run_dir: Path, *overrides: str):
    """What `python -m mnist_lightning.<command> overrides...` does, in this process (eval, export, predict,
    robustness): the command's function on the composed config. Raises what the command would report."""
    import importlib

    run_dir.mkdir(parents=True, exist_ok=True)
    function = {"eval": "evaluate", "export": "export", "predict": "predict", "robustness": "robustness"}[command]
    return getattr(importlib.import_module(f"mnist_lightning.{command}"), function)(
        compose_config(command, *overrides, run_dir=run_dir)
    )


def start_server(*overrides: str, cwd: Path) -> tuple[subprocess.Popen, str, str]:
    """`python -m mnist_lightning.serve overrides...` on a free loopback port, once it listens: the process (to
    terminate), the page's address and what the command printed until then."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "mnist_lightning.serve", f"port={port}", *overrides],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    for line in server.stdout:  # uvicorn says where it listens once it does; the pipe ends if the command fails
        lines.append(line)
        if "Uvicorn running on" in line:
            break
    return server, f"http://127.0.0.1:{port}", "".join(lines)


def picture(digit: torch.Tensor) -> Image.Image:
    return Image.fromarray(digit.numpy())


def jpeg(image: Image.Image, quality: int = 50) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue()))


def on_canvas(image: Image.Image) -> Image.Image:
    canvas = Image.new("L", (640, 480), 0)
    canvas.paste(image.resize((120, 120), Image.BICUBIC), (470, 300))  # small, far off-centre
    return canvas


def on_shaded_paper(image: Image.Image) -> Image.Image:
    """Dark ink on paper lit from one side: the background runs from light grey to white across the sheet."""
    ink = torch.frombuffer(bytearray(image.resize((224, 224), Image.BICUBIC).tobytes()), dtype=torch.uint8).view(
        224, 224
    )
    paper = torch.linspace(150, 250, 224).expand(224, 224)
    return Image.fromarray((paper * (1 - ink / 255.0) + 30 * ink / 255.0).to(torch.uint8).numpy())


def transparent(image: Image.Image) -> Image.Image:
    rgba = Image.new("RGBA", image.size, (20, 20, 200, 0))  # blue ink, transparent around it
    rgba.putalpha(image)
    return rgba


CHANGES = {
    "dark on light": lambda im: Image.eval(im, lambda v: 255 - v),
    "scaled up 10x": lambda im: im.resize((280, 280), Image.BICUBIC),
    "off-centre on a large canvas": on_canvas,
    # 1 pixel thicker at MNIST's scale (a 5x5 maximum at 4x): a felt pen instead of MNIST's. Thicker still (+1.5
    # pixels, a 7x7 maximum) the 3-epoch model of this test agreed on 95 %: MNIST models read stroke width.
    "thicker strokes": lambda im: im.resize((112, 112), Image.BICUBIC).filter(ImageFilter.MaxFilter(5)),
    "JPEG-compressed": lambda im: jpeg(im.resize((112, 112), Image.BICUBIC)),
    "RGB": lambda im: Image.merge("RGB", (im, im, Image.eval(im, lambda v: v // 2))),
    "RGBA on transparency": transparent,
    "dark ink on shaded paper": on_shaded_paper,
}
