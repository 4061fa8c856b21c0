"""Max and average pooling on the GPU, 2-D and 3-D.

One thread per output element slides over its window; the kernels are
written once for volumes ``(N, C, D, H, W)`` and a 2-D pool is a 3-D one of
depth 1. The backward passes:

* max pool: each output's gradient goes to the one input that won the max,
  remembered in ``argmax`` (the flat index in the input plane or volume).
  Windows may overlap, so two outputs can send to the same input:
  ``cuda.atomic.add`` makes each addition indivisible.
* average pool: each input gathers ``grad / window size`` from every window
  that covers it (no atomics: one thread per input writes only its own).

Windows that reach into the padding count padded zeros in the average
(``count_include_pad=True``) and ignore them in the max, as torch does.

Same names and arguments as ``tinycv.kernels.pool``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from tinycv.cuda.array import CudaArray
from tinycv.kernels.cuda.elementwise import THREADS_PER_BLOCK, blocks_for


@cuda.jit(device=True, inline="always")
def unravel5(index, shape):
    """The (n, c, d, h, w) position of flat ``index`` in a 5-D ``shape``."""
    w = index % shape[4]
    h = index // shape[4] % shape[3]
    d = index // (shape[4] * shape[3]) % shape[2]
    c = index // (shape[4] * shape[3] * shape[2]) % shape[1]
    n = index // (shape[4] * shape[3] * shape[2] * shape[1])
    return n, c, d, h, w


@cuda.jit(cache=True)
def max_pool_kernel(x, y, argmax, kernel, stride, padding):
    """y = max over the window; argmax = where, first max in row-major order."""
    index = cuda.grid(1)
    if index < y.size:
        n, c, od, oh, ow = unravel5(index, y.shape)
        depth, height, width = x.shape[2], x.shape[3], x.shape[4]
        best = x.dtype.type(0)
        best_index = -1
        for i in range(kernel[0]):
            d = od * stride[0] - padding[0] + i
            for j in range(kernel[1]):
                h = oh * stride[1] - padding[1] + j
                for k in range(kernel[2]):
                    w = ow * stride[2] - padding[2] + k
                    if 0 <= d < depth and 0 <= h < height and 0 <= w < width:
                        value = x[n, c, d, h, w]
                        # NaN wins, as in torch; value != value only for NaN.
                        if best_index < 0 or value > best or value != value:
                            best = value
                            best_index = (d * height + h) * width + w
        y[n, c, od, oh, ow] = best
        argmax[n, c, od, oh, ow] = best_index


@cuda.jit(cache=True)
def max_pool_backward_kernel(grad_y, argmax, grad_x):
    """Scatter: each output adds its gradient to the input that won its max."""
    index = cuda.grid(1)
    if index < grad_y.size:
        n, c, od, oh, ow = unravel5(index, grad_y.shape)
        winner = argmax[n, c, od, oh, ow]
        if winner >= 0:
            cuda.atomic.add(grad_x, (n, c, winner), grad_y[n, c, od, oh, ow])


@cuda.jit(cache=True)
def avg_pool_kernel(x, y, kernel, stride, padding):
    """y = sum over the window (padding counts as 0) / window size."""
    index = cuda.grid(1)
    if index < y.size:
        n, c, od, oh, ow = unravel5(index, y.shape)
        depth, height, width = x.shape[2], x.shape[3], x.shape[4]
        acc = y.dtype.type(0)
        for i in range(kernel[0]):
            d = od * stride[0] - padding[0] + i
            for j in range(kernel[1]):
                h = oh * stride[1] - padding[1] + j
                for k in range(kernel[2]):
                    w = ow * stride[2] - padding[2] + k
                    if 0 <= d < depth and 0 <= h < height and 0 <= w < width:
                        acc += x[n, c, d, h, w]
        window = y.dtype.type(kernel[0] * kernel[1] * kernel[2])
        y[n, c, od, oh, ow] = acc / window


# Plan of the average-pool backward pass, one thread per input element:
#   1. For each window offset (i, j, k), solve
#      input = output * stride - padding + offset for the output position.
#   2. It counts when the division is exact and the output is in range.
#   3. Sum those outputs' gradients and divide by the window size.
@cuda.jit(cache=True)
def avg_pool_backward_kernel(grad_y, grad_x, kernel, stride, padding):
    index = cuda.grid(1)
    if index < grad_x.size:
        n, c, d, h, w = unravel5(index, grad_x.shape)
        out_d, out_h, out_w = grad_y.shape[2], grad_y.shape[3], grad_y.shape[4]
        acc = grad_x.dtype.type(0)
        for i in range(kernel[0]):
            reach_d = d + padding[0] - i
            od = reach_d // stride[0]
            if reach_d < 0 or reach_d % stride[0] != 0 or od >= out_d:
                continue
            for j in range(kernel[1]):
                reach_h = h + padding[1] - j
                oh = reach_h // stride[1]
                if reach_h < 0 or reach_h % stride[1] != 0 or oh >= out_h:
                    continue
                for k in range(kernel[2]):
                    reach_w = w + padding[2] - k
                    ow = reach_w // stride[2]
                    if reach_w < 0 or reach_w % stride[2] != 0 or ow >= out_w:
                        continue
                    acc += grad_y[n, c, od, oh, ow]
        window = grad_x.dtype.type(kernel[0] * kernel[1] * kernel[2])
        grad_x[n, c, d, h, w] = acc / window


# ---------------------------------------------------------------- launchers


def _output_shape(shape, kernel, stride, padding) -> tuple:
    """(N, C, *spatial) pooled: (size + 2p - k) // s + 1 per axis."""
    spatial = tuple(
        (n + 2 * p - k) // s + 1
        for n, k, s, p in zip(shape[2:], kernel, stride, padding, strict=True)
    )
    return tuple(shape[:2]) + spatial


def _max_pool(x: CudaArray, kernel, stride, padding):
    out_shape = _output_shape(x.shape, kernel, stride, padding)
    y = CudaArray.empty(out_shape, x.dtype)
    argmax = CudaArray.empty(out_shape, np.int64)
    if y.size:
        max_pool_kernel[blocks_for(y.size), THREADS_PER_BLOCK](
            x.device_array(),
            y.device_array(),
            argmax.device_array(),
            kernel,
            stride,
            padding,
        )
    return y, argmax


def _max_pool_backward(grad_y: CudaArray, argmax: CudaArray, input_shape):
    """grad_x of ``input_shape`` (N, C, D, H, W), scattered from ``grad_y``."""
    batch, channels = input_shape[:2]
    plane = math.prod(input_shape[2:])
    grad_x = CudaArray.full((batch, channels, plane), 0, grad_y.dtype)
    if grad_y.size:
        max_pool_backward_kernel[blocks_for(grad_y.size), THREADS_PER_BLOCK](
            grad_y.device_array(), argmax.device_array(), grad_x.device_array()
        )
    return grad_x.reshape(input_shape)


def _avg_pool(x: CudaArray, kernel, stride, padding):
    y = CudaArray.empty(_output_shape(x.shape, kernel, stride, padding), x.dtype)
    if y.size:
        avg_pool_kernel[blocks_for(y.size), THREADS_PER_BLOCK](
            x.device_array(), y.device_array(), kernel, stride, padding
        )
    return y


def _avg_pool_backward(grad_y: CudaArray, input_shape, kernel, stride, padding):
    grad_x = CudaArray.empty(input_shape, grad_y.dtype)
    if grad_x.size:
        avg_pool_backward_kernel[blocks_for(grad_x.size), THREADS_PER_BLOCK](
            grad_y.device_array(), grad_x.device_array(), kernel, stride, padding
        )
    return grad_x


def _tuple(value, n: int) -> tuple:
    return (
        tuple(int(v) for v in value) if hasattr(value, "__len__") else (int(value),) * n
    )


def _volume(array: CudaArray) -> CudaArray:
    """(N, C, H, W) -> (N, C, 1, H, W)."""
    return array.reshape(array.shape[:2] + (1,) + array.shape[2:])


def _plane(array: CudaArray) -> CudaArray:
    """(N, C, 1, H, W) -> (N, C, H, W)."""
    return array.reshape(array.shape[:2] + array.shape[3:])


def _geometry2d(kernel_size, stride, padding):
    """2-D pool sizes as 3-D ones with a window of depth 1."""
    return (
        (1,) + _tuple(kernel_size, 2),
        (1,) + _tuple(stride, 2),
        (0,) + _tuple(padding, 2),
    )


def _volume_shape(input_shape) -> tuple:
    return tuple(input_shape[:2]) + (1,) + tuple(input_shape[2:])


# ------------------------------------------------------------- public API


def max_pool2d_forward(x, kernel_size, stride, padding):
    """``(y, argmax)``; argmax is the flat index into the H*W plane (int64)."""
    y, argmax = _max_pool(_volume(x), *_geometry2d(kernel_size, stride, padding))
    return _plane(y), _plane(argmax)


def max_pool2d_backward(grad_y, argmax, input_shape):
    grad_x = _max_pool_backward(
        _volume(grad_y), _volume(argmax), _volume_shape(input_shape)
    )
    return _plane(grad_x)


def avg_pool2d_forward(x, kernel_size, stride, padding):
    return _plane(_avg_pool(_volume(x), *_geometry2d(kernel_size, stride, padding)))


def avg_pool2d_backward(grad_y, input_shape, kernel_size, stride, padding):
    grad_x = _avg_pool_backward(
        _volume(grad_y),
        _volume_shape(input_shape),
        *_geometry2d(kernel_size, stride, padding),
    )
    return _plane(grad_x)


def max_pool3d_forward(x, kernel_size, stride, padding):
    """``(y, argmax)``; argmax is the flat index into the D*H*W volume (int64)."""
    return _max_pool(x, _tuple(kernel_size, 3), _tuple(stride, 3), _tuple(padding, 3))


def max_pool3d_backward(grad_y, argmax, input_shape):
    return _max_pool_backward(grad_y, argmax, tuple(input_shape))


def avg_pool3d_forward(x, kernel_size, stride, padding):
    return _avg_pool(x, _tuple(kernel_size, 3), _tuple(stride, 3), _tuple(padding, 3))


def avg_pool3d_backward(grad_y, input_shape, kernel_size, stride, padding):
    return _avg_pool_backward(
        grad_y,
        tuple(input_shape),
        _tuple(kernel_size, 3),
        _tuple(stride, 3),
        _tuple(padding, 3),
    )
