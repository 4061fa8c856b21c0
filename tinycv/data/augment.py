"""Data augmentation: random changes to training images that keep their label.

Each transform takes one image (C, H, W) or a batch (N, C, H, W), as a numpy
array or a Tensor, and returns the same kind of thing. On a batch every image
gets its own random draw. The randomness comes from ``generator``: an int seed
(repeatable), a numpy Generator, or None for tinycv's global generator (which
``tinycv.manual_seed`` seeds).

    train_set = MNIST(transform=Compose([RandomCrop(28, padding=2),
                                         RandomRotation(10)]))
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

from tinycv.data._seed import Seed, make_generator
from tinycv.tensor import Tensor, tensor


class Transform:
    """Base class: subclasses define ``apply(batch, rng)`` on an (N, C, H, W) array."""

    handles_batches = True  # MNIST hands a whole batch when this is True

    def __init__(self, generator: Seed = None) -> None:
        self.generator = None if generator is None else make_generator(generator)

    def __call__(self, images):
        array = images.cpu().numpy() if isinstance(images, Tensor) else images
        array = np.asarray(array)
        if array.ndim not in (3, 4):
            raise ValueError(
                f"{type(self).__name__}: expected an image (C, H, W) or a batch"
                f" (N, C, H, W), got shape {array.shape}"
            )

        batch = array if array.ndim == 4 else array[None]
        out = self.apply(batch, make_generator(self.generator))
        out = out if array.ndim == 4 else out[0]

        if isinstance(images, Tensor):
            return tensor(out, device=images.device)
        return out

    def apply(self, batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} does not define apply")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Compose(Transform):
    """Apply ``transforms`` one after the other."""

    def __init__(self, transforms: Sequence) -> None:
        self.transforms = list(transforms)
        self.handles_batches = all(
            getattr(t, "handles_batches", False) for t in self.transforms
        )

    def __call__(self, images):
        for transform in self.transforms:
            images = transform(images)
        return images

    def __repr__(self) -> str:
        inner = ", ".join(repr(t) for t in self.transforms)
        return f"Compose([{inner}])"


class RandomHorizontalFlip(Transform):
    """Mirror each image left-right with probability ``p``."""

    def __init__(self, p: float = 0.5, generator: Seed = None) -> None:
        super().__init__(generator)
        self.p = p

    def apply(self, batch, rng):
        flip = rng.random(len(batch)) < self.p
        out = batch.copy()
        out[flip] = batch[flip][..., ::-1]
        return out

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class RandomCrop(Transform):
    """Pad each side by ``padding`` pixels of ``fill``, then cut a random window.

    Args:
        size: the output (height, width), or one int for a square.
        padding: pixels added on every side first (an int).
        fill: the value of the padding.
    """

    def __init__(
        self,
        size: int | tuple[int, int],
        padding: int = 0,
        fill: float = 0.0,
        generator: Seed = None,
    ) -> None:
        super().__init__(generator)
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        self.padding = padding
        self.fill = fill

    def apply(self, batch, rng):
        pad = self.padding
        padded = np.pad(
            batch,
            ((0, 0), (0, 0), (pad, pad), (pad, pad)),
            constant_values=self.fill,
        )
        height, width = self.size
        spare_h, spare_w = padded.shape[2] - height, padded.shape[3] - width
        if spare_h < 0 or spare_w < 0:
            raise ValueError(
                f"RandomCrop: crop {self.size} is larger than the padded image"
                f" {padded.shape[2:]}"
            )

        tops = rng.integers(0, spare_h + 1, size=len(batch))
        lefts = rng.integers(0, spare_w + 1, size=len(batch))
        return np.stack(
            [
                image[:, top : top + height, left : left + width]
                for image, top, left in zip(padded, tops, lefts, strict=True)
            ]
        )

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomRotation(Transform):
    """Rotate each image about its centre by a random angle (degrees, anticlockwise).

    Args:
        degrees: the angle is drawn uniformly from (-degrees, degrees), or
            from (low, high) when a pair is given.
        interpolation: "nearest" or "bilinear".
        fill: the value of pixels that come from outside the image.
    """

    def __init__(
        self,
        degrees: float | tuple[float, float],
        interpolation: str = "nearest",
        fill: float = 0.0,
        generator: Seed = None,
    ) -> None:
        super().__init__(generator)
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError(
                "RandomRotation: interpolation must be 'nearest' or 'bilinear',"
                f" got {interpolation!r}"
            )
        if isinstance(degrees, numbers.Real):
            degrees = (-abs(degrees), abs(degrees))
        self.degrees = tuple(float(d) for d in degrees)
        self.interpolation = interpolation
        self.fill = fill

    def apply(self, batch, rng):
        angles = rng.uniform(*self.degrees, size=len(batch))
        return np.stack(
            [
                rotate(image, angle, self.interpolation, self.fill)
                for image, angle in zip(batch, angles, strict=True)
            ]
        )

    def __repr__(self) -> str:
        return (
            f"RandomRotation(degrees={self.degrees},"
            f" interpolation={self.interpolation!r})"
        )


def rotate(
    image: np.ndarray, angle: float, interpolation: str = "nearest", fill=0.0
) -> np.ndarray:
    """Rotate one image (C, H, W) anticlockwise by ``angle`` degrees.

    Each output pixel looks up where it came from: with (x, y) measured from
    the centre (x to the right, y down the rows) and t the angle,

        source column = cx + x cos t - y sin t
        source row    = cy + x sin t + y cos t

    and reads the input there (nearest pixel, or bilinear mix of four).
    """
    _, height, width = image.shape
    centre_y, centre_x = (height - 1) / 2, (width - 1) / 2
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    y, x = y - centre_y, x - centre_x
    cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    source_col = centre_x + x * cos - y * sin
    source_row = centre_y + x * sin + y * cos

    if interpolation == "nearest":
        out = _pixels_at(image, np.rint(source_row), np.rint(source_col), fill)
        return out.astype(image.dtype, copy=False)

    # Bilinear: mix the four neighbours, each weighted by its closeness.
    top, left = np.floor(source_row), np.floor(source_col)
    down, right = source_row - top, source_col - left
    out = (
        _pixels_at(image, top, left, fill) * (1 - down) * (1 - right)
        + _pixels_at(image, top, left + 1, fill) * (1 - down) * right
        + _pixels_at(image, top + 1, left, fill) * down * (1 - right)
        + _pixels_at(image, top + 1, left + 1, fill) * down * right
    )
    return out.astype(image.dtype, copy=False)


def _pixels_at(image, rows, cols, fill) -> np.ndarray:
    """image[:, rows, cols] for integer-valued float grids; ``fill`` outside."""
    _, height, width = image.shape
    inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    rows = np.clip(rows, 0, height - 1).astype(np.intp)
    cols = np.clip(cols, 0, width - 1).astype(np.intp)
    return np.where(inside, image[:, rows, cols], fill)


class GaussianNoise(Transform):
    """Add normal noise (mean ``mean``, deviation ``std``) to every pixel."""

    def __init__(self, std: float = 0.1, mean: float = 0.0, generator: Seed = None):
        super().__init__(generator)
        self.std = std
        self.mean = mean

    def apply(self, batch, rng):
        if batch.dtype.kind != "f":
            raise ValueError(
                f"GaussianNoise: expected float images, got {batch.dtype}; convert"
                " first (MNIST's images are already float32 in [0, 1])"
            )
        noise = rng.normal(self.mean, self.std, size=batch.shape)
        return batch + noise.astype(batch.dtype)

    def __repr__(self) -> str:
        return f"GaussianNoise(std={self.std}, mean={self.mean})"


class Normalize(Transform):
    """Per channel: (image - mean) / std. Not random.

    MNIST's usual constants are ``Normalize((0.1307,), (0.3081,))``.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__(None)
        self.mean = np.asarray(mean, dtype=np.float64).reshape(-1, 1, 1)
        self.std = np.asarray(std, dtype=np.float64).reshape(-1, 1, 1)

    def apply(self, batch, rng):
        dtype = batch.dtype if batch.dtype.kind == "f" else np.float32
        return ((batch - self.mean) / self.std).astype(dtype, copy=False)

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.ravel()}, std={self.std.ravel()})"
