"""The hot loops of tinycv: matmul, convolution and pooling.

Every kernel file reads the same way: first a reference written as plain
Python loops that a student can follow line by line, then a Numba kernel
that computes the same thing fast. The CUDA twins live in ``kernels/cuda``
and are imported only when a tensor is on the GPU.

Which family runs on the CPU is one setting: ``set_backend("numba")`` (the
default) or ``set_backend("reference")``, or the environment variable
``TINYCV_BACKEND``. Autograd never knows which family ran.

Importing this package also chooses how wide Numba's vectors are (see
``_prefer_512_bit_vectors``); tinycv imports it before anything that
imports Numba.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading

import numpy as np


def _prefer_512_bit_vectors() -> None:
    """Let Numba's compiler use 512-bit vectors on CPUs with AVX-512.

    LLVM, which compiles Numba's code, knows that early AVX-512 chips
    lowered their clock while running 512-bit instructions, so on Intel
    server CPUs it prefers 256-bit vectors even where 512-bit ones exist.
    On recent chips that costs tinycv's matrix products a third of their
    speed. Numba takes the CPU features to compile for from the environment
    variable ``NUMBA_CPU_FEATURES``, read once when Numba is imported; this
    sets it to the host's own features plus ``-prefer-256-bit``.

    It only changes code generation: the same instructions the host
    already has, in wider registers. Numba's on-disk cache is keyed by the
    feature string, so kernels cached without the setting are not reused.

    Nothing is changed when the host lacks AVX-512, when Numba is already
    imported (too late to take effect), when the user has set
    ``NUMBA_CPU_FEATURES`` or ``NUMBA_CPU_NAME`` (their choice wins), or
    when ``TINYCV_NUMBA_512=0``. The variable is inherited by child
    processes, so data-loader workers compile the same code.
    """
    if os.environ.get("TINYCV_NUMBA_512", "1").strip() == "0":
        return
    if "numba" in sys.modules:
        return
    if "NUMBA_CPU_FEATURES" in os.environ or "NUMBA_CPU_NAME" in os.environ:
        return
    try:
        import llvmlite.binding as llvm

        features = llvm.get_host_cpu_features()
    except (ImportError, RuntimeError):
        return
    if features.get("avx512f"):
        os.environ["NUMBA_CPU_FEATURES"] = features.flatten() + ",-prefer-256-bit"
        global WIDE_VECTORS_SET
        WIDE_VECTORS_SET = True


# True once _prefer_512_bit_vectors has set NUMBA_CPU_FEATURES itself (so a
# report can say so in a line instead of printing the host's feature list).
WIDE_VECTORS_SET = False
_prefer_512_bit_vectors()

# glibc's mallopt parameters (malloc.h) and the values tinycv gives them.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_TRIM_THRESHOLD = 1 << 30
_MMAP_THRESHOLD = 32 << 20  # the largest glibc accepts on 64-bit systems


def _keep_freed_memory() -> None:
    """Keep the memory of freed arrays in the process for the next ones.

    Every training step allocates and frees the same activations and
    gradients. glibc's malloc hands a large freed block back to the
    operating system: one above ``M_MMAP_THRESHOLD`` was mapped for that
    array alone, and the top of the heap is trimmed once more than
    ``M_TRIM_THRESHOLD`` of it is free. The next array then gets fresh
    pages, and the first write to each 4 KiB page is a page fault, which
    the kernel answers with a zeroed page: microseconds each, 8-10 us in
    the virtual machine this was measured on. There a VGG layer's forward
    and backward took 1,760 faults per call, a third of its time, and a
    LeNet-5 epoch ran 0.82 s with the memory kept against 1.01 s without.

    This raises both thresholds (32 MiB and 1 GiB) through ``mallopt``, so
    arrays up to 32 MiB reuse the memory of earlier ones. The process keeps
    what it has used at its peak, as PyTorch's GPU allocator does.

    Linux with glibc only; elsewhere, or with ``TINYCV_KEEP_MEMORY=0``,
    nothing changes. It applies to the whole process, including other
    libraries in it (PyTorch too, in ``tinycv bench``).
    """
    global FREED_MEMORY_KEPT
    if os.environ.get("TINYCV_KEEP_MEMORY", "1").strip() == "0":
        return
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # no mallopt: not glibc
        return
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    if mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD) and mallopt(
        _M_TRIM_THRESHOLD, _TRIM_THRESHOLD
    ):
        FREED_MEMORY_KEPT = True


# True once _keep_freed_memory has changed malloc's thresholds.
FREED_MEMORY_KEPT = False
_keep_freed_memory()

BACKENDS = ("numba", "reference")

_backend = os.environ.get("TINYCV_BACKEND", "numba").strip().lower() or "numba"
if _backend not in BACKENDS:
    # A mistyped environment variable should not stop every tinycv command
    # with a traceback: say what is wrong in one line and use the default.
    sys.stderr.write(
        f"tinycv: TINYCV_BACKEND={_backend!r} is not a kernel backend "
        f"({', '.join(BACKENDS)}); using numba\n"
    )
    _backend = "numba"


# Bytes between the starts of two cache lines, and the width of an AVX-512
# vector. A vector load from an address that is not a multiple of this
# straddles two cache lines and costs two loads: packed operands start on it.
CACHE_LINE = 64


def aligned_empty(shape, dtype):
    """An uninitialised C-contiguous array whose data starts on a cache line.

    numpy aligns large arrays to 16 bytes only; the vector loops of a packed
    matrix product run about 1.6x faster when every row starts on a cache
    line (its rows must then hold a whole number of 64-byte lines).
    """
    dtype = np.dtype(dtype)
    count = math.prod(shape)
    buffer = np.empty(count * dtype.itemsize + CACHE_LINE, dtype=np.uint8)
    start = -buffer.ctypes.data % CACHE_LINE
    return buffer[start : start + count * dtype.itemsize].view(dtype).reshape(shape)


class Workspace(threading.local):
    """Cache-line-aligned scratch buffers that outlive a kernel call, one
    set per Python thread, each grown when a call needs more.

    Memory freshly taken from the operating system costs a page fault per
    4 KiB on its first write (3-10 us each in the virtual machines this was
    measured on), and numpy hands large arrays back to the system when they
    are freed. A kernel that needs the same big temporary on every call
    (a packed matrix, a padded input) takes it from here instead, as BLAS
    libraries keep theirs. Buffers above ``max_bytes`` are allocated for
    the call only.
    """

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.buffers = {}

    def take(self, slot, shape, dtype):
        """An uninitialised aligned array of ``shape`` in buffer ``slot``;
        valid until the next ``take`` of the same slot on this thread."""
        dtype = np.dtype(dtype)
        size = math.prod(shape) * dtype.itemsize
        if size > self.max_bytes:
            return aligned_empty(shape, dtype)
        buffer = self.buffers.get(slot)
        if buffer is None or buffer.size < size:
            buffer = aligned_empty((size,), np.uint8)
            self.buffers[slot] = buffer
        return buffer[:size].view(dtype).reshape(shape)


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
