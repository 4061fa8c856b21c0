"""The one seeded random generator every part of tinycv draws from.

``tinycv.manual_seed(0)`` makes initialisation, dropout masks, shuffling and
the synthetic data sets repeat exactly, as ``torch.manual_seed`` does.
"""

from __future__ import annotations

import numpy as np

_generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed tinycv's generator; return it."""
    global _generator
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"manual_seed: seed must be a non-negative int, got {seed!r}")
    _generator = np.random.default_rng(int(seed))
    return _generator


def generator() -> np.random.Generator:
    """The generator tinycv draws from (reseeded by ``manual_seed``)."""
    return _generator
