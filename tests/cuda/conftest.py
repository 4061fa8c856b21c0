"""The GPU tests: every CUDA kernel and CudaArray operation against numpy.

numba reads ``NUMBA_ENABLE_CUDASIM`` once, when it is first imported, so
these tests need a process of their own: ``tests/test_cuda.py`` runs
``pytest tests/cuda`` in a child process with the simulator on. In any
other run this folder is not collected, unless ``TINYCV_TEST_GPU=1`` says
that a real GPU is there (``bench/gpu_check.sh``).

Sizes stay tiny: the simulator runs each GPU thread as a Python thread.
"""

import os

import numpy as np
import pytest


def _gpu_run() -> bool:
    simulator = os.environ.get("NUMBA_ENABLE_CUDASIM", "0").strip() not in ("", "0")
    return simulator or os.environ.get("TINYCV_TEST_GPU") == "1"


collect_ignore_glob = [] if _gpu_run() else ["test_*.py"]


@pytest.fixture
def rng():
    return np.random.default_rng(0)
