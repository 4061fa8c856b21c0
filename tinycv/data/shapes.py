"""Images of circles, squares and triangles with per-pixel masks (segmentation).

For the FCN and U-Net lessons: every pixel is labelled with the shape that
covers it (0 background, 1 circle, 2 square, 3 triangle). Brightness is drawn
per shape, so the class must be read from the outline, not the intensity.
"""

from __future__ import annotations

import numpy as np

from tinycv.data._seed import Seed, make_generator
from tinycv.data.dataset import TensorDataset

SHAPE_CLASSES = ("background", "circle", "square", "triangle")


def shape_mask(
    kind: str, size: int, row: float, col: float, radius: float
) -> np.ndarray:
    """Boolean (size, size) mask of one shape centred at (row, col).

    ``radius`` is the circle's radius; the square and the (upward,
    equilateral) triangle are scaled to about the circle's area.
    """
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    y, x = y - row, x - col

    if kind == "circle":
        return x**2 + y**2 <= radius**2
    if kind == "square":
        half = radius * np.sqrt(np.pi) / 2
        return (np.abs(x) <= half) & (np.abs(y) <= half)
    if kind == "triangle":
        # Corners (x, y) = (0, -r), (-r sqrt3/2, r/2), (r sqrt3/2, r/2), y down:
        # inside is where the centre is for each of the three edges.
        r = radius * 1.55
        left_edge = np.sqrt(3) * x + y >= -r
        right_edge = -np.sqrt(3) * x + y >= -r
        base = y <= r / 2
        return left_edge & right_edge & base
    raise ValueError(f"shape_mask: unknown shape {kind!r}; one of {SHAPE_CLASSES[1:]}")


def shapes(
    n_samples: int = 100,
    size: int = 32,
    max_shapes: int = 3,
    channels: int = 1,
    noise: float = 0.05,
    generator: Seed = None,
    as_dataset: bool = False,
):
    """Random scenes of 1 to ``max_shapes`` shapes; later shapes occlude earlier ones.

    Args:
        n_samples: number of images.
        size: height and width in pixels.
        max_shapes: most shapes per image.
        channels: 1 (grey) or 3 (each shape gets a random colour).
        noise: standard deviation of normal pixel noise; images are clipped
            to [0, 1].

    Returns:
        images (N, channels, size, size) float32 and masks (N, size, size)
        int64 with values 0-3 (``SHAPE_CLASSES``); or a TensorDataset.
    """
    rng = make_generator(generator)
    images = np.zeros((n_samples, channels, size, size), dtype=np.float64)
    masks = np.zeros((n_samples, size, size), dtype=np.int64)

    for image, mask in zip(images, masks, strict=True):
        image += rng.uniform(0.0, 0.25, size=(channels, 1, 1))  # background tone
        for _ in range(rng.integers(1, max_shapes + 1)):
            label = int(rng.integers(1, len(SHAPE_CLASSES)))
            radius = rng.uniform(size / 10, size / 5)
            row, col = rng.uniform(radius, size - 1 - radius, size=2)
            inside = shape_mask(SHAPE_CLASSES[label], size, row, col, radius)

            image[:, inside] = rng.uniform(0.45, 1.0, size=(channels, 1))
            mask[inside] = label

    images += rng.normal(0, noise, images.shape) if noise > 0 else 0
    images = np.clip(images, 0, 1).astype(np.float32)
    return TensorDataset(images, masks) if as_dataset else (images, masks)
