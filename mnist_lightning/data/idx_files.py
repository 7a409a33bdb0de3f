"""A data set in MNIST's IDX layout (MNIST, Fashion-MNIST, KMNIST or your own): find its four files, check them,
unpack them into a cache, read them as tensors. conf/data/*.yaml describe each one under `dataset:`.

Where the bytes come from, in order:
- `folder`, when the config names one: read where they are (plain or .gz), never written to;
- otherwise the data set's folder <cache_dir>/<name>/, where a user copies the original files; then the copy
  bundled in this package (MNIST only); then what torchvision downloaded before; last torchvision's downloader
  (needs internet, which many users do not have).
Every file whose md5 the config gives is checked before it is used. Outside `folder`, it is then unpacked into
<cache_dir>/<name>/unpacked/ (written atomically, with a record of what it was checked against), so that later
runs skip the decompression; the user's own files are never written or deleted.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from omegaconf import OmegaConf

from mnist_lightning import CONFIG_DIR

BUNDLE_DIR = Path(__file__).resolve().parent / "bundled_mnist"
ROLES = ("train_images", "train_labels", "test_images", "test_labels")
IMAGE_SIZE = (28, 28)  # what the networks take: MLP's 784 inputs, the CNN's pooled 7x7 maps


class IdxDataError(RuntimeError):
    """A data file is missing, truncated, not the file the config's md5 names, or not IDX data the models take."""


@dataclass(frozen=True)
class IdxDataset:
    """One data set's four files and its classes: what conf/data/<name>.yaml gives under `dataset:`."""

    name: str  # names its cache folder, and is recorded with every model trained on it
    title: str  # how messages and pictures name it
    class_names: tuple[str, ...]  # label i is class_names[i]; their number sets the networks' outputs
    files: dict[str, str] = field(default_factory=dict)  # role -> file name; ".gz" where md5 is of the .gz bytes
    md5: dict[str, str] = field(default_factory=dict)  # role -> md5 of the file as `files` names it; {}: unchecked
    digits: bool = False  # handwritten digits drawn like MNIST's: what predict, serve and the draw page expect
    folder: str | None = None  # read the files from here instead of the cache
    bundled: bool = False  # a copy ships inside this package (MNIST)
    download: str | None = None  # the torchvision.datasets class that downloads it; None: never download
    homepage: str = ""  # where to get the files by hand

    @classmethod
    def from_config(cls, node: Mapping[str, Any]) -> IdxDataset:
        """Built from a `dataset:` config node, with every value checked (a wrong one is named in the error)."""
        plain = OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node
        settings: dict[str, Any] = dict(cast(Mapping[str, Any], plain))
        unknown = set(settings) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(
                f"data.dataset has no setting {sorted(unknown)}; the settings are {list(cls.__dataclass_fields__)}."
            )
        names = settings.get("class_names")
        if names is None:
            raise ValueError(
                f"data.dataset.class_names is not set for data={settings.get('name')}: name the classes in label "
                "order, e.g. data.dataset.class_names=[cat,dog,bird] for labels 0, 1 and 2."
            )
        if not isinstance(names, (list, tuple)) or len(names) < 2 or len(set(map(str, names))) != len(names):
            raise ValueError(
                "data.dataset.class_names must list two or more different names, label i's name at position i, "
                f"e.g. data.dataset.class_names=[cat,dog]; got {names!r}."
            )
        files, md5 = settings.get("files") or {}, settings.get("md5") or {}
        if set(files) != set(ROLES):
            raise ValueError(f"data.dataset.files must name the file of each of {list(ROLES)}; got {files!r}.")
        for role, digest in md5.items():
            if role not in ROLES or not re.fullmatch(r"[0-9a-f]{32}", str(digest)):
                raise ValueError(
                    f"data.dataset.md5.{role}={digest!r} is not an md5 of one of the files {list(ROLES)} (32 "
                    "lowercase hex digits). Remove the entry to read that file unchecked."
                )
        settings |= {"class_names": tuple(str(n) for n in names), "files": dict(files), "md5": dict(md5)}
        return cls(**settings)

    def home(self, cache_dir: str | Path) -> Path:
        """The folder its files are read from: `folder`, or its own folder in the cache."""
        return Path(self.folder).expanduser() if self.folder else Path(cache_dir).expanduser() / self.name

    def where_to_put_files(self, cache_dir: str | Path) -> str:
        source = f" from {self.homepage}" if self.homepage else ""
        return (
            f"Fix: get the four files ({', '.join(self.files[r] for r in ROLES)}){source} and copy them, unchanged, "
            f"into {self.home(cache_dir)}, or set data.dataset.folder to the folder that holds them."
        )


# MNIST described once, by its config: the default data set, also for code that builds no config.
MNIST = IdxDataset.from_config(
    cast(Mapping[str, Any], OmegaConf.load(Path(CONFIG_DIR) / "data" / "mnist.yaml").data.dataset)
)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename: readers see the old state or the whole new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fix(dataset: IdxDataset, path: Path, bundle_dir: Path) -> str:
    """What to do about a bad file, by where it is: never advice that would lose a user's only copy."""
    if path.is_relative_to(bundle_dir):
        return f"Fix: reinstall mnist_lightning (in a checkout: `git checkout -- {bundle_dir.name}`) to restore it."
    if dataset.folder:
        return "Fix: replace it with the original file."
    fallback = " to use the bundled copy" if dataset.bundled else " to download it again" if dataset.download else ""
    return f"Fix: replace it with the original file, or delete it{fallback}."


def _read_gzip(path: Path, fix: str) -> bytes:
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except (OSError, EOFError) as err:  # BadGzipFile is an OSError; a cut-off file raises EOFError
        raise IdxDataError(f"{path} cannot be decompressed ({err}): the file is corrupt or truncated. {fix}") from err


def read_checked(dataset: IdxDataset, role: str, path: Path, bundle_dir: Path = BUNDLE_DIR) -> bytes:
    """The uncompressed bytes of `path` (plain or .gz), checked against the md5 the config gives for the file."""
    name, expected, fix = dataset.files[role], dataset.md5.get(role), _fix(dataset, path, bundle_dir)
    data = _read_gzip(path, fix) if path.suffix == ".gz" else path.read_bytes()
    if expected is None:
        return data
    whose = f"the md5 {dataset.title} publishes" if dataset.homepage else f"data.dataset.md5.{role}"
    if name.endswith(".gz") and path.suffix != ".gz":
        raise IdxDataError(
            f"{path} cannot be checked: {whose} is that of the compressed {name}. Fix: put the original {name} "
            f"beside it (it is used first), or set data.dataset.md5 without {role} to use the file unchecked."
        )
    actual = md5(path.read_bytes() if name.endswith(".gz") else data)
    if actual != expected:
        raise IdxDataError(
            f"{path} is not the {dataset.title} file {name} that {whose} names: its md5 is {actual}, expected "
            f"{expected} ({len(data):,} bytes uncompressed). It is corrupt, truncated or another file. {fix}"
        )
    return data


def _found_in(folder: Path, name: str) -> Path | None:
    """The file `name` in `folder`, the .gz form first when the md5 is of it, else the plain form first."""
    stem = name.removesuffix(".gz")
    order = (f"{stem}.gz", stem) if name.endswith(".gz") else (stem, f"{stem}.gz")
    return next((folder / n for n in order if (folder / n).is_file()), None)


def _source(dataset: IdxDataset, name: str, home: Path, bundle_dir: Path) -> Path | None:
    """Where the file is, in the order the module's docstring gives, short of downloading it."""
    folders = [home] + ([bundle_dir] if dataset.bundled else [])
    folders += [home / "torchvision" / dataset.download / "raw"] if dataset.download else []
    return next((path for path in (_found_in(folder, name) for folder in folders) if path), None)


def _download(dataset: IdxDataset, role: str, home: Path, cache_dir: Path, bundle_dir: Path) -> None:
    """torchvision's downloader, the last resort: needs internet, which many users do not have."""
    import torchvision.datasets  # noqa: PLC0415 - only for this rare path; importing it costs a second

    missing = f"The {dataset.title} file {dataset.files[role]} is not in {home}" + (
        f" nor in the package bundle ({bundle_dir})" if dataset.bundled else ""
    )
    if dataset.download is None:
        raise IdxDataError(f"{missing}. " + dataset.where_to_put_files(cache_dir))
    try:
        getattr(torchvision.datasets, dataset.download)(
            str(home / "torchvision"), train=role.startswith("train"), download=True
        )
    except Exception as err:  # noqa: BLE001 - any failure of the download ends in the same advice
        reason = " ".join(str(err).split())  # urllib's errors span lines
        raise IdxDataError(
            f"{missing}, and downloading it failed ({type(err).__name__}: {reason}). "
            + dataset.where_to_put_files(cache_dir)
        ) from err


def _stat(path: Path | None) -> list[int] | None:
    return None if path is None else [path.stat().st_size, path.stat().st_mtime_ns]


def _record(data: bytes, dataset: IdxDataset, role: str, source: Path | None) -> dict:
    """What an unpacked copy is: its md5, the md5 the config gave for its source, and the source's size and mtime."""
    return {"md5": md5(data), "checked_against": dataset.md5.get(role), "source": _stat(source)}


def _valid_copy(unpacked: Path, dataset: IdxDataset, role: str, source: Path | None) -> bytes | None:
    """The unpacked copy's bytes while its record matches them, the config and the source as they are now (a
    removed source: as it was); None otherwise, a damaged copy or record included."""
    record_file = unpacked.with_name(f"{unpacked.name}.json")
    if not (unpacked.is_file() and record_file.is_file()):
        return None
    try:
        kept = json.loads(record_file.read_text())
    except ValueError:
        return None
    data = unpacked.read_bytes()
    now = _record(data, dataset, role, source) | ({"source": kept.get("source")} if source is None else {})
    return data if kept == now else None


def verified_bytes(dataset: IdxDataset, role: str, cache_dir: str | Path, bundle_dir: Path = BUNDLE_DIR) -> bytes:
    """The uncompressed bytes of one of the data set's files, checked; unpacked into <home>/unpacked/ first unless
    a valid copy is there (`_valid_copy`): the cache never outlives what it copies."""
    cache_dir = Path(cache_dir).expanduser()
    name, home = dataset.files[role], dataset.home(cache_dir)
    if dataset.folder:
        path = _found_in(home, name)
        if path is None:
            raise IdxDataError(
                f"{home} has no {name} (plain or .gz) for {role}. " + dataset.where_to_put_files(cache_dir)
            )
        return read_checked(dataset, role, path, bundle_dir)
    source = _source(dataset, name, home, bundle_dir)
    unpacked = home / "unpacked" / name.removesuffix(".gz")
    copy = _valid_copy(unpacked, dataset, role, source)
    if copy is not None:
        return copy
    if source is None:
        _download(dataset, role, home, cache_dir, bundle_dir)
        source = _source(dataset, name, home, bundle_dir)
        if source is None:
            raise IdxDataError(f"torchvision downloaded {dataset.title} but wrote no {name} under {home}.")
    data = read_checked(dataset, role, source, bundle_dir)
    write_atomically(unpacked, data)
    record = json.dumps(_record(data, dataset, role, source)).encode()
    write_atomically(unpacked.with_name(f"{unpacked.name}.json"), record)  # after the data: it vouches for a whole file
    return data


def parse_idx(data: bytes, what: str, ndim: int) -> torch.Tensor:
    """IDX bytes as a uint8 tensor: a big-endian header (magic 0x0000080N, N sizes), then the bytes."""
    offset = 4 * (ndim + 1)
    header = np.frombuffer(data[:offset], dtype=">u4") if len(data) >= offset else np.zeros(0, dtype=">u4")
    if len(header) != ndim + 1 or header[0] != 0x800 + ndim:
        raise IdxDataError(
            f"{what} is not IDX data of {ndim}-dimensional uint8 values (its header reads {header.tolist()}; "
            f"expected the magic number {0x800 + ndim} first). Fix: write it in MNIST's IDX format."
        )
    shape = tuple(int(d) for d in header[1:])
    if len(data) - offset != int(np.prod(shape)):
        raise IdxDataError(
            f"{what} declares shape {shape} ({int(np.prod(shape)):,} bytes) but holds {len(data) - offset:,} bytes "
            "after its header: it is truncated or has extra bytes. Fix: write it again."
        )
    return torch.from_numpy(np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(shape).copy())


def load_split(
    dataset: IdxDataset, train: bool, cache_dir: str | Path, bundle_dir: Path = BUNDLE_DIR
) -> tuple[torch.Tensor, torch.Tensor]:
    """The training or test images as uint8 [N, 28, 28] and labels as int64 [N] in [0, number of classes)."""
    image_role, label_role = ("train_images", "train_labels") if train else ("test_images", "test_labels")
    image_file, label_file = (f"{dataset.title} {dataset.files[r]}" for r in (image_role, label_role))
    images = parse_idx(verified_bytes(dataset, image_role, cache_dir, bundle_dir), image_file, ndim=3)
    labels = parse_idx(verified_bytes(dataset, label_role, cache_dir, bundle_dir), label_file, ndim=1).long()
    if tuple(images.shape[1:]) != IMAGE_SIZE:
        raise IdxDataError(
            f"{image_file} holds {images.shape[1]}x{images.shape[2]} images; the networks take 28x28. Fix: resize "
            "them to 28x28 (MNIST fits each digit into the central 20x20) when you write the file."
        )
    if len(labels) != len(images):
        raise IdxDataError(f"{label_file} has {len(labels):,} labels for {len(images):,} images in {image_file}.")
    if len(labels) and int(labels.max()) >= len(dataset.class_names):
        raise IdxDataError(
            f"{label_file} has label {int(labels.max())}, but data.dataset.class_names names "
            f"{len(dataset.class_names)} classes (labels 0 to {len(dataset.class_names) - 1}). Fix: name every "
            "class, in label order."
        )
    return images, labels
