"""Short videos of one object moving in a straight line; the label is the direction.

For the video lessons (3D CNN, two-stream, SlowFast): no single frame tells
the direction, only how frames change over time. Each clip holds one digit or
shape that moves ``speed`` pixels per frame, never leaving the frame.

Layout (N, C, T, H, W), as 3D convolutions take it.
"""

from __future__ import annotations

import numpy as np

from tinycv.data._seed import Seed, make_generator
from tinycv.data.dataset import TensorDataset
from tinycv.data.mnist import load_embedded
from tinycv.data.shapes import SHAPE_CLASSES, shape_mask

# (name, step in rows, step in columns), anticlockwise from "right"; rows grow
# downwards, so "up" is a step of -1 row.
DIRECTIONS = (
    ("right", 0, 1),
    ("up-right", -1, 1),
    ("up", -1, 0),
    ("up-left", -1, -1),
    ("left", 0, -1),
    ("down-left", 1, -1),
    ("down", 1, 0),
    ("down-right", 1, 1),
)


def direction_names(n_directions: int = 8) -> list[str]:
    """The class names for 8 directions, or for 4 (right, up, left, down)."""
    return [name for name, _, _ in _directions(n_directions)]


def moving_shapes(
    n_samples: int = 200,
    frames: int = 8,
    size: int = 32,
    speed: int = 2,
    n_directions: int = 8,
    noise: float = 0.0,
    generator: Seed = None,
    as_dataset: bool = False,
):
    """Clips of a circle, square or triangle (radius 3-5) moving in a straight line.

    Returns:
        videos (N, 1, frames, size, size) float32 in [0, 1] and labels (N,)
        int64, the index of the direction in ``direction_names(n_directions)``.
    """
    rng = make_generator(generator)
    sprites = []
    for _ in range(n_samples):
        radius = int(rng.integers(3, 6))
        kind = SHAPE_CLASSES[int(rng.integers(1, len(SHAPE_CLASSES)))]
        side = 2 * radius + 1
        sprite = shape_mask(kind, side, radius, radius, radius)
        sprites.append(sprite * rng.uniform(0.5, 1.0))
    return _animate(sprites, frames, size, speed, n_directions, noise, rng, as_dataset)


def moving_digits(
    n_samples: int = 200,
    frames: int = 8,
    size: int = 32,
    speed: int = 2,
    n_directions: int = 8,
    noise: float = 0.0,
    train: bool = True,
    generator: Seed = None,
    as_dataset: bool = False,
):
    """Clips of an MNIST digit, shrunk to 14x14, moving in a straight line.

    The digits come from the embedded MNIST subset (training or test part).

    Returns:
        videos (N, 1, frames, size, size) float32 in [0, 1] and labels (N,)
        int64, the index of the direction in ``direction_names(n_directions)``.
    """
    rng = make_generator(generator)
    digits, _ = load_embedded(train)
    chosen = digits[rng.integers(0, len(digits), n_samples)].astype(np.float64) / 255
    # 2x2 average pooling: 28x28 -> 14x14, small enough to travel in the frame.
    small = chosen.reshape(n_samples, 14, 2, 14, 2).mean(axis=(2, 4))
    return _animate(
        list(small), frames, size, speed, n_directions, noise, rng, as_dataset
    )


def _directions(n_directions: int):
    if n_directions == 8:
        return DIRECTIONS
    if n_directions == 4:
        return DIRECTIONS[::2]
    raise ValueError(f"n_directions must be 4 or 8, got {n_directions}")


def _animate(sprites, frames, size, speed, n_directions, noise, rng, as_dataset):
    """Move each sprite along a random direction; return (videos, labels)."""
    directions = _directions(n_directions)
    travel = speed * (frames - 1)
    videos = np.zeros((len(sprites), 1, frames, size, size))
    labels = rng.integers(0, len(directions), len(sprites))

    for video, sprite, label in zip(videos[:, 0], sprites, labels, strict=True):
        _, step_row, step_col = directions[label]
        height, width = sprite.shape
        if size - max(height, width) < travel:
            raise ValueError(
                f"a {height}x{width} object moving {speed} pixels for {frames}"
                f" frames does not fit a {size}x{size} frame; enlarge size"
            )
        # Start where the whole path stays inside the frame.
        row = _start(rng, size - height, step_row * travel)
        col = _start(rng, size - width, step_col * travel)
        for t, frame in enumerate(video):
            top, left = row + step_row * speed * t, col + step_col * speed * t
            frame[top : top + height, left : left + width] = sprite

    if noise > 0:
        videos = np.clip(videos + rng.normal(0, noise, videos.shape), 0, 1)
    videos = videos.astype(np.float32)
    labels = labels.astype(np.int64)
    return TensorDataset(videos, labels) if as_dataset else (videos, labels)


def _start(rng: np.random.Generator, room: int, displacement: int) -> int:
    """A start position in [0, room] from which ``displacement`` stays in [0, room]."""
    low, high = max(0, -displacement), min(room, room - displacement)
    return int(rng.integers(low, high + 1))
