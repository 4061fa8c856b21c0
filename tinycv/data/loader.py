"""DataLoader: walk a dataset in (shuffled) mini-batches of Tensors.

One epoch is one pass over a permutation of the sample indices, cut into
consecutive slices of ``batch_size``:

    order = permutation(len(dataset)) if shuffle else 0, 1, 2, ...
    for start in 0, batch_size, 2 * batch_size, ...:
        yield collate([dataset[i] for i in order[start:start + batch_size]])

Every sample appears exactly once per epoch (the last batch is shorter unless
``drop_last``). Batches come out on the CPU; move them with ``.to("cuda")``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping

import numpy as np

from tinycv.data._seed import Seed, make_generator
from tinycv.data.dataset import Dataset, supports_batches, to_array, to_tensor
from tinycv.tensor import Tensor


def default_collate(samples: list):
    """Stack a list of samples into one batch, field by field.

    Tensors and arrays are stacked along a new first dimension; Python ints
    (and bools) become an int64 Tensor, Python floats a float32 one (tinycv's
    default float type, where PyTorch would give float64). Tuples, lists and
    dicts are collated field by field and keep their structure.
    """
    first = samples[0]
    if isinstance(first, Tensor):
        return to_tensor(np.stack([to_array(sample) for sample in samples]))
    if isinstance(first, np.ndarray):
        return to_tensor(np.stack(samples))
    if isinstance(first, (bool, int, np.integer)):
        return to_tensor(np.asarray(samples, dtype=np.int64))
    if isinstance(first, (float, np.floating)):
        return to_tensor(np.asarray(samples, dtype=np.float32))
    if isinstance(first, Mapping):
        return {
            key: default_collate([sample[key] for sample in samples]) for key in first
        }
    if isinstance(first, (tuple, list)):
        return tuple(
            default_collate(list(field)) for field in zip(*samples, strict=True)
        )
    raise TypeError(
        f"default_collate: cannot batch samples of type {type(first).__name__};"
        " give the DataLoader a collate_fn"
    )


class DataLoader:
    """Iterate over ``dataset`` in mini-batches.

    Args:
        dataset: anything with ``len`` and ``[i]``.
        batch_size: samples per batch.
        shuffle: draw a fresh permutation at the start of every epoch.
        drop_last: drop the last batch when it is smaller than ``batch_size``.
        collate_fn: turns a list of samples into a batch (default:
            :func:`default_collate`).
        generator: where the shuffling draws from. An int seed gives a
            loader whose sequence of epochs is the same for the same seed;
            a numpy Generator is used as is; None draws from tinycv's global
            generator, which ``tinycv.manual_seed`` seeds.
        num_workers: only 0: tinycv loads batches in the main process.
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int = 1,
        shuffle: bool = False,
        drop_last: bool = False,
        collate_fn: Callable | None = None,
        generator: Seed = None,
        num_workers: int = 0,
    ) -> None:
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(
                f"DataLoader: batch_size must be a positive int, got {batch_size!r}"
            )
        if num_workers != 0:
            raise ValueError(
                "DataLoader: num_workers must be 0; tinycv loads batches in the"
                " main process"
            )
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.collate_fn = collate_fn
        self.generator = None if generator is None else make_generator(generator)

    def __len__(self) -> int:
        """Number of batches per epoch."""
        if self.drop_last:
            return len(self.dataset) // self.batch_size
        return math.ceil(len(self.dataset) / self.batch_size)

    def __iter__(self) -> Iterator:
        order = self._epoch_order()
        for batch in range(len(self)):
            indices = order[batch * self.batch_size : (batch + 1) * self.batch_size]
            yield self._fetch(indices)

    def _epoch_order(self) -> np.ndarray:
        if self.shuffle:
            return make_generator(self.generator).permutation(len(self.dataset))
        return np.arange(len(self.dataset))

    def _fetch(self, indices: np.ndarray):
        if self.collate_fn is None and supports_batches(self.dataset):
            fields = self.dataset._get_batch(indices)
            return tuple(to_tensor(field) for field in fields)

        samples = [self.dataset[int(i)] for i in indices]
        return (self.collate_fn or default_collate)(samples)
