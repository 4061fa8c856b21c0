"""Two-dimensional toy problems: points in the plane with class labels.

Small enough to plot, hard enough to need a hidden layer (XOR, spirals, moons).
Every function returns ``(points, labels)`` as numpy arrays, or a
TensorDataset of them with ``as_dataset=True``; samples are ordered by class
(let the DataLoader shuffle). The draws come from ``generator``: an int seed,
a numpy Generator, or None for tinycv's global generator.
"""

from __future__ import annotations

import numpy as np

from tinycv.data._seed import Seed, make_generator
from tinycv.data.dataset import TensorDataset

TRUTH_TABLES = {  # outputs for the inputs (0, 0), (0, 1), (1, 0), (1, 1)
    "and": (0, 0, 0, 1),
    "or": (0, 1, 1, 1),
    "xor": (0, 1, 1, 0),
    "nand": (1, 1, 1, 0),
    "nor": (1, 0, 0, 0),
    "xnor": (1, 0, 0, 1),
}


def logic_gate(
    gate: str = "xor",
    encoding: str = "binary",
    n_per_corner: int = 1,
    noise: float = 0.0,
    generator: Seed = None,
    as_dataset: bool = False,
):
    """The truth table of a logic gate, optionally as noisy clouds around the corners.

    Args:
        gate: "and", "or", "xor", "nand", "nor" or "xnor".
        encoding: "binary" (inputs and labels in {0, 1}) or "bipolar" (in
            {-1, +1}, the perceptron's convention).
        n_per_corner: copies of each of the four corners.
        noise: standard deviation of normal noise added to the inputs.

    Returns:
        points (4 * n_per_corner, 2) float32 and labels (4 * n_per_corner,)
        float32 (targets for a perceptron, MSE or BCE; ``.astype(np.int64)``
        for cross-entropy), the corners in truth-table order, repeated.
    """
    if gate.lower() not in TRUTH_TABLES:
        raise ValueError(
            f"logic_gate: unknown gate {gate!r}; one of {list(TRUTH_TABLES)}"
        )
    if encoding not in ("binary", "bipolar"):
        raise ValueError(
            f"logic_gate: encoding must be 'binary' or 'bipolar', got {encoding!r}"
        )

    corners = np.array([(0, 0), (0, 1), (1, 0), (1, 1)], dtype=np.float64)
    points = np.tile(corners, (n_per_corner, 1))
    labels = np.tile(
        np.array(TRUTH_TABLES[gate.lower()], dtype=np.float64), n_per_corner
    )
    if encoding == "bipolar":
        points, labels = 2 * points - 1, 2 * labels - 1

    if noise > 0:
        points = points + make_generator(generator).normal(0, noise, points.shape)
    return _result(points.astype(np.float32), labels.astype(np.float32), as_dataset)


def spirals(
    n_per_class: int = 100,
    n_classes: int = 3,
    noise: float = 0.2,
    turns: float = 0.75,
    generator: Seed = None,
    as_dataset: bool = False,
):
    """Interleaved spiral arms, one per class, in the unit disc.

    Arm k starts at the centre and winds ``turns`` times around it, rotated
    by k / n_classes of a full turn; ``noise`` jitters the angle (radians).

    Returns:
        points (n_classes * n_per_class, 2) float32, labels (same,) int64.
    """
    rng = make_generator(generator)
    radius = np.tile(np.linspace(0.0, 1.0, n_per_class), n_classes)
    labels = np.repeat(np.arange(n_classes), n_per_class)

    angle = 2 * np.pi * (labels / n_classes + turns * radius)
    angle = angle + rng.normal(0, noise, angle.shape) * radius
    points = radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return _result(points.astype(np.float32), labels.astype(np.int64), as_dataset)


def moons(
    n_samples: int = 200,
    noise: float = 0.1,
    generator: Seed = None,
    as_dataset: bool = False,
):
    """Two interleaving half circles (class 0 above, class 1 below, shifted).

    Returns:
        points (n_samples, 2) float32, labels (n_samples,) int64.
    """
    rng = make_generator(generator)
    n_upper = n_samples // 2
    angle = rng.uniform(0, np.pi, n_samples)
    upper = np.stack([np.cos(angle[:n_upper]), np.sin(angle[:n_upper])], axis=1)
    lower = np.stack(
        [1 - np.cos(angle[n_upper:]), 0.5 - np.sin(angle[n_upper:])], axis=1
    )

    points = np.concatenate([upper, lower]) + rng.normal(0, noise, (n_samples, 2))
    labels = np.repeat([0, 1], [n_upper, n_samples - n_upper])
    return _result(points.astype(np.float32), labels.astype(np.int64), as_dataset)


def blobs(
    n_samples: int = 300,
    centers: int | np.ndarray = 3,
    std: float = 1.0,
    n_features: int = 2,
    box: tuple[float, float] = (-8.0, 8.0),
    generator: Seed = None,
    as_dataset: bool = False,
):
    """Normal clouds of deviation ``std`` around ``centers``, one class each.

    ``centers`` is a count (drawn uniformly in ``box``) or a (k, n_features)
    array. Samples are split evenly (the first classes get one more).

    Returns:
        points (n_samples, n_features) float32, labels (n_samples,) int64.
    """
    rng = make_generator(generator)
    if np.ndim(centers) == 0:
        centers = rng.uniform(*box, size=(int(centers), n_features))
    centers = np.asarray(centers, dtype=np.float64)

    n_classes = len(centers)
    per_class = [
        n_samples // n_classes + (k < n_samples % n_classes) for k in range(n_classes)
    ]
    labels = np.repeat(np.arange(n_classes), per_class)
    points = centers[labels] + rng.normal(0, std, (n_samples, centers.shape[1]))
    return _result(points.astype(np.float32), labels.astype(np.int64), as_dataset)


def _result(points, labels, as_dataset):
    return TensorDataset(points, labels) if as_dataset else (points, labels)
