"""Classify your own pictures of digits: `python -m mnist_lightning.predict inputs=photos/ [ckpt_path=...]`.

Each picture (PNG, JPEG, BMP, GIF, WebP, TIFF; any colours, dark on light or light on dark, with or without
transparency) is put into MNIST's form by the same function the tests check (inference/preprocess.py) and
classified by a checkpoint, or by an .onnx file from `mnist_lightning.export` (run by onnxruntime). Prints a
table, and writes predictions.csv and contact_sheet.png (each picture, the 28x28 image the model saw, its answer)
in the run folder (outputs/predict/<date>/<time>/). A file that cannot be read is reported with its reason while
the others are still classified; the exit code is then 1.
"""

from __future__ import annotations

import csv
import glob
import sys
from collections.abc import Sequence
from pathlib import Path

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from mnist_lightning import CONFIG_DIR
from mnist_lightning.inference.answer import answer
from mnist_lightning.inference.checkpoint import model_to_use
from mnist_lightning.inference.loading import load_digit_model
from mnist_lightning.inference.preprocess import DigitImageError, preprocess, read_image, viewable
from mnist_lightning.reporting.contact_sheet import draw_contact_sheet, thumbnail
from mnist_lightning.user_errors import reported

COLUMNS = ("file", "digit", "probability", "top3", "unsure", "notes", "error")


def find_inputs(inputs: str | Sequence[str]) -> tuple[list[Path], list[dict]]:
    """The files that `inputs` names (files, folders, glob patterns), and a row for each name that gives none."""
    files, problems = [], []
    for name in [inputs] if isinstance(inputs, str) else list(inputs):
        path = Path(name).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
            reason = f"the folder {path} holds no files"
        elif path.is_file():
            found = [path]
        else:
            found = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
            reason = f"{name} is no file or folder, and as a pattern it matches no file"
        files += found
        if not found:
            problems.append({"file": name, "error": reason})
    return files, problems


def predict(cfg: DictConfig) -> tuple[list[dict], int]:
    ckpt_path = model_to_use(cfg.ckpt_path, cfg.search_dir)
    model = load_digit_model(ckpt_path, "predict")  # an .onnx file runs on onnxruntime alone
    files, rows = find_inputs(cfg.inputs)
    read, digits, pictures = [], [], []
    for path in files:
        try:
            image, notes = read_image(path)
            digits.append(preprocess(image))
        except DigitImageError as err:
            rows.append({"file": str(path), "error": str(err)})
            continue
        read.append({"file": str(path), "notes": "; ".join(notes)})
        pictures.append(thumbnail(viewable(image)))
    if read:
        seen = torch.stack(digits)  # [N, 28, 28]: what the model saw
        probabilities = model.probabilities(seen)
        for row, p in zip(read, probabilities):
            said = answer(p, cfg.unsure_below, cfg.unsure_margin)
            row.update(
                digit=said["digit"],
                probability=round(said["probability"], 4),
                top3=", ".join(f"{digit}: {probability:.2f}" for digit, probability in said["top3"]),
                unsure="unsure" if said["unsure"] else "",
            )
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    rows = read + rows  # answers first, then the files that could not be read
    with open(run_dir / "predictions.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    if read:
        draw_contact_sheet(pictures, seen, read, run_dir / "contact_sheet.png")
    print(table(rows))
    print(
        f"\n{len(read)} classified, {len(rows) - len(read)} failed. Written: {run_dir / 'predictions.csv'}"
        + (f", {run_dir / 'contact_sheet.png'}" if read else "")
    )
    return rows, len(rows) - len(read)


def table(rows: list[dict]) -> str:
    lines = ["| file | digit | probability | top 3 | |", "|---|---|---|---|---|"]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['file']} | | | | failed: {row['error']} |")
        else:
            flag = " ".join(x for x in (row["unsure"], row["notes"]) if x)
            lines.append(f"| {row['file']} | {row['digit']} | {row['probability']:.2f} | {row['top3']} | {flag} |")
    return "\n".join(lines)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="predict")
@reported
def main(cfg: DictConfig) -> None:
    _, failed = predict(cfg)
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
