"""Convolutions on the GPU: unfold the patches, then one matrix product.

A convolution is a matrix product in disguise (im2col):

1. **unfold** copies every receptive field of the input into a column:
   ``cols[(c, i, j), (n, oh, ow)] = x[n, c, oh*s - p + i*d, ow*s - p + j*d]``
   (0 where that lands in the padding);
2. **multiply**: ``y = weight.reshape(C_out, C_in*kh*kw) @ cols``, one
   product per group (``bmm`` over the groups);
3. the backward pass multiplies by the transposes, and **fold** (col2im)
   adds each column entry back onto the input pixel it came from.

Both kernels are written once, for 3-D volumes ``(N, C, D, H, W)``: a 2-D
convolution is a 3-D one of depth 1 with a kernel of depth 1. A transposed
convolution is the backward pass of a convolution run forwards: multiply,
then fold.

Same names and arguments as ``tinycv.kernels.conv`` (which validates the
shapes and dispatches here when the input is a ``CudaArray``).
"""

from __future__ import annotations

import math

from numba import cuda

from tinycv.cuda.array import CudaArray
from tinycv.kernels.cuda.elementwise import THREADS_PER_BLOCK, blocks_for
from tinycv.kernels.cuda.matmul import bmm

# Plan of unfold (im2col), one thread per element of ``cols``:
#   1. Thread ``index`` owns cols[row, column]: the row names a channel and a
#      kernel offset (c, i, j, k); the column names a sample and an output
#      position (n, od, oh, ow).
#   2. The input position under that kernel offset is
#      output position * stride - padding + offset * dilation, per axis.
#   3. Copy that input number, or 0 when the position is in the padding.


@cuda.jit(cache=True)
def unfold_kernel(x, cols, kernel, stride, padding, dilation, out_size):
    index = cuda.grid(1)
    if index < cols.size:
        row = index // cols.shape[1]
        column = index % cols.shape[1]
        kd, kh, kw = kernel
        out_d, out_h, out_w = out_size
        depth, height, width = x.shape[2], x.shape[3], x.shape[4]

        channel = row // (kd * kh * kw)
        i = row // (kh * kw) % kd
        j = row // kw % kh
        k = row % kw
        n = column // (out_d * out_h * out_w)
        od = column // (out_h * out_w) % out_d
        oh = column // out_w % out_h
        ow = column % out_w

        d = od * stride[0] - padding[0] + i * dilation[0]
        h = oh * stride[1] - padding[1] + j * dilation[1]
        w = ow * stride[2] - padding[2] + k * dilation[2]
        inside = 0 <= d < depth and 0 <= h < height and 0 <= w < width
        if inside:
            cols[row, column] = x[n, channel, d, h, w]
        else:
            cols[row, column] = 0


# Plan of fold (col2im), one thread per element of the image ``x``:
#   1. Thread ``index`` owns x[n, c, d, h, w] and sums every column entry
#      that unfold copied from it (a gather: no two threads write the same
#      number, so no atomics are needed).
#   2. For each kernel offset (i, j, k), solve
#      position = output * stride - padding + offset * dilation for the
#      output position; it counts only if the division is exact and the
#      output position lies inside the output.
#   3. Add cols[(c, i, j, k), (n, od, oh, ow)] for each such output.


@cuda.jit(cache=True)
def fold_kernel(cols, x, kernel, stride, padding, dilation, out_size):
    index = cuda.grid(1)
    if index < x.size:
        channels, depth, height, width = x.shape[1], x.shape[2], x.shape[3], x.shape[4]
        kd, kh, kw = kernel
        out_d, out_h, out_w = out_size
        n = index // (channels * depth * height * width)
        c = index // (depth * height * width) % channels
        d = index // (height * width) % depth
        h = index // width % height
        w = index % width

        acc = x.dtype.type(0)
        for i in range(kd):
            reach_d = d + padding[0] - i * dilation[0]
            od = reach_d // stride[0]
            if reach_d < 0 or reach_d % stride[0] != 0 or od >= out_d:
                continue
            for j in range(kh):
                reach_h = h + padding[1] - j * dilation[1]
                oh = reach_h // stride[1]
                if reach_h < 0 or reach_h % stride[1] != 0 or oh >= out_h:
                    continue
                for k in range(kw):
                    reach_w = w + padding[2] - k * dilation[2]
                    ow = reach_w // stride[2]
                    if reach_w < 0 or reach_w % stride[2] != 0 or ow >= out_w:
                        continue
                    row = ((c * kd + i) * kh + j) * kw + k
                    column = ((n * out_d + od) * out_h + oh) * out_w + ow
                    acc += cols[row, column]
        x[n, c, d, h, w] = acc


# ------------------------------------------------------------ the two moves


def unfold(x: CudaArray, kernel, stride, padding, dilation, out_size) -> CudaArray:
    """im2col: ``x`` (N, C, D, H, W) -> cols (C*kd*kh*kw, N*od*oh*ow)."""
    batch, channels = x.shape[:2]
    cols = CudaArray.empty(
        (channels * math.prod(kernel), batch * math.prod(out_size)), x.dtype
    )
    if cols.size:
        unfold_kernel[blocks_for(cols.size), THREADS_PER_BLOCK](
            x.device_array(),
            cols.device_array(),
            tuple(kernel),
            tuple(stride),
            tuple(padding),
            tuple(dilation),
            tuple(out_size),
        )
    return cols


def fold(cols: CudaArray, shape, kernel, stride, padding, dilation, out_size):
    """col2im: add the columns back into an image of ``shape`` (N, C, D, H, W)."""
    x = CudaArray.empty(shape, cols.dtype)
    if x.size:
        fold_kernel[blocks_for(x.size), THREADS_PER_BLOCK](
            cols.device_array(),
            x.device_array(),
            tuple(kernel),
            tuple(stride),
            tuple(padding),
            tuple(dilation),
            tuple(out_size),
        )
    return x


def _output_size(size, kernel, stride, padding, dilation) -> tuple:
    """Output length per axis: (size + 2p - d*(k-1) - 1) // s + 1."""
    return tuple(
        (n + 2 * p - d * (k - 1) - 1) // s + 1
        for n, k, s, p, d in zip(size, kernel, stride, padding, dilation, strict=True)
    )


def _transposed_output_size(size, kernel, stride, padding, dilation, extra):
    """Per axis: (size - 1)*s - 2p + d*(k - 1) + output_padding + 1."""
    return tuple(
        (n - 1) * s - 2 * p + d * (k - 1) + e + 1
        for n, k, s, p, d, e in zip(
            size, kernel, stride, padding, dilation, extra, strict=True
        )
    )


def _grouped(y: CudaArray, groups: int) -> CudaArray:
    """(N, C, *spatial) -> (groups, C/groups, N*spatial): channels first."""
    batch, channels = y.shape[:2]
    positions = math.prod(y.shape[2:])
    by_channel = y.reshape(batch, channels, positions).transpose(1, 0, 2)
    return by_channel.reshape(groups, channels // groups, batch * positions)


def _ungrouped(y: CudaArray, batch: int, spatial: tuple) -> CudaArray:
    """(groups, C/groups, N*spatial) -> (N, C, *spatial)."""
    channels = y.shape[0] * y.shape[1]
    by_channel = y.reshape(channels, batch, math.prod(spatial))
    return by_channel.transpose(1, 0, 2).reshape((batch, channels) + spatial)


def _add_bias(y: CudaArray, bias) -> CudaArray:
    if bias is None:
        return y
    return y + bias.reshape((1, -1) + (1,) * (y.ndim - 2))


# ------------------------------------------------- convolution, in 3-D form


def _conv_forward(x, weight, bias, stride, padding, dilation, groups):
    batch = x.shape[0]
    out_channels = weight.shape[0]
    kernel = weight.shape[2:]
    out_size = _output_size(x.shape[2:], kernel, stride, padding, dilation)

    cols = unfold(x, kernel, stride, padding, dilation, out_size)
    cols = cols.reshape(groups, cols.shape[0] // groups, cols.shape[1])
    w = weight.reshape(groups, out_channels // groups, -1)

    y = bmm(w, cols)
    return _add_bias(_ungrouped(y, batch, out_size), bias)


def _conv_backward(grad_y, x, weight, stride, padding, dilation, groups, need_bias):
    kernel = weight.shape[2:]
    out_size = grad_y.shape[2:]
    g = _grouped(grad_y, groups)  # (G, C_out/G, N*L)
    w = weight.reshape(groups, weight.shape[0] // groups, -1)  # (G, C_out/G, K)

    cols = unfold(x, kernel, stride, padding, dilation, out_size)
    cols = cols.reshape(groups, cols.shape[0] // groups, cols.shape[1])
    grad_w = bmm(g, cols.transpose(0, 2, 1)).reshape(weight.shape)

    grad_cols = bmm(w.transpose(0, 2, 1), g)
    grad_cols = grad_cols.reshape(-1, grad_cols.shape[2])
    grad_x = fold(grad_cols, x.shape, kernel, stride, padding, dilation, out_size)

    grad_b = None
    if need_bias:
        grad_b = grad_y.sum(axis=(0,) + tuple(range(2, grad_y.ndim)))
    return grad_x, grad_w, grad_b


def _depth1(array: CudaArray) -> CudaArray:
    """(N, C, H, W) -> (N, C, 1, H, W): a 2-D array as a volume of depth 1."""
    return array.reshape(array.shape[:2] + (1,) + array.shape[2:])


def _flat(array: CudaArray) -> CudaArray:
    """(N, C, 1, H, W) -> (N, C, H, W)."""
    return array.reshape(array.shape[:2] + array.shape[3:])


def _tuple(value, n: int) -> tuple:
    return (
        tuple(int(v) for v in value) if hasattr(value, "__len__") else (int(value),) * n
    )


# ------------------------------------------------------------- public API


def conv2d_forward(x, weight, bias, stride, padding, dilation, groups):
    """y = conv2d(x, weight) + bias.

    x (N, C_in, H, W), weight (C_out, C_in/groups, kh, kw) -> y (N, C_out, oh, ow).
    """
    y = _conv_forward(
        _depth1(x),
        _depth1(weight),
        bias,
        (1,) + _tuple(stride, 2),
        (0,) + _tuple(padding, 2),
        (1,) + _tuple(dilation, 2),
        int(groups),
    )
    return _flat(y)


def conv2d_backward(grad_y, x, weight, stride, padding, dilation, groups, need_bias):
    """Gradients of conv2d: ``(grad_x, grad_w, grad_b or None)``."""
    grad_x, grad_w, grad_b = _conv_backward(
        _depth1(grad_y),
        _depth1(x),
        _depth1(weight),
        (1,) + _tuple(stride, 2),
        (0,) + _tuple(padding, 2),
        (1,) + _tuple(dilation, 2),
        int(groups),
        need_bias,
    )
    return _flat(grad_x), _flat(grad_w), grad_b


def conv3d_forward(x, weight, bias, stride, padding):
    """y = conv3d(x, weight) + bias.

    x (N, C_in, D, H, W), weight (C_out, C_in, kd, kh, kw) -> y (N, C_out, ...).
    """
    return _conv_forward(
        x, weight, bias, _tuple(stride, 3), _tuple(padding, 3), (1, 1, 1), 1
    )


def conv3d_backward(grad_y, x, weight, stride, padding, need_bias):
    """Gradients of conv3d: ``(grad_x, grad_w, grad_b or None)``."""
    return _conv_backward(
        grad_y,
        x,
        weight,
        _tuple(stride, 3),
        _tuple(padding, 3),
        (1, 1, 1),
        1,
        need_bias,
    )


def _transposed_geometry(stride, padding, dilation):
    return (
        (1,) + _tuple(stride, 2),
        (0,) + _tuple(padding, 2),
        (1,) + _tuple(dilation, 2),
    )


def conv_transpose2d_forward(
    x, weight, bias, stride, padding, output_padding, groups=1, dilation=(1, 1)
):
    """Transposed convolution; weight (C_in, C_out/g, kh, kw) as in torch.

    The output has size (H - 1)*s - 2p + d*(k - 1) + output_padding + 1 per
    axis: each input pixel spreads a weighted copy of the kernel over it.
    """
    stride, padding, dilation = _transposed_geometry(stride, padding, dilation)
    output_padding = _tuple(output_padding, 2)
    groups = int(groups)
    batch = x.shape[0]
    in_size = (1,) + x.shape[2:]
    kernel = (1,) + weight.shape[2:]
    out_channels = weight.shape[1] * groups
    out_size = _transposed_output_size(
        in_size, kernel, stride, padding, dilation, (0,) + output_padding
    )

    xg = _grouped(_depth1(x), groups)  # (G, C_in/G, N*H*W)
    w = weight.reshape(groups, weight.shape[0] // groups, -1)  # (G, C_in/G, K)
    cols = bmm(w.transpose(0, 2, 1), xg)  # (G, K, N*H*W)
    cols = cols.reshape(-1, cols.shape[2])

    y = fold(
        cols,
        (batch, out_channels) + out_size,
        kernel,
        stride,
        padding,
        dilation,
        in_size,
    )
    return _add_bias(_flat(y), bias)


def conv_transpose2d_backward(
    grad_y, x, weight, stride, padding, output_padding, groups, dilation, need_bias
):
    """Gradients of conv_transpose2d: ``(grad_x, grad_w, grad_b or None)``.

    Unfolding ``grad_y`` over the input's grid gives the columns that both
    gradients need: grad_x = W @ cols (a plain convolution of grad_y) and
    grad_w = x @ cols^T.
    """
    stride, padding, dilation = _transposed_geometry(stride, padding, dilation)
    groups = int(groups)
    batch = x.shape[0]
    in_size = (1,) + x.shape[2:]
    kernel = (1,) + weight.shape[2:]

    cols = unfold(_depth1(grad_y), kernel, stride, padding, dilation, in_size)
    cols = cols.reshape(groups, cols.shape[0] // groups, cols.shape[1])
    w = weight.reshape(groups, weight.shape[0] // groups, -1)  # (G, C_in/G, K)
    xg = _grouped(_depth1(x), groups)  # (G, C_in/G, N*H*W)

    grad_x = _flat(_ungrouped(bmm(w, cols), batch, in_size))
    grad_w = bmm(xg, cols.transpose(0, 2, 1)).reshape(weight.shape)
    grad_b = grad_y.sum(axis=(0, 2, 3)) if need_bias else None
    return grad_x, grad_w, grad_b
