"""Reductions on the GPU: sum, max, min and argmax over any axes.

Any reduction becomes a reduction of rows: move the reduced axes to the end
(a transpose copy), and the array is a matrix of ``rows`` (the kept
elements) by ``inner`` (the reduced ones); each row folds into one number.

Two kernels fold rows, both worth reading:

* ``reduce_rows_kernel`` — one thread per row walks its row. Simple, and
  right for short rows (a softmax over ten classes).
* ``reduce_block_kernel`` — one block per row: the threads share the row,
  then combine their partial results as a tree in shared memory. Right for
  long rows (a bias gradient summed over a whole batch of images).
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from tinycv.kernels.cuda.elementwise import (
    THREADS_PER_BLOCK,
    blocks_for,
    fill,
    permute,
)

SUM, MAX, MIN = range(3)
REDUCE_THREADS = 128  # threads per block in the tree; a power of two


@cuda.jit(device=True, inline="always")
def combine(op, acc, value):
    """Fold ``value`` into the running result ``acc`` (NaN wins max/min)."""
    if op == SUM:
        return acc + value
    if op == MAX:
        return value if (value > acc or value != value) else acc
    return value if (value < acc or value != value) else acc


@cuda.jit(cache=True)
def reduce_rows_kernel(op, src, out, inner):
    """Thread ``row`` folds ``src[row*inner : (row+1)*inner]`` into ``out[row]``."""
    row = cuda.grid(1)
    if row < out.size:
        start = row * inner
        acc = src[start]
        for k in range(1, inner):
            acc = combine(op, acc, src[start + k])
        out[row] = acc


# Plan of the tree reduction (needs inner >= REDUCE_THREADS):
#   1. Block ``row`` owns one row. Thread t folds the elements t, t + T,
#      t + 2T, ... of the row (T = REDUCE_THREADS): neighbouring threads read
#      neighbouring numbers, so the loads are coalesced.
#   2. Each thread writes its partial result to shared memory.
#   3. Halve the number of active threads each step: thread t < step folds
#      partial[t + step] into partial[t]; a barrier ends every step.
#   4. After log2(T) steps partial[0] holds the row's result; thread 0 writes it.
@cuda.jit(cache=True)
def reduce_block_kernel(op, src, out, inner):
    partial = cuda.shared.array(REDUCE_THREADS, dtype=src.dtype)
    row = cuda.blockIdx.x
    t = cuda.threadIdx.x
    start = row * inner

    acc = src[start + t]
    for k in range(t + REDUCE_THREADS, inner, REDUCE_THREADS):
        acc = combine(op, acc, src[start + k])

    partial[t] = acc
    cuda.syncthreads()

    step = REDUCE_THREADS // 2
    while step > 0:
        if t < step:
            partial[t] = combine(op, partial[t], partial[t + step])
        cuda.syncthreads()
        step //= 2

    if t == 0:
        out[row] = partial[0]


@cuda.jit(cache=True)
def arg_best_rows_kernel(src, out, inner, largest):
    """Thread ``row`` finds the first position of the largest (or smallest)
    number in its row."""
    row = cuda.grid(1)
    if row < out.size:
        start = row * inner
        best = src[start]
        best_index = 0
        for k in range(1, inner):
            value = src[start + k]
            if (value > best) if largest else (value < best):
                best = value
                best_index = k
        out[row] = best_index


def reduce_rows(op: int, src, rows: int, inner: int, out) -> None:
    """Fold each of the ``rows`` rows of ``inner`` numbers of ``src`` into ``out``."""
    if rows == 0:
        return
    if inner >= REDUCE_THREADS:
        reduce_block_kernel[rows, REDUCE_THREADS](op, src, out, inner)
    else:
        reduce_rows_kernel[blocks_for(rows), THREADS_PER_BLOCK](op, src, out, inner)


def move_axes_last(src, shape: tuple, axes: tuple):
    """View ``src`` (of ``shape``) as rows x inner, the ``axes`` reduced.

    Returns ``(buffer, rows, inner)``; the buffer is ``src`` itself when the
    reduced axes already come last, or a transposed copy.
    """
    kept = tuple(axis for axis in range(len(shape)) if axis not in axes)
    order = kept + tuple(sorted(axes))
    rows = math.prod(shape[axis] for axis in kept)
    inner = math.prod(shape[axis] for axis in axes)
    if order == tuple(range(len(shape))):
        return src, rows, inner
    moved = cuda.device_array(src.size, dtype=src.dtype)
    permute(src, shape, order, moved)
    return moved, rows, inner


def reduce(op: int, src, shape: tuple, axes: tuple, out_dtype):
    """Reduce the device buffer ``src`` of ``shape`` over ``axes``.

    ``src`` must already have ``out_dtype``. Returns ``(buffer, kept_shape)``
    where ``kept_shape`` is ``shape`` without the reduced axes.
    """
    kept_shape = tuple(size for axis, size in enumerate(shape) if axis not in axes)
    moved, rows, inner = move_axes_last(src, shape, axes)
    out = cuda.device_array(rows, dtype=out_dtype)
    if inner == 0:
        if op != SUM:
            name = "maximum" if op == MAX else "minimum"
            raise ValueError(
                f"zero-size array to reduction operation {name} which has no identity"
            )
        fill(out, 0)
        return out, kept_shape
    reduce_rows(op, moved, rows, inner, out)
    return out, kept_shape


def arg_best(src, shape: tuple, axis: int, largest: bool):
    """Index of the first max (``largest``) or min along ``axis``.

    Returns ``(buffer, kept_shape)``.
    """
    kept_shape = tuple(size for dim, size in enumerate(shape) if dim != axis)
    moved, rows, inner = move_axes_last(src, shape, (axis,))
    if inner == 0:
        name = "argmax" if largest else "argmin"
        raise ValueError(f"attempt to get {name} of an empty sequence")
    out = cuda.device_array(rows, dtype=np.int64)
    if rows:
        arg_best_rows_kernel[blocks_for(rows), THREADS_PER_BLOCK](
            moved, out, inner, largest
        )
    return out, kept_shape
