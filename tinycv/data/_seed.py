"""Turn the ``generator=`` argument the data classes take into a numpy Generator."""

from __future__ import annotations

import numpy as np

from tinycv.random import generator as global_generator

Seed = int | np.random.Generator | None


def make_generator(seed: Seed) -> np.random.Generator:
    """A Generator from a seed (int), a Generator (used as is), or None.

    None means tinycv's global generator, so ``tinycv.manual_seed`` governs it;
    it is looked up at each call, after any reseeding.
    """
    if seed is None:
        return global_generator()
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return np.random.default_rng(int(seed))
    raise TypeError(
        f"expected an int seed, a numpy Generator or None, got {type(seed).__name__}"
    )
