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

   1. computes C in register tiles (``gemm_nn``): 6 rows by 2 SIMD vectors
      of C, twelve vectors of running sums that stay in registers while the
      loop over K multiplies a column of 6 numbers of A by a row of 2
      vectors of B into them (an outer product): 8 loads for 12 vector
      multiply-adds. CPUs with 32 vector registers (AVX-512) take 4
      vectors at a time where C is wide enough: 10 loads for 24. The
      convolutions use the same tiles;
   2. packs the operands so that this loop walks memory with stride one:
      A by rows, B in panels of one tile's width, each panel a column of
      tiles stored row after row;
   3. cuts C into blocks of rows and columns that one thread computes, and
      K into slices, so that the part of A and of B a block reuses stays
      in cache;
   4. hands the blocks to all cores with ``prange``.

   The packed copies live in a workspace that is kept from one call to the
   next, as BLAS libraries keep theirs: memory freshly taken from the
   operating system costs a page fault per 4 KiB on its first write, which
   at n = 1024 took as long as a third of the arithmetic. Small products
   (a layer of an MLP on one batch) skip all this machinery for one
   compiled call on one thread (``_bmm_small``).

3. The public functions: check shapes (one-line ``ValueError``), then pick
   the GPU twin, the reference loops or the Numba kernel.

``tinycv bench matmul`` measures the kernel against numpy's BLAS on your
machine. Numba has no vector type of its own: ``tinycv.kernels._simd``
gives it one, which is what lets the tile live in registers.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from tinycv.device import device_of
from tinycv.kernels import Workspace, compiling, get_backend
from tinycv.kernels._simd import REGISTER_BYTES, vfma, vlanes, vload, vstore

TILE_ROWS = 6  # rows of C in a register tile; its width is 2 SIMD vectors
# ...or 4 where the CPU has 32 vector registers (AVX-512), enough for 24 sums.
_WIDE_TILE = REGISTER_BYTES == 64
# Blocking. A task computes a block of _ROWS rows of C by _PANELS panels
# of 2 vectors (or half as many of 4), walking K in slices of _DEPTH: a
# slice of one panel (32 or 64 KiB in float32 on AVX-512) stays in L1 or
# L2 while the block's 6-row tiles go down it, and the block's slice of A
# in L2. Small blocks leave enough tasks for every core at n = 256. At
# n = 1024 this runs at 0.63x-0.94x of numpy's OpenBLAS on two AMD Zen 4
# cores, and at 0.67x-0.78x on two Intel Xeon (Sapphire Rapids class)
# cores, whose OpenBLAS reaches ~300 GFLOP/s (0.48x-0.72x there with the
# 2-vector tile only; shared, noisy machines; bench/README.md).
_ROWS = 48
_PANELS = 8
_DEPTH = 256
# Packed operands up to this size reuse the workspace; larger ones, rare in
# this course, are allocated for the call and given back after it.
_WORKSPACE_BYTES = 32 << 20
# Products with fewer multiply-adds than this run whole on the calling
# thread (``_bmm_small``): below it the parallel kernel's overheads outweigh
# the second core (measured on 2 cores: 1.6x faster at 64 x 120 x 84, even
# at 128 x 128 x 128).
SMALL_WORK = 1 << 21


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


@njit(fastmath=True, cache=True)
def gemm_nn(a, a_starts, b, b_starts, c, depth):
    """c += A @ B, where row i of A is a[a_starts[i] : a_starts[i] + depth]
    and row k of B is b[b_starts[k] : b_starts[k] + N], for flat arrays a
    and b and a c of shape (M, N) whose rows are contiguous. M is a
    multiple of 6 and N of the SIMD vector (see ``tinycv.kernels._simd``).

    Rows given by where they start let A and B be packed matrices (row k at
    k times a row's length) or shifted windows of one image (the stride-1
    convolutions of ``tinycv.kernels.conv``), with the same kernel.

    The register tile is 6 rows by 2 vectors of c: twelve vectors of
    running sums that stay in registers for the whole loop over k. Each
    step of that loop loads two vectors of row k of B and multiplies them
    by six numbers of A's column k (an outer product): 8 loads for 12
    vector multiply-adds, and no sums across the lanes of a vector at the
    end, since every lane is an output of its own. With AVX-512 a 6 x
    4-vector tile (``_four_vectors``) takes the columns first, four
    vectors at a time; when N leaves one vector over, a 6 x 1-vector tile
    does the last column.
    """
    m_size, n_size = c.shape
    lanes = vlanes(c)
    quads = n_size // (4 * lanes) * (4 * lanes) if _WIDE_TILE else 0
    pairs = n_size // (2 * lanes) * (2 * lanes)

    for i in range(0, m_size, TILE_ROWS):
        a0, a1, a2 = a[a_starts[i] :], a[a_starts[i + 1] :], a[a_starts[i + 2] :]
        a3, a4, a5 = a[a_starts[i + 3] :], a[a_starts[i + 4] :], a[a_starts[i + 5] :]
        c0, c1, c2, c3, c4, c5 = c[i], c[i + 1], c[i + 2], c[i + 3], c[i + 4], c[i + 5]
        for j in range(0, quads, 4 * lanes):
            _four_vectors(a0, a1, a2, a3, a4, a5, b, b_starts, c[i : i + 6], j, depth)
        for j in range(quads, pairs, 2 * lanes):
            h = j + lanes  # the tile's second vector
            s00, s01 = vload(c0, j), vload(c0, h)
            s10, s11 = vload(c1, j), vload(c1, h)
            s20, s21 = vload(c2, j), vload(c2, h)
            s30, s31 = vload(c3, j), vload(c3, h)
            s40, s41 = vload(c4, j), vload(c4, h)
            s50, s51 = vload(c5, j), vload(c5, h)
            for k in range(depth):
                row = b_starts[k] + j
                x0, x1 = vload(b, row), vload(b, row + lanes)
                s00, s01 = vfma(s00, a0[k], x0), vfma(s01, a0[k], x1)
                s10, s11 = vfma(s10, a1[k], x0), vfma(s11, a1[k], x1)
                s20, s21 = vfma(s20, a2[k], x0), vfma(s21, a2[k], x1)
                s30, s31 = vfma(s30, a3[k], x0), vfma(s31, a3[k], x1)
                s40, s41 = vfma(s40, a4[k], x0), vfma(s41, a4[k], x1)
                s50, s51 = vfma(s50, a5[k], x0), vfma(s51, a5[k], x1)
            vstore(c0, j, s00), vstore(c0, h, s01)
            vstore(c1, j, s10), vstore(c1, h, s11)
            vstore(c2, j, s20), vstore(c2, h, s21)
            vstore(c3, j, s30), vstore(c3, h, s31)
            vstore(c4, j, s40), vstore(c4, h, s41)
            vstore(c5, j, s50), vstore(c5, h, s51)
        if pairs < n_size:
            _last_vector(
                a0, a1, a2, a3, a4, a5, b, b_starts, c[i : i + 6], pairs, depth
            )


@njit(fastmath=True, cache=True)
def _four_vectors(a0, a1, a2, a3, a4, a5, b, b_starts, c, j, depth):
    """``gemm_nn`` on 4 vectors of columns, j .. j + 4 lanes, of 6 rows: 24
    running sums, for CPUs with 32 vector registers (AVX-512), where it
    loads 10 numbers per 24 multiply-adds instead of 8 per 12."""
    lanes = vlanes(c)
    j1, j2, j3 = j + lanes, j + 2 * lanes, j + 3 * lanes
    c0, c1, c2, c3, c4, c5 = c[0], c[1], c[2], c[3], c[4], c[5]
    s00, s01, s02, s03 = vload(c0, j), vload(c0, j1), vload(c0, j2), vload(c0, j3)
    s10, s11, s12, s13 = vload(c1, j), vload(c1, j1), vload(c1, j2), vload(c1, j3)
    s20, s21, s22, s23 = vload(c2, j), vload(c2, j1), vload(c2, j2), vload(c2, j3)
    s30, s31, s32, s33 = vload(c3, j), vload(c3, j1), vload(c3, j2), vload(c3, j3)
    s40, s41, s42, s43 = vload(c4, j), vload(c4, j1), vload(c4, j2), vload(c4, j3)
    s50, s51, s52, s53 = vload(c5, j), vload(c5, j1), vload(c5, j2), vload(c5, j3)
    for k in range(depth):
        row = b_starts[k] + j
        x0, x1 = vload(b, row), vload(b, row + lanes)
        x2, x3 = vload(b, row + 2 * lanes), vload(b, row + 3 * lanes)
        t = a0[k]
        s00, s01 = vfma(s00, t, x0), vfma(s01, t, x1)
        s02, s03 = vfma(s02, t, x2), vfma(s03, t, x3)
        t = a1[k]
        s10, s11 = vfma(s10, t, x0), vfma(s11, t, x1)
        s12, s13 = vfma(s12, t, x2), vfma(s13, t, x3)
        t = a2[k]
        s20, s21 = vfma(s20, t, x0), vfma(s21, t, x1)
        s22, s23 = vfma(s22, t, x2), vfma(s23, t, x3)
        t = a3[k]
        s30, s31 = vfma(s30, t, x0), vfma(s31, t, x1)
        s32, s33 = vfma(s32, t, x2), vfma(s33, t, x3)
        t = a4[k]
        s40, s41 = vfma(s40, t, x0), vfma(s41, t, x1)
        s42, s43 = vfma(s42, t, x2), vfma(s43, t, x3)
        t = a5[k]
        s50, s51 = vfma(s50, t, x0), vfma(s51, t, x1)
        s52, s53 = vfma(s52, t, x2), vfma(s53, t, x3)
    vstore(c0, j, s00), vstore(c0, j1, s01), vstore(c0, j2, s02), vstore(c0, j3, s03)
    vstore(c1, j, s10), vstore(c1, j1, s11), vstore(c1, j2, s12), vstore(c1, j3, s13)
    vstore(c2, j, s20), vstore(c2, j1, s21), vstore(c2, j2, s22), vstore(c2, j3, s23)
    vstore(c3, j, s30), vstore(c3, j1, s31), vstore(c3, j2, s32), vstore(c3, j3, s33)
    vstore(c4, j, s40), vstore(c4, j1, s41), vstore(c4, j2, s42), vstore(c4, j3, s43)
    vstore(c5, j, s50), vstore(c5, j1, s51), vstore(c5, j2, s52), vstore(c5, j3, s53)


@njit(fastmath=True, cache=True)
def _last_vector(a0, a1, a2, a3, a4, a5, b, b_starts, c, j, depth):
    """``gemm_nn`` on one vector of columns, j .. j + lanes, of 6 rows."""
    c0, c1, c2, c3, c4, c5 = c[0], c[1], c[2], c[3], c[4], c[5]
    s0, s1, s2 = vload(c0, j), vload(c1, j), vload(c2, j)
    s3, s4, s5 = vload(c3, j), vload(c4, j), vload(c5, j)
    for k in range(depth):
        x = vload(b, b_starts[k] + j)
        s0, s1, s2 = vfma(s0, a0[k], x), vfma(s1, a1[k], x), vfma(s2, a2[k], x)
        s3, s4, s5 = vfma(s3, a3[k], x), vfma(s4, a4[k], x), vfma(s5, a5[k], x)
    vstore(c0, j, s0), vstore(c1, j, s1), vstore(c2, j, s2)
    vstore(c3, j, s3), vstore(c4, j, s4), vstore(c5, j, s5)


def vector_width(dtype):
    """Numbers of ``dtype`` in one SIMD vector: ``gemm_nn``'s N is a multiple."""
    return REGISTER_BYTES // np.dtype(dtype).itemsize


@njit(parallel=True, cache=True)
def _gemm_packed(a, b, c, block_rows, block_panels, block_depth):
    """C[s] += A[s] @ B[s] for packed a (S, M, K) and b (S, P, K, W).

    ``b`` holds B in P panels of W = 2 (or 4) vectors of columns: panel p
    is the (K, W) block of columns p*W .. p*W + W, stored row after row, so
    the tile's loop over k reads it with stride one. c is (S, M, P*W); M is a
    multiple of 6.

    Loop nest (the four steps of the module docstring)::

        for each block of C (in parallel):   block_rows rows, block_panels panels
            for each slice k0:k0+block_depth of K:
                for each panel of the block:
                    C[rows, panel] += A[rows, slice] @ B[slice, panel]   (gemm_nn)
    """
    batch, rows, depth = a.shape
    panels, width = b.shape[1], b.shape[3]
    row_blocks = (rows + block_rows - 1) // block_rows
    panel_blocks = (panels + block_panels - 1) // block_panels
    blocks = row_blocks * panel_blocks

    for task in prange(batch * blocks):
        s = task // blocks
        i0 = task % blocks // panel_blocks * block_rows
        p0 = task % panel_blocks * block_panels
        i1 = min(i0 + block_rows, rows)
        a_flat = a[s].reshape(rows * depth)
        for k0 in range(0, depth, block_depth):
            slice_depth = min(block_depth, depth - k0)
            a_starts = np.arange(i0, i1) * depth + k0
            b_starts = np.arange(k0, k0 + slice_depth) * width
            for p in range(p0, min(p0 + block_panels, panels)):
                gemm_nn(
                    a_flat,
                    a_starts,
                    b[s, p].reshape(depth * width),
                    b_starts,
                    c[s, i0:i1, p * width : (p + 1) * width],
                    slice_depth,
                )


@njit(fastmath=True, cache=True)
def _bmm_small(a, b):
    """``bmm`` of small C-contiguous operands on the calling thread.

    The same packed product as ``_gemm_packed``, packing included, in one
    compiled call: for a (64, 128) @ (128, 10) layer the Python steps
    around the big kernel (packing with numpy, the parallel region, the
    thread switch) take 4x longer than the arithmetic.
    """
    batch, rows, depth = a.shape
    cols = b.shape[2]
    lanes = vlanes(a)
    rows_pad = (rows + TILE_ROWS - 1) // TILE_ROWS * TILE_ROWS
    cols_pad = (cols + lanes - 1) // lanes * lanes
    a_packed = np.zeros((rows_pad, depth), a.dtype)
    b_packed = np.zeros((depth, cols_pad), a.dtype)
    c_packed = np.empty((rows_pad, cols_pad), a.dtype)
    a_starts = np.arange(rows_pad) * depth
    b_starts = np.arange(depth) * cols_pad
    c = np.empty((batch, rows, cols), a.dtype)
    for s in range(batch):
        a_packed[:rows] = a[s]
        b_packed[:, :cols] = b[s]
        c_packed[:] = 0
        gemm_nn(
            a_packed.reshape(rows_pad * depth),
            a_starts,
            b_packed.reshape(depth * cols_pad),
            b_starts,
            c_packed,
            depth,
        )
        c[s] = c_packed[:rows, :cols]
    return c


# Packed copies up to _WORKSPACE_BYTES reuse these buffers (see Workspace).
_workspace = Workspace(_WORKSPACE_BYTES)


def _pack_a(a, rows):
    """A (S, M, K) as (S, rows, K), rows contiguous, zero rows past M."""
    batch, m, depth = a.shape
    packed = _workspace.take("a", (batch, rows, depth), a.dtype)
    packed[:, :m] = a
    packed[:, m:] = 0
    return packed


def _pack_b(b, width):
    """B (S, K, N) as (S, P, K, width): P panels of ``width`` columns, each
    stored row after row, zero columns past N. numpy does the copy: whole
    rows of a panel are ``width`` numbers side by side in B."""
    batch, depth, cols = b.shape
    panels = (cols + width - 1) // width
    packed = _workspace.take("b", (batch, panels, depth, width), b.dtype)
    whole = cols // width
    if whole:
        packed[:, :whole] = (
            b[:, :, : whole * width]
            .reshape(batch, depth, whole, width)
            .transpose(0, 2, 1, 3)
        )
    if whole < panels:
        rest = cols - whole * width
        packed[:, whole, :, :rest] = b[:, :, whole * width :]
        packed[:, whole, :, rest:] = 0
    return packed


def bmm_numba(a, b):
    """``bmm`` on the Numba kernel; a and b of the same float dtype."""
    batch, rows, depth = a.shape
    cols = b.shape[2]
    if depth == 0 or a.size == 0 or b.size == 0:
        return np.zeros((batch, rows, cols), dtype=a.dtype)

    if a.size * cols < SMALL_WORK:
        with compiling(_bmm_small):
            return _bmm_small(np.ascontiguousarray(a), np.ascontiguousarray(b))

    # A panel is one register tile wide: 2 vectors, or 4 on AVX-512 when C
    # is wide enough that padding it to 4 wastes little. A block holds the
    # same number of columns of C either way.
    wide = _WIDE_TILE and cols >= 8 * vector_width(a.dtype)
    width = (4 if wide else 2) * vector_width(a.dtype)
    panels = _PANELS // 2 if wide else _PANELS
    rows_pad = (rows + TILE_ROWS - 1) // TILE_ROWS * TILE_ROWS
    with compiling(_gemm_packed):
        a_packed = _pack_a(a, rows_pad)
        b_packed = _pack_b(b, width)
        c = np.zeros((batch, rows_pad, b_packed.shape[1] * width), dtype=a.dtype)
        _gemm_packed(a_packed, b_packed, c, _ROWS, panels, _DEPTH)
    if c.shape[1:] != (rows, cols):
        c = np.ascontiguousarray(c[:, :rows, :cols])
    return c


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
