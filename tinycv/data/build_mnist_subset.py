"""Build the MNIST subset tinycv ships.

    python -m tinycv.data.build_mnist_subset SRC

SRC is a folder holding the four MNIST idx files (gzipped or not). The script
checks them against MNIST's published sha256 sums, then draws 10,000 training
and 2,000 test images, stratified by class:

    quota[c] = total * count[c] / N    rounded by largest remainder, so the
                                       quotas add up to exactly ``total``
    pick quota[c] images of class c at random (fixed seed), keep MNIST's order

and writes them to ``mnist_subset.npz`` next to this file, as uint8 arrays
``{train,test}_{images,labels,indices}`` (``indices`` are the positions in the
full split), with the credit MNIST's licence asks for in ``credit``. The zip
is written with fixed timestamps, so the same input gives the same bytes; the
script prints the sha256 to record in ``mnist.py``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import sys
import zipfile
from pathlib import Path

import numpy as np

from tinycv._console import console, stderr_console
from tinycv.data.mnist import (
    EMBEDDED_CREDIT,
    EMBEDDED_FILE,
    EMBEDDED_SHA256,
    SOURCES,
    SPLIT_FILES,
    load_split,
)

SEED = 20240501
SUBSET_SIZES = {"train": 10_000, "test": 2_000}


def stratified_quotas(labels: np.ndarray, total: int) -> np.ndarray:
    """Per-class sample counts proportional to class frequency, summing to total."""
    counts = np.bincount(labels, minlength=10).astype(np.int64)
    quotas, remainders = np.divmod(total * counts, counts.sum())

    # Hand the leftover samples to the classes with the largest remainders
    # (ties to the lower class, as a stable sort keeps them).
    leftover = total - quotas.sum()
    quotas[np.argsort(-remainders, kind="stable")[:leftover]] += 1
    return quotas


def stratified_indices(
    labels: np.ndarray, total: int, rng: np.random.Generator
) -> np.ndarray:
    """Sorted indices of a stratified random sample of ``total`` labels."""
    quotas = stratified_quotas(labels, total)
    chosen = [
        rng.choice(np.flatnonzero(labels == digit), quota, replace=False)
        for digit, quota in enumerate(quotas)
    ]
    return np.sort(np.concatenate(chosen))


def find_file(folder: Path, stem: str) -> Path:
    for path in (folder / stem, folder / f"{stem}.gz"):
        if path.is_file():
            return path
    raise SystemExit(f"{folder}: neither {stem} nor {stem}.gz is there")


def check_sources(images_path: Path, labels_path: Path, split: str) -> None:
    """Refuse files whose content is not the published MNIST."""
    expected = SOURCES["mnist"].sha256
    for path, stem in zip((images_path, labels_path), SPLIT_FILES[split], strict=True):
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        if hashlib.sha256(raw).hexdigest() != expected[stem]:
            raise SystemExit(f"{path}: not the published MNIST {stem} (sha256 differs)")


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez_compressed, but with fixed zip timestamps (reproducible bytes)."""
    temporary = path.with_suffix(".npz.part")
    with zipfile.ZipFile(temporary, "w") as archive:
        for key, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, array, allow_pickle=False)
            entry = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, buffer.getvalue(), compresslevel=9)
    os.replace(temporary, path)


def build(source_dir: Path, output: Path = EMBEDDED_FILE) -> str:
    """Write the subset to ``output``; return its sha256."""
    rng = np.random.default_rng(SEED)
    arrays = {}
    for split, total in SUBSET_SIZES.items():
        paths = [find_file(source_dir, stem) for stem in SPLIT_FILES[split]]
        check_sources(*paths, split)
        images, labels = load_split(*paths)

        indices = stratified_indices(labels, total, rng)
        arrays[f"{split}_images"] = images[indices]
        arrays[f"{split}_labels"] = labels[indices]
        arrays[f"{split}_indices"] = indices.astype(np.uint16)

    arrays["credit"] = np.array(EMBEDDED_CREDIT)  # the licence travels with the data
    write_npz(output, arrays)
    return hashlib.sha256(output.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        stderr_console.print(
            "usage: python -m tinycv.data.build_mnist_subset SRC_DIR", markup=False
        )
        return 2

    digest = build(Path(argv[0]).resolve())
    size = EMBEDDED_FILE.stat().st_size
    console.print(f"wrote {EMBEDDED_FILE} ({size:,} bytes)", markup=False)
    console.print(f"sha256 {digest}", markup=False)
    if digest != EMBEDDED_SHA256:
        console.print(
            "this differs from EMBEDDED_SHA256 in tinycv/data/mnist.py: update it",
            markup=False,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
