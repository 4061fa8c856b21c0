"""Matrix multiplication on the GPU, in two steps of craft.

``c[b, i, j] = sum_k a[b, i, k] * b[b, k, j]`` for a batch of matrices.

1. ``bmm_simple_kernel``: one thread per output element, reading a row of
   ``a`` and a column of ``b`` straight from global memory. Correct and easy
   to read, but every number is fetched from slow memory ``TILE`` times
   more often than needed.
2. ``bmm_tiled_kernel``: a block of ``TILE x TILE`` threads computes a
   ``TILE x TILE`` block of ``c``. It walks along ``k`` one tile at a time;
   each thread loads one number of each tile into fast shared memory, and
   the whole block reuses it ``TILE`` times.

``bmm`` and ``matmul2d`` take and return ``CudaArray`` and use the tiled
kernel; the simple one is kept for teaching and for testing the tiled one.
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from tinycv.cuda.array import CudaArray
from tinycv.cuda.xp import asarray
from tinycv.kernels.cuda.elementwise import blocks_for

TILE = 16  # threads per block along each side: 16 x 16 = 256 threads
MAX_GRID_Z = 65535  # CUDA's limit on blocks along z, one per matrix of the batch


@cuda.jit(cache=True)
def bmm_simple_kernel(a, b, c):
    """Thread (col, row) of block z computes ``c[z, row, col]``."""
    col, row = cuda.grid(2)
    batch = cuda.blockIdx.z
    if row < c.shape[1] and col < c.shape[2]:
        acc = c.dtype.type(0)
        for k in range(a.shape[2]):
            acc += a[batch, row, k] * b[batch, k, col]
        c[batch, row, col] = acc


# Plan of the tiled kernel, for the block that owns the tile of c at
# (block row, block col) of matrix z:
#   1. Thread (ty, tx) owns c[z, row, col] with row = block row * TILE + ty
#      and col = block col * TILE + tx; it keeps a running sum.
#   2. For each tile step along k: thread (ty, tx) copies a[z, row, step + tx]
#      into a_tile[ty, tx] and b[z, step + ty, col] into b_tile[ty, tx]
#      (0 past the edges of the matrices).
#   3. Barrier: the tiles are complete before anyone reads them.
#   4. Each thread adds the dot product of its row of a_tile and its column
#      of b_tile to its sum: TILE multiply-adds from shared memory.
#   5. Barrier: nobody overwrites a tile that a neighbour is still reading.
#   6. After the last step, threads inside c write their sums.
@cuda.jit(cache=True)
def bmm_tiled_kernel(a, b, c):
    a_tile = cuda.shared.array((TILE, TILE), dtype=a.dtype)
    b_tile = cuda.shared.array((TILE, TILE), dtype=b.dtype)
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    row = cuda.blockIdx.y * TILE + ty
    col = cuda.blockIdx.x * TILE + tx
    batch = cuda.blockIdx.z
    rows, inner = a.shape[1], a.shape[2]
    cols = b.shape[2]

    acc = c.dtype.type(0)
    for step in range(0, inner, TILE):
        if row < rows and step + tx < inner:
            a_tile[ty, tx] = a[batch, row, step + tx]
        else:
            a_tile[ty, tx] = 0
        if step + ty < inner and col < cols:
            b_tile[ty, tx] = b[batch, step + ty, col]
        else:
            b_tile[ty, tx] = 0
        cuda.syncthreads()

        for k in range(TILE):
            acc += a_tile[ty, k] * b_tile[k, tx]
        cuda.syncthreads()

    if row < rows and col < cols:
        c[batch, row, col] = acc


def _launch_bmm(kernel, a: CudaArray, b: CudaArray) -> CudaArray:
    """Run ``kernel`` over the batch, ``MAX_GRID_Z`` matrices per launch."""
    batch, rows, inner = a.shape
    cols = b.shape[2]
    dtype = np.result_type(a.dtype, b.dtype)
    a_dev = a.astype(dtype, copy=False).device_array()
    b_dev = b.astype(dtype, copy=False).device_array()
    c = CudaArray.empty((batch, rows, cols), dtype)
    if c.size == 0:
        return c
    c_dev = c.device_array()
    for first in range(0, batch, MAX_GRID_Z):
        last = min(first + MAX_GRID_Z, batch)
        grid = (blocks_for(cols, TILE), blocks_for(rows, TILE), last - first)
        kernel[grid, (TILE, TILE)](
            a_dev[first:last], b_dev[first:last], c_dev[first:last]
        )
    return c


def _check_bmm(a: CudaArray, b: CudaArray) -> None:
    if (
        a.ndim != 3
        or b.ndim != 3
        or a.shape[0] != b.shape[0]
        or (a.shape[2] != b.shape[1])
    ):
        raise ValueError(
            f"bmm: expected (B, M, K) @ (B, K, N), got {a.shape} @ {b.shape}"
        )


def bmm(a: CudaArray, b: CudaArray) -> CudaArray:
    """Batched product: ``a`` (B, M, K) @ ``b`` (B, K, N) -> (B, M, N).

    A numpy operand is copied to the GPU first.
    """
    a, b = asarray(a), asarray(b)
    _check_bmm(a, b)
    return _launch_bmm(bmm_tiled_kernel, a, b)


def bmm_simple(a: CudaArray, b: CudaArray) -> CudaArray:
    """``bmm`` with the one-thread-per-output kernel (for teaching and tests)."""
    a, b = asarray(a), asarray(b)
    _check_bmm(a, b)
    return _launch_bmm(bmm_simple_kernel, a, b)


def matmul2d(a: CudaArray, b: CudaArray) -> CudaArray:
    """Matrix product of two 2-D arrays: (M, K) @ (K, N) -> (M, N)."""
    a, b = asarray(a), asarray(b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(
            f"matmul2d: expected (M, K) @ (K, N), got {a.shape} @ {b.shape}"
        )
    product = bmm(a.reshape((1,) + a.shape), b.reshape((1,) + b.shape))
    return product.reshape(a.shape[0], b.shape[1])
