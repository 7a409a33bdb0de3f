"""The four robustness suites as labelled groups of 28x28 images, each exactly as a model is given it.

  mnist_c       MNIST-C's 15 corruptions (mnist_c.py) and the clean digits, fed as the paper feeds them: the
                corrupted 28x28 image as it is
  mnist_c_read  the same pictures, each read as a user's file would be: through predict's preprocessing
  photos        the digits photographed on paper (photographs.py: grain, uneven light, shadow, defocus, JPEG,
                small in a large frame, rotated, in perspective), through predict's preprocessing
  drawings      digits drawn in many styles, placements and pen widths on the page's canvas (drawings.py), as the
                PNG the page sends, through the page's path (`read_digit`)
  encodings     the digits stored as devices and editors store files (encodings.py), through `read_digit`

A picture that preprocessing refuses ("no digit found") is kept as an empty image and counted wrong: a person
who gets no answer got no right one. Building the suites costs minutes (one picture at a time, as a user sends
them), so the result is cached under the data cache (robustness/, about 130 MB for the test split), keyed by the
code and libraries that build it and by its settings; the 28x28 images are stored as 8-bit grey levels.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import io
import pickle
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL
import scipy
import torch
from PIL import Image, features

from mnist_lightning.data.idx_files import write_atomically
from mnist_lightning.inference import preprocess as preprocessing
from mnist_lightning.inference.preprocess import DigitImageError, preprocess, read_digit, read_image, viewable
from mnist_lightning.realworld import drawings, encodings, mnist_c, photographs

SUITES = ("mnist_c", "mnist_c_read", "photos", "drawings", "encodings")
LEGIBLE_PEN = 0.36  # a pen wider than this share of the digit's height fills its loops: no reader can tell it
EXAMPLE_SIDE = 96  # the picture as given is kept this large for the examples figure


@dataclass
class Group:
    suite: str
    name: str
    seen: torch.Tensor  # [N, 28, 28] float in [0, 1]: what the model is given
    labels: torch.Tensor  # [N] int64
    unreadable: torch.Tensor  # [N] bool: preprocessing refused the picture; counted wrong
    example: torch.Tensor  # [H, W, 4] uint8 RGBA: the first picture as a person would have given it


def build_suites(
    names: list[str],
    images: torch.Tensor,
    labels: torch.Tensor,
    seed: int,
    cache: Path | None,
    split: str,
    drawings_per_setting: int = 4,
) -> list[Group]:
    """The groups of the suites `names`, from `images` (uint8 [N, 28, 28]) and their labels; `split` and `seed`
    choose the random draws. Drawings are made from templates, not from `images`: `drawings_per_setting` of each
    style in each placement and pen width a person can read."""
    groups = []
    for name in names:
        if name not in SUITES:
            raise ValueError(f"suites: unknown suite {name!r}; choose from {list(SUITES)}.")
        key = _cache_key(name, images, seed, split, drawings_per_setting)
        path = cache / f"{name}-{key}.pt" if cache is not None else None
        if path is not None and (stored := _cached(path)) is not None:
            groups += stored
            continue
        with _one_thread():
            made = (
                _drawings(seed, split, drawings_per_setting)
                if name == "drawings"
                else BUILDERS[name](images, labels, seed, split)
            )
        for group in made:  # 8-bit grey levels, as stored: a first run and a cached one score the same images
            group.seen = group.seen.mul(255).round().div(255)
        if path is not None:
            buffer = io.BytesIO()
            torch.save([{**vars(g), "seen": g.seen.mul(255).round().to(torch.uint8)} for g in made], buffer)
            write_atomically(path, buffer.getvalue())
        groups += made
    return groups


def _cached(path: Path) -> list[Group] | None:
    """The groups stored at `path`; None when there are none or the file is damaged (they are then made again)."""
    try:
        stored = torch.load(path, weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError):
        return None
    return [Group(**{**fields, "seen": fields["seen"].float() / 255}) for fields in stored]


def _cache_key(name: str, images: torch.Tensor, seed: int, split: str, drawings_per_setting: int) -> str:
    """Changes with everything that makes the pictures and reads them: the project's code, the libraries that
    encode and decode files (a Pillow with AVIF support stores digits in one more way), the images, the settings."""
    libraries = [PIL.__version__, str(features.check("avif")), torch.__version__, np.__version__, scipy.__version__]
    digest = hashlib.sha256("|".join([name, str(seed), split, str(drawings_per_setting), *libraries]).encode())
    if name != "drawings":  # drawn from templates, whatever the digits
        digest.update(images.numpy().tobytes())
    for module in (preprocessing, drawings, encodings, mnist_c, photographs):
        digest.update(Path(inspect.getfile(module)).read_bytes())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()[:16]


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Pictures are read one at a time, and on a 28x28 image a second thread only waits: 6x slower on 2 cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _read_all(pictures: Sequence, read: Callable) -> tuple[torch.Tensor, torch.Tensor]:
    """[N, 28, 28] images read by `read` from each of `pictures`, and [N] bool: which were refused (left empty)."""
    seen, refused = torch.zeros(len(pictures), 28, 28), torch.zeros(len(pictures), dtype=torch.bool)
    for i, picture in enumerate(pictures):
        try:
            seen[i] = read(picture)
        except (DigitImageError, ValueError, OSError):  # whatever stops a picture costs that picture, not the suite
            refused[i] = True
    return seen, refused


def _example(picture: Image.Image | bytes) -> torch.Tensor:
    """The picture as a viewer shows it, small: upright, 16-bit and float pixels scaled as preprocessing scales them."""
    image = viewable(read_image(io.BytesIO(picture))[0] if isinstance(picture, bytes) else picture)
    image = image.convert("RGBA")
    image.thumbnail((EXAMPLE_SIDE, EXAMPLE_SIDE))
    return torch.from_numpy(np.asarray(image).copy())


def _digit_picture(digit: torch.Tensor) -> Image.Image:
    return Image.fromarray(digit.numpy())


def _mnist_c(images: torch.Tensor, labels: torch.Tensor, seed: int, split: str) -> list[Group]:
    groups = []
    for name in ("clean", *mnist_c.CORRUPTIONS):
        corrupted = images if name == "clean" else mnist_c.corrupt(name, images, seed)
        groups.append(
            Group(
                "mnist_c",
                name,
                corrupted.float() / 255,
                labels,
                torch.zeros(len(labels), dtype=torch.bool),
                _example(_digit_picture(corrupted[0])),
            )
        )
    return groups


def _mnist_c_read(images: torch.Tensor, labels: torch.Tensor, seed: int, split: str) -> list[Group]:
    groups = []
    for group in _mnist_c(images, labels, seed, split):
        pictures = [_digit_picture(image) for image in group.seen.mul(255).round().to(torch.uint8)]
        seen, refused = _read_all(pictures, preprocess)
        groups.append(Group("mnist_c_read", group.name, seen, labels, refused, group.example))
    return groups


def _photos(images: torch.Tensor, labels: torch.Tensor, seed: int, split: str) -> list[Group]:
    """Every digit photographed once, in a scene of its own; grouped as a whole and by how small the digit is.
    Each photo is made, read and let go (10,000 photos held at once would take 9 GB)."""

    def photo(i: int) -> tuple[photographs.Scene, Image.Image]:
        rng = np.random.default_rng([seed, i, SPLIT_STREAMS[split], 1])
        scene = photographs.Scene.random(rng)
        return scene, photographs.photograph(images[i], scene, rng)

    heights = torch.zeros(len(images))

    def read(i: int) -> torch.Tensor:
        scene, picture = photo(i)
        heights[i] = scene.digit_height
        return preprocess(picture)

    seen, refused = _read_all(range(len(images)), read)
    groups = [Group("photos", "all", seen, labels, refused, _example(photo(0)[1]))]
    for name, inside in (
        ("digit under 15 % of the frame", heights < 0.15),
        ("digit 15-30 % of the frame", (heights >= 0.15) & (heights < 0.3)),
        ("digit over 30 % of the frame", heights >= 0.3),
    ):
        if inside.any():
            first = int(inside.nonzero()[0])
            groups.append(
                Group("photos", name, seen[inside], labels[inside], refused[inside], _example(photo(first)[1]))
            )
    return groups


def _drawings(seed: int, split: str, per_setting: int) -> list[Group]:
    """Each style in each placement and pen width, `per_setting` times; grouped by style, by placement, by pen
    width, and all together. The split only picks the random hands: templates are not MNIST's digits."""
    files, rows, labels = [], [], []
    for s, (style_name, style) in enumerate(drawings.STYLES.items()):
        for p, placement in enumerate(drawings.PLACEMENTS):
            for w, pen in enumerate(drawings.PEN_WIDTHS):
                if pen > LEGIBLE_PEN * drawings.PLACEMENTS[placement].height[0]:
                    continue  # a marker on a small digit: a blot
                for k in range(per_setting):
                    rng = np.random.default_rng([seed, SPLIT_STREAMS[split], 2, s, p, w, k])
                    files.append(drawings.draw(style, rng, placement, pen))
                    rows.append((style_name, placement, f"pen {pen:g}"))  # the three ways to group them
                    labels.append(style.digit)
    seen, refused = _read_all(files, lambda data: read_digit(io.BytesIO(data))[0])
    digits = torch.tensor(labels)
    groups = [Group("drawings", "all", seen, digits, refused, _example(files[0]))]
    for column in range(3):
        for value in dict.fromkeys(row[column] for row in rows):
            inside = torch.tensor([row[column] == value for row in rows])
            first = int(inside.nonzero()[0])
            groups.append(
                Group("drawings", value, seen[inside], digits[inside], refused[inside], _example(files[first]))
            )
    return groups


def _encodings(images: torch.Tensor, labels: torch.Tensor, seed: int, split: str) -> list[Group]:
    """Digit i stored in encoding i mod K: every encoding gets its share of the digits, and all of them together
    are every digit once, comparable with the clean accuracy."""
    names = list(encodings.ENCODINGS)
    files = []
    for i, digit in enumerate(images):
        # dark ink on white, 4x
        upright = Image.fromarray(255 - digit.numpy()).resize((112, 112), Image.Resampling.BICUBIC)
        files.append(encodings.ENCODINGS[names[i % len(names)]](upright))
    seen, refused = _read_all(files, lambda data: read_digit(io.BytesIO(data))[0])
    which = torch.arange(len(images)) % len(names)
    groups = [Group("encodings", "all", seen, labels, refused, _example(files[0]))]
    for k, name in enumerate(names):
        inside = which == k
        if inside.any():
            groups.append(Group("encodings", name, seen[inside], labels[inside], refused[inside], _example(files[k])))
    return groups


SPLIT_STREAMS = {"test": 0, "val": 1}  # the same generators, other random draws, for each split
BUILDERS = {"mnist_c": _mnist_c, "mnist_c_read": _mnist_c_read, "photos": _photos, "encodings": _encodings}
