"""Plain numpy references for the GPU kernels, written independently of them.

Convolutions loop over the kernel offsets and do the rest with whole-array
numpy: for offset (i, j), the strided slice of the padded input under that
offset is multiplied by the weights of that offset.
"""

import itertools

import numpy as np


def _window(offset, dilation, stride, count):
    """The slice of a padded axis that kernel tap ``offset`` reads."""
    start = offset * dilation
    return slice(start, start + stride * (count - 1) + 1, stride)


def conv_forward(x, weight, bias, stride, padding, dilation, groups):
    """N-d convolution (2-D or 3-D) as torch.nn.functional.conv2d/3d."""
    spatial = x.ndim - 2
    batch, channels = x.shape[:2]
    out_channels, group_channels = weight.shape[:2]
    kernel = weight.shape[2:]
    out_size = tuple(
        (n + 2 * p - d * (k - 1) - 1) // s + 1
        for n, k, s, p, d in zip(x.shape[2:], kernel, stride, padding, dilation)
    )
    padded = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in padding])
    y = np.zeros((batch, out_channels) + out_size, dtype=np.float64)
    out_per_group = out_channels // groups
    for g in range(groups):
        xs = padded[:, g * group_channels : (g + 1) * group_channels]
        ws = weight[g * out_per_group : (g + 1) * out_per_group]
        for taps in itertools.product(*(range(k) for k in kernel)):
            view = (slice(None), slice(None)) + tuple(
                _window(t, dilation[a], stride[a], out_size[a])
                for a, t in enumerate(taps)
            )
            w_tap = ws[(slice(None), slice(None)) + taps]
            y[:, g * out_per_group : (g + 1) * out_per_group] += np.einsum(
                "nc...,oc->no...", xs[view], w_tap
            )
    if bias is not None:
        y += bias.reshape((1, -1) + (1,) * spatial)
    return y.astype(x.dtype)


def conv_transpose2d_forward(
    x, weight, bias, stride, padding, output_padding, groups, dilation
):
    """Transposed 2-D convolution as torch: each input pixel spreads the kernel."""
    batch, in_channels, height, width = x.shape
    in_per_group, out_per_group = in_channels // groups, weight.shape[1]
    kh, kw = weight.shape[2:]
    out_h = (height - 1) * stride[0] - 2 * padding[0] + dilation[0] * (kh - 1)
    out_w = (width - 1) * stride[1] - 2 * padding[1] + dilation[1] * (kw - 1)
    out_h += output_padding[0] + 1
    out_w += output_padding[1] + 1
    full = np.zeros(
        (
            batch,
            out_per_group * groups,
            out_h + 2 * padding[0] + stride[0],
            out_w + 2 * padding[1] + stride[1],
        )
    )
    for g in range(groups):
        xs = x[:, g * in_per_group : (g + 1) * in_per_group]
        ws = weight[g * in_per_group : (g + 1) * in_per_group]
        for i in range(kh):
            for j in range(kw):
                view = (
                    slice(None),
                    slice(g * out_per_group, (g + 1) * out_per_group),
                    _window(i, dilation[0], stride[0], height),
                    _window(j, dilation[1], stride[1], width),
                )
                full[view] += np.einsum("nchw,co->nohw", xs, ws[:, :, i, j])
    y = full[
        :, :, padding[0] : padding[0] + out_h, padding[1] : padding[1] + out_w
    ].copy()
    if bias is not None:
        y += bias.reshape(1, -1, 1, 1)
    return y.astype(x.dtype)


def pool_forward(x, kernel, stride, padding, kind):
    """Max or average pooling over the trailing dims of x (N, C, *spatial).

    Returns (y, argmax) for "max" (argmax: flat index in the input plane or
    volume, first max in row-major order) and y for "avg"
    (count_include_pad=True).
    """
    spatial = x.shape[2:]
    out_size = tuple(
        (n + 2 * p - k) // s + 1 for n, k, s, p in zip(spatial, kernel, stride, padding)
    )
    y = np.zeros(x.shape[:2] + out_size, dtype=x.dtype)
    argmax = np.zeros(x.shape[:2] + out_size, dtype=np.int64)
    for n, c in itertools.product(range(x.shape[0]), range(x.shape[1])):
        for out in itertools.product(*(range(o) for o in out_size)):
            best, best_index, total = -np.inf, -1, 0.0
            for taps in itertools.product(*(range(k) for k in kernel)):
                pos = tuple(
                    o * s - p + t for o, s, p, t in zip(out, stride, padding, taps)
                )
                if all(0 <= q < size for q, size in zip(pos, spatial)):
                    value = x[(n, c) + pos]
                    total += value
                    if best_index < 0 or value > best:
                        best = value
                        best_index = int(np.ravel_multi_index(pos, spatial))
            if kind == "max":
                y[(n, c) + out] = best
                argmax[(n, c) + out] = best_index
            else:
                y[(n, c) + out] = total / np.prod(kernel)
    return (y, argmax) if kind == "max" else y


def max_pool_backward(grad_y, argmax, input_shape):
    """Each output's gradient goes to the input that won its max."""
    batch, channels = input_shape[:2]
    grad_x = np.zeros((batch, channels, int(np.prod(input_shape[2:]))))
    for n, c in itertools.product(range(batch), range(channels)):
        np.add.at(grad_x[n, c], argmax[n, c].ravel(), grad_y[n, c].ravel())
    return grad_x.reshape(input_shape).astype(grad_y.dtype)
