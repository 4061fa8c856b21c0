"""Cluttered MNIST: one digit somewhere on a large, noisy, cluttered canvas.

For the attention lessons (spatial transformers, recurrent attention): the
digit fills a small part of the image, and fragments cut from other digits
make every region look a little like a stroke, so the model must find the
digit before it can read it. The location comes along to check where the
model looked.
"""

from __future__ import annotations

import numpy as np

from tinycv.data._seed import Seed, make_generator
from tinycv.data.dataset import TensorDataset
from tinycv.data.mnist import load_embedded

DIGIT_SIZE = 28


def cluttered_mnist(
    n_samples: int = 1000,
    canvas_size: int = 60,
    n_clutter: int = 8,
    clutter_size: int = 8,
    noise: float = 0.05,
    train: bool = True,
    digits: tuple[np.ndarray, np.ndarray] | None = None,
    generator: Seed = None,
    as_dataset: bool = False,
):
    """Place MNIST digits at random on a larger canvas with clutter.

    Each canvas gets ``n_clutter`` square fragments (``clutter_size`` pixels
    on a side) cut from other random digits, then the digit itself at a
    random position (pixels combine by maximum), then normal noise of
    deviation ``noise``; values are clipped to [0, 1].

    Args:
        digits: (images (M, 28, 28) uint8, labels (M,)) to draw from; by
            default the embedded MNIST subset (training or test part by
            ``train``), so the result does not depend on what is installed.

    Returns:
        images (N, 1, canvas_size, canvas_size) float32, labels (N,) int64,
        and locations (N, 2) int64: the (row, column) of the digit's 28x28
        box's top-left corner (its centre is 14 pixels further each way).
    """
    if canvas_size < DIGIT_SIZE:
        raise ValueError(f"cluttered_mnist: canvas_size must be at least {DIGIT_SIZE}")
    if not 1 <= clutter_size <= DIGIT_SIZE - 8:
        raise ValueError(
            f"cluttered_mnist: clutter_size must be in 1..{DIGIT_SIZE - 8}"
        )

    rng = make_generator(generator)
    source_images, source_labels = (
        digits if digits is not None else load_embedded(train)
    )
    source_images = source_images.astype(np.float64) / 255

    chosen = rng.integers(0, len(source_images), n_samples)
    locations = rng.integers(0, canvas_size - DIGIT_SIZE + 1, size=(n_samples, 2))
    images = np.zeros((n_samples, 1, canvas_size, canvas_size))

    for canvas, digit, (row, col) in zip(images[:, 0], chosen, locations, strict=True):
        for _ in range(n_clutter):
            _paste(canvas, _fragment(source_images, clutter_size, rng), rng)

        box = canvas[row : row + DIGIT_SIZE, col : col + DIGIT_SIZE]
        np.maximum(box, source_images[digit], out=box)

    if noise > 0:
        images += rng.normal(0, noise, images.shape)
    images = np.clip(images, 0, 1).astype(np.float32)
    labels = np.asarray(source_labels)[chosen].astype(np.int64)

    if as_dataset:
        return TensorDataset(images, labels, locations)
    return images, labels, locations


def _fragment(source_images: np.ndarray, size: int, rng: np.random.Generator):
    """A size x size patch from a random digit, cut away from the blank border."""
    image = source_images[rng.integers(0, len(source_images))]
    row, col = rng.integers(4, DIGIT_SIZE - 4 - size + 1, size=2)
    return image[row : row + size, col : col + size]


def _paste(canvas: np.ndarray, patch: np.ndarray, rng: np.random.Generator) -> None:
    size = len(patch)
    row, col = rng.integers(0, len(canvas) - size + 1, size=2)
    region = canvas[row : row + size, col : col + size]
    np.maximum(region, patch, out=region)
