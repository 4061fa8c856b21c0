"""Convolution kernels: conv2d, conv3d and conv_transpose2d, forward and backward.

Layouts follow ``torch.nn.functional``: activations are NCHW (NCDHW for
video), a convolution's weight is ``(C_out, C_in / groups, kh, kw)`` and a
transposed convolution's weight is ``(C_in, C_out / groups, kh, kw)``.
Output sizes follow the convolution arithmetic of the lecture::

    out = (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1

The file reads in three parts.

1. Reference loops. One loop nest per operation, written as the formula
   reads; a student can step through it. Slow, and only for small inputs.
2. Numba kernels. Four ideas carry everything:

   - a convolution is a matrix product once every receptive field is laid
     out as a column ("im2col"); at stride 1 the columns need not even be
     copied, since each is the input itself, shifted by the tap's offset
     (``_conv_forward_shifted``);
   - the matrix product keeps a 6 x 2-vector tile of outputs in SIMD
     registers, 6 x 4 on CPUs with AVX-512 (``matmul.gemm_nn``, on the
     vector type of ``kernels._simd``);
   - on small images the shifted product wastes the columns it computes
     past the end of each output row; there a block of images goes into
     the SIMD lanes instead, one image per lane, and the same product
     wastes nothing (``_conv_forward_lanes``);
   - the other two products of the backward pass are convolutions too:
     the gradient with respect to the input is a transposed convolution of
     the output gradient, and a transposed convolution is an ordinary
     convolution of a zero-stuffed input with the flipped kernel; at
     stride s, better, s x s ordinary convolutions with every s-th tap,
     one per phase of the output, and no stuffed zeros
     (``_conv_transpose_phases``).

   conv2d runs as a conv3d with a depth of one, so one set of kernels
   serves both. Convolutions with fewer than 4 output channels per group
   (depthwise ones), which would leave most of the 6-row register tile
   idle, skip the matrix product and add up their taps directly: with the
   images in the lanes where they can (``_use_lanes``), else in the
   direct loops (``_use_direct`` says when).
3. The public functions: check shapes (one-line ``ValueError``), then pick
   the GPU twin, the reference loops or the Numba kernels.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange

from tinycv.device import device_of
from tinycv.kernels import CACHE_LINE, Workspace, compiling, get_backend
from tinycv.kernels._simd import vfma, vlanes, vload, vmuladd, vstore, vtranspose
from tinycv.kernels._threads import threads_for
from tinycv.kernels.matmul import TILE_ROWS, gemm_nn, vector_width

_BLOCK = 4  # the weight gradient's register tile (``_gemm_nt``) is 4 x 4
_ALIGN_K = 16  # reduction length padded to whole 64-byte lines (16 floats)
_TILE_PIXELS = 512  # output pixels per im2col tile...
_TILE_VALUES = 1 << 18  # ...but an im2col tile stays within ~1 MB
# Padded frames up to this many pixels are convolved whole, one task each
# (LeNet's, CIFAR's); larger ones are cut into runs of rows.
_SMALL_IMAGE = 1200
# The padded copy of a batch lives in this workspace up to 64 MiB (a batch
# of 32 VGG activations of 64 x 32 x 32 takes 9.5 MiB).
_workspace = Workspace(64 << 20)
_SPARE = 64  # values past the end of a flat input: two vectors of any dtype
# The direct loops beat the matrix product (measured on 2-core x86 CPUs) when
# a group has fewer output channels than this (depthwise convolutions)...
_DIRECT_OUT = 4
# ...for the weight gradient, when an output sums fewer products than this:
_DIRECT_GRAD_TAPS = 32
# ...and the direct forward, for pointwise (1x1) convolutions at stride 1 with
# fewer output channels per group than this:
_DIRECT_POINTWISE_OUT = 32
# Bias gradients of at least this many numbers are summed on all cores.
_PARALLEL_SUM = 1 << 20
# The shifted product sums over the taps in slices, so that the input rows a
# task reads for one slice (taps x its wide pixels) stay in a core's L2
# while all its 6-row tiles go down them. A VGG task reads 576 taps x 374
# pixels, 860 KB of float32, more than an AMD Zen 3 core's 512 KiB; in
# slices of 144 its forward went from 69 to 79 GFLOP/s on one core and
# from 138 to 150-160 on two (slices of 64 to 256 taps did as well).
_SHIFTED_SLICE_BYTES = 256 << 10


# The forward puts a block of images in the SIMD lanes when the shifted
# product would drop this share of its columns or more (LeNet's conv2 drops
# 4 in 14, a 28 x 28 image padded by 1 drops 2 in 30: lanes; a 32 x 32 one,
# 2 in 34: shifted, as fast there)...
_LANES_DROPPED = 1 / 16
# ...and one group's input for a block of images fits in this many bytes.
_LANES_BYTES = 1 << 20


def output_size(size, kernel, stride, padding, dilation):
    """The length of a convolution's output along one spatial axis."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def transposed_output_size(size, kernel, stride, padding, output_padding, dilation):
    """The length of a transposed convolution's output along one axis."""
    return (
        (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1
    )


# --------------------------------------------------------------------------
# 1. Reference loops
# --------------------------------------------------------------------------


def conv2d_forward_reference(x, weight, bias, stride, padding, dilation, groups):
    """conv2d as the formula reads, one output element at a time.

    y[n, o, i, j] = b[o] + sum_{c, p, q} w[o, c, p, q]
                         * x[n, g*C_g + c, i*s_h - pad_h + p*d_h, j*s_w - pad_w + q*d_w]

    where g = o // (C_out / groups) is the group of output channel o and
    C_g = C_in / groups. Input positions outside the image are the zero
    padding: they add nothing.
    """
    batch, _, height, width = x.shape
    out_channels, group_channels, kernel_h, kernel_w = weight.shape
    out_per_group = out_channels // groups
    out_h = output_size(height, kernel_h, stride[0], padding[0], dilation[0])
    out_w = output_size(width, kernel_w, stride[1], padding[1], dilation[1])
    y = np.zeros((batch, out_channels, out_h, out_w), dtype=x.dtype)

    for n, o, i, j in np.ndindex(batch, out_channels, out_h, out_w):
        first_channel = (o // out_per_group) * group_channels
        total = 0.0 if bias is None else bias[o]
        for c, p, q in np.ndindex(group_channels, kernel_h, kernel_w):
            row = i * stride[0] - padding[0] + p * dilation[0]
            col = j * stride[1] - padding[1] + q * dilation[1]
            if 0 <= row < height and 0 <= col < width:
                total += weight[o, c, p, q] * x[n, first_channel + c, row, col]
        y[n, o, i, j] = total

    return y


def conv2d_backward_reference(
    grad_y, x, weight, stride, padding, dilation, groups, need_bias
):
    """The forward loop nest again: each product w * x in the sum for y[n, o, i, j]
    sends grad_y[n, o, i, j] * x to the weight and grad_y[n, o, i, j] * w to
    the input; the bias collects grad_y itself."""
    batch, _, height, width = x.shape
    out_channels, group_channels, kernel_h, kernel_w = weight.shape
    out_per_group = out_channels // groups
    grad_x = np.zeros_like(x)
    grad_w = np.zeros_like(weight)
    grad_b = np.zeros(out_channels, dtype=x.dtype)

    for n, o, i, j in np.ndindex(grad_y.shape):
        first_channel = (o // out_per_group) * group_channels
        g = grad_y[n, o, i, j]
        grad_b[o] += g
        for c, p, q in np.ndindex(group_channels, kernel_h, kernel_w):
            row = i * stride[0] - padding[0] + p * dilation[0]
            col = j * stride[1] - padding[1] + q * dilation[1]
            if 0 <= row < height and 0 <= col < width:
                grad_w[o, c, p, q] += g * x[n, first_channel + c, row, col]
                grad_x[n, first_channel + c, row, col] += g * weight[o, c, p, q]

    return grad_x, grad_w, grad_b if need_bias else None


def conv3d_forward_reference(x, weight, bias, stride, padding, dilation, groups):
    """conv3d on NCDHW video clips: conv2d with one more axis, time.

    y[n, o, t, i, j] = b[o] + sum_{c, r, p, q} w[o, c, r, p, q]
                          * x[n, g*C_g + c, t*s_d - pad_d + r*d_d,
                                            i*s_h - pad_h + p*d_h,
                                            j*s_w - pad_w + q*d_w]
    """
    batch, _, depth, height, width = x.shape
    out_channels, group_channels, kernel_d, kernel_h, kernel_w = weight.shape
    out_per_group = out_channels // groups
    out_d, out_h, out_w = (
        output_size(
            x.shape[2 + a], weight.shape[2 + a], stride[a], padding[a], dilation[a]
        )
        for a in range(3)
    )
    y = np.zeros((batch, out_channels, out_d, out_h, out_w), dtype=x.dtype)

    for n, o, t, i, j in np.ndindex(y.shape):
        first_channel = (o // out_per_group) * group_channels
        total = 0.0 if bias is None else bias[o]
        for c, r, p, q in np.ndindex(group_channels, kernel_d, kernel_h, kernel_w):
            frame = t * stride[0] - padding[0] + r * dilation[0]
            row = i * stride[1] - padding[1] + p * dilation[1]
            col = j * stride[2] - padding[2] + q * dilation[2]
            if 0 <= frame < depth and 0 <= row < height and 0 <= col < width:
                total += (
                    weight[o, c, r, p, q] * x[n, first_channel + c, frame, row, col]
                )
        y[n, o, t, i, j] = total

    return y


def conv3d_backward_reference(
    grad_y, x, weight, stride, padding, dilation, groups, need_bias
):
    """The conv3d loop nest, sending each product's gradient to both factors."""
    _, _, depth, height, width = x.shape
    out_channels, group_channels, kernel_d, kernel_h, kernel_w = weight.shape
    out_per_group = out_channels // groups
    grad_x = np.zeros_like(x)
    grad_w = np.zeros_like(weight)
    grad_b = np.zeros(out_channels, dtype=x.dtype)

    for n, o, t, i, j in np.ndindex(grad_y.shape):
        first_channel = (o // out_per_group) * group_channels
        g = grad_y[n, o, t, i, j]
        grad_b[o] += g
        for c, r, p, q in np.ndindex(group_channels, kernel_d, kernel_h, kernel_w):
            frame = t * stride[0] - padding[0] + r * dilation[0]
            row = i * stride[1] - padding[1] + p * dilation[1]
            col = j * stride[2] - padding[2] + q * dilation[2]
            if 0 <= frame < depth and 0 <= row < height and 0 <= col < width:
                grad_w[o, c, r, p, q] += g * x[n, first_channel + c, frame, row, col]
                grad_x[n, first_channel + c, frame, row, col] += (
                    g * weight[o, c, r, p, q]
                )

    return grad_x, grad_w, grad_b if need_bias else None


def conv_transpose2d_forward_reference(
    x, weight, bias, stride, padding, output_padding, groups, dilation
):
    """The transposed convolution as a scatter: every input pixel paints a
    copy of the kernel, scaled by its value, onto the output.

    y[n, g*C_og + o, i*s_h - pad_h + p*d_h, j*s_w - pad_w + q*d_w]
        += x[n, c, i, j] * w[c, o, p, q]       (c in group g)

    Painted positions outside the output are cropped away (that is what
    ``padding`` means here); ``output_padding`` adds rows and columns at
    the bottom and right so the size can match a strided conv2d's input.
    """
    batch, in_channels, height, width = x.shape
    _, out_per_group, kernel_h, kernel_w = weight.shape
    in_per_group = in_channels // groups
    out_h, out_w = (
        transposed_output_size(
            (height, width)[a],
            weight.shape[2 + a],
            stride[a],
            padding[a],
            output_padding[a],
            dilation[a],
        )
        for a in range(2)
    )
    y = np.zeros((batch, out_per_group * groups, out_h, out_w), dtype=x.dtype)

    for n, c, i, j in np.ndindex(x.shape):
        first_out = (c // in_per_group) * out_per_group
        for o, p, q in np.ndindex(out_per_group, kernel_h, kernel_w):
            row = i * stride[0] - padding[0] + p * dilation[0]
            col = j * stride[1] - padding[1] + q * dilation[1]
            if 0 <= row < out_h and 0 <= col < out_w:
                y[n, first_out + o, row, col] += x[n, c, i, j] * weight[c, o, p, q]

    if bias is not None:
        y += bias.reshape(1, -1, 1, 1)
    return y


def conv_transpose2d_backward_reference(
    grad_y, x, weight, stride, padding, output_padding, groups, dilation, need_bias
):
    """The scatter loop nest run backwards: each painted value gathers its
    gradient from where it landed."""
    _, in_channels, _, _ = x.shape
    _, out_per_group, kernel_h, kernel_w = weight.shape
    in_per_group = in_channels // groups
    out_h, out_w = grad_y.shape[2:]
    grad_x = np.zeros_like(x)
    grad_w = np.zeros_like(weight)

    for n, c, i, j in np.ndindex(x.shape):
        first_out = (c // in_per_group) * out_per_group
        for o, p, q in np.ndindex(out_per_group, kernel_h, kernel_w):
            row = i * stride[0] - padding[0] + p * dilation[0]
            col = j * stride[1] - padding[1] + q * dilation[1]
            if 0 <= row < out_h and 0 <= col < out_w:
                g = grad_y[n, first_out + o, row, col]
                grad_x[n, c, i, j] += g * weight[c, o, p, q]
                grad_w[c, o, p, q] += g * x[n, c, i, j]

    grad_b = grad_y.sum(axis=(0, 2, 3)) if need_bias else None
    return grad_x, grad_w, grad_b


# --------------------------------------------------------------------------
# 2. Numba kernels (all on 5-D NCDHW arrays; conv2d has depth 1)
# --------------------------------------------------------------------------


# Each parallel kernel below is a thin ``prange`` over independent tasks; the
# work of one task is a plain function of its own, which keeps the compile
# time down and lets a reader study one task at a time.
#
# Numba turns a[i] into a[i + len(a)] when i < 0, Python's negative-index rule.
# When it cannot prove an index is non-negative, that extra test stops LLVM
# from vectorising the loop. So the inner loops below first slice a row to
# start where they need it, then index it with a plain range variable.


@njit(cache=True)
def _inside(offset, step, length, limit):
    """The range [first, stop) of j < length with 0 <= offset + j*step < limit."""
    first = 0 if offset >= 0 else (step - 1 - offset) // step
    stop = min(length, (limit - 1 - offset) // step + 1)
    return first, max(first, stop)


@njit(cache=True)
def _place_volume(src, dst, offset, step):
    """Copy a volume into a zeroed one, padded, zero-stuffed or cropped.

    dst[o_d + t*s_d, o_h + i*s_h, o_w + j*s_w] = src[t, i, j]

    wherever that position lies inside ``dst``. An offset is the padding in
    front (negative crops); a step above one leaves step - 1 zeros between
    neighbours, as a transposed convolution needs.
    """
    first_t, stop_t = _inside(offset[0], step[0], src.shape[0], dst.shape[0])
    first_i, stop_i = _inside(offset[1], step[1], src.shape[1], dst.shape[1])
    first_j, stop_j = _inside(offset[2], step[2], src.shape[2], dst.shape[2])
    start = offset[2] + first_j * step[2]

    for t in range(first_t, stop_t):
        for i in range(first_i, stop_i):
            src_row = src[t, i, first_j:stop_j]
            dst_row = dst[offset[0] + t * step[0], offset[1] + i * step[1], start:]
            if step[2] == 1:
                for j in range(stop_j - first_j):
                    dst_row[j] = src_row[j]
            else:
                for j in range(stop_j - first_j):
                    dst_row[j * step[2]] = src_row[j]


@njit(parallel=True, cache=True)
def _place(x, out, offset, step):
    """``_place_volume`` for every channel of every image, in parallel, into
    an ``out`` of any contents: each task zeroes its volume first, so the
    zeros are written by the core that fills the volume, while it is in
    cache."""
    batch, channels = x.shape[:2]
    for task in prange(batch * channels):
        n = task // channels
        c = task % channels
        volume = out[n, c]
        volume[:] = 0
        _place_volume(x[n, c], volume, offset, step)


def _placed_batch(x, offset, step, placed):
    """x placed (see ``_place_volume``) in a flat buffer of the workspace:
    (N, C) + placed volumes, then ``_SPARE`` zeros for the vectors that the
    shifted matrix products read past the last output. Returns (flat, the
    volumes as an (N, C) + placed view of it)."""
    size = x.shape[0] * x.shape[1] * math.prod(placed)
    flat = _workspace.take("placed", (size + _SPARE,), x.dtype)
    flat[size:] = 0
    volumes = flat[:size].reshape(x.shape[:2] + placed)
    with compiling(_place):
        _place(x, volumes, offset, step)
    return flat, volumes


@njit(fastmath=True, cache=True)
def _gemm_nt(a, b, c):
    """c[i, j] += sum_k a[i, k] * b[j, k], one 4 x 4 tile of c at a time.

    a is (M, K), b is (N, K), c is (M, N), all C-contiguous; M and N are
    multiples of 4 and K a multiple of 16. Both operands run along k in
    memory, so the k loop streams four rows of each from their start: LLVM
    keeps the sixteen running sums in vector registers (fastmath lets it
    reorder the additions) and each loaded vector feeds four multiply-adds.
    """
    m_size, k_size = a.shape
    n_size = b.shape[0]
    zero = np.zeros(1, dtype=c.dtype)[0]

    for j in range(0, n_size, 4):
        for i in range(0, m_size, 4):
            s00 = s01 = s02 = s03 = zero
            s10 = s11 = s12 = s13 = zero
            s20 = s21 = s22 = s23 = zero
            s30 = s31 = s32 = s33 = zero

            for k in range(k_size):
                a0, a1, a2, a3 = a[i, k], a[i + 1, k], a[i + 2, k], a[i + 3, k]
                b0, b1, b2, b3 = b[j, k], b[j + 1, k], b[j + 2, k], b[j + 3, k]
                s00 += a0 * b0
                s01 += a0 * b1
                s02 += a0 * b2
                s03 += a0 * b3
                s10 += a1 * b0
                s11 += a1 * b1
                s12 += a1 * b2
                s13 += a1 * b3
                s20 += a2 * b0
                s21 += a2 * b1
                s22 += a2 * b2
                s23 += a2 * b3
                s30 += a3 * b0
                s31 += a3 * b1
                s32 += a3 * b2
                s33 += a3 * b3

            c[i, j] += s00
            c[i, j + 1] += s01
            c[i, j + 2] += s02
            c[i, j + 3] += s03
            c[i + 1, j] += s10
            c[i + 1, j + 1] += s11
            c[i + 1, j + 2] += s12
            c[i + 1, j + 3] += s13
            c[i + 2, j] += s20
            c[i + 2, j + 1] += s21
            c[i + 2, j + 2] += s22
            c[i + 2, j + 3] += s23
            c[i + 3, j] += s30
            c[i + 3, j + 1] += s31
            c[i + 3, j + 2] += s32
            c[i + 3, j + 3] += s33


@njit(cache=True)
def _scratch(threads, size, like):
    """Zeroed scratch buffers, one row per thread, of like's dtype.

    Use ``rows[thread, :size]``: the 16 spare values at the end of each row
    keep the threads at least a cache line (64 bytes) apart. When two cores
    write to the same cache line, each write takes the line away from the
    other, and both slow to a crawl.
    """
    return np.zeros((threads, size + 16), dtype=like.dtype)


@njit(cache=True)
def _aligned_zeros(rows, cols, like):
    """A zeroed (rows, cols) array of like's dtype whose data starts on a
    cache line. Numba aligns its arrays to 32 bytes, but an AVX-512 vector
    load that straddles two cache lines costs two loads; with ``cols`` a
    multiple of ``_ALIGN_K`` every row starts on a line."""
    buffer = np.zeros(rows * cols + CACHE_LINE, dtype=like.dtype)
    start = (-buffer.ctypes.data % CACHE_LINE) // buffer.itemsize
    return buffer[start : start + rows * cols].reshape((rows, cols))


@njit(cache=True)
def _row_starts(rows, length):
    """Where each row of a C-contiguous (rows, length) matrix starts."""
    return np.arange(rows) * length


@njit(cache=True)
def _tiling(frames, out_h, out_w, tile_pixels):
    """How the GEMM kernels split the output pixels into tasks.

    A frame is one output frame (t) of one image (n), numbered
    f = n * D_out + t. A tile holds about ``tile_pixels`` pixels: several
    whole frames when a frame is smaller than that (LeNet's 10 x 10
    outputs), else a run of rows of one frame, the frame cut into parts of
    nearly equal height. Returns (frames per tile, rows per tile, frame
    tiles, row tiles); tile number ``task`` is ``_tile_at(task, ...)``.
    """
    if out_h * out_w <= tile_pixels:
        per_tile = tile_pixels // (out_h * out_w)
        frame_tiles = (frames + per_tile - 1) // per_tile
        per_tile = (frames + frame_tiles - 1) // frame_tiles
        return per_tile, out_h, frame_tiles, 1
    parts = (out_h + max(1, tile_pixels // out_w) - 1) // max(1, tile_pixels // out_w)
    rows = (out_h + parts - 1) // parts
    return 1, rows, frames, (out_h + rows - 1) // rows


@njit(cache=True)
def _tile_at(task, tiling, frames, out_h):
    """(first frame, frames, first row, rows) of tile number ``task``."""
    frames_per_tile, rows_per_tile, _, row_tiles = tiling
    first_frame = task // row_tiles * frames_per_tile
    first_row = task % row_tiles * rows_per_tile
    return (
        first_frame,
        min(frames_per_tile, frames - first_frame),
        first_row,
        min(rows_per_tile, out_h - first_row),
    )


@njit(cache=True)
def _columns(xp, tile, g, group_channels, out_d, out_w, kernel, stride, dilation, cols):
    """im2col, transposed: cols[k, pixel] = the input value that tap k of
    group g multiplies at the tile's output pixel.

    ``xp`` is the padded input (N, C, D, H, W). Taps k run in the weight's
    own (c, kd, kh, kw) order; the tile's pixels run frame by frame, row by
    row, out_w to a row. For one tap, a row of outputs reads a row of the
    input (every s-th value at stride s): one copy per tap and output row.
    """
    first_frame, frames, first_row, rows = tile
    kernel_d, kernel_h, kernel_w = kernel
    k = 0
    for c in range(group_channels):
        for r in range(kernel_d):
            for p in range(kernel_h):
                for q in range(kernel_w):
                    for f in range(frames):
                        n, t = divmod(first_frame + f, out_d)
                        frame = t * stride[0] + r * dilation[0]
                        plane = xp[n, g * group_channels + c, frame]
                        for row in range(rows):
                            i = (first_row + row) * stride[1] + p * dilation[1]
                            src = plane[i, q * dilation[2] :]
                            dst = cols[k, (f * rows + row) * out_w :]
                            if stride[2] == 1:
                                for j in range(out_w):
                                    dst[j] = src[j]
                            else:
                                for j in range(out_w):
                                    dst[j] = src[j * stride[2]]
                    k += 1


@njit(parallel=True, cache=True)
def _conv_forward_gemm(xp, packed_weight, bias, y, kernel, stride, dilation):
    """Forward convolution as im2col and one matrix product per tile.

    ``xp`` is the padded input, channels first (N, C, D, H, W);
    ``packed_weight`` is (groups, M, K): row o is w[g*C_og + o] flattened,
    zero rows below C_og up to M, a multiple of the register tile's 6 rows.
    """
    batch, _, out_d, out_h, out_w = y.shape
    taps = packed_weight.shape[2]
    tiling = _tiling(
        batch * out_d, out_h, out_w, min(_TILE_PIXELS, _TILE_VALUES // taps)
    )
    for task in prange(tiling[2] * tiling[3]):
        tile = _tile_at(task, tiling, batch * out_d, out_h)
        _forward_gemm_tile(xp, packed_weight, bias, y, tile, kernel, stride, dilation)


@njit(fastmath=True, cache=True)
def _forward_gemm_tile(xp, packed_weight, bias, y, tile, kernel, stride, dilation):
    """One tile of ``_conv_forward_gemm``. For each group g:

    1. cols = the tile's im2col, (K, pixels)                  (``_columns``);
    2. result = packed_weight[g] @ cols                        (``gemm_nn``);
    3. y[n, g*C_og + o, t, i, j] = bias[g*C_og + o] + result[o, pixel].
    """
    first_frame, frames, first_row, rows = tile
    out_channels, out_d, out_w = y.shape[1], y.shape[2], y.shape[4]
    groups, m_pad, taps = packed_weight.shape
    out_per_group = out_channels // groups
    pixels = frames * rows * out_w
    width = vlanes(y)
    pixels_pad = (pixels + width - 1) // width * width
    cols = _aligned_zeros(taps, pixels_pad, y)
    weight_starts = _row_starts(m_pad, taps)
    col_starts = _row_starts(taps, pixels_pad)
    result = np.empty((m_pad, pixels_pad), dtype=y.dtype)

    group_channels = xp.shape[1] // groups
    for g in range(groups):
        _columns(
            xp, tile, g, group_channels, out_d, out_w, kernel, stride, dilation, cols
        )
        result[:, :] = 0
        weight = packed_weight[g].reshape(m_pad * taps)
        flat_cols = cols.reshape(taps * pixels_pad)
        gemm_nn(weight, weight_starts, flat_cols, col_starts, result, taps)
        for o in range(out_per_group):
            channel = g * out_per_group + o
            for f in range(frames):
                n, t = divmod(first_frame + f, out_d)
                for row in range(rows):
                    dst = y[n, channel, t, first_row + row]
                    src = result[o, (f * rows + row) * out_w :]
                    for j in range(out_w):
                        dst[j] = bias[channel] + src[j]


@njit(cache=True)
def _tap_starts(group_channels, kernel, dilation, placed, count):
    """Where each tap (c, r, p, q) of a group reads, as a flat offset into
    the group's placed volumes (C_g, D_p, H_p, W_p); ``count`` entries, those
    past the taps 0."""
    depth, height, width = placed
    plane = height * width
    starts = np.zeros(count, dtype=np.int64)
    k = 0
    for c in range(group_channels):
        for r in range(kernel[0]):
            for p in range(kernel[1]):
                for q in range(kernel[2]):
                    starts[k] = (
                        c * depth * plane
                        + r * dilation[0] * plane
                        + p * dilation[1] * width
                        + q * dilation[2]
                    )
                    k += 1
    return starts


@njit(cache=True)
def _row_tiling(out_h, width):
    """(rows per task, row tiles of a frame): about ``_TILE_PIXELS`` wide
    pixels a task, the frame cut into parts of nearly equal height."""
    most = max(1, _TILE_PIXELS // width)
    parts = (out_h + most - 1) // most
    rows_per_tile = (out_h + parts - 1) // parts
    return rows_per_tile, (out_h + rows_per_tile - 1) // rows_per_tile


@njit(cache=True)
def _row_task(task, groups, out_d, out_h, tiling, group_channels, placed):
    """Task number -> (image n, group g, frame t, first row, rows, and the
    flat position of its first output's input) for the shifted kernels."""
    rows_per_tile, row_tiles = tiling
    n = task // (groups * out_d * row_tiles)
    g = task // (out_d * row_tiles) % groups
    t = task // row_tiles % out_d
    first_row = task % row_tiles * rows_per_tile
    rows = min(rows_per_tile, out_h - first_row)
    plane = placed[1] * placed[2]
    first = (n * groups + g) * group_channels * placed[0] * plane
    first += t * plane + first_row * placed[2]
    return n, g, t, first_row, rows, first


@njit(parallel=True, cache=True)
def _conv_forward_shifted(
    flat, placed, packed_weight, out_per_group, bias, y, kernel, dilation
):
    """Forward convolution at stride 1, without im2col.

    ``flat`` holds the padded input (N, C, D_p, H_p, W_p) flattened, plus a
    few spare values at the end. At stride 1, output (t, i, j) and the
    input it reads through tap (c, r, p, q) sit at the same flat position
    up to a shift set by the tap alone,

        shift = c * D_p*H_p*W_p + r*d_d * H_p*W_p + p*d_h * W_p + q*d_w,

    if the output is laid out "wide", with the input's row length W_p
    (W_p - W_out columns per row are computed and dropped). So row k of the
    im2col matrix is the input itself, shifted by tap k's shift: the matrix
    product ``matmul.gemm_nn`` reads it in place, and no copy is made.

    ``packed_weight`` is (groups, M, K) as in ``_conv_forward_gemm``. A task
    is a run of output rows of one frame, for one group of one image.
    """
    batch, _, out_d, out_h, _ = y.shape
    groups, _, taps = packed_weight.shape
    width = placed[2]
    group_channels = taps // (kernel[0] * kernel[1] * kernel[2])

    starts = _tap_starts(group_channels, kernel, dilation, placed, taps)
    tiling = _row_tiling(out_h, width)
    for task in prange(batch * groups * out_d * tiling[1]):
        n, g, t, first_row, rows, first = _row_task(
            task, groups, out_d, out_h, tiling, group_channels, placed
        )
        _forward_shifted_tile(
            flat[first:],
            starts,
            packed_weight[g],
            bias[g * out_per_group : (g + 1) * out_per_group],
            y[n, g * out_per_group : (g + 1) * out_per_group, t],
            first_row,
            rows,
            width,
        )


@njit(parallel=True, cache=True)
def _conv_forward_shifted_images(
    x, packed_weight, out_per_group, bias, y, placement, kernel, dilation, threads
):
    """``_conv_forward_shifted`` for small images, which place themselves.

    Here a task is one group of one image, whole, so it can pad its own
    input into a scratch buffer of its thread (``_place_volume`` with the
    ``placement`` (offset, step, placed)) instead of reading a padded copy
    of the whole batch: the copy is made while the task needs it, in cache,
    and the big zeroed buffer is not needed. Every task places its input at
    the same positions, so the zeros around them stay from one task to the
    next.
    """
    offset, step, placed = placement
    batch, _, _, out_h, _ = y.shape
    groups, _, taps = packed_weight.shape
    group_channels = taps // (kernel[0] * kernel[1] * kernel[2])
    volume = placed[0] * placed[1] * placed[2]

    starts = _tap_starts(group_channels, kernel, dilation, placed, taps)
    padded = _scratch(threads, group_channels * volume + _SPARE, y)
    for task in prange(batch * groups):
        n, g = task // groups, task % groups
        window = padded[numba.get_thread_id()]
        for c in range(group_channels):
            channel = window[c * volume : (c + 1) * volume].reshape(placed)
            _place_volume(x[n, g * group_channels + c], channel, offset, step)
        _forward_shifted_tile(
            window,
            starts,
            packed_weight[g],
            bias[g * out_per_group : (g + 1) * out_per_group],
            y[n, g * out_per_group : (g + 1) * out_per_group, 0],
            0,
            out_h,
            placed[2],
        )


@njit(fastmath=True, cache=True)
def _forward_shifted_tile(window, starts, weight, bias, y, first_row, rows, width):
    """One task of ``_conv_forward_shifted``: output rows first_row ..
    first_row + rows of ``y`` (C_og, H_out, W_out), one frame of one group.
    ``window`` starts at the input position of the first output."""
    out_w = y.shape[2]
    length = (rows - 1) * width + out_w
    lanes = vlanes(y)
    m_pad, taps = weight.shape
    result = np.zeros((m_pad, (length + lanes - 1) // lanes * lanes), y.dtype)
    flat_weight = weight.reshape(m_pad * taps)
    weight_starts = _row_starts(m_pad, taps)
    # Taps in equal slices of at most _SHIFTED_SLICE_BYTES of input rows;
    # gemm_nn adds each slice's product to the sums of the slices before.
    most = max(1, _SHIFTED_SLICE_BYTES // (result.shape[1] * result.itemsize))
    slices = (taps + most - 1) // most
    depth = (taps + slices - 1) // slices
    for k0 in range(0, taps, depth):
        k1 = min(k0 + depth, taps)
        gemm_nn(flat_weight, weight_starts + k0, window, starts[k0:k1], result, k1 - k0)
    _crop_rows(result, width, bias, y, first_row, rows)


@njit(fastmath=True, cache=True)
def _crop_rows(result, width, bias, y, first_row, rows):
    """y[o, first_row + row, j] = bias[o] + result[o, row * width + j] for
    j < W_out: the wide rows of a shifted product, cropped to the output.

    Whole vectors are copied even where a row holds fewer numbers (10 for
    LeNet's conv2): the last vector's tail lands on the next rows of y,
    which are written after it. A row whose vectors would reach past the
    task's last row (into another task's output, or past the array) is
    copied number by number instead.
    """
    out_per_group, _, out_w = y.shape
    lanes = vlanes(y)
    reach = (out_w + lanes - 1) // lanes * lanes  # numbers the vectors write
    spread = np.empty(lanes, y.dtype)
    for o in range(out_per_group):
        spread[:] = bias[o]
        shift = vload(spread, 0)
        src = result[o]
        for row in range(rows):
            dst = y[o, first_row + row]
            if reach <= (rows - row) * out_w:
                for j in range(0, out_w, lanes):
                    vstore(dst, j, vfma(shift, 1.0, vload(src, row * width + j)))
            else:
                for j in range(out_w):
                    dst[j] = bias[o] + src[row * width + j]


@njit(parallel=True, cache=True)
def _conv_forward_lanes(
    x,
    packed_weight,
    out_per_group,
    bias,
    y,
    placement,
    kernel,
    dilation,
    parts,
    sizes,
    scratch,
    direct,
):
    """Forward convolution at stride 1 with a block of images in the lanes.

    The shifted product computes wide rows: W_p numbers for W_out outputs,
    and drops the rest (on LeNet's conv2, 4 of every 14). Here lane l of
    every SIMD vector belongs to image l of a block of ``lanes`` images.
    The block's input is laid out (C_g, D_p, H_p, W_p, lanes): pixel after
    pixel, each pixel a vector of the block's values there. An output row
    (W_out pixels of lanes images) then reads, through tap k, the W_out *
    lanes consecutive numbers at tap k's shift (``_tap_starts``) times
    lanes: the same shifted matrix product, one output row at a time,
    without dropped columns. The price is a transpose on the way in and
    one on the way out, which ``vtranspose`` does in registers.

    A task is one group of one block of images, or part of its output rows
    when there are fewer blocks than threads (``parts``). It
    1. moves the block's input channels into the lanes and places them
       padded in its part of ``scratch`` (``_block_in_lanes``);
    2. runs ``gemm_nn`` once per output row into ``staged`` (M, rows *
       W_out * lanes), which starts as the bias; or, when ``direct``
       (depthwise convolutions, whose few output channels per group would
       leave the 6-row tile idle), adds up the taps of each output vector
       itself (``_lanes_direct_row``);
    3. moves each output channel back to NCDHW (``_lanes_out``).

    ``x`` and ``y`` are C-contiguous. ``scratch`` has a row per thread, cut
    into the placed input, one channel's pixels and the staged output; the
    first two parts are ``sizes`` long (see ``_run_lanes``). The placed
    input arrives zeroed: every task places its pixels at the same
    positions, so the zeros around them (the padding) stay.
    """
    offset, step, placed = placement
    batch, channels = x.shape[:2]
    out_channels, out_d, out_h, out_w = y.shape[1:]
    groups, m_pad, taps = packed_weight.shape
    group_channels = channels // groups
    lanes = vlanes(y)
    out_volume = out_d * out_h * out_w
    flat_x, flat_y = x.reshape(-1), y.reshape(-1)
    shape = (x.shape[2], x.shape[3], x.shape[4])

    starts = _tap_starts(group_channels, kernel, dilation, placed, taps) * lanes
    weight_starts = _row_starts(m_pad, taps)
    rows = out_d * out_h
    rows_per_part = (rows + parts - 1) // parts
    row_len = out_w * lanes
    in_size, pixels_size = sizes
    blocks = (batch + lanes - 1) // lanes
    for task in prange(blocks * groups * parts):
        b = task // (groups * parts)
        g = task // parts % groups
        first_row = task % parts * rows_per_part
        count = min(rows_per_part, rows - first_row)
        images = min(lanes, batch - b * lanes)
        mine = scratch[numba.get_thread_id()]
        block_input = mine[:in_size]
        pixels = mine[in_size : in_size + pixels_size]
        staged = mine[in_size + pixels_size :][: m_pad * count * row_len]
        staged = staged.reshape((m_pad, count * row_len))

        _block_in_lanes(
            flat_x,
            channels,
            shape,
            b,
            g * group_channels,
            group_channels,
            offset,
            step,
            placed,
            block_input,
            pixels,
        )
        for o in range(out_per_group if direct else m_pad):
            staged[o, :] = bias[g * out_per_group + o] if o < out_per_group else 0
        for row in range(count):
            t, i = divmod(first_row + row, out_h)
            row_input = block_input[(t * placed[1] + i) * placed[2] * lanes :]
            sums = staged[:, row * row_len : (row + 1) * row_len]
            if direct:
                for o in range(out_per_group):
                    _lanes_direct_row(packed_weight[g, o], row_input, starts, sums[o])
            else:
                gemm_nn(
                    packed_weight[g].reshape(m_pad * taps),
                    weight_starts,
                    row_input,
                    starts,
                    sums,
                    taps,
                )
        for o in range(out_per_group):
            channel = g * out_per_group + o
            first = (b * lanes * out_channels + channel) * out_volume
            _lanes_out(
                staged[o],
                flat_y,
                first + first_row * out_w,
                out_channels * out_volume,
                images,
                count * out_w,
            )


@njit(fastmath=True, cache=True)
def _lanes_direct_row(weights, row_input, starts, sums):
    """sums[j] += sum over taps k of weights[k] * row_input[starts[k] + j]
    for each vector j of ``sums``: one output row of one channel, four
    vectors of images at a time (so that each tap's weight and shift are
    loaded once for four multiply-adds), the weight broadcast to every
    lane."""
    lanes = vlanes(sums)
    fours = sums.size // (4 * lanes) * (4 * lanes)
    for j in range(0, fours, 4 * lanes):
        s0, s1 = vload(sums, j), vload(sums, j + lanes)
        s2, s3 = vload(sums, j + 2 * lanes), vload(sums, j + 3 * lanes)
        for k in range(weights.size):
            at, w = starts[k] + j, weights[k]
            s0 = vfma(s0, w, vload(row_input, at))
            s1 = vfma(s1, w, vload(row_input, at + lanes))
            s2 = vfma(s2, w, vload(row_input, at + 2 * lanes))
            s3 = vfma(s3, w, vload(row_input, at + 3 * lanes))
        vstore(sums, j, s0), vstore(sums, j + lanes, s1)
        vstore(sums, j + 2 * lanes, s2), vstore(sums, j + 3 * lanes, s3)
    for j in range(fours, sums.size, lanes):
        total = vload(sums, j)
        for k in range(weights.size):
            total = vfma(total, weights[k], vload(row_input, starts[k] + j))
        vstore(sums, j, total)


@njit(cache=True)
def _block_in_lanes(
    flat_x,
    channels,
    shape,
    block,
    first_channel,
    count,
    offset,
    step,
    placed,
    block_input,
    pixels,
):
    """Channels first_channel .. first_channel + count of image block
    ``block`` (images block * lanes ...), from the flat NCDHW input of
    ``channels`` channels and spatial ``shape``, into ``block_input``: (count,
    D_p, H_p, W_p, lanes), placed as ``_place_volume`` places a volume.
    ``pixels`` holds one channel on its way; ``block_input`` arrives zeroed
    where nothing is placed."""
    lanes = vlanes(pixels)
    batch = flat_x.size // (channels * shape[0] * shape[1] * shape[2])
    images = min(lanes, batch - block * lanes)
    in_volume = shape[0] * shape[1] * shape[2]
    volume = placed[0] * placed[1] * placed[2]
    fills = offset == (0, 0, 0) and step == (1, 1, 1) and placed == shape
    for c in range(count):
        first = (block * lanes * channels + first_channel + c) * in_volume
        placed_channel = block_input[c * volume * lanes :]
        # Unpadded, the pixels are already in place once in the lanes.
        into = placed_channel if fills else pixels
        _lanes_in(flat_x, first, channels * in_volume, images, in_volume, into)
        if not fills:
            _place_lanes(pixels, shape, placed_channel, offset, step, placed)


@njit(cache=True)
def _lanes_in(source, first, image_step, images, volume, pixels):
    """pixels[v * lanes + l] = source[first + l * image_step + v]: a volume
    of ``images`` images, image after image in ``source``, rearranged pixel
    after pixel with the images in the lanes; lanes past ``images`` are 0."""
    lanes = vlanes(pixels)
    whole = volume // lanes * lanes if images == lanes else 0
    for v in range(0, whole, lanes):
        vtranspose(source, first + v, image_step, pixels, v * lanes, lanes)
    for v in range(whole, volume):
        for lane in range(lanes):
            if lane < images:
                pixels[v * lanes + lane] = source[first + lane * image_step + v]
            else:
                pixels[v * lanes + lane] = 0


@njit(cache=True)
def _lanes_out(pixels, target, first, image_step, images, count):
    """target[first + l * image_step + v] = pixels[v * lanes + l] for the
    first ``count`` pixels and l < ``images``: ``_lanes_in`` undone."""
    lanes = vlanes(pixels)
    whole = count // lanes * lanes if images == lanes else 0
    for v in range(0, whole, lanes):
        vtranspose(pixels, v * lanes, lanes, target, first + v, image_step)
    for v in range(whole, count):
        for lane in range(images):
            target[first + lane * image_step + v] = pixels[v * lanes + lane]


@njit(cache=True)
def _place_lanes(pixels, shape, placed_input, offset, step, placed):
    """``_place_volume`` for a volume of ``shape`` whose values are vectors:
    pixel (t, i, j) of ``pixels`` goes to the placed position in
    ``placed_input``, which is zero elsewhere."""
    lanes = vlanes(pixels)
    first_t, stop_t = _inside(offset[0], step[0], shape[0], placed[0])
    first_i, stop_i = _inside(offset[1], step[1], shape[1], placed[1])
    first_j, stop_j = _inside(offset[2], step[2], shape[2], placed[2])
    for t in range(first_t, stop_t):
        for i in range(first_i, stop_i):
            to_row = (offset[0] + t * step[0]) * placed[1] + offset[1] + i * step[1]
            from_row = t * shape[1] + i
            for j in range(first_j, stop_j):
                to = (to_row * placed[2] + offset[2] + j * step[2]) * lanes
                vstore(
                    placed_input, to, vload(pixels, (from_row * shape[2] + j) * lanes)
                )


@njit(parallel=True, cache=True)
def _conv_forward_direct(
    x, weight, bias, y, offset, step, placed, stride, dilation, threads
):
    """Forward convolution without the matrix product, for depthwise
    convolutions (one output channel per group).

    Each task places the C_g channels of one group of one image into a
    small zeroed buffer of size ``placed`` (see ``_place_volume``) and
    flattens each placed volume (D_p, H_p, W_p) to one long row. At stride
    1, output (t, i, j) and its input (t + r*d_d, i + p*d_h, j + q*d_w) then
    sit at the same flat position up to a shift set by the tap alone,

        shift = r*d_d * H_p*W_p + p*d_h * W_p + q*d_w,

    so each tap is a single multiply-add along a long row, which LLVM
    vectorises:

        wide[:] += w[o, c, r, p, q] * padded_flat[c, shift : shift + L]

    ``wide`` is the stride-1 output laid out with the input's row length:
    the W_p - W_out extra columns of each row are dropped, and a strided
    convolution keeps every s-th row and column. A depthwise convolution
    (MobileNet) has one output channel per group, where the matrix
    product's 6-row register tile would be 5/6 idle.
    """
    batch, out_channels, out_d, out_h, out_w = y.shape
    group_channels, kernel_d, kernel_h, kernel_w = weight.shape[1:]
    groups = x.shape[1] // group_channels
    depth, height, width = placed
    plane = height * width
    volume = depth * plane
    length = (
        (out_d - 1) * stride[0] * plane
        + (out_h - 1) * stride[1] * width
        + (out_w - 1) * stride[2]
        + 1
    )

    # Where each tap starts reading the flattened channels of a group. Every
    # pass over ``wide`` adds three taps, which loads and stores ``wide`` a
    # third as often; the last pass is filled up with zero taps.
    taps = group_channels * kernel_d * kernel_h * kernel_w
    shifts = _tap_starts(
        group_channels, weight.shape[2:], dilation, placed, (taps + 2) // 3 * 3
    )

    # Scratch buffers for each of the ``threads`` threads, reused by all its
    # tasks. Every task places its input at the same positions, so the zeros
    # around them (the padding) stay.
    padded = _scratch(threads, group_channels * volume, y)
    tap_weights = _scratch(threads, shifts.size, y)
    wide = _scratch(threads, length, y)

    for task in prange(batch * groups):
        thread = numba.get_thread_id()
        scratch = (
            padded[thread, : group_channels * volume],
            tap_weights[thread, : shifts.size],
            wide[thread, :length],
        )
        _forward_direct_group(
            x, weight, bias, y, task, offset, step, placed, stride, shifts, scratch
        )


@njit(fastmath=True, cache=True)
def _forward_direct_group(
    x, weight, bias, y, task, offset, step, placed, stride, shifts, scratch
):
    """One task of ``_conv_forward_direct``: one group of one image."""
    rows, tap_weights, wide = scratch
    out_channels, out_d, out_h, out_w = y.shape[1:]
    group_channels = weight.shape[1]
    groups = x.shape[1] // group_channels
    out_per_group = out_channels // groups
    n, g = task // groups, task % groups
    depth, height, width = placed
    volume = depth * height * width
    step_t, step_i = stride[0] * height * width, stride[1] * width
    length = wide.size
    taps = group_channels * weight.shape[2] * weight.shape[3] * weight.shape[4]

    for c in range(group_channels):
        channel = rows[c * volume : (c + 1) * volume].reshape(placed)
        _place_volume(x[n, g * group_channels + c], channel, offset, step)

    for o in range(g * out_per_group, (g + 1) * out_per_group):
        tap_weights[:taps] = weight[o].reshape(taps)
        for m in range(length):
            wide[m] = 0
        for k in range(0, shifts.size, 3):
            w0, w1, w2 = tap_weights[k], tap_weights[k + 1], tap_weights[k + 2]
            src0 = rows[shifts[k] :]
            src1 = rows[shifts[k + 1] :]
            src2 = rows[shifts[k + 2] :]
            for m in range(length):
                wide[m] += w0 * src0[m] + w1 * src1[m] + w2 * src2[m]

        for t in range(out_d):
            for i in range(out_h):
                src = wide[t * step_t + i * step_i :]
                dst = y[n, o, t, i]
                if stride[2] == 1:
                    for j in range(out_w):
                        dst[j] = bias[o] + src[j]
                else:
                    for j in range(out_w):
                        dst[j] = bias[o] + src[j * stride[2]]


@njit(parallel=True, cache=True)
def _conv_weight_grad_gemm(xp, grad_y, partial, kernel, stride, dilation):
    """grad_w[o, k] = sum over output pixels of grad_y[o, pixel] * cols[k, pixel].

    ``xp`` is the padded input, channels first (N, C, D, H, W). The tiles
    are the forward pass's (``_tiling``): the matrix product of a tile sums
    over its pixels. Each thread adds its tiles into its own slice
    ``partial[thread]`` of shape (groups, M, K); the caller adds the slices.
    """
    batch, _, out_d, out_h, out_w = grad_y.shape
    tiling = _tiling(
        batch * out_d,
        out_h,
        out_w,
        min(_TILE_PIXELS, _TILE_VALUES // partial.shape[3]),
    )
    for task in prange(tiling[2] * tiling[3]):
        tile = _tile_at(task, tiling, batch * out_d, out_h)
        thread = numba.get_thread_id()
        _weight_grad_gemm_tile(
            xp, grad_y, partial[thread], tile, kernel, stride, dilation
        )


@njit(fastmath=True, cache=True)
def _weight_grad_gemm_tile(xp, grad_y, total, tile, kernel, stride, dilation):
    """One tile of ``_conv_weight_grad_gemm``. For each group g:

    1. grads[o, pixel] = grad_y of the group's output channel o;
    2. cols = the tile's im2col, (K, pixels)                  (``_columns``);
    3. total[g] += grads @ cols.T                             (``_gemm_nt``).

    Here the matrix product sums over the tile's pixels, a long sum, and the
    4 x 4 tile of dot products of ``_gemm_nt`` suits it.
    """
    first_frame, frames, first_row, rows = tile
    out_channels, out_d, out_w = grad_y.shape[1], grad_y.shape[2], grad_y.shape[4]
    groups, m_pad, k_pad = total.shape
    group_channels = xp.shape[1] // groups
    out_per_group = out_channels // groups
    pixels_pad = (frames * rows * out_w + _ALIGN_K - 1) // _ALIGN_K * _ALIGN_K
    grads = _aligned_zeros(m_pad, pixels_pad, xp)
    cols = _aligned_zeros(k_pad, pixels_pad, xp)

    for g in range(groups):
        for o in range(out_per_group):
            for f in range(frames):
                n, t = divmod(first_frame + f, out_d)
                for row in range(rows):
                    src = grad_y[n, g * out_per_group + o, t, first_row + row]
                    dst = grads[o, (f * rows + row) * out_w :]
                    for j in range(out_w):
                        dst[j] = src[j]
        _columns(
            xp, tile, g, group_channels, out_d, out_w, kernel, stride, dilation, cols
        )
        _gemm_nt(grads, cols, total[g])


@njit(parallel=True, cache=True)
def _conv_weight_grad_shifted(
    flat, placed, channels, grad_y, partial, kernel, dilation
):
    """The weight gradient at stride 1, without im2col.

    With the wide layout of ``_conv_forward_shifted``,

        grad_w[o, k] = sum over wide pixels m of grad_y[o, m] * flat[shift_k + m],

    a matrix product grad_w^T = A @ B whose row k of A is the input window
    shifted by tap k, read in place, and whose B (pixels, C_og) is grad_y
    transposed, zero in the dropped columns. A task is a run of output
    rows of one frame, for one group of one image; each thread adds its
    tasks into its own ``partial[thread]`` of shape (groups, K', C_og'),
    K and C_og rounded up to the register tile; the caller adds them up.
    ``grad_y`` is C-contiguous.
    """
    batch, out_channels, out_d, out_h, _ = grad_y.shape
    _, groups, k_pad, _ = partial.shape
    out_per_group = out_channels // groups
    group_channels = channels // groups
    width = placed[2]

    # Rows past K start at 0: they compute sums that nobody reads.
    starts = _tap_starts(group_channels, kernel, dilation, placed, k_pad)
    tiling = _row_tiling(out_h, width)
    plane = out_h * grad_y.shape[4]
    flat_grad_y = grad_y.reshape(-1)
    for task in prange(batch * groups * out_d * tiling[1]):
        n, g, t, first_row, rows, first = _row_task(
            task, groups, out_d, out_h, tiling, group_channels, placed
        )
        first_channel = g * out_per_group
        channel = n * out_channels + first_channel
        _weight_grad_shifted_tile(
            flat[first:],
            starts,
            grad_y[n, first_channel:, t, first_row:][:out_per_group, :rows],
            flat_grad_y,
            (
                (channel * out_d + t) * plane + first_row * grad_y.shape[4],
                out_d * plane,
            ),
            partial[numba.get_thread_id(), g],
            rows,
            width,
        )


@njit(fastmath=True, cache=True)
def _weight_grad_shifted_tile(window, starts, grads, flat, where, total, rows, width):
    """One task of ``_conv_weight_grad_shifted``: the output rows of
    ``grads`` (C_og, rows, W_out); ``window`` starts at the input position
    of the first of them; total (K', C_og') += A @ B. The same numbers sit
    in ``flat`` (all of grad_y), channel o's first row at where[0] + o *
    where[1]."""
    out_per_group, _, out_w = grads.shape
    columns = total.shape[1]
    length = (rows - 1) * width + out_w
    lanes = vlanes(total)
    # B = grads transposed to (wide pixels, channels), zero in the dropped
    # columns: 16 x 16 blocks (a vector each way) in registers where rows
    # and channels are that long, the rest number by number, a row of
    # grads_t at a time (its reads, one per channel plane, come back to the
    # same few cache lines pixel after pixel: 3x faster than the other
    # order, which writes a number per cache line).
    grads_t = np.zeros((length, columns), dtype=total.dtype)
    whole_o = out_per_group // lanes * lanes
    whole_j = out_w // lanes * lanes
    flat_t = grads_t.reshape(length * columns)
    first, step = where
    for row in range(rows):
        for j in range(0, whole_j, lanes):
            for o in range(0, whole_o, lanes):
                src = first + o * step + row * out_w + j
                at = (row * width + j) * columns + o
                vtranspose(flat, src, step, flat_t, at, columns)
    tail = grads[whole_o:]  # channels past the last whole block
    for row in range(rows):
        for j in range(whole_j):
            dst = grads_t[row * width + j, whole_o:]
            for o in range(out_per_group - whole_o):
                dst[o] = tail[o, row, j]
        for j in range(whole_j, out_w):
            dst = grads_t[row * width + j]
            for o in range(out_per_group):
                dst[o] = grads[o, row, j]
    gemm_nn(
        window,
        starts,
        flat_t,
        _row_starts(length, columns),
        total,
        length,
    )


@njit(parallel=True, cache=True)
def _conv_weight_grad_lanes(
    x, grad_y, partial, placement, kernel, dilation, sizes, scratch
):
    """The weight gradient at stride 1 with a block of images in the lanes,
    for the convolutions whose direct loops would run it (depthwise ones,
    few taps):

        grad_w[o, c, k] = sum over images and output pixels m of
                          grad_y[o, m] * placed x[c, m + shift_k].

    The block's input goes into the lanes as in ``_conv_forward_lanes``;
    each output channel's grad_y goes into the lanes too, spread over wide
    rows of the placed input's width (zeros in the dropped columns). Then
    each sum is one loop of vector products along the rows
    (``_lane_dot``), whose lanes are added at the end. A task is one group
    of one block of images; ``partial[thread]`` (C_out, C_g * taps) gathers
    the sums of the thread's tasks. ``x`` and ``grad_y`` are C-contiguous;
    ``scratch`` has a row per thread, cut into the placed input, a volume
    of pixels and the wide rows (``sizes``), the first and last zeroed.
    """
    offset, step, placed = placement
    batch, channels = x.shape[:2]
    out_channels, out_d, out_h, out_w = grad_y.shape[1:]
    taps = kernel[0] * kernel[1] * kernel[2]
    group_channels = partial.shape[2] // taps
    groups = channels // group_channels
    out_per_group = out_channels // groups
    lanes = vlanes(partial)
    out_volume = out_d * out_h * out_w
    plane = placed[1] * placed[2]
    length = (out_d - 1) * plane + (out_h - 1) * placed[2] + out_w
    flat_x, flat_g = x.reshape(-1), grad_y.reshape(-1)
    shape = (x.shape[2], x.shape[3], x.shape[4])
    shifts = _tap_starts(group_channels, kernel, dilation, placed, partial.shape[2])
    shifts *= lanes
    in_size, pixels_size = sizes

    blocks = (batch + lanes - 1) // lanes
    for task in prange(blocks * groups):
        b, g = task // groups, task % groups
        images = min(lanes, batch - b * lanes)
        thread = numba.get_thread_id()
        mine = scratch[thread]
        block_input = mine[:in_size]
        pixels = mine[in_size : in_size + pixels_size]
        wide = mine[in_size + pixels_size :]
        _block_in_lanes(
            flat_x,
            channels,
            shape,
            b,
            g * group_channels,
            group_channels,
            offset,
            step,
            placed,
            block_input,
            pixels,
        )
        for o in range(g * out_per_group, (g + 1) * out_per_group):
            first = (b * lanes * out_channels + o) * out_volume
            _lanes_in(
                flat_g, first, out_channels * out_volume, images, out_volume, pixels
            )
            for t in range(out_d):
                for i in range(out_h):
                    row = pixels[((t * out_h + i) * out_w) * lanes :]
                    to = wide[(t * plane + i * placed[2]) * lanes :]
                    for j in range(out_w * lanes):
                        to[j] = row[j]
            sums = partial[thread, o]
            for k in range(shifts.size):
                sums[k] += _lane_dot(wide, block_input[shifts[k] :], length * lanes)


@njit(fastmath=True, cache=True)
def _lane_dot(u, v, count):
    """The sum of u[m] * v[m] for m < count (a whole number of vectors):
    four vectors of running products, added lane by lane at the end."""
    lanes = vlanes(u)
    spill = np.zeros(4 * lanes, dtype=u.dtype)
    s0, s1 = vload(spill, 0), vload(spill, lanes)
    s2, s3 = vload(spill, 2 * lanes), vload(spill, 3 * lanes)
    fours = count // (4 * lanes) * (4 * lanes)
    for m in range(0, fours, 4 * lanes):
        s0 = vmuladd(s0, vload(u, m), vload(v, m))
        s1 = vmuladd(s1, vload(u, m + lanes), vload(v, m + lanes))
        s2 = vmuladd(s2, vload(u, m + 2 * lanes), vload(v, m + 2 * lanes))
        s3 = vmuladd(s3, vload(u, m + 3 * lanes), vload(v, m + 3 * lanes))
    for m in range(fours, count, lanes):
        s0 = vmuladd(s0, vload(u, m), vload(v, m))
    vstore(spill, 0, s0), vstore(spill, lanes, s1)
    vstore(spill, 2 * lanes, s2), vstore(spill, 3 * lanes, s3)
    return spill.sum()


@njit(parallel=True, cache=True)
def _conv_weight_grad_direct(x, grad_y, grad_w, padding, placed, stride, dilation):
    """grad_w[o, c, r, p, q] = sum_{n, t, i, j} grad_y[n, o, t, i, j] * (matching x).

    The flat layout of ``_conv_forward_direct`` again: spread grad_y over a
    wide row (zeros between strided outputs); then the gradient of each tap
    is one long dot product of that row with the padded input row shifted by
    the tap, summed over the batch. One output channel per task; ``grad_w``
    arrives zeroed.
    """
    for o in prange(grad_w.shape[0]):
        _weight_grad_direct_channel(
            x, grad_y, grad_w, o, padding, placed, stride, dilation
        )


@njit(fastmath=True, cache=True)
def _weight_grad_direct_channel(
    x, grad_y, grad_w, o, padding, placed, stride, dilation
):
    """One task of ``_conv_weight_grad_direct``: output channel o."""
    batch, out_channels, out_d, out_h, out_w = grad_y.shape
    group_channels, kernel_d, kernel_h, kernel_w = grad_w.shape[1:]
    out_per_group = out_channels // (x.shape[1] // group_channels)
    first_channel = (o // out_per_group) * group_channels
    depth, height, width = placed
    plane = height * width
    step_t, step_i = stride[0] * plane, stride[1] * width
    length = (out_d - 1) * step_t + (out_h - 1) * step_i + (out_w - 1) * stride[2] + 1
    zero = np.zeros(1, dtype=x.dtype)[0]

    # Every image writes the same positions of these two buffers, so the
    # zeros around them (padding, gaps between strided outputs) stay.
    padded = np.zeros((group_channels, depth, height, width), dtype=x.dtype)
    flat = padded.reshape((group_channels, depth * plane))
    wide = np.zeros(length, dtype=x.dtype)

    for n in range(batch):
        for c in range(group_channels):
            _place_volume(x[n, first_channel + c], padded[c], padding, (1, 1, 1))
        for t in range(out_d):
            for i in range(out_h):
                dst = wide[t * step_t + i * step_i :]
                src = grad_y[n, o, t, i]
                for j in range(out_w):
                    dst[j * stride[2]] = src[j]

        for c in range(group_channels):
            for r in range(kernel_d):
                for p in range(kernel_h):
                    for q in range(kernel_w):
                        shift = (
                            r * dilation[0] * plane
                            + p * dilation[1] * width
                            + q * dilation[2]
                        )
                        src = flat[c, shift:]
                        total = zero
                        for m in range(length):
                            total += wide[m] * src[m]
                        grad_w[o, c, r, p, q] += total


def _sum_per_channel(grad_y):
    """grad_y summed over everything but the channel axis: the bias gradient.

    numpy's sum over the axes (0, 2, 3) walks the array in short pieces:
    one einsum over (N, C, pixels) runs about 4x faster. A large gradient
    is summed plane by plane on all cores instead (``_plane_sums``).
    """
    batch, channels = grad_y.shape[:2]
    if grad_y.size < _PARALLEL_SUM:
        return np.einsum("ncp->c", grad_y.reshape(batch, channels, -1))
    planes = np.ascontiguousarray(grad_y).reshape(batch, channels, -1)
    with compiling(_plane_sums):
        return _plane_sums(planes).sum(axis=0)


@njit(parallel=True, fastmath=True, cache=True)
def _plane_sums(planes):
    """sums[n, c] = the sum of planes[n, c, :], for a C-contiguous (N, C, P).
    fastmath lets LLVM add in vectors, in another order than one by one."""
    batch, channels, pixels = planes.shape
    sums = np.zeros((batch, channels), dtype=planes.dtype)
    for task in prange(batch * channels):
        n, c = task // channels, task % channels
        plane = planes[n, c]
        total = sums[n, c]
        for p in range(pixels):
            total += plane[p]
        sums[n, c] = total
    return sums


def _round_up(value, multiple):
    return (value + multiple - 1) // multiple * multiple


def _use_direct(weight_shape, groups, stride, gradient=False):
    """Whether the direct loops beat the matrix product (measured on 2-core
    x86 CPUs, Intel and AMD).

    The matrix product's register tile is 6 output channels tall, so a group
    with fewer than ``_DIRECT_OUT`` of them (depthwise convolutions) wastes
    most of it: direct. The forward's matrix product reads the input in place at
    stride 1, so only pointwise convolutions with few output channels, whose
    direct loops stream whole planes, are faster direct; at stride > 1 the
    direct loops compute every stride-1 output and drop most. The weight
    gradient's matrix product has the taps as rows: direct below
    ``_DIRECT_GRAD_TAPS`` of them.
    """
    out_per_group = weight_shape[0] // groups
    if out_per_group < _DIRECT_OUT:
        return True
    if gradient:
        return math.prod(weight_shape[1:]) < _DIRECT_GRAD_TAPS
    pointwise = all(k == 1 for k in weight_shape[2:])
    unit_stride = all(s == 1 for s in stride)
    return pointwise and unit_stride and out_per_group < _DIRECT_POINTWISE_OUT


def _use_lanes(x_shape, weight_shape, groups, stride, placed, out_size, dtype):
    """Whether to run the forward with the images in the lanes
    (``_conv_forward_lanes``): at stride 1, on a batch of at least one
    vector of images, when one group's placed block of images fits in
    ``_LANES_BYTES`` of cache. Depthwise convolutions always (the direct
    loops spend most of their time padding and cropping small rows), and
    others when the shifted product would drop at least
    ``_LANES_DROPPED`` of its wide columns (not the pointwise convolutions
    that ``_use_direct`` sends to the direct loops)."""
    lanes = vector_width(dtype)
    if x_shape[0] < lanes or any(s != 1 for s in stride):
        return False
    itemsize = np.dtype(dtype).itemsize
    if x_shape[1] // groups * math.prod(placed) * lanes * itemsize > _LANES_BYTES:
        return False
    if weight_shape[0] // groups < _DIRECT_OUT:
        return True
    if _use_direct(weight_shape, groups, stride):
        return False
    return (placed[2] - out_size[2]) / placed[2] >= _LANES_DROPPED


def _use_lanes_for_grad(x_shape, groups, stride, placed, dtype):
    """Whether a weight gradient that ``_use_direct`` sends to the direct
    loops runs with the images in the lanes instead: at stride 1, on a
    batch of at least one vector of images, when one group's placed block
    of images fits in ``_LANES_BYTES``."""
    lanes = vector_width(dtype)
    if x_shape[0] < lanes or any(s != 1 for s in stride):
        return False
    itemsize = np.dtype(dtype).itemsize
    return x_shape[1] // groups * math.prod(placed) * lanes * itemsize <= _LANES_BYTES


def _weight_grad_lanes(x, grad_y, weight_shape, placement, dilation):
    """Call ``_conv_weight_grad_lanes`` with scratch from the workspace."""
    threads = numba.get_num_threads()
    lanes = vector_width(x.dtype)
    group_channels = weight_shape[1]
    kernel = weight_shape[2:]
    placed = placement[2]
    out = grad_y.shape[2:]
    volume = max(math.prod(x.shape[2:]), math.prod(out))
    length = (out[0] - 1) * placed[1] * placed[2] + (out[1] - 1) * placed[2] + out[2]
    # Each part a whole number of 16 values, so that each starts on a cache line.
    sizes = (
        _round_up(group_channels * math.prod(placed) * lanes, 16),
        _round_up(volume * lanes, 16),
    )
    wide = _round_up(length * lanes, 16)
    scratch = _workspace.take("lanes_grad", (threads, sum(sizes) + wide), x.dtype)
    scratch[:, : sizes[0]] = 0  # the padding's zeros
    scratch[:, sum(sizes) :] = 0  # the dropped columns' zeros
    partial = np.zeros(
        (threads, weight_shape[0], group_channels * math.prod(kernel)), x.dtype
    )
    with compiling(_conv_weight_grad_lanes):
        _conv_weight_grad_lanes(
            np.ascontiguousarray(x),
            np.ascontiguousarray(grad_y),
            partial,
            placement,
            kernel,
            dilation,
            sizes,
            scratch,
        )
    return partial.sum(axis=0).reshape(weight_shape)


def _run_lanes(x, packed, bias, y, placement, kernel, dilation):
    """Call ``_conv_forward_lanes`` with scratch from the workspace; the
    direct taps where a group has fewer than ``_DIRECT_OUT`` outputs."""
    threads = numba.get_num_threads()
    lanes = vector_width(x.dtype)
    groups, m_pad = packed.shape[:2]
    blocks = -(-x.shape[0] // lanes) * groups
    rows = y.shape[2] * y.shape[3]
    parts = min(rows, -(-threads // blocks))  # enough tasks for every thread
    # Each part a whole number of 16 values, so that each starts on a cache line.
    sizes = (
        _round_up(x.shape[1] // groups * math.prod(placement[2]) * lanes, 16),
        _round_up(math.prod(x.shape[2:]) * lanes, 16),
    )
    staged = m_pad * -(-rows // parts) * y.shape[4] * lanes
    scratch = _workspace.take("lanes", (threads, sum(sizes) + staged), x.dtype)
    offset, step, placed = placement
    if offset != (0, 0, 0) or step != (1, 1, 1) or placed != x.shape[2:]:
        scratch[:, : sizes[0]] = 0  # the padding's zeros
    with compiling(_conv_forward_lanes):
        _conv_forward_lanes(
            np.ascontiguousarray(x),
            packed,
            y.shape[1] // groups,
            bias,
            y,
            placement,
            kernel,
            dilation,
            parts,
            sizes,
            scratch,
            y.shape[1] // groups < _DIRECT_OUT,
        )


def _pack_weight(weight, groups):
    """(C_out, C_g, kd, kh, kw) -> (groups, M, K): row o of group g is
    w[g*C_og + o] flattened, then zero rows up to M, a whole number of the
    register tile's 6 rows."""
    out_channels = weight.shape[0]
    out_per_group = out_channels // groups
    rows = weight.reshape(groups, out_per_group, -1)
    packed = np.zeros(
        (groups, _round_up(out_per_group, TILE_ROWS), rows.shape[2]), weight.dtype
    )
    packed[:, :out_per_group] = rows
    return packed


def _flip_for_transpose(weight, groups):
    """A transposed convolution's weight (C_in, C_og, k...) as the weight of
    the equivalent convolution, (C_og * groups, C_in / groups, k...), with
    the kernel flipped along every spatial axis."""
    in_channels, out_per_group = weight.shape[:2]
    kernel = weight.shape[2:]
    per_group = weight.reshape((groups, in_channels // groups, out_per_group) + kernel)
    swapped = per_group.transpose(0, 2, 1, 3, 4, 5)[:, :, :, ::-1, ::-1, ::-1]
    return np.ascontiguousarray(
        swapped.reshape((groups * out_per_group, in_channels // groups) + kernel)
    )


def _numba_conv(x, weight, bias, stride, dilation, groups, offset, step, placed):
    """Convolve the placed input (see ``_place_volume``) with ``weight``; 5-D.

    A small convolution runs on one thread (``threads_for``): waking the
    other cores would cost more than the work.
    """
    outputs = x.shape[0] * weight.shape[0] * math.prod(placed)
    with threads_for(outputs * (weight.size // weight.shape[0])):
        return _numba_conv_on_threads(
            x, weight, bias, stride, dilation, groups, offset, step, placed
        )


def _numba_conv_on_threads(
    x, weight, bias, stride, dilation, groups, offset, step, placed
):
    batch, channels = x.shape[:2]
    out_channels = weight.shape[0]
    kernel = weight.shape[2:]
    out_size = tuple(
        (placed[a] - dilation[a] * (kernel[a] - 1) - 1) // stride[a] + 1
        for a in range(3)
    )
    y = np.empty((batch, out_channels) + out_size, dtype=x.dtype)
    if bias is None:
        bias = np.zeros(out_channels, dtype=x.dtype)

    if _use_lanes(x.shape, weight.shape, groups, stride, placed, out_size, x.dtype):
        packed = _pack_weight(weight, groups)
        _run_lanes(x, packed, bias, y, (offset, step, placed), kernel, dilation)
        return y
    if _use_direct(weight.shape, groups, stride):
        threads = numba.get_num_threads()
        with compiling(_conv_forward_direct):
            _conv_forward_direct(
                x, weight, bias, y, offset, step, placed, stride, dilation, threads
            )
        return y

    packed = _pack_weight(weight, groups)
    if stride == (1, 1, 1) and out_size[0] == 1 and math.prod(placed) <= _SMALL_IMAGE:
        with compiling(_conv_forward_shifted_images):
            _conv_forward_shifted_images(
                x,
                packed,
                out_channels // groups,
                bias,
                y,
                (offset, step, placed),
                kernel,
                dilation,
                numba.get_num_threads(),
            )
        return y

    flat, xp = _placed_batch(x, offset, step, placed)
    if stride == (1, 1, 1):
        with compiling(_conv_forward_shifted):
            _conv_forward_shifted(
                flat, placed, packed, out_channels // groups, bias, y, kernel, dilation
            )
    else:
        with compiling(_conv_forward_gemm):
            _conv_forward_gemm(xp, packed, bias, y, kernel, stride, dilation)
    return y


def _numba_conv_transpose(x, weight, bias, stride, padding, dilation, groups, size):
    """A transposed convolution with output spatial size ``size``, as
    ordinary convolutions; 5-D arrays.

    Strided ones go by phases (``_conv_transpose_phases``), unless an axis
    has both a stride and a dilation above one; the others stuff zeros
    (``_conv_transpose_stuffed``), which at stride 1 means no zeros at all.
    """
    if stride != (1, 1, 1) and all(s == 1 or d == 1 for s, d in zip(stride, dilation)):
        return _conv_transpose_phases(
            x, weight, bias, stride, padding, dilation, groups, size
        )
    return _conv_transpose_stuffed(
        x, weight, bias, stride, padding, dilation, groups, size
    )


def _conv_transpose_stuffed(x, weight, bias, stride, padding, dilation, groups, size):
    """The transposed convolution as one convolution: stuff stride - 1
    zeros between input pixels, pad by d * (k - 1) - padding (crop where
    negative), flip the kernel and convolve at stride 1. Simple, but at
    stride 2 in two dimensions three quarters of its multiply-adds are by
    stuffed zeros."""
    kernel = weight.shape[2:]
    reach = tuple(dilation[a] * (kernel[a] - 1) for a in range(3))
    offset = tuple(reach[a] - padding[a] for a in range(3))
    placed = tuple(size[a] + reach[a] for a in range(3))
    flipped = _flip_for_transpose(weight, groups)
    return _numba_conv(
        x, flipped, bias, (1, 1, 1), dilation, groups, offset, stride, placed
    )


def _phase_geometry(stride, padding, dilation, kernel, size, r):
    """Phase r of one axis: the outputs o with o + padding = r (mod stride).

    Returns (the phase's first output, its number of outputs, its number of
    taps k = r, r + stride, ..., and the offset and length of the placed
    input of the stride-1 convolution that computes them).
    """
    q0 = -((r - padding) // stride)  # ceil((padding - r) / stride)
    q1 = (size - 1 + padding - r) // stride
    taps = len(range(r, kernel, stride))
    reach = dilation * (taps - 1)
    count = q1 - q0 + 1
    return q0 * stride - padding + r, count, taps, reach - q0, count + reach


def _conv_transpose_phases(x, weight, bias, stride, padding, dilation, groups, size):
    """A strided transposed convolution as stride_d * stride_h * stride_w
    stride-1 convolutions, one per phase, with no stuffed zeros.

    Along one axis, y[o] = sum over i, k with o = i*s - p + k of x[i] w[k]:
    output o only meets the taps k = r, r + s, r + 2s, ... with r = (o + p)
    mod s. Writing o = q*s - p + r, it is

        y[q*s - p + r] = sum_m x[q - m] * w[r + m*s],

    an ordinary convolution of x with those taps, flipped. So the outputs
    of each phase r (every s-th output, from the phase's first) come from a
    stride-1 convolution of x with a kernel about s times smaller, and the
    phases together do exactly the transposed convolution's multiply-adds.
    (Only for axes without dilation, or with stride 1, where there is one
    phase. With both, which taps a phase meets depends on the dilation as
    well; such axes keep the stuffed zeros.)
    """
    kernel = weight.shape[2:]
    y = np.empty((x.shape[0], weight.shape[1] * groups) + tuple(size), x.dtype)
    for phase in np.ndindex(*stride):
        firsts, counts, lengths, offsets, placed = zip(
            *(
                _phase_geometry(
                    stride[a], padding[a], dilation[a], kernel[a], size[a], phase[a]
                )
                for a in range(3)
            )
        )
        if min(counts) <= 0:
            continue  # an output shorter than the stride: no output here
        outputs = (slice(None), slice(None)) + tuple(
            slice(first, None, s) for first, s in zip(firsts, stride)
        )
        if min(lengths) == 0:
            # A kernel shorter than the stride: no tap reaches these outputs.
            y[outputs] = 0 if bias is None else bias.reshape(-1, 1, 1, 1)
            continue
        taps = (slice(None), slice(None)) + tuple(
            slice(r, None, s) for r, s in zip(phase, stride)
        )
        y[outputs] = _numba_conv(
            x,
            _flip_for_transpose(weight[taps], groups),
            bias,
            (1, 1, 1),
            dilation,
            groups,
            offsets,
            (1, 1, 1),
            placed,
        )
    return y


def _numba_weight_grad(x, grad_y, weight_shape, stride, padding, dilation, groups):
    """dLoss/dweight of a convolution; 5-D arrays (small ones on one thread)."""
    with threads_for(grad_y.size * math.prod(weight_shape[1:])):
        return _numba_weight_grad_on_threads(
            x, grad_y, weight_shape, stride, padding, dilation, groups
        )


def _numba_weight_grad_on_threads(
    x, grad_y, weight_shape, stride, padding, dilation, groups
):
    batch, channels = x.shape[:2]
    placed = tuple(x.shape[2 + a] + 2 * padding[a] for a in range(3))
    if _use_direct(weight_shape, groups, stride, gradient=True):
        if _use_lanes_for_grad(x.shape, groups, stride, placed, x.dtype):
            return _weight_grad_lanes(
                x, grad_y, weight_shape, (padding, (1, 1, 1), placed), dilation
            )
        grad_w = np.zeros(weight_shape, dtype=x.dtype)
        with compiling(_conv_weight_grad_direct):
            _conv_weight_grad_direct(
                x, grad_y, grad_w, padding, placed, stride, dilation
            )
        return grad_w

    out_per_group = weight_shape[0] // groups
    taps = math.prod(weight_shape[1:])
    flat, xp = _placed_batch(x, padding, (1, 1, 1), placed)

    if stride == (1, 1, 1):
        partial = np.zeros(
            (
                numba.get_num_threads(),
                groups,
                _round_up(taps, TILE_ROWS),
                _round_up(out_per_group, vector_width(x.dtype)),
            ),
            dtype=x.dtype,
        )
        with compiling(_conv_weight_grad_shifted):
            _conv_weight_grad_shifted(
                flat,
                placed,
                channels,
                np.ascontiguousarray(grad_y),
                partial,
                weight_shape[2:],
                dilation,
            )
        total = partial.sum(axis=0)[:, :taps, :out_per_group]
        return total.transpose(0, 2, 1).reshape(weight_shape)

    partial = np.zeros(
        (
            numba.get_num_threads(),
            groups,
            _round_up(out_per_group, _BLOCK),
            _round_up(taps, _ALIGN_K),
        ),
        dtype=x.dtype,
    )
    with compiling(_conv_weight_grad_gemm):
        _conv_weight_grad_gemm(xp, grad_y, partial, weight_shape[2:], stride, dilation)
    total = partial.sum(axis=0)[:, :out_per_group, :taps]
    return total.reshape(weight_shape)


# --------------------------------------------------------------------------
# 3. Public functions: check the shapes, then dispatch
# --------------------------------------------------------------------------


def _as_tuple(value, length, name, op):
    """An int or a sequence of ``length`` ints, as a tuple of ints."""
    if isinstance(value, (int, np.integer)):
        return (int(value),) * length
    items = tuple(value) if isinstance(value, (tuple, list)) else ()
    if len(items) != length or not all(isinstance(v, (int, np.integer)) for v in items):
        raise ValueError(
            f"{op}: {name} must be an int or a tuple of {length} ints, got {value!r}"
        )
    return tuple(int(v) for v in items)


def _shapes(x, weight):
    """The shapes an error message names (built only when one is raised)."""
    return f"(input {tuple(x.shape)}, weight {tuple(weight.shape)})"


def _check(op, x, weight, bias, stride, padding, dilation, groups, spatial):
    """Checks shared by every convolution; returns the normalised settings."""
    if not hasattr(x, "shape"):
        x = np.asarray(x)
    if not hasattr(weight, "shape"):
        weight = np.asarray(weight)
    axes = "N, C, D, H, W" if spatial == 3 else "N, C, H, W"
    if x.ndim != spatial + 2:
        raise ValueError(
            f"{op}: expected a {spatial + 2}-D input ({axes}), got {x.ndim}-D "
            f"{_shapes(x, weight)}"
        )
    if weight.ndim != spatial + 2:
        raise ValueError(
            f"{op}: expected a {spatial + 2}-D weight, got {_shapes(x, weight)}"
        )
    if x.dtype not in (np.float32, np.float64):
        raise ValueError(
            f"{op}: expected float32 or float64 input, got {x.dtype} "
            f"{_shapes(x, weight)}"
        )
    if not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(
            f"{op}: groups must be a positive int, got {groups!r} {_shapes(x, weight)}"
        )

    stride = _as_tuple(stride, spatial, "stride", op)
    padding = _as_tuple(padding, spatial, "padding", op)
    dilation = _as_tuple(dilation, spatial, "dilation", op)
    if min(stride) < 1:
        raise ValueError(
            f"{op}: stride must be positive, got {stride} {_shapes(x, weight)}"
        )
    if min(padding) < 0:
        raise ValueError(
            f"{op}: padding must be >= 0, got {padding} {_shapes(x, weight)}"
        )
    if min(dilation) < 1:
        raise ValueError(
            f"{op}: dilation must be positive, got {dilation} {_shapes(x, weight)}"
        )

    if bias is not None:
        if not hasattr(bias, "shape"):
            bias = np.asarray(bias)
        transposed = op.startswith("conv_transpose")
        channels = weight.shape[1] * groups if transposed else weight.shape[0]
        if tuple(bias.shape) != (channels,):
            raise ValueError(
                f"{op}: bias has shape {tuple(bias.shape)} but the output has "
                f"{channels} channels {_shapes(x, weight)}"
            )
    return x, weight, bias, stride, padding, dilation, int(groups)


def _check_conv(op, x, weight, bias, stride, padding, dilation, groups, spatial):
    """Shape checks of conv2d / conv3d: channels, groups, kernel size."""
    x, weight, bias, stride, padding, dilation, groups = _check(
        op, x, weight, bias, stride, padding, dilation, groups, spatial
    )
    if weight.shape[0] % groups != 0:
        raise ValueError(
            f"{op}: groups={groups} does not divide the {weight.shape[0]} "
            f"output channels {_shapes(x, weight)}"
        )
    if x.shape[1] % groups != 0:
        raise ValueError(
            f"{op}: groups={groups} does not divide the {x.shape[1]} "
            f"input channels {_shapes(x, weight)}"
        )
    if x.shape[1] != weight.shape[1] * groups:
        expected = weight.shape[1] * groups
        raise ValueError(
            f"{op}: input has {x.shape[1]} channels but weight expects {expected} "
            f"{_shapes(x, weight)}"
        )
    for a in range(spatial):
        span = dilation[a] * (weight.shape[2 + a] - 1) + 1
        padded = x.shape[2 + a] + 2 * padding[a]
        if span > padded:
            raise ValueError(
                f"{op}: kernel spans {span} but the padded input is only {padded} "
                f"along spatial axis {a} {_shapes(x, weight)}"
            )
    return x, weight, bias, stride, padding, dilation, groups


def _check_conv_transpose(
    op, x, weight, bias, stride, padding, output_padding, groups, dilation
):
    """Shape checks of conv_transpose2d; returns the output's spatial size."""
    x, weight, bias, stride, padding, dilation, groups = _check(
        op, x, weight, bias, stride, padding, dilation, groups, 2
    )
    output_padding = _as_tuple(output_padding, 2, "output_padding", op)
    if x.shape[1] != weight.shape[0]:
        raise ValueError(
            f"{op}: input has {x.shape[1]} channels but weight expects "
            f"{weight.shape[0]} {_shapes(x, weight)}"
        )
    if x.shape[1] % groups != 0:
        raise ValueError(
            f"{op}: groups={groups} does not divide the {x.shape[1]} "
            f"input channels {_shapes(x, weight)}"
        )
    for a in range(2):
        if not 0 <= output_padding[a] < max(stride[a], dilation[a]):
            raise ValueError(
                f"{op}: output_padding {output_padding} must be >= 0 and smaller "
                f"than stride {stride} or dilation {dilation} {_shapes(x, weight)}"
            )
    size = tuple(
        transposed_output_size(
            x.shape[2 + a],
            weight.shape[2 + a],
            stride[a],
            padding[a],
            output_padding[a],
            dilation[a],
        )
        for a in range(2)
    )
    if min(size) < 1:
        raise ValueError(
            f"{op}: the output would be {size}, too small {_shapes(x, weight)}"
        )
    return x, weight, bias, stride, padding, output_padding, dilation, groups, size


def _cpu_arrays(x, *others):
    """C-contiguous arrays of x's dtype (None stays None)."""
    x = np.ascontiguousarray(x)
    converted = [
        None if a is None else np.ascontiguousarray(a, dtype=x.dtype) for a in others
    ]
    return (x, *converted)


def _gpu_twin():
    from tinycv.kernels.cuda import conv as cuda_conv

    return cuda_conv


def _gpu_supports_conv3d(dilation, groups):
    if dilation != (1, 1, 1) or groups != 1:
        raise ValueError(
            f"conv3d: dilation {dilation} and groups={groups} run on the CPU only; "
            "the GPU kernel has neither"
        )


def conv2d_forward(
    x, weight, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1
):
    """y = conv2d(x, weight) + bias, as ``torch.nn.functional.conv2d``.

    Args:
        x: input, (N, C_in, H, W).
        weight: (C_out, C_in / groups, kh, kw).
        bias: (C_out,) or None.
        stride, padding, dilation: ints or pairs (height, width).
        groups: C_in and C_out split into this many independent groups
            (groups = C_in is a depthwise convolution).

    Returns:
        y, (N, C_out, H_out, W_out), of x's dtype.
    """
    x, weight, bias, stride, padding, dilation, groups = _check_conv(
        "conv2d", x, weight, bias, stride, padding, dilation, groups, 2
    )
    if device_of(x) == "cuda":
        return _gpu_twin().conv2d_forward(
            x, weight, bias, stride, padding, dilation, groups
        )
    x, weight, bias = _cpu_arrays(x, weight, bias)
    if get_backend() == "reference":
        return conv2d_forward_reference(
            x, weight, bias, stride, padding, dilation, groups
        )

    y = _numba_conv(
        x[:, :, None],
        weight[:, :, None],
        bias,
        (1,) + stride,
        (1,) + dilation,
        groups,
        offset=(0,) + padding,
        step=(1, 1, 1),
        placed=(1, x.shape[2] + 2 * padding[0], x.shape[3] + 2 * padding[1]),
    )
    return y[:, :, 0]


def conv2d_backward(
    grad_y,
    x,
    weight,
    stride=(1, 1),
    padding=(0, 0),
    dilation=(1, 1),
    groups=1,
    need_bias=True,
    need_x=True,
    need_weight=True,
):
    """The gradients of conv2d: (grad_x, grad_w, grad_b).

    grad_x is the transposed convolution of grad_y with the same weight;
    grad_w[o, c, p, q] sums grad_y times the input each weight touched;
    grad_b sums grad_y over batch and space. A gradient that is not needed
    (``need_*=False``) comes back as None.
    """
    x, weight, _, stride, padding, dilation, groups = _check_conv(
        "conv2d", x, weight, None, stride, padding, dilation, groups, 2
    )
    if device_of(x) == "cuda":
        return _gpu_twin().conv2d_backward(
            grad_y, x, weight, stride, padding, dilation, groups, need_bias
        )
    x, weight, grad_y = _cpu_arrays(x, weight, grad_y)
    _check_grad("conv2d", grad_y, x, weight, stride, padding, dilation)
    if get_backend() == "reference":
        grad_x, grad_w, grad_b = conv2d_backward_reference(
            grad_y, x, weight, stride, padding, dilation, groups, need_bias
        )
        return (grad_x if need_x else None), (grad_w if need_weight else None), grad_b

    x5, weight5, grad_y5 = x[:, :, None], weight[:, :, None], grad_y[:, :, None]
    stride5, padding5, dilation5 = (1,) + stride, (0,) + padding, (1,) + dilation
    grad_x = grad_w = grad_b = None
    if need_x:
        grad_x = _numba_conv_transpose(
            grad_y5, weight5, None, stride5, padding5, dilation5, groups, x5.shape[2:]
        )[:, :, 0]
    if need_weight:
        grad_w = _numba_weight_grad(
            x5, grad_y5, weight5.shape, stride5, padding5, dilation5, groups
        )[:, :, 0]
    if need_bias:
        grad_b = _sum_per_channel(grad_y)
    return grad_x, grad_w, grad_b


def _check_grad(op, grad_y, x, weight, stride, padding, dilation):
    """grad_y must have the forward output's shape."""
    spatial = x.ndim - 2
    expected = (x.shape[0], weight.shape[0]) + tuple(
        output_size(
            x.shape[2 + a], weight.shape[2 + a], stride[a], padding[a], dilation[a]
        )
        for a in range(spatial)
    )
    if tuple(grad_y.shape) != expected:
        raise ValueError(
            f"{op}: grad_y has shape {tuple(grad_y.shape)} but the output is "
            f"{expected} (input {x.shape}, weight {weight.shape})"
        )


def conv3d_forward(
    x,
    weight,
    bias=None,
    stride=(1, 1, 1),
    padding=(0, 0, 0),
    dilation=(1, 1, 1),
    groups=1,
):
    """y = conv3d(x, weight) + bias on video clips, (N, C, D, H, W).

    Args:
        x: (N, C_in, D, H, W).
        weight: (C_out, C_in / groups, kd, kh, kw).
        bias: (C_out,) or None.
        stride, padding, dilation: ints or triples (depth, height, width).
        groups: as in conv2d.
    """
    x, weight, bias, stride, padding, dilation, groups = _check_conv(
        "conv3d", x, weight, bias, stride, padding, dilation, groups, 3
    )
    if device_of(x) == "cuda":
        _gpu_supports_conv3d(dilation, groups)
        return _gpu_twin().conv3d_forward(x, weight, bias, stride, padding)
    x, weight, bias = _cpu_arrays(x, weight, bias)
    if get_backend() == "reference":
        return conv3d_forward_reference(
            x, weight, bias, stride, padding, dilation, groups
        )

    placed = tuple(x.shape[2 + a] + 2 * padding[a] for a in range(3))
    return _numba_conv(
        x, weight, bias, stride, dilation, groups, padding, (1, 1, 1), placed
    )


def conv3d_backward(
    grad_y,
    x,
    weight,
    stride=(1, 1, 1),
    padding=(0, 0, 0),
    need_bias=True,
    dilation=(1, 1, 1),
    groups=1,
    need_x=True,
    need_weight=True,
):
    """The gradients of conv3d: (grad_x, grad_w, grad_b), as conv2d_backward."""
    x, weight, _, stride, padding, dilation, groups = _check_conv(
        "conv3d", x, weight, None, stride, padding, dilation, groups, 3
    )
    if device_of(x) == "cuda":
        _gpu_supports_conv3d(dilation, groups)
        return _gpu_twin().conv3d_backward(
            grad_y, x, weight, stride, padding, need_bias
        )
    x, weight, grad_y = _cpu_arrays(x, weight, grad_y)
    _check_grad("conv3d", grad_y, x, weight, stride, padding, dilation)
    if get_backend() == "reference":
        grad_x, grad_w, grad_b = conv3d_backward_reference(
            grad_y, x, weight, stride, padding, dilation, groups, need_bias
        )
        return (grad_x if need_x else None), (grad_w if need_weight else None), grad_b

    grad_x = grad_w = grad_b = None
    if need_x:
        grad_x = _numba_conv_transpose(
            grad_y, weight, None, stride, padding, dilation, groups, x.shape[2:]
        )
    if need_weight:
        grad_w = _numba_weight_grad(
            x, grad_y, weight.shape, stride, padding, dilation, groups
        )
    if need_bias:
        grad_b = _sum_per_channel(grad_y)
    return grad_x, grad_w, grad_b


def conv_transpose2d_forward(
    x,
    weight,
    bias=None,
    stride=(1, 1),
    padding=(0, 0),
    output_padding=(0, 0),
    groups=1,
    dilation=(1, 1),
):
    """y = conv_transpose2d(x, weight) + bias, the upsampling of U-Net decoders.

    Args:
        x: (N, C_in, H, W).
        weight: (C_in, C_out / groups, kh, kw).
        bias: (C_out,) or None.
        stride, padding, output_padding, dilation: ints or pairs.
        groups: as in conv2d.

    Returns:
        y, (N, C_out, H_out, W_out) with
        H_out = (H - 1) * stride - 2 * padding + dilation * (kh - 1)
                + output_padding + 1.
    """
    x, weight, bias, stride, padding, output_padding, dilation, groups, size = (
        _check_conv_transpose(
            "conv_transpose2d",
            x,
            weight,
            bias,
            stride,
            padding,
            output_padding,
            groups,
            dilation,
        )
    )
    if device_of(x) == "cuda":
        return _gpu_twin().conv_transpose2d_forward(
            x, weight, bias, stride, padding, output_padding, groups, dilation
        )
    x, weight, bias = _cpu_arrays(x, weight, bias)
    if get_backend() == "reference":
        return conv_transpose2d_forward_reference(
            x, weight, bias, stride, padding, output_padding, groups, dilation
        )

    y = _numba_conv_transpose(
        x[:, :, None],
        weight[:, :, None],
        bias,
        (1,) + stride,
        (0,) + padding,
        (1,) + dilation,
        groups,
        (1,) + size,
    )
    return y[:, :, 0]


def conv_transpose2d_backward(
    grad_y,
    x,
    weight,
    stride=(1, 1),
    padding=(0, 0),
    output_padding=(0, 0),
    groups=1,
    dilation=(1, 1),
    need_bias=True,
    need_x=True,
    need_weight=True,
):
    """The gradients of conv_transpose2d: (grad_x, grad_w, grad_b).

    A transposed convolution is the input-gradient of a conv2d, so its own
    input-gradient is that conv2d: grad_x = conv2d(grad_y, weight). Its
    weight-gradient is conv2d's weight-gradient with the roles of input
    and output swapped.
    """
    x, weight, _, stride, padding, output_padding, dilation, groups, size = (
        _check_conv_transpose(
            "conv_transpose2d",
            x,
            weight,
            None,
            stride,
            padding,
            output_padding,
            groups,
            dilation,
        )
    )
    if device_of(x) == "cuda":
        return _gpu_twin().conv_transpose2d_backward(
            grad_y,
            x,
            weight,
            stride,
            padding,
            output_padding,
            groups,
            dilation,
            need_bias,
        )
    x, weight, grad_y = _cpu_arrays(x, weight, grad_y)
    expected = (x.shape[0], weight.shape[1] * groups) + size
    if tuple(grad_y.shape) != expected:
        raise ValueError(
            f"conv_transpose2d: grad_y has shape {tuple(grad_y.shape)} but the "
            f"output is {expected} (input {x.shape}, weight {weight.shape})"
        )
    if get_backend() == "reference":
        grad_x, grad_w, grad_b = conv_transpose2d_backward_reference(
            grad_y,
            x,
            weight,
            stride,
            padding,
            output_padding,
            groups,
            dilation,
            need_bias,
        )
        return (grad_x if need_x else None), (grad_w if need_weight else None), grad_b

    x5, weight5, grad_y5 = x[:, :, None], weight[:, :, None], grad_y[:, :, None]
    stride5, padding5, dilation5 = (1,) + stride, (0,) + padding, (1,) + dilation
    grad_x = grad_w = grad_b = None
    if need_x:
        placed = (1,) + tuple(grad_y.shape[2 + a] + 2 * padding[a] for a in range(2))
        grad_x = _numba_conv(
            grad_y5,
            weight5,
            None,
            stride5,
            dilation5,
            groups,
            padding5,
            (1, 1, 1),
            placed,
        )
        # output_padding >= stride (allowed when dilation > stride) makes this
        # conv2d one row or column longer than x; that extra part is cropped.
        grad_x = grad_x[:, :, 0, : x.shape[2], : x.shape[3]]
    if need_weight:
        grad_w = _numba_weight_grad(
            grad_y5, x5, weight5.shape, stride5, padding5, dilation5, groups
        )[:, :, 0]
    if need_bias:
        grad_b = _sum_per_channel(grad_y)
    return grad_x, grad_w, grad_b
