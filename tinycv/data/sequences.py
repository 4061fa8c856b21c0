"""The adding problem: a memory test that separates LSTMs from plain RNNs.

Hochreiter and Schmidhuber (1997), in the form of Le, Jaitly and Hinton (2015).
Each step of a sequence carries two numbers: a value drawn uniformly from
[0, 1], and a marker that is 1 at exactly two steps (one in each half) and 0
elsewhere. The target is the sum of the two marked values. Always answering
1 scores a mean squared error of 1/6 (about 0.167), the baseline to beat; a
plain RNN stays there as the sequences grow longer, an LSTM does not.
"""

from __future__ import annotations

import numpy as np

from tinycv.data._seed import Seed, make_generator
from tinycv.data.dataset import TensorDataset


def adding_problem(
    n_samples: int = 1000,
    length: int = 50,
    generator: Seed = None,
    as_dataset: bool = False,
):
    """Sequences for the adding problem, batch first.

    Returns:
        inputs (n_samples, length, 2) float32 — channel 0 the values, channel
        1 the markers — and targets (n_samples, 1) float32, shaped like a
        regression head's output. ``inputs.transpose(1, 0, 2)`` gives the
        time-first layout (length, n_samples, 2).
    """
    if length < 2:
        raise ValueError(f"adding_problem: length must be at least 2, got {length}")

    rng = make_generator(generator)
    values = rng.uniform(0, 1, (n_samples, length))
    half = length // 2
    first = rng.integers(0, half, n_samples)
    second = rng.integers(half, length, n_samples)

    markers = np.zeros((n_samples, length))
    rows = np.arange(n_samples)
    markers[rows, first] = 1
    markers[rows, second] = 1

    inputs = np.stack([values, markers], axis=2).astype(np.float32)
    targets = (values[rows, first] + values[rows, second])[:, None].astype(np.float32)
    return TensorDataset(inputs, targets) if as_dataset else (inputs, targets)
