"""Matrix multiplication: ``C = A @ B`` for one matrix or a batch of them.

    C[s, i, j] = sum_p A[s, i, p] * B[s, p, j]

``bmm`` multiplies a batch, ``(B, M, K) @ (B, K, N) -> (B, M, N)``;
``matmul2d`` multiplies two matrices. Tensor.matmul and its backward
(dA = dC @ B^T, dB = A^T @ dC) run on these two functions.

The file reads in three parts.

1. The reference: the triple loop as the formula reads.
2. The Numba kernel: a packed, blocked GEMM ("general matrix multiply").
   Even compiled, the triple loop is slow: it loads two numbers for each
   multiply-add and walks B down a column, a cache line per number. A
   fast GEMM

   1. packs both operands into one layout, rows of A and columns of B each
      contiguous along the shared dimension K (for B this is a transpose),
      so the innermost loop walks memory with stride one;
   2. computes C in 4 x 4 tiles: sixteen running sums stay in registers
      while the loop over K loads 4 numbers of A and 4 of B, 8 loads for 16
      multiply-adds, and fastmath lets LLVM turn that loop into SIMD
      instructions with fused multiply-adds. Every packed row starts on a
      64-byte cache line: a vector load that straddles two lines costs two;
   3. cuts C into blocks of rows and columns that one thread computes, and
      K into slices, so the rows of A and B a block reuses stay in cache;
   4. hands the blocks to all cores with ``prange``.

   The packed copies live in a workspace that is kept from one call to the
   next, as BLAS libraries keep theirs: memory freshly taken from the
   operating system costs a page fault per 4 KiB on its first write, which
   at n = 1024 took as long as a third of the arithmetic.

3. The public functions: check shapes (one-line ``ValueError``), then pick
   the GPU twin, the reference loops or the Numba kernel.

On two cores with AVX-512 (an Intel Xeon, then an AMD EPYC) the kernel
runs in float32 at n = 1024 at 130-137 GFLOP/s and 0.67x to 0.8x of numpy's
OpenBLAS; ``tinycv bench matmul`` measures it on yours. Two things matter
as much as the loop nest: 512-bit vectors (``tinycv.kernels`` lets Numba
use them on AVX-512 CPUs) and rows aligned to cache lines (numpy aligns
large arrays to 16 bytes only; see ``aligned_empty``). The rest of the gap
to BLAS is the 16 horizontal sums that end each tile's slice of K; the
convolutions' ``_gemm_nn`` avoids them with a tile kept in SIMD registers.
"""

from __future__ import annotations

import threading

import numpy as np
from numba import njit, prange

from tinycv.device import device_of
from tinycv.kernels import aligned_empty, compiling, get_backend
from tinycv.kernels._threads import threads_for

# Blocking. A task computes a block of ROWS x COLS of C, walking K in
# slices of DEPTH_BYTES: the block's slice of packed B (COLS rows, 256 KiB)
# stays in the core's L2 cache and a 4-row slice of packed A (16 KiB) in
# L1 while the 4 x 4 tiles sweep across it. Long slices matter: each tile
# ends with 16 horizontal sums of its vector accumulators, an overhead paid
# once per slice.
_TILE = 4
_ROWS = 64
_COLS = 64
_DEPTH_BYTES = 4096  # a slice of K: 1024 float32 or 512 float64
_ALIGN = 16  # packed rows hold a whole number of 64-byte lines (512-bit vectors)
# Packed operands up to this size reuse the workspace; larger ones, rare in
# this course, are allocated for the call and given back after it.
_WORKSPACE_BYTES = 32 << 20


# --------------------------------------------------------------------------
# 1. Reference loops
# --------------------------------------------------------------------------


def bmm_reference(a, b):
    """C[s, i, j] = sum_p A[s, i, p] * B[s, p, j], one number at a time."""
    batch, rows, depth = a.shape
    cols = b.shape[2]
    c = np.zeros((batch, rows, cols), dtype=np.result_type(a, b))

    for s in range(batch):
        for i in range(rows):
            for j in range(cols):
                total = 0.0
                for p in range(depth):
                    total += a[s, i, p] * b[s, p, j]
                c[s, i, j] = total

    return c


# --------------------------------------------------------------------------
# 2. Numba kernel
# --------------------------------------------------------------------------


def _packed_length(depth):
    """Row length of a packed operand: K rounded up to whole vectors, plus
    one vector so that rows 4 KiB apart (K = 1024 floats) do not all land
    in the same cache set."""
    return (depth + _ALIGN - 1) // _ALIGN * _ALIGN + _ALIGN


class _Workspace(threading.local):
    """Two cache-line-aligned buffers per Python thread, one per operand,
    grown when a product needs more and reused by every later call."""

    def __init__(self):
        self.buffers = {}

    def take(self, slot, shape, dtype):
        """An uninitialised aligned array of ``shape`` in buffer ``slot``."""
        dtype = np.dtype(dtype)
        size = int(np.prod(shape)) * dtype.itemsize
        if size > _WORKSPACE_BYTES:
            return aligned_empty(shape, dtype)
        buffer = self.buffers.get(slot)
        if buffer is None or buffer.size < size:
            buffer = aligned_empty((size,), np.uint8)
            self.buffers[slot] = buffer
        return buffer[:size].view(dtype).reshape(shape)


_workspace = _Workspace()


def _pack_rows(x, packed):
    """Copy x (S, R, K) into ``packed`` (S, R, length): each row contiguous
    along K, zero past K. A plain copy, which numpy does at memory speed."""
    depth = x.shape[2]
    packed[:, :, :depth] = x
    packed[:, :, depth:] = 0
    return packed


@njit(cache=True, parallel=True)
def _pack_columns(x, packed):
    """Transpose x (S, K, R) into ``packed`` (S, R, length), zero past K.

    A task owns 16 columns: it reads them one row at a time (16 numbers,
    one cache line) and appends each number to its own packed row, so the
    16 rows being written stay in L1 throughout.
    """
    batch, depth, cols = x.shape
    length = packed.shape[2]
    group = 16
    groups = (cols + group - 1) // group

    for task in prange(batch * groups):
        s = task // groups
        j0 = (task % groups) * group
        j1 = min(j0 + group, cols)
        target = packed[s]
        for p in range(depth):
            row = x[s, p, j0:j1]
            for j in range(j1 - j0):
                target[j0 + j, p] = row[j]
        for j in range(j0, j1):
            for p in range(depth, length):
                target[j, p] = 0


@njit(cache=True, fastmath=True)
def _tile_4x4(c, i, j, a, b, k0, depth):
    """c[i:i+4, j:j+4] += a[i:i+4, k0:k0+depth] @ b[j:j+4, k0:k0+depth]^T.

    ``a`` and ``b`` are packed: row r of ``a`` is row r of A and row r of
    ``b`` is column r of B, both contiguous along K. The 16 sums are plain
    local variables, so LLVM keeps them in registers; with fastmath each
    becomes a vector of partial sums, added up once after the loop.
    """
    a0 = a[i, k0 : k0 + depth]
    a1 = a[i + 1, k0 : k0 + depth]
    a2 = a[i + 2, k0 : k0 + depth]
    a3 = a[i + 3, k0 : k0 + depth]
    b0 = b[j, k0 : k0 + depth]
    b1 = b[j + 1, k0 : k0 + depth]
    b2 = b[j + 2, k0 : k0 + depth]
    b3 = b[j + 3, k0 : k0 + depth]

    c00, c01, c02, c03 = c[i, j], c[i, j + 1], c[i, j + 2], c[i, j + 3]
    c10, c11, c12, c13 = c[i + 1, j], c[i + 1, j + 1], c[i + 1, j + 2], c[i + 1, j + 3]
    c20, c21, c22, c23 = c[i + 2, j], c[i + 2, j + 1], c[i + 2, j + 2], c[i + 2, j + 3]
    c30, c31, c32, c33 = c[i + 3, j], c[i + 3, j + 1], c[i + 3, j + 2], c[i + 3, j + 3]

    for p in range(depth):
        x0, x1, x2, x3 = a0[p], a1[p], a2[p], a3[p]
        y0, y1, y2, y3 = b0[p], b1[p], b2[p], b3[p]
        c00 += x0 * y0
        c01 += x0 * y1
        c02 += x0 * y2
        c03 += x0 * y3
        c10 += x1 * y0
        c11 += x1 * y1
        c12 += x1 * y2
        c13 += x1 * y3
        c20 += x2 * y0
        c21 += x2 * y1
        c22 += x2 * y2
        c23 += x2 * y3
        c30 += x3 * y0
        c31 += x3 * y1
        c32 += x3 * y2
        c33 += x3 * y3

    c[i, j], c[i, j + 1], c[i, j + 2], c[i, j + 3] = c00, c01, c02, c03
    c[i + 1, j], c[i + 1, j + 1], c[i + 1, j + 2], c[i + 1, j + 3] = c10, c11, c12, c13
    c[i + 2, j], c[i + 2, j + 1], c[i + 2, j + 2], c[i + 2, j + 3] = c20, c21, c22, c23
    c[i + 3, j], c[i + 3, j + 1], c[i + 3, j + 2], c[i + 3, j + 3] = c30, c31, c32, c33


@njit(cache=True, fastmath=True)
def _dot(c, i, j, a, b, k0, depth):
    """c[i, j] += a[i, k0:k0+depth] . b[j, k0:k0+depth]: the ragged edge of
    C, where fewer than 4 rows or columns are left for a whole tile."""
    row = a[i, k0 : k0 + depth]
    col = b[j, k0 : k0 + depth]
    total = c[i, j]
    for p in range(depth):
        total += row[p] * col[p]
    c[i, j] = total


@njit(cache=True, parallel=True, fastmath=True)
def _gemm_packed(a, b, rows, cols, depth, block_rows, block_cols, block_depth):
    """C[s] = a[s] @ b[s]^T for packed a (S, M, L) and b (S, N, L).

    Loop nest (the four steps of the module docstring)::

        for each block of C (in parallel):        rows i0:i1, columns j0:j1
            for each slice k0:k0+block_depth of K:
                for i in i0:i1 by 4, for j in j0:j1 by 4:
                    C[i:i+4, j:j+4] += 4 x 4 tile over the slice
    """
    batch = a.shape[0]
    c = np.zeros((batch, rows, cols), dtype=a.dtype)
    row_blocks = (rows + block_rows - 1) // block_rows
    col_blocks = (cols + block_cols - 1) // block_cols
    blocks = row_blocks * col_blocks

    # K (padded with zeros to whole vectors) in equal slices of whole
    # vectors, none longer than block_depth: no short slice at the end.
    aligned = (depth + _ALIGN - 1) // _ALIGN * _ALIGN
    slices = (aligned + block_depth - 1) // block_depth
    per_slice = ((aligned + slices - 1) // slices + _ALIGN - 1) // _ALIGN * _ALIGN

    for task in prange(batch * blocks):
        s = task // blocks
        i0 = (task % blocks) // col_blocks * block_rows
        j0 = (task % col_blocks) * block_cols
        i1 = min(i0 + block_rows, rows)
        j1 = min(j0 + block_cols, cols)
        i_tiles = i0 + (i1 - i0) // _TILE * _TILE
        j_tiles = j0 + (j1 - j0) // _TILE * _TILE
        a_s, b_s, c_s = a[s], b[s], c[s]

        for k0 in range(0, aligned, per_slice):
            slice_depth = min(per_slice, aligned - k0)
            for i in range(i0, i_tiles, _TILE):
                for j in range(j0, j_tiles, _TILE):
                    _tile_4x4(c_s, i, j, a_s, b_s, k0, slice_depth)
                for r in range(i, i + _TILE):
                    for j in range(j_tiles, j1):
                        _dot(c_s, r, j, a_s, b_s, k0, slice_depth)
            for i in range(i_tiles, i1):
                for j in range(j0, j1):
                    _dot(c_s, i, j, a_s, b_s, k0, slice_depth)

    return c


def _pack(x, along_rows, slot):
    """Pack the rows of x (S, R, K) if ``along_rows``, else the columns of
    x (S, K, R), into workspace buffer ``slot``. Rows that are contiguous
    are copied; columns that are contiguous (B itself, or A^T in a backward
    pass) are transposed."""
    rows = x if along_rows else x.transpose(0, 2, 1)
    columns = rows.transpose(0, 2, 1)
    length = _packed_length(rows.shape[2])
    packed = _workspace.take(slot, (x.shape[0], rows.shape[1], length), x.dtype)
    if columns.flags.c_contiguous and not rows.flags.c_contiguous:
        _pack_columns(columns, packed)
        return packed
    return _pack_rows(rows, packed)


def bmm_numba(a, b):
    """``bmm`` on the Numba kernel; a and b of the same float dtype."""
    batch, rows, depth = a.shape
    cols = b.shape[2]
    if depth == 0 or a.size == 0 or b.size == 0:
        return np.zeros((batch, rows, cols), dtype=a.dtype)

    with compiling(_pack_columns, _gemm_packed), threads_for(a.size * cols):
        a_packed = _pack(a, along_rows=True, slot="a")
        b_packed = _pack(b, along_rows=False, slot="b")
        block_depth = _DEPTH_BYTES // a.itemsize
        return _gemm_packed(
            a_packed, b_packed, rows, cols, depth, _ROWS, _COLS, block_depth
        )


# --------------------------------------------------------------------------
# 3. Public functions
# --------------------------------------------------------------------------


def _check_operands(name, a, b, ndim):
    """Raise a one-line ValueError unless a @ b is a valid ``name``."""
    problem = None
    if a.ndim != ndim or b.ndim != ndim:
        problem = f"expects two {ndim}-d arrays"
    elif ndim == 3 and a.shape[0] != b.shape[0]:
        problem = f"batch sizes differ, {a.shape[0]} != {b.shape[0]}"
    elif a.shape[-1] != b.shape[-2]:
        problem = f"inner dimensions differ, {a.shape[-1]} != {b.shape[-2]}"
    elif a.dtype.kind != "f" or b.dtype.kind != "f":
        problem = f"expects float arrays, got {a.dtype} and {b.dtype}"
    if problem is not None:
        raise ValueError(f"{name}: {problem} (a {tuple(a.shape)}, b {tuple(b.shape)})")


def bmm(a, b):
    """Batched matrix product: ``(B, M, K) @ (B, K, N) -> (B, M, N)``.

    float32 and float64 run as they are (float16 is computed in float32);
    operands of two dtypes are promoted as numpy does. Any strides are
    accepted: a transposed view is packed without an extra copy.
    """
    _check_operands("bmm", a, b, ndim=3)
    if device_of(a) == "cuda" or device_of(b) == "cuda":
        from tinycv.kernels.cuda import matmul as cuda_matmul

        return cuda_matmul.bmm(a, b)

    dtype = np.result_type(a, b)
    work = np.promote_types(dtype, np.float32)
    a, b = a.astype(work, copy=False), b.astype(work, copy=False)
    if get_backend() == "reference":
        c = bmm_reference(a, b)
    else:
        c = bmm_numba(a, b)
    return c.astype(dtype, copy=False)


def matmul2d(a, b):
    """Matrix product of two matrices: ``(M, K) @ (K, N) -> (M, N)``."""
    _check_operands("matmul2d", a, b, ndim=2)
    if device_of(a) == "cuda" or device_of(b) == "cuda":
        from tinycv.kernels.cuda import matmul as cuda_matmul

        return cuda_matmul.matmul2d(a, b)
    return bmm(a[None], b[None])[0]
