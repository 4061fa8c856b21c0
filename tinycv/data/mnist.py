"""MNIST and Fashion-MNIST: find the idx files, or fall back to the embedded subset.

Where the full sets are looked for, in order (the first folder holding both
files of the split wins):

    root (if given), $TINYCV_DATA, ~/.cache/tinycv
        each as <dir>, <dir>/mnist, <dir>/MNIST/raw                 (MNIST)
        or as <dir>/fashion-mnist, <dir>/FashionMNIST/raw            (Fashion)
    /usr/share/datasets/fashion-mnist  (Debian's dataset-fashion-mnist package)

A Fashion-MNIST folder is looked for in ``root`` itself too, but not in the
other two directories themselves, where MNIST's files of the same names live.

When the full MNIST is not found, tinycv uses the subset it ships
(``mnist_subset.npz``: 10,000 training and 2,000 test digits, drawn per class
in proportion to the class frequencies by ``build_mnist_subset.py``), so the
lessons run offline. ``download()`` fetches the full sets.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen

import numpy as np
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TransferSpeedColumn,
)

from tinycv._console import console, stderr_console
from tinycv.data.dataset import Dataset, to_array, to_tensor
from tinycv.data.idx import read_idx

SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@dataclass(frozen=True)
class Source:
    """Where one dataset of the MNIST family is found, fetched, and checked."""

    title: str
    folders: tuple[str, ...]  # sub-folders of a data directory to look in
    system_dirs: tuple[str, ...]  # folders a system package installs into
    mirrors: tuple[str, ...]  # base URLs; the file name + ".gz" is appended
    sha256: dict[str, str]  # of the *uncompressed* idx files
    classes: tuple[str, ...]


SOURCES = {
    "mnist": Source(
        title="MNIST",
        folders=("mnist", "MNIST/raw"),
        system_dirs=(),
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
        sha256={
            "train-images-idx3-ubyte": (
                "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"
            ),
            "train-labels-idx1-ubyte": (
                "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"
            ),
            "t10k-images-idx3-ubyte": (
                "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"
            ),
            "t10k-labels-idx1-ubyte": (
                "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"
            ),
        },
        classes=(
            "0 - zero",
            "1 - one",
            "2 - two",
            "3 - three",
            "4 - four",
            "5 - five",
            "6 - six",
            "7 - seven",
            "8 - eight",
            "9 - nine",
        ),
    ),
    "fashion-mnist": Source(
        title="Fashion-MNIST",
        folders=("fashion-mnist", "FashionMNIST/raw"),
        system_dirs=("/usr/share/datasets/fashion-mnist",),
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
        ),
        sha256={
            "train-images-idx3-ubyte": (
                "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"
            ),
            "train-labels-idx1-ubyte": (
                "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"
            ),
            "t10k-images-idx3-ubyte": (
                "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"
            ),
            "t10k-labels-idx1-ubyte": (
                "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"
            ),
        },
        classes=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
    ),
}

# The embedded subset, written by ``python -m tinycv.data.build_mnist_subset``.
# MNIST is by Y. LeCun, C. Cortes and C. J. C. Burges, licensed CC BY-SA 3.0;
# the subset is shared under the same licence (see README.md beside it).
EMBEDDED_CREDIT = (
    "A stratified subset (10,000 training and 2,000 test images) of the MNIST"
    " database of handwritten digits by Y. LeCun, C. Cortes and C. J. C. Burges,"
    " licensed under CC BY-SA 3.0"
    " (https://creativecommons.org/licenses/by-sa/3.0/). Selected by tinycv's"
    " build_mnist_subset.py; the images and labels are unchanged."
)
EMBEDDED_FILE = Path(__file__).with_name("mnist_subset.npz")
EMBEDDED_SHA256 = "c17daa7eb4614689147d7353eafd68f41e260e15473bac88d12a01ee677f0832"
EMBEDDED_CLASS_COUNTS = {
    "train": (987, 1124, 993, 1022, 974, 904, 986, 1044, 975, 991),
    "test": (196, 227, 206, 202, 196, 178, 192, 206, 195, 202),
}

SUBSETS = (None, "embedded", "full")


class DatasetNotFoundError(FileNotFoundError):
    """The full data set was asked for but its files are nowhere tinycv looks."""


# --------------------------------------------------------------------------
# Finding and reading the files


def source_for(name: str) -> Source:
    """The Source for ``"mnist"`` or ``"fashion-mnist"`` (spelt loosely)."""
    key = name.lower().replace("_", "-")
    key = {"fashionmnist": "fashion-mnist", "fashion": "fashion-mnist"}.get(key, key)
    if key not in SOURCES:
        raise ValueError(
            f"unknown data set {name!r}; tinycv knows {', '.join(SOURCES)}"
        )
    return SOURCES[key]


def default_data_dir() -> Path:
    """$TINYCV_DATA if set, else ~/.cache/tinycv: where downloads go."""
    if os.environ.get("TINYCV_DATA"):
        return Path(os.environ["TINYCV_DATA"]).expanduser()
    return Path.home() / ".cache" / "tinycv"


def candidate_folders(source: Source, root=None) -> list[Path]:
    """Every folder where ``source``'s idx files are looked for, in order."""
    folders = []
    if root is not None:
        root = Path(root).expanduser()
        folders.append(root)
        folders.extend(root / sub for sub in source.folders)

    bases = [default_data_dir(), Path.home() / ".cache" / "tinycv"]
    for base in bases:
        # MNIST's files may sit right in a data directory; Fashion-MNIST's,
        # which have the same names, only in a root the user points at.
        if source is SOURCES["mnist"]:
            folders.append(base)
        folders.extend(base / sub for sub in source.folders)
    folders.extend(Path(folder) for folder in source.system_dirs)
    return list(dict.fromkeys(folders))


def find_split(source: Source, train: bool, root=None) -> tuple[Path, Path] | None:
    """Paths of the images and labels files of one split, or None if not found."""
    names = SPLIT_FILES["train" if train else "test"]
    for folder in candidate_folders(source, root):
        paths = [_existing(folder, name) for name in names]
        if all(paths):
            return paths[0], paths[1]
    return None


def _existing(folder: Path, name: str) -> Path | None:
    for path in (folder / name, folder / f"{name}.gz"):
        if path.is_file():
            return path
    return None


def load_split(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one split's idx files; check they are (N, 28, 28) images, N labels."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(
            f"{images_path}: expected (N, rows, cols) uint8 images, got"
            f" {images.dtype} of shape {images.shape}"
        )
    if labels.shape != images.shape[:1] or labels.dtype != np.uint8:
        raise ValueError(
            f"{labels_path}: expected {len(images)} uint8 labels to match"
            f" {images_path.name}, got {labels.dtype} of shape {labels.shape}"
        )
    return images, labels


@lru_cache(maxsize=4)
def load_embedded(train: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The embedded subset's images (N, 28, 28) and labels (N,), both uint8.

    The arrays are read-only (they are shared by every caller); copy them
    before changing them.
    """
    raw = EMBEDDED_FILE.read_bytes()
    if hashlib.sha256(raw).hexdigest() != EMBEDDED_SHA256:
        raise RuntimeError(
            f"{EMBEDDED_FILE} is damaged (its sha256 differs from the one tinycv"
            " was built with); reinstall tinycv"
        )
    split = "train" if train else "test"
    with np.load(io.BytesIO(raw)) as archive:
        images, labels = archive[f"{split}_images"], archive[f"{split}_labels"]
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


# --------------------------------------------------------------------------
# The datasets


class MNIST(Dataset):
    """The MNIST digits: ``dataset[i]`` is ``(image, label)``.

    ``image`` is a float32 Tensor of shape (1, 28, 28) with values in [0, 1],
    after ``transform``; ``label`` is an int (0-9), after ``target_transform``.
    The raw uint8 images are in ``.data`` (N, 28, 28) and the labels in
    ``.targets`` (N,) int64, as in torchvision.

    Args:
        root: a folder to look in first (see the module docstring for where
            else tinycv looks).
        train: the training split (60,000) or the test split (10,000).
        transform: applied to each float32 image (C, H, W); the transforms of
            ``tinycv.data.augment`` also take whole batches, which the
            DataLoader then uses.
        target_transform: applied to each label.
        download: fetch the full set first when it is not found.
        subset: None uses the full set when found, else the embedded subset
            (10,000 train / 2,000 test) with a notice on stderr; "full"
            insists on the full set (DatasetNotFoundError if absent);
            "embedded" always uses the subset.
    """

    name = "mnist"
    has_embedded_subset = True

    def __init__(
        self,
        root: str | os.PathLike | None = None,
        train: bool = True,
        transform: Callable | None = None,
        target_transform: Callable | None = None,
        download: bool = False,
        subset: str | None = None,
    ) -> None:
        if subset not in SUBSETS:
            raise ValueError(
                f"{type(self).__name__}: subset must be None, 'full' or 'embedded',"
                f" got {subset!r}"
            )
        if subset == "embedded" and not self.has_embedded_subset:
            raise ValueError(f"{type(self).__name__}: tinycv embeds no subset of it")

        self.train = train
        self.transform = transform
        self.target_transform = target_transform
        source = SOURCES[self.name]
        self.classes = list(source.classes)

        paths = None if subset == "embedded" else find_split(source, train, root)
        if paths is None and download and subset != "embedded":
            if self._download(root) == 0:
                paths = find_split(source, train, root)

        if paths is not None:
            images, labels = load_split(*paths)
            self.source = str(paths[0].parent)
        elif subset == "embedded" or (subset is None and self.has_embedded_subset):
            if subset is None:
                _notify_fallback(source)
            images, labels = load_embedded(train)
            self.source = "embedded"
        else:
            raise DatasetNotFoundError(_not_found_message(source, root))

        self.data = images
        self.targets = labels.astype(np.int64)

    def _download(self, root) -> int:
        return download(self.name, root)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int):
        image = self.data[index][None].astype(np.float32) / 255
        if self.transform is not None:
            image = to_array(self.transform(image))
        label = int(self.targets[index])
        if self.target_transform is not None:
            label = self.target_transform(label)
        return to_tensor(image), label

    def _get_batch(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        images = self.data[indices][:, None].astype(np.float32) / 255
        labels = self.targets[indices]

        if self.transform is not None:
            if getattr(self.transform, "handles_batches", False):
                images = to_array(self.transform(images))
            else:
                images = np.stack([to_array(self.transform(x)) for x in images])
        if self.target_transform is not None:
            labels = np.asarray([self.target_transform(int(y)) for y in labels])
        return images, labels

    def __repr__(self) -> str:
        split = "train" if self.train else "test"
        return f"{type(self).__name__}({split}, {len(self)} images, {self.source})"


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST: 28x28 clothes in 10 classes, MNIST's layout.

    Same arguments as :class:`MNIST`; tinycv embeds no subset of it, so the
    files must be found (or downloaded) or a DatasetNotFoundError is raised.
    """

    name = "fashion-mnist"
    has_embedded_subset = False


_notified: set[str] = set()


def _notify_fallback(source: Source) -> None:
    if source.title in _notified:
        return
    _notified.add(source.title)
    stderr_console.print(
        f"tinycv: full {source.title} not found, using the embedded subset"
        " (10,000 train / 2,000 test images); `tinycv data download mnist`"
        " fetches it all",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def _not_found_message(source: Source, root) -> str:
    key = next(key for key, value in SOURCES.items() if value is source)
    looked = ", ".join(str(folder) for folder in candidate_folders(source, root))
    return (
        f"{source.title} idx files not found (looked in {looked}); run"
        f" `tinycv data download {key}`, or copy the four idx files into"
        f" ~/.cache/tinycv/{source.folders[0]} or set TINYCV_DATA"
    )


# --------------------------------------------------------------------------
# Downloading

TIMEOUT_S = 20
CHUNK = 1 << 16


def download(name: str = "mnist", root: str | os.PathLike | None = None) -> int:
    """Fetch the four idx files of ``name`` into ``<root>/<name>``.

    ``root`` defaults to $TINYCV_DATA, else ~/.cache/tinycv. Each file is
    tried on every mirror in turn, checked against the sha256 of its
    uncompressed content, and only then written (to a temporary file renamed
    into place, so an interrupted download leaves nothing half-written).
    Files already present and correct are kept.

    Returns:
        An exit code: 0 done, 1 a file failed its checksum on every mirror
        that answered, 2 no mirror could be reached (or an unknown name).
    """
    try:
        source = source_for(name)
    except ValueError as error:
        stderr_console.print(f"tinycv: {error}", markup=False, soft_wrap=True)
        return 2

    base = Path(root).expanduser() if root is not None else default_data_dir()
    folder = base / source.folders[0]
    folder.mkdir(parents=True, exist_ok=True)

    for stem, sha256 in source.sha256.items():
        target = folder / f"{stem}.gz"
        if target.is_file() and _content_sha256(target.read_bytes()) == sha256:
            continue

        outcome = _fetch_from_mirrors(source, stem, sha256, target)
        if outcome == "unreachable":
            stderr_console.print(
                f"tinycv: cannot reach any {source.title} mirror (offline?); copy"
                f" the four idx files to ~/.cache/tinycv/{source.folders[0]} or"
                " set TINYCV_DATA to the folder that holds them",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
            return 2
        if outcome == "corrupt":
            stderr_console.print(
                f"tinycv: {stem}.gz failed its sha256 check on every {source.title}"
                " mirror that answered; nothing was saved for it",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
            return 1

    console.print(f"{source.title} is in {folder}", markup=False, highlight=False)
    return 0


def _fetch_from_mirrors(source: Source, stem: str, sha256: str, target: Path) -> str:
    """Try each mirror; return "ok", "corrupt" or "unreachable"."""
    outcome = "unreachable"
    for mirror in source.mirrors:
        try:
            payload = _read_url(f"{mirror}{stem}.gz")
        except (URLError, OSError):
            continue
        if _content_sha256(payload) == sha256:
            _write_atomically(target, payload)
            return "ok"
        outcome = "corrupt"
    return outcome


def _read_url(url: str) -> bytes:
    """The body of ``url``, with a progress bar when the console is a terminal."""
    with urlopen(url, timeout=TIMEOUT_S) as response:
        headers = getattr(response, "headers", None) or {}
        total = int(headers.get("Content-Length") or 0) or None
        chunks = []
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
        )
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task(url.rsplit("/", 1)[-1], total=total)
            while chunk := response.read(CHUNK):
                chunks.append(chunk)
                progress.advance(task, len(chunk))
    return b"".join(chunks)


def _content_sha256(payload: bytes) -> str:
    """sha256 of the uncompressed content (payload may be gzipped or not)."""
    if payload[:2] == b"\x1f\x8b":
        try:
            payload = gzip.decompress(payload)
        except (EOFError, OSError, zlib.error):
            return "damaged gzip"
    return hashlib.sha256(payload).hexdigest()


def _write_atomically(target: Path, payload: bytes) -> None:
    handle = tempfile.NamedTemporaryFile(
        dir=target.parent, prefix=f".{target.name}.", suffix=".part", delete=False
    )
    try:
        with handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, target)
    finally:
        if os.path.exists(handle.name):
            os.unlink(handle.name)
