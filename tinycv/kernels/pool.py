"""Pooling kernels: the max or the mean of each window, 2-D and 3-D.

Layouts follow ``torch.nn.functional``: (N, C, H, W) images and
(N, C, D, H, W) volumes. Along each spatial axis a window of ``kernel``
cells starts every ``stride`` cells of the input padded by ``padding`` on
both sides, so the output has

    out = (size + 2 * padding - kernel) // stride + 1

cells (PyTorch's ``ceil_mode=False``). Windows overlap when the stride is
smaller than the kernel, as AlexNet's 3 x 3 windows every 2 pixels do.

- Max pooling ignores the padding (it is -infinity) and remembers which
  input cell won: ``argmax`` is its flat index into the unpadded H * W
  plane (D * H * W volume). Ties go to the first maximum in row-major
  window order, as PyTorch. The gradient flows back to the winners only.
- Average pooling counts padded cells as zeros in the mean (PyTorch's
  default ``count_include_pad=True``), so every window divides by
  ``kernel_h * kernel_w`` (times ``kernel_d``). The gradient shares each
  output's gradient equally among the cells of its window.

The file reads in three parts: reference loops for 2-D and 3-D as the
definitions read; Numba kernels, written once for volumes (a 2-D pool runs
as a 3-D pool of depth one) and parallel over the N * C feature maps,
which never interact; then the public functions, which check their
arguments (one-line ``ValueError``) and pick the GPU twin, the reference
loops or the Numba kernels.

Not supported (PyTorch options): dilation, ``ceil_mode=True``,
``count_include_pad=False`` and ``divisor_override``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from tinycv.device import device_of
from tinycv.kernels import compiling, get_backend
from tinycv.kernels._threads import threads_for


def output_size(size, kernel, stride, padding):
    """The length of a pooling's output along one spatial axis."""
    return (size + 2 * padding - kernel) // stride + 1


# --------------------------------------------------------------------------
# 1. Reference loops
# --------------------------------------------------------------------------


def max_pool2d_forward_reference(x, kernel_size, stride, padding):
    """y[n, c, i, j] = max over the window of output cell (i, j), and where.

    The window covers rows i*s_h - p_h ... + k_h - 1 and columns
    j*s_w - p_w ... + k_w - 1; cells outside the image are skipped.
    """
    batch, channels, height, width = x.shape
    (kernel_h, kernel_w), (stride_h, stride_w), (pad_h, pad_w) = (
        kernel_size,
        stride,
        padding,
    )
    out_h = output_size(height, kernel_h, stride_h, pad_h)
    out_w = output_size(width, kernel_w, stride_w, pad_w)
    y = np.empty((batch, channels, out_h, out_w), dtype=x.dtype)
    argmax = np.empty((batch, channels, out_h, out_w), dtype=np.int64)

    for n in range(batch):
        for c in range(channels):
            for i in range(out_h):
                for j in range(out_w):
                    best, where = -np.inf, -1
                    for p in range(kernel_h):
                        for q in range(kernel_w):
                            row = i * stride_h - pad_h + p
                            col = j * stride_w - pad_w + q
                            if not (0 <= row < height and 0 <= col < width):
                                continue
                            value = x[n, c, row, col]
                            if where < 0 or value > best or np.isnan(value):
                                best, where = value, row * width + col
                    y[n, c, i, j] = best
                    argmax[n, c, i, j] = where

    return y, argmax


def max_pool_backward_reference(grad_y, argmax, input_shape):
    """grad_x[n, c, argmax[n, c, o]] += grad_y[n, c, o] for every output o.

    The same for 2-D and 3-D: ``argmax`` indexes the flattened feature map.
    """
    batch, channels = input_shape[:2]
    grad_x = np.zeros((batch, channels, math.prod(input_shape[2:])), grad_y.dtype)
    flat = (batch, channels, math.prod(grad_y.shape[2:]))
    grad_flat = grad_y.reshape(flat)
    where_flat = argmax.reshape(flat)

    for n in range(batch):
        for c in range(channels):
            for o in range(grad_flat.shape[2]):
                grad_x[n, c, where_flat[n, c, o]] += grad_flat[n, c, o]

    return grad_x.reshape(input_shape)


def avg_pool2d_forward_reference(x, kernel_size, stride, padding):
    """y[n, c, i, j] = (sum of the window's cells) / (k_h * k_w).

    Padded cells are zeros: they add nothing to the sum but count in the
    divisor.
    """
    batch, channels, height, width = x.shape
    (kernel_h, kernel_w), (stride_h, stride_w), (pad_h, pad_w) = (
        kernel_size,
        stride,
        padding,
    )
    out_h = output_size(height, kernel_h, stride_h, pad_h)
    out_w = output_size(width, kernel_w, stride_w, pad_w)
    y = np.zeros((batch, channels, out_h, out_w), dtype=x.dtype)

    for n in range(batch):
        for c in range(channels):
            for i in range(out_h):
                for j in range(out_w):
                    total = 0.0
                    for p in range(kernel_h):
                        for q in range(kernel_w):
                            row = i * stride_h - pad_h + p
                            col = j * stride_w - pad_w + q
                            if 0 <= row < height and 0 <= col < width:
                                total += x[n, c, row, col]
                    y[n, c, i, j] = total / (kernel_h * kernel_w)

    return y


def avg_pool2d_backward_reference(grad_y, input_shape, kernel_size, stride, padding):
    """Each output's gradient, divided by k_h * k_w, goes to every cell of
    its window that lies inside the image."""
    batch, channels, height, width = input_shape
    (kernel_h, kernel_w), (stride_h, stride_w), (pad_h, pad_w) = (
        kernel_size,
        stride,
        padding,
    )
    grad_x = np.zeros(input_shape, dtype=grad_y.dtype)

    for n in range(batch):
        for c in range(channels):
            for i in range(grad_y.shape[2]):
                for j in range(grad_y.shape[3]):
                    share = grad_y[n, c, i, j] / (kernel_h * kernel_w)
                    for p in range(kernel_h):
                        for q in range(kernel_w):
                            row = i * stride_h - pad_h + p
                            col = j * stride_w - pad_w + q
                            if 0 <= row < height and 0 <= col < width:
                                grad_x[n, c, row, col] += share

    return grad_x


def _window_cells(index, kernel, stride, padding, size):
    """The input cells along one axis of output cell ``index``'s window."""
    start = index * stride - padding
    return range(max(start, 0), min(start + kernel, size))


def max_pool3d_forward_reference(x, kernel_size, stride, padding):
    """max_pool2d's loops with a depth axis; argmax indexes D * H * W."""
    batch, channels, depth, height, width = x.shape
    outs = [
        output_size(size, k, s, p)
        for size, k, s, p in zip(x.shape[2:], kernel_size, stride, padding)
    ]
    y = np.empty((batch, channels, *outs), dtype=x.dtype)
    argmax = np.empty((batch, channels, *outs), dtype=np.int64)

    for n in range(batch):
        for c in range(channels):
            for i, j, k in np.ndindex(*outs):
                best, where = -np.inf, -1
                for d in _window_cells(i, kernel_size[0], stride[0], padding[0], depth):
                    for h in _window_cells(
                        j, kernel_size[1], stride[1], padding[1], height
                    ):
                        for w in _window_cells(
                            k, kernel_size[2], stride[2], padding[2], width
                        ):
                            value = x[n, c, d, h, w]
                            if where < 0 or value > best or np.isnan(value):
                                best, where = value, (d * height + h) * width + w
                y[n, c, i, j, k] = best
                argmax[n, c, i, j, k] = where

    return y, argmax


def avg_pool3d_forward_reference(x, kernel_size, stride, padding):
    """avg_pool2d's loops with a depth axis; divides by k_d * k_h * k_w."""
    batch, channels, depth, height, width = x.shape
    outs = [
        output_size(size, k, s, p)
        for size, k, s, p in zip(x.shape[2:], kernel_size, stride, padding)
    ]
    divisor = kernel_size[0] * kernel_size[1] * kernel_size[2]
    y = np.zeros((batch, channels, *outs), dtype=x.dtype)

    for n in range(batch):
        for c in range(channels):
            for i, j, k in np.ndindex(*outs):
                total = 0.0
                for d in _window_cells(i, kernel_size[0], stride[0], padding[0], depth):
                    for h in _window_cells(
                        j, kernel_size[1], stride[1], padding[1], height
                    ):
                        for w in _window_cells(
                            k, kernel_size[2], stride[2], padding[2], width
                        ):
                            total += x[n, c, d, h, w]
                y[n, c, i, j, k] = total / divisor

    return y


def avg_pool3d_backward_reference(grad_y, input_shape, kernel_size, stride, padding):
    """avg_pool2d's backward with a depth axis."""
    depth, height, width = input_shape[2:]
    divisor = kernel_size[0] * kernel_size[1] * kernel_size[2]
    grad_x = np.zeros(input_shape, dtype=grad_y.dtype)

    for n in range(input_shape[0]):
        for c in range(input_shape[1]):
            for i, j, k in np.ndindex(*grad_y.shape[2:]):
                share = grad_y[n, c, i, j, k] / divisor
                for d in _window_cells(i, kernel_size[0], stride[0], padding[0], depth):
                    for h in _window_cells(
                        j, kernel_size[1], stride[1], padding[1], height
                    ):
                        for w in _window_cells(
                            k, kernel_size[2], stride[2], padding[2], width
                        ):
                            grad_x[n, c, d, h, w] += share

    return grad_x


# --------------------------------------------------------------------------
# 2. Numba kernels (volumes; an image is a volume of depth one)
# --------------------------------------------------------------------------
# Each kernel takes x as (N, C, D, H, W) and the window as three 3-tuples,
# and runs the N * C feature maps in parallel. Inside a map, a window is
# clipped to the input once, so the innermost loops have no bounds tests.
# Max pooling walks each output's window; average pooling works along
# whole rows instead (see _avg_pool_forward).


@njit(cache=True, parallel=True)
def _max_pool_forward(x, kernel, stride, padding, out_shape):
    batch, channels, depth, height, width = x.shape
    out_d, out_h, out_w = out_shape
    y = np.empty((batch, channels, out_d, out_h, out_w), dtype=x.dtype)
    argmax = np.empty((batch, channels, out_d, out_h, out_w), dtype=np.int64)

    for task in prange(batch * channels):
        n = task // channels
        c = task % channels
        volume = x[n, c]
        for i in range(out_d):
            d0 = max(i * stride[0] - padding[0], 0)
            d1 = min(i * stride[0] - padding[0] + kernel[0], depth)
            for j in range(out_h):
                h0 = max(j * stride[1] - padding[1], 0)
                h1 = min(j * stride[1] - padding[1] + kernel[1], height)
                for k in range(out_w):
                    w0 = max(k * stride[2] - padding[2], 0)
                    w1 = min(k * stride[2] - padding[2] + kernel[2], width)
                    # Start from the window's first cell: a later cell must
                    # be strictly larger to win, so ties keep the first.
                    best = volume[d0, h0, w0]
                    where = (d0 * height + h0) * width + w0
                    saw_nan = False
                    for d in range(d0, d1):
                        for h in range(h0, h1):
                            row = volume[d, h]
                            row_start = (d * height + h) * width
                            for w in range(w0, w1):
                                value = row[w]
                                if value > best:
                                    best = value
                                    where = row_start + w
                                saw_nan |= np.isnan(value)
                    # PyTorch lets a NaN win, the window's last one. Testing
                    # for it apart from the comparison above keeps that
                    # comparison free of jumps (see _max_pool2d_2x2_forward);
                    # this second pass runs only for windows holding a NaN.
                    if saw_nan:
                        for d in range(d0, d1):
                            for h in range(h0, h1):
                                for w in range(w0, w1):
                                    value = volume[d, h, w]
                                    if np.isnan(value):
                                        best = value
                                        where = (d * height + h) * width + w
                    y[n, c, i, j, k] = best
                    argmax[n, c, i, j, k] = where

    return y, argmax


@njit(cache=True, parallel=True)
def _max_pool2d_2x2_forward(x):
    """max_pool2d with 2 x 2 windows every 2 pixels and no padding.

    The window of LeNet and VGG, so it gets a kernel of its own: four loads
    and three comparisons per output. In the general kernel above, the three
    window loops, whose lengths are known only at run time, cost more than
    the comparisons themselves.

    The comparisons are written so that the CPU need not guess. A test such
    as ``value > best`` alone compiles to a blend of registers, but ``value >
    best or isnan(value)`` compiles to a jump, and on random data every
    other jump is guessed wrong: on an AVX2 CPU that made this kernel four
    times slower. So the window is first ranked as if there were no NaN, and
    a second, rarely taken test applies PyTorch's rule for NaN (a NaN wins,
    and the last NaN of the window is the one kept).
    """
    batch, channels, height, width = x.shape
    out_h, out_w = height // 2, width // 2
    y = np.empty((batch, channels, out_h, out_w), dtype=x.dtype)
    argmax = np.empty((batch, channels, out_h, out_w), dtype=np.int64)

    for task in prange(batch * channels):
        n = task // channels
        c = task % channels
        for i in range(out_h):
            top = x[n, c, 2 * i]
            bottom = x[n, c, 2 * i + 1]
            y_row = y[n, c, i]
            where_row = argmax[n, c, i]
            for j in range(out_w):
                tl, tr = top[2 * j], top[2 * j + 1]
                bl, br = bottom[2 * j], bottom[2 * j + 1]
                # The window's top-left, top-right, bottom-left and bottom-
                # right cells, ranked by their offsets from the top-left in
                # row-major order: a later cell wins only if larger, so ties
                # keep the first.
                best, offset = tl, 0
                if tr > best:
                    best, offset = tr, 1
                if bl > best:
                    best, offset = bl, width
                if br > best:
                    best, offset = br, width + 1
                if np.isnan(tl) or np.isnan(tr) or np.isnan(bl) or np.isnan(br):
                    if np.isnan(tl):
                        best, offset = tl, 0
                    if np.isnan(tr):
                        best, offset = tr, 1
                    if np.isnan(bl):
                        best, offset = bl, width
                    if np.isnan(br):
                        best, offset = br, width + 1
                y_row[j] = best
                where_row[j] = 2 * i * width + 2 * j + offset

    return y, argmax


@njit(cache=True, parallel=True)
def _max_pool_backward(grad_y, argmax, map_size):
    """grad_y and argmax as (N, C, outputs); returns grad_x as (N, C, map_size)."""
    batch, channels, outputs = grad_y.shape
    grad_x = np.zeros((batch, channels, map_size), dtype=grad_y.dtype)

    for task in prange(batch * channels):
        n = task // channels
        c = task % channels
        grad_map = grad_x[n, c]
        grads = grad_y[n, c]
        winners = argmax[n, c]
        for o in range(outputs):
            grad_map[winners[o]] += grads[o]

    return grad_x


@njit(cache=True, parallel=True, fastmath=True)
def _avg_pool_forward(x, kernel, stride, padding, out_shape):
    """Average pooling in two passes per output row, both along whole rows.

    1. ``sums[w]``: the window's input rows (its depth and height) added
       up, column by column: a loop over w with stride one, which LLVM
       turns into vector additions.
    2. Output k adds its kernel_w neighbouring columns of ``sums``, from
       k * stride: kernel_w passes along the output row.

    ``sums`` has padding[2] zeros on either side, so the windows need no
    clipping in W, and the padded zeros count in the mean, as in PyTorch.
    Summing each output's window in its own three loops, as the reference
    does, took 3.5-5x longer: with windows of 2 or 3 the loops' setup
    costs more than the additions.
    """
    batch, channels, depth, height, width = x.shape
    out_d, out_h, out_w = out_shape
    scale = 1.0 / (kernel[0] * kernel[1] * kernel[2])
    y = np.empty((batch, channels, out_d, out_h, out_w), dtype=x.dtype)
    span = max(width + 2 * padding[2], (out_w - 1) * stride[2] + kernel[2])

    for task in prange(batch * channels):
        n = task // channels
        c = task % channels
        volume = x[n, c]
        sums = np.zeros(span, dtype=x.dtype)
        inside = sums[padding[2] : padding[2] + width]  # the zeros stay around
        for i in range(out_d):
            d0 = max(i * stride[0] - padding[0], 0)
            d1 = min(i * stride[0] - padding[0] + kernel[0], depth)
            for j in range(out_h):
                h0 = max(j * stride[1] - padding[1], 0)
                h1 = min(j * stride[1] - padding[1] + kernel[1], height)
                inside[:] = 0
                for d in range(d0, d1):
                    for h in range(h0, h1):
                        row = volume[d, h]
                        for w in range(width):
                            inside[w] += row[w]
                y_row = y[n, c, i, j]
                y_row[:] = 0
                for q in range(kernel[2]):
                    for k in range(out_w):
                        y_row[k] += sums[k * stride[2] + q]
                for k in range(out_w):
                    y_row[k] *= scale

    return y


@njit(cache=True, parallel=True, fastmath=True)
def _avg_pool_backward(grad_y, input_shape, kernel, stride, padding):
    """The forward's two passes in reverse, per output row: spread each
    output's gradient over its kernel_w columns (``spread``, with the same
    zeros either side), then add that row to every input row of the
    window's depth and height."""
    batch, channels, depth, height, width = input_shape
    out_d, out_h, out_w = grad_y.shape[2:]
    scale = 1.0 / (kernel[0] * kernel[1] * kernel[2])
    grad_x = np.zeros((batch, channels, depth, height, width), dtype=grad_y.dtype)
    span = max(width + 2 * padding[2], (out_w - 1) * stride[2] + kernel[2])

    for task in prange(batch * channels):
        n = task // channels
        c = task % channels
        grad_volume = grad_x[n, c]
        spread = np.empty(span, dtype=grad_y.dtype)
        inside = spread[padding[2] : padding[2] + width]
        for i in range(out_d):
            d0 = max(i * stride[0] - padding[0], 0)
            d1 = min(i * stride[0] - padding[0] + kernel[0], depth)
            for j in range(out_h):
                h0 = max(j * stride[1] - padding[1], 0)
                h1 = min(j * stride[1] - padding[1] + kernel[1], height)
                grads = grad_y[n, c, i, j]
                spread[:] = 0
                for q in range(kernel[2]):
                    for k in range(out_w):
                        spread[k * stride[2] + q] += grads[k]
                for d in range(d0, d1):
                    for h in range(h0, h1):
                        row = grad_volume[d, h]
                        for w in range(width):
                            row[w] += inside[w] * scale

    return grad_x


# --------------------------------------------------------------------------
# 3. Public functions
# --------------------------------------------------------------------------


def _as_tuple(op, name, value, dims):
    """An int or a sequence of ``dims`` ints as a tuple of ``dims`` ints."""
    if isinstance(value, (int, np.integer)):
        return (int(value),) * dims
    values = tuple(value)
    if len(values) != dims or not all(isinstance(v, (int, np.integer)) for v in values):
        raise ValueError(f"{op}: {name} must be an int or {dims} ints, got {value!r}")
    return tuple(int(v) for v in values)


def _window(op, input_shape, kernel_size, stride, padding):
    """Check a pooling window against the input; return it as tuples and the
    output's spatial shape. Errors are one line naming ``op`` and the shapes."""
    dims = 2 if op.endswith("2d") else 3
    layout = "(N, C, H, W)" if dims == 2 else "(N, C, D, H, W)"
    if len(input_shape) != dims + 2:
        raise ValueError(
            f"{op}: expects a {dims + 2}-d input {layout}, "
            f"got shape {tuple(input_shape)}"
        )
    kernel = _as_tuple(op, "kernel_size", kernel_size, dims)
    stride = kernel if stride is None else _as_tuple(op, "stride", stride, dims)
    padding = _as_tuple(op, "padding", padding, dims)
    where = (
        f"(input {tuple(input_shape)}, kernel_size {kernel}, stride {stride}, "
        f"padding {padding})"
    )
    if min(kernel) < 1 or min(stride) < 1 or min(padding) < 0:
        raise ValueError(
            f"{op}: kernel_size and stride must be positive and padding "
            f"non-negative {where}"
        )
    if any(p > k // 2 for k, p in zip(kernel, padding)):
        raise ValueError(f"{op}: padding must be at most half the kernel size {where}")
    spatial = tuple(input_shape[2:])
    if any(k > s + 2 * p for s, k, p in zip(spatial, kernel, padding)):
        raise ValueError(f"{op}: kernel is larger than the padded input {where}")
    out = tuple(
        output_size(s, k, st, p)
        for s, k, st, p in zip(spatial, kernel, stride, padding)
    )
    return kernel, stride, padding, out


def _floating(op, x):
    """x as float32 or float64 (other float types run in float32)."""
    if x.dtype.kind != "f":
        raise ValueError(
            f"{op}: expects a float array, got {x.dtype} (shape {tuple(x.shape)})"
        )
    if x.dtype in (np.float32, np.float64):
        return np.ascontiguousarray(x)
    return np.ascontiguousarray(x, dtype=np.float32)


def _as_volume(shape_or_window, dims, fill):
    """Prepend a depth of one (``fill``) to a 2-D shape or window tuple."""
    return tuple(shape_or_window) if dims == 3 else (fill, *shape_or_window)


def _check_grad(op, grad_y, batch_channels, out):
    expected = (*batch_channels, *out)
    if tuple(grad_y.shape) != expected:
        raise ValueError(
            f"{op}: grad_y has shape {tuple(grad_y.shape)} but the output has "
            f"shape {expected}"
        )


def _max_pool_forward_any(op, x, kernel_size, stride, padding):
    kernel, stride, padding, out = _window(op, x.shape, kernel_size, stride, padding)
    if device_of(x) == "cuda":
        from tinycv.kernels.cuda import pool as cuda_pool

        return getattr(cuda_pool, f"{op}_forward")(x, kernel, stride, padding)

    dtype = x.dtype
    x = _floating(op, x)
    dims = len(kernel)
    if get_backend() == "reference":
        reference = (
            max_pool2d_forward_reference if dims == 2 else max_pool3d_forward_reference
        )
        y, argmax = reference(x, kernel, stride, padding)
        return y.astype(dtype, copy=False), argmax

    if dims == 2 and kernel == stride == (2, 2) and padding == (0, 0):
        with compiling(_max_pool2d_2x2_forward), threads_for(x.size):
            y, argmax = _max_pool2d_2x2_forward(x)
        return y.astype(dtype, copy=False), argmax

    volume = x if dims == 3 else x[:, :, None]
    with compiling(_max_pool_forward), threads_for(x.size):
        y, argmax = _max_pool_forward(
            volume,
            _as_volume(kernel, dims, 1),
            _as_volume(stride, dims, 1),
            _as_volume(padding, dims, 0),
            _as_volume(out, dims, 1),
        )
    shape = x.shape[:2] + out
    return y.reshape(shape).astype(dtype, copy=False), argmax.reshape(shape)


def _max_pool_backward_any(op, grad_y, argmax, input_shape):
    input_shape = tuple(int(s) for s in input_shape)
    dims = 2 if op.endswith("2d") else 3
    if len(input_shape) != dims + 2 or tuple(grad_y.shape) != tuple(argmax.shape):
        raise ValueError(
            f"{op}: grad_y {tuple(grad_y.shape)} and argmax {tuple(argmax.shape)} "
            f"must have one shape, for an input of shape {input_shape}"
        )
    if tuple(grad_y.shape[:2]) != input_shape[:2]:
        raise ValueError(
            f"{op}: grad_y {tuple(grad_y.shape)} does not match the input's "
            f"batch and channels {input_shape}"
        )
    if device_of(grad_y) == "cuda":
        from tinycv.kernels.cuda import pool as cuda_pool

        return getattr(cuda_pool, f"{op}_backward")(grad_y, argmax, input_shape)

    dtype = grad_y.dtype
    grad_y = _floating(op, grad_y)
    if get_backend() == "reference":
        grad_x = max_pool_backward_reference(grad_y, argmax, input_shape)
        return grad_x.astype(dtype, copy=False)

    flat = input_shape[:2] + (math.prod(grad_y.shape[2:]),)
    with compiling(_max_pool_backward), threads_for(grad_y.size):
        grad_x = _max_pool_backward(
            grad_y.reshape(flat),
            np.ascontiguousarray(argmax, dtype=np.int64).reshape(flat),
            math.prod(input_shape[2:]),
        )
    return grad_x.reshape(input_shape).astype(dtype, copy=False)


def _avg_pool_forward_any(op, x, kernel_size, stride, padding):
    kernel, stride, padding, out = _window(op, x.shape, kernel_size, stride, padding)
    if device_of(x) == "cuda":
        from tinycv.kernels.cuda import pool as cuda_pool

        return getattr(cuda_pool, f"{op}_forward")(x, kernel, stride, padding)

    dtype = x.dtype
    x = _floating(op, x)
    dims = len(kernel)
    if get_backend() == "reference":
        reference = (
            avg_pool2d_forward_reference if dims == 2 else avg_pool3d_forward_reference
        )
        return reference(x, kernel, stride, padding).astype(dtype, copy=False)

    volume = x if dims == 3 else x[:, :, None]
    with compiling(_avg_pool_forward), threads_for(x.size):
        y = _avg_pool_forward(
            volume,
            _as_volume(kernel, dims, 1),
            _as_volume(stride, dims, 1),
            _as_volume(padding, dims, 0),
            _as_volume(out, dims, 1),
        )
    return y.reshape(x.shape[:2] + out).astype(dtype, copy=False)


def _avg_pool_backward_any(op, grad_y, input_shape, kernel_size, stride, padding):
    input_shape = tuple(int(s) for s in input_shape)
    kernel, stride, padding, out = _window(
        op, input_shape, kernel_size, stride, padding
    )
    _check_grad(op, grad_y, input_shape[:2], out)
    if device_of(grad_y) == "cuda":
        from tinycv.kernels.cuda import pool as cuda_pool

        return getattr(cuda_pool, f"{op}_backward")(
            grad_y, input_shape, kernel, stride, padding
        )

    dtype = grad_y.dtype
    grad_y = _floating(op, grad_y)
    dims = len(kernel)
    if get_backend() == "reference":
        reference = (
            avg_pool2d_backward_reference
            if dims == 2
            else avg_pool3d_backward_reference
        )
        grad_x = reference(grad_y, input_shape, kernel, stride, padding)
        return grad_x.astype(dtype, copy=False)

    volume_shape = input_shape[:2] + _as_volume(input_shape[2:], dims, 1)
    with compiling(_avg_pool_backward), threads_for(grad_y.size):
        grad_x = _avg_pool_backward(
            grad_y.reshape(input_shape[:2] + _as_volume(out, dims, 1)),
            volume_shape,
            _as_volume(kernel, dims, 1),
            _as_volume(stride, dims, 1),
            _as_volume(padding, dims, 0),
        )
    return grad_x.reshape(input_shape).astype(dtype, copy=False)


def max_pool2d_forward(x, kernel_size, stride, padding):
    """Max pooling of (N, C, H, W) ``x``: returns ``(y, argmax)``, argmax int64
    flat indices into each H * W map."""
    return _max_pool_forward_any("max_pool2d", x, kernel_size, stride, padding)


def max_pool2d_backward(grad_y, argmax, input_shape):
    """The gradient of max_pool2d: each output's gradient to its winner."""
    return _max_pool_backward_any("max_pool2d", grad_y, argmax, input_shape)


def avg_pool2d_forward(x, kernel_size, stride, padding):
    """Average pooling of (N, C, H, W) ``x``, padded zeros counted."""
    return _avg_pool_forward_any("avg_pool2d", x, kernel_size, stride, padding)


def avg_pool2d_backward(grad_y, input_shape, kernel_size, stride, padding):
    """The gradient of avg_pool2d: each output's gradient shared by its window."""
    return _avg_pool_backward_any(
        "avg_pool2d", grad_y, input_shape, kernel_size, stride, padding
    )


def max_pool3d_forward(x, kernel_size, stride, padding):
    """Max pooling of (N, C, D, H, W) ``x``: returns ``(y, argmax)``, argmax
    int64 flat indices into each D * H * W volume."""
    return _max_pool_forward_any("max_pool3d", x, kernel_size, stride, padding)


def max_pool3d_backward(grad_y, argmax, input_shape):
    """The gradient of max_pool3d: each output's gradient to its winner."""
    return _max_pool_backward_any("max_pool3d", grad_y, argmax, input_shape)


def avg_pool3d_forward(x, kernel_size, stride, padding):
    """Average pooling of (N, C, D, H, W) ``x``, padded zeros counted."""
    return _avg_pool_forward_any("avg_pool3d", x, kernel_size, stride, padding)


def avg_pool3d_backward(grad_y, input_shape, kernel_size, stride, padding):
    """The gradient of avg_pool3d: each output's gradient shared by its window."""
    return _avg_pool_backward_any(
        "avg_pool3d", grad_y, input_shape, kernel_size, stride, padding
    )
