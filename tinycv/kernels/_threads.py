"""How many threads a Numba kernel call should use, from its amount of work.

Waking the other cores costs some microseconds, and on a busy machine a
parallel region waits for its slowest thread, which may not be running at
all. A small call therefore runs on the calling thread alone.
"""

from __future__ import annotations

import contextlib

import numba

SERIAL_WORK = 1 << 18  # multiply-adds (or elements) below which one thread runs


@contextlib.contextmanager
def threads_for(work: int):
    """Run the block on one Numba thread if ``work`` is small, else on all."""
    if work >= SERIAL_WORK:
        yield
        return
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(previous)
