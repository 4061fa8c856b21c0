"""Where a tensor's numbers live: ``"cpu"`` (numpy) or ``"cuda"`` (the GPU).

The differentiable ops never test the device. They ask ``array_module`` for
the module that works on their arrays — numpy itself on the CPU, or
``tinycv.cuda.xp``, which offers numpy's names on GPU arrays — and call the
same functions either way. The GPU side is imported only when used.
"""

from __future__ import annotations

import numpy as np

DEVICES = ("cpu", "cuda")


def check_device(device: str) -> str:
    """Normalise a device name (``"cuda:0"`` means ``"cuda"``) or raise."""
    name = str(device).split(":")[0].lower()
    if name not in DEVICES:
        raise ValueError(
            f"unknown device {device!r}; tinycv knows {', '.join(DEVICES)}"
        )
    return name


def device_of(array) -> str:
    return "cpu" if isinstance(array, (np.ndarray, np.generic)) else "cuda"


def array_module(array_or_device):
    """numpy for CPU arrays (or ``"cpu"``), ``tinycv.cuda.xp`` for GPU ones."""
    if isinstance(array_or_device, str):
        device = check_device(array_or_device)
    else:
        device = device_of(array_or_device)
    if device == "cpu":
        return np
    from tinycv.cuda import xp

    return xp


def to_device(array, device: str):
    """Copy ``array`` to ``device`` (no copy when it is already there)."""
    device = check_device(device)
    if device_of(array) == device:
        return array
    if device == "cpu":
        return array.to_host()

    from tinycv import cuda

    if not cuda.is_available():
        raise RuntimeError(
            "to('cuda'): no CUDA device is available (install the cuda extra "
            "on a machine with an NVIDIA GPU, or set NUMBA_ENABLE_CUDASIM=1 to "
            "simulate one)"
        )
    from tinycv.cuda.array import CudaArray

    return CudaArray.from_host(array)  # np.ascontiguousarray would make 0-d 1-d
