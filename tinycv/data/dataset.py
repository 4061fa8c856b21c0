"""Datasets: anything with ``len(dataset)`` and ``dataset[i]`` -> one sample.

As in PyTorch, a sample is usually a tuple ``(input, target)``. The DataLoader
stacks samples into batches. A dataset held in arrays can hand the loader a
whole batch at once through ``_get_batch(indices)``, which returns one stacked
numpy array per field; that skips the per-sample Python loop, which is most of
the time an epoch takes in pure Python.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from tinycv.data._seed import Seed, make_generator
from tinycv.tensor import Tensor


class Dataset:
    """Base class: subclasses define ``__len__`` and ``__getitem__``."""

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} does not define __len__")

    def __getitem__(self, index: int):
        raise NotImplementedError(f"{type(self).__name__} does not define __getitem__")


def to_array(data) -> np.ndarray:
    """The numpy array behind a Tensor, array or nested list (copied off a GPU)."""
    if isinstance(data, Tensor):
        return data.cpu().numpy()
    return np.asarray(data)


def to_tensor(array: np.ndarray) -> Tensor:
    """Wrap a fresh numpy array in a Tensor without copying it; dtype is kept."""
    return Tensor(np.asarray(array))


class TensorDataset(Dataset):
    """Samples are rows of arrays that share their first dimension.

    ``TensorDataset(images, labels)[i]`` is ``(images[i], labels[i])`` as
    Tensors. Tensors or numpy arrays may be given; they are kept as numpy
    arrays (on the CPU) and keep their dtype.
    """

    def __init__(self, *tensors) -> None:
        if not tensors:
            raise ValueError("TensorDataset: give at least one array")
        self.arrays = tuple(to_array(t) for t in tensors)

        lengths = [len(a) if a.ndim else None for a in self.arrays]
        if None in lengths or len(set(lengths)) != 1:
            shapes = ", ".join(str(a.shape) for a in self.arrays)
            raise ValueError(
                f"TensorDataset: the arrays must share their first dimension, got"
                f" shapes {shapes}"
            )

    @property
    def tensors(self) -> tuple[Tensor, ...]:
        return tuple(to_tensor(a.copy()) for a in self.arrays)

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, index: int) -> tuple[Tensor, ...]:
        return tuple(to_tensor(np.array(a[index])) for a in self.arrays)

    def _get_batch(self, indices: np.ndarray) -> tuple[np.ndarray, ...]:
        return tuple(a[indices] for a in self.arrays)


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int):
        return self.dataset[int(self.indices[index])]

    def _get_batch(self, indices: np.ndarray) -> tuple[np.ndarray, ...]:
        return self.dataset._get_batch(self.indices[indices])


def supports_batches(dataset: Dataset) -> bool:
    """Whether ``dataset`` can hand over a whole batch through ``_get_batch``."""
    if isinstance(dataset, Subset):
        return supports_batches(dataset.dataset)
    return hasattr(dataset, "_get_batch")


def random_split(
    dataset: Dataset, lengths: Sequence[int | float], generator: Seed = None
) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random subsets of the given lengths.

    Lengths may be counts that add up to ``len(dataset)``, or fractions that
    add up to 1 (the remainder goes to the first subsets, one each, as PyTorch).
    """
    total = len(dataset)
    if all(isinstance(n, float) for n in lengths) and math.isclose(sum(lengths), 1):
        counts = [math.floor(total * fraction) for fraction in lengths]
        for i in range(total - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if sum(lengths) != total:
        raise ValueError(
            f"random_split: lengths {list(lengths)} add up to {sum(lengths)}, but"
            f" the dataset has {total} samples"
        )

    order = make_generator(generator).permutation(total)
    bounds = np.cumsum([0, *lengths])
    return [
        Subset(dataset, order[start:stop])
        for start, stop in zip(bounds[:-1], bounds[1:], strict=True)
    ]
