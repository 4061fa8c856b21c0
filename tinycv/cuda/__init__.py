"""tinycv on an NVIDIA GPU, through ``numba.cuda``.

Importing ``tinycv`` (or this package) never imports ``numba.cuda``: the GPU
side is loaded only when a tensor is moved to ``"cuda"``. What lives here:

* ``is_available()``, ``device_count()``, ``synchronize()`` and
  ``simulator_enabled()`` — questions about the machine;
* ``is_cuda_array(obj)`` — whether ``obj`` is a GPU array, answered without
  importing anything;
* ``tinycv.cuda.array.CudaArray`` — the GPU array (a numpy-like subset);
* ``tinycv.cuda.xp`` — numpy's function names over ``CudaArray``.

Without a GPU, numba's CUDA simulator runs the very same kernels on the CPU,
one Python thread per GPU thread (about a million times slower): set
``NUMBA_ENABLE_CUDASIM=1`` before numba is first imported. ``is_available()``
is True under the simulator, so tests and lessons can run "on the GPU"
anywhere; ``simulator_enabled()`` tells the two apart.
"""

from __future__ import annotations

import os
import sys


def simulator_enabled() -> bool:
    """True when numba's CUDA simulator stands in for a GPU."""
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0").strip() not in ("", "0")


def _numba_cuda():
    """Import ``numba.cuda`` on first use; None when it cannot be imported."""
    try:
        from numba import cuda
    except Exception:
        return None
    return cuda


def is_available() -> bool:
    """True when kernels can run: a working GPU and driver, or the simulator.

    Never raises: a missing ``numba-cuda`` package, driver or device all
    answer False.
    """
    cuda = _numba_cuda()
    if cuda is None:
        return False
    try:
        return bool(cuda.is_available())
    except Exception:
        return False


def device_count() -> int:
    """How many GPUs numba can see (1 under the simulator, 0 without any)."""
    if not is_available():
        return 0
    try:
        return len(_numba_cuda().gpus)
    except Exception:
        return 0


def synchronize() -> None:
    """Wait until every kernel launched so far has finished.

    Kernel launches return at once and run in order on the GPU; time a
    GPU computation only after calling this. Does nothing without a GPU.
    """
    if is_available():
        _numba_cuda().synchronize()


def is_cuda_array(obj) -> bool:
    """True when ``obj`` is a ``CudaArray``; imports nothing to find out.

    No GPU array can exist before ``tinycv.cuda.array`` has been imported,
    so until then the answer is False.
    """
    module = sys.modules.get("tinycv.cuda.array")
    return module is not None and isinstance(obj, module.CudaArray)
