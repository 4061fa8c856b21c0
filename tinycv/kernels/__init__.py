"""The hot loops of tinycv: matmul, convolution and pooling.

Every kernel file reads the same way: first a reference written as plain
Python loops that a student can follow line by line, then a Numba kernel
that computes the same thing fast. The CUDA twins live in ``kernels/cuda``
and are imported only when a tensor is on the GPU.

Which family runs on the CPU is one setting: ``set_backend("numba")`` (the
default) or ``set_backend("reference")``, or the environment variable
``TINYCV_BACKEND``. Autograd never knows which family ran.
"""

from __future__ import annotations

import contextlib
import os

BACKENDS = ("numba", "reference")

_backend = os.environ.get("TINYCV_BACKEND", "numba").strip().lower() or "numba"
if _backend not in BACKENDS:
    raise ValueError(
        f"TINYCV_BACKEND={_backend!r} is not a kernel backend; "
        f"choose one of {', '.join(BACKENDS)}"
    )


def set_backend(name: str) -> None:
    """Choose the CPU kernel family: ``"numba"`` (fast) or ``"reference"``."""
    global _backend
    if name not in BACKENDS:
        raise ValueError(
            f"set_backend: unknown backend {name!r}; choose one of "
            f"{', '.join(BACKENDS)}"
        )
    _backend = name


def get_backend() -> str:
    """The CPU kernel family in use: ``"numba"`` or ``"reference"``."""
    return _backend


@contextlib.contextmanager
def use_backend(name: str):
    """Run a block with another kernel family, then restore the previous one."""
    previous = get_backend()
    set_backend(name)
    try:
        yield
    finally:
        set_backend(previous)


def compiling(*dispatchers):
    """A spinner shown while Numba compiles ``dispatchers`` for the first time.

    Numba compiles a kernel on its first call (or loads it from the on-disk
    cache, which is quick). When none of ``dispatchers`` has a compiled
    signature yet, show a spinner on stderr so a student knows why the first
    step is slow; otherwise do nothing.
    """
    if all(d.overloads for d in dispatchers):
        return contextlib.nullcontext()
    from tinycv._console import stderr_console

    return stderr_console.status("compiling kernels, first run only")
