"""Pooling as differentiable operations, with ``torch.nn.functional``'s names.

Each Function runs a kernel of ``tinycv.kernels.pool`` (or its GPU twin)
and reads the same way: forward, what it saves, backward.

- max pooling saves which input cell won each window (``argmax``); the
  gradient of an output goes to that cell alone, and a cell that wins
  several overlapping windows collects all their gradients;
- average pooling saves only the shapes; the gradient of an output is
  shared equally by the cells of its window.

Adaptive average pooling picks the windows from the output size, as
PyTorch: output cell i along an axis of length L averages input cells
floor(i * L / out) up to ceil((i + 1) * L / out). When ``out`` divides L
these are the windows of an ordinary average pooling with
kernel = stride = L / out, which is what runs; otherwise the uneven
windows are averaged one by one with tensor operations (slower, fine for
the small outputs adaptive pooling is used for).
"""

from __future__ import annotations

from tinycv.autograd import Function
from tinycv.kernels import pool as kernels

# --------------------------------------------------------------------------
# Functions
# --------------------------------------------------------------------------


class MaxPool2dFunction(Function):
    forward_kernel = staticmethod(kernels.max_pool2d_forward)
    backward_kernel = staticmethod(kernels.max_pool2d_backward)

    def forward(self, x, *, kernel_size, stride, padding):
        y, argmax = self.forward_kernel(x, kernel_size, stride, padding)

        self.save_for_backward(argmax)
        self.input_shape = tuple(x.shape)
        return y

    def backward(self, grad):
        (argmax,) = self.saved_tensors
        return self.backward_kernel(grad, argmax, self.input_shape)


class MaxPool3dFunction(MaxPool2dFunction):
    forward_kernel = staticmethod(kernels.max_pool3d_forward)
    backward_kernel = staticmethod(kernels.max_pool3d_backward)


class AvgPool2dFunction(Function):
    forward_kernel = staticmethod(kernels.avg_pool2d_forward)
    backward_kernel = staticmethod(kernels.avg_pool2d_backward)

    def forward(self, x, *, kernel_size, stride, padding):
        y = self.forward_kernel(x, kernel_size, stride, padding)

        self.input_shape = tuple(x.shape)
        self.window = (kernel_size, stride, padding)
        return y

    def backward(self, grad):
        return self.backward_kernel(grad, self.input_shape, *self.window)


class AvgPool3dFunction(AvgPool2dFunction):
    forward_kernel = staticmethod(kernels.avg_pool3d_forward)
    backward_kernel = staticmethod(kernels.avg_pool3d_backward)


# --------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------


def _reject(op, **options):
    """Raise a one-line ValueError for a PyTorch option tinycv lacks.

    ``options`` maps a name to (value given, the only value supported)."""
    for name, (value, supported) in options.items():
        if value != supported:
            raise ValueError(
                f"{op}: {name}={value!r} is not supported (only {name}={supported!r})"
            )


def _reject_max_pool_options(op, dilation, ceil_mode, return_indices):
    _reject(
        op,
        dilation=(dilation, 1),
        ceil_mode=(ceil_mode, False),
        return_indices=(return_indices, False),
    )


def _reject_avg_pool_options(op, ceil_mode, count_include_pad, divisor_override):
    _reject(
        op,
        ceil_mode=(ceil_mode, False),
        count_include_pad=(count_include_pad, True),
        divisor_override=(divisor_override, None),
    )


def _pool(function, dims, input, kernel_size, stride, padding):
    """Apply ``function``; a single unbatched map (C, H, W) gets a batch of one."""
    if stride is None or (not isinstance(stride, int) and len(stride) == 0):
        stride = kernel_size
    unbatched = input.ndim == dims + 1
    if unbatched:
        input = input.unsqueeze(0)
    y = function.apply(input, kernel_size=kernel_size, stride=stride, padding=padding)
    return y.squeeze(0) if unbatched else y


def max_pool2d(
    input,
    kernel_size,
    stride=None,
    padding=0,
    dilation=1,
    ceil_mode=False,
    return_indices=False,
):
    """The largest value of each window of (N, C, H, W) ``input``.

    ``stride`` defaults to ``kernel_size``; padding is at most half the
    kernel. Dilation, ceil_mode and return_indices are not supported.
    """
    _reject_max_pool_options("max_pool2d", dilation, ceil_mode, return_indices)
    return _pool(MaxPool2dFunction, 2, input, kernel_size, stride, padding)


def avg_pool2d(
    input,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode=False,
    count_include_pad=True,
    divisor_override=None,
):
    """The mean of each window of (N, C, H, W) ``input``, padded zeros counted.

    ceil_mode, count_include_pad=False and divisor_override are not supported.
    """
    _reject_avg_pool_options(
        "avg_pool2d", ceil_mode, count_include_pad, divisor_override
    )
    return _pool(AvgPool2dFunction, 2, input, kernel_size, stride, padding)


def max_pool3d(
    input,
    kernel_size,
    stride=None,
    padding=0,
    dilation=1,
    ceil_mode=False,
    return_indices=False,
):
    """The largest value of each window of (N, C, D, H, W) ``input``."""
    _reject_max_pool_options("max_pool3d", dilation, ceil_mode, return_indices)
    return _pool(MaxPool3dFunction, 3, input, kernel_size, stride, padding)


def avg_pool3d(
    input,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode=False,
    count_include_pad=True,
    divisor_override=None,
):
    """The mean of each window of (N, C, D, H, W) ``input``, padded zeros counted."""
    _reject_avg_pool_options(
        "avg_pool3d", ceil_mode, count_include_pad, divisor_override
    )
    return _pool(AvgPool3dFunction, 3, input, kernel_size, stride, padding)


def global_avg_pool2d(input):
    """The mean of each whole feature map: (N, C, H, W) -> (N, C, 1, 1).

    The same as ``adaptive_avg_pool2d(input, 1)``; flatten it for a
    classifier head.
    """
    if input.ndim != 4:
        raise ValueError(
            f"global_avg_pool2d: expects a 4-d input (N, C, H, W), "
            f"got shape {tuple(input.shape)}"
        )
    return input.mean(dim=(2, 3), keepdim=True)


def adaptive_avg_pool2d(input, output_size):
    """Average-pool (N, C, H, W) ``input`` to ``output_size`` whatever H and W.

    ``output_size`` is an int or a pair; None in the pair keeps that size.
    A single unbatched map (C, H, W) works too.
    """
    if input.ndim not in (3, 4):
        raise ValueError(
            f"adaptive_avg_pool2d: expects a 4-d input (N, C, H, W) or a 3-d "
            f"(C, H, W), got shape {tuple(input.shape)}"
        )
    height, width = input.shape[-2:]
    sizes = (output_size,) * 2 if isinstance(output_size, int) else output_size
    if len(sizes) != 2:
        raise ValueError(
            f"adaptive_avg_pool2d: output_size must be an int or a pair, "
            f"got {output_size!r}"
        )
    out_h = height if sizes[0] is None else int(sizes[0])
    out_w = width if sizes[1] is None else int(sizes[1])
    if out_h < 1 or out_w < 1:
        raise ValueError(
            f"adaptive_avg_pool2d: output_size must be positive, got {output_size!r} "
            f"(input {tuple(input.shape)})"
        )

    if (out_h, out_w) == (1, 1) and input.ndim == 4:
        return global_avg_pool2d(input)
    if height % out_h == 0 and width % out_w == 0:
        kernel = (height // out_h, width // out_w)
        return avg_pool2d(input, kernel, kernel)
    return _uneven_adaptive_avg_pool2d(input, out_h, out_w)


def _uneven_adaptive_avg_pool2d(input, out_h, out_w):
    """Adaptive average pooling window by window, for sizes that do not divide."""
    from tinycv.tensor import stack

    height, width = input.shape[-2:]
    rows = []
    for i in range(out_h):
        top, bottom = (i * height) // out_h, -(-(i + 1) * height // out_h)
        cells = []
        for j in range(out_w):
            left, right = (j * width) // out_w, -(-(j + 1) * width // out_w)
            window = input[..., top:bottom, left:right]
            cells.append(window.mean(dim=(-2, -1)))
        rows.append(stack(cells, dim=-1))
    return stack(rows, dim=-2)
