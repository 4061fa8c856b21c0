"""Differentiable convolutions: conv2d, conv3d and conv_transpose2d.

Each op reads the same way: ``forward`` runs the kernel and saves the input
and the weight (never the output); ``backward`` asks the kernel for the
gradients that are needed, and only those. All the loops live in
``tinycv.kernels.conv``; this file only connects them to autograd.

The functions at the bottom take the arguments of ``torch.nn.functional``:
ints or tuples, and ``padding="valid"`` or ``"same"``.
"""

from __future__ import annotations

from tinycv.autograd import Function
from tinycv.device import array_module
from tinycv.kernels import conv as kernels


class Conv2dFunction(Function):
    """y = conv2d(x, w) + b."""

    name, dims = "conv2d", 2
    forward_kernel = staticmethod(kernels.conv2d_forward)
    backward_kernel = staticmethod(kernels.conv2d_backward)

    def forward(self, x, weight, bias, *, stride, padding, dilation, groups, extra):
        x = _pad_after(x, extra)
        self.save_for_backward(x, weight)
        self.settings = dict(
            stride=stride, padding=padding, dilation=dilation, groups=groups
        )
        self.extra = extra
        return self.forward_kernel(x, weight, bias, **self.settings)

    def backward(self, grad):
        x, weight = self.saved_tensors
        need_x, need_weight, need_bias = self.needs_input_grad
        grad_x, grad_w, grad_b = self.backward_kernel(
            grad,
            x,
            weight,
            **self.settings,
            need_bias=need_bias,
            need_x=need_x,
            need_weight=need_weight,
        )
        return _crop_after(grad_x, self.extra), grad_w, grad_b


class Conv3dFunction(Conv2dFunction):
    """y = conv3d(x, w) + b on video clips (N, C, D, H, W)."""

    name, dims = "conv3d", 3
    forward_kernel = staticmethod(kernels.conv3d_forward)
    backward_kernel = staticmethod(kernels.conv3d_backward)


class ConvTranspose2dFunction(Function):
    """y = conv_transpose2d(x, w) + b: the adjoint of conv2d, which upsamples."""

    def forward(
        self, x, weight, bias, *, stride, padding, output_padding, groups, dilation
    ):
        self.save_for_backward(x, weight)
        self.settings = (stride, padding, output_padding, groups, dilation)
        return kernels.conv_transpose2d_forward(x, weight, bias, *self.settings)

    def backward(self, grad):
        x, weight = self.saved_tensors
        need_x, need_weight, need_bias = self.needs_input_grad
        return kernels.conv_transpose2d_backward(
            grad,
            x,
            weight,
            *self.settings,
            need_bias=need_bias,
            need_x=need_x,
            need_weight=need_weight,
        )


# --------------------------------------------------------------------------
# torch.nn.functional entry points
# --------------------------------------------------------------------------


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution of a batch of images, as ``torch.nn.functional.conv2d``.

    Args:
        input: (N, C_in, H, W).
        weight: (C_out, C_in / groups, kh, kw).
        bias: (C_out,) or None.
        stride, dilation: int or (height, width).
        padding: int, (height, width), ``"valid"`` (none) or ``"same"``
            (the output keeps the input's size; stride 1 only).
        groups: split the channels into independent groups; groups = C_in
            is a depthwise convolution.

    Returns:
        A tensor (N, C_out, H_out, W_out),
        H_out = (H + 2 * padding - dilation * (kh - 1) - 1) // stride + 1.
    """
    return _conv(Conv2dFunction, input, weight, bias, stride, padding, dilation, groups)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """3-D convolution of video clips, as ``torch.nn.functional.conv3d``.

    Args:
        input: (N, C_in, D, H, W).
        weight: (C_out, C_in / groups, kd, kh, kw).
        bias: (C_out,) or None.
        stride, dilation: int or (depth, height, width).
        padding: int, a triple, ``"valid"`` or ``"same"``.
        groups: as in conv2d.
    """
    return _conv(Conv3dFunction, input, weight, bias, stride, padding, dilation, groups)


def conv_transpose2d(
    input,
    weight,
    bias=None,
    stride=1,
    padding=0,
    output_padding=0,
    groups=1,
    dilation=1,
):
    """Transposed 2-D convolution, as ``torch.nn.functional.conv_transpose2d``.

    Args:
        input: (N, C_in, H, W).
        weight: (C_in, C_out / groups, kh, kw).
        bias: (C_out,) or None.
        stride, padding, output_padding, dilation: int or (height, width).
        groups: as in conv2d.

    Returns:
        A tensor (N, C_out, H_out, W_out), H_out = (H - 1) * stride
        - 2 * padding + dilation * (kh - 1) + output_padding + 1.
    """
    return ConvTranspose2dFunction.apply(
        input,
        weight,
        bias,
        stride=stride,
        padding=padding,
        output_padding=output_padding,
        groups=groups,
        dilation=dilation,
    )


def _conv(function, input, weight, bias, stride, padding, dilation, groups):
    """Apply conv2d's or conv3d's ``function`` once "valid"/"same" are numbers."""
    padding, extra = _resolve_padding(
        function.name, padding, weight, stride, dilation, function.dims
    )
    return function.apply(
        input,
        weight,
        bias,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        extra=extra,
    )


def _resolve_padding(op, padding, weight, stride, dilation, spatial):
    """Numeric padding, plus any extra zeros after the input ("same" with an
    even kernel span needs one more at the end than at the start, as torch).

    Returns (padding, extra) with extra None or a tuple per spatial axis.
    """
    if not isinstance(padding, str):
        return padding, None
    if padding == "valid":
        return 0, None
    if padding != "same":
        raise ValueError(
            f"{op}: padding must be an int, a tuple, 'valid' or 'same', got {padding!r}"
        )

    stride = kernels._as_tuple(stride, spatial, "stride", op)
    dilation = kernels._as_tuple(dilation, spatial, "dilation", op)
    if any(s != 1 for s in stride):
        raise ValueError(f"{op}: padding='same' needs stride 1, got {stride}")
    kernel = tuple(weight.shape[-spatial:])
    total = tuple(d * (k - 1) for d, k in zip(dilation, kernel))
    before = tuple(t // 2 for t in total)
    extra = tuple(t - b for t, b in zip(total, before))
    if extra == before:
        return before, None
    return before, tuple(e - b for e, b in zip(extra, before))


def _pad_after(x, extra):
    """x with ``extra[a]`` zeros appended along spatial axis a."""
    if extra is None:
        return x
    xp = array_module(x)
    widths = [(0, 0), (0, 0)] + [(0, e) for e in extra]
    return xp.pad(x, widths)


def _crop_after(grad_x, extra):
    """Undo ``_pad_after`` on a gradient."""
    if extra is None or grad_x is None:
        return grad_x
    index = (slice(None), slice(None)) + tuple(
        slice(0, size - e) for size, e in zip(grad_x.shape[2:], extra)
    )
    return grad_x[index]
