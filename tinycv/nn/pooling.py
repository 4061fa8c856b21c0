"""Pooling and resizing layers.

Pooling summarises each window of a feature map by its max or its mean,
shrinking the map and making the features a little translation-invariant.
The work is done by ``tinycv.ops.pool``. ``Upsample`` goes the other way.
"""

from __future__ import annotations

from tinycv.nn import functional as F
from tinycv.nn.module import Module
from tinycv.tensor import Tensor


class _PoolNd(Module):
    """Window size, stride (default: the window) and zero padding."""

    dims = 2

    def __init__(self, kernel_size, stride=None, padding=0, **unsupported):
        super().__init__()
        name = type(self).__name__
        for option, (value, default) in unsupported.items():
            if value != default:
                raise ValueError(
                    f"{name}: {option}={value!r} is not supported "
                    f"(only {option}={default!r})"
                )
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding

    def check(self, input: Tensor) -> None:
        spatial = ("H", "W") if self.dims == 2 else ("D", "H", "W")
        self.check_input(input, ("N", "C") + spatial)

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}"
        )


class _MaxPoolNd(_PoolNd):
    """PyTorch's max-pool constructor; only the defaults of the extras work."""

    def __init__(
        self,
        kernel_size,
        stride=None,
        padding=0,
        dilation=1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ):
        super().__init__(
            kernel_size,
            stride,
            padding,
            dilation=(dilation, 1),
            return_indices=(return_indices, False),
            ceil_mode=(ceil_mode, False),
        )


class _AvgPoolNd(_PoolNd):
    """PyTorch's avg-pool constructor; only the defaults of the extras work."""

    def __init__(
        self,
        kernel_size,
        stride=None,
        padding=0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override=None,
    ):
        super().__init__(
            kernel_size,
            stride,
            padding,
            ceil_mode=(ceil_mode, False),
            count_include_pad=(count_include_pad, True),
            divisor_override=(divisor_override, None),
        )


class MaxPool2d(_MaxPoolNd):
    """The largest value of each window, over (N, C, H, W) input."""

    def forward(self, input: Tensor) -> Tensor:
        self.check(input)
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding)


class AvgPool2d(_AvgPoolNd):
    """The mean of each window (LeNet's subsampling), over (N, C, H, W) input.

    Padded zeros count in the mean (``count_include_pad=True``, as PyTorch).
    """

    def forward(self, input: Tensor) -> Tensor:
        self.check(input)
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding)


class MaxPool3d(_MaxPoolNd):
    """The largest value of each window, over (N, C, D, H, W) input."""

    dims = 3

    def forward(self, input: Tensor) -> Tensor:
        self.check(input)
        return F.max_pool3d(input, self.kernel_size, self.stride, self.padding)


class AvgPool3d(_AvgPoolNd):
    """The mean of each window, over (N, C, D, H, W) input."""

    dims = 3

    def forward(self, input: Tensor) -> Tensor:
        self.check(input)
        return F.avg_pool3d(input, self.kernel_size, self.stride, self.padding)


class AdaptiveAvgPool2d(Module):
    """Average-pool to a fixed ``output_size`` whatever the input size.

    ``AdaptiveAvgPool2d(1)`` is global average pooling: one number per
    channel, which lets a fully convolutional network take any image size.
    """

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        self.check_input(input, ("N", "C", "H", "W"))
        return F.adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class Upsample(Module):
    """Enlarge (N, C, ...) feature maps by ``scale_factor`` or to ``size``.

    ``mode="nearest"`` repeats pixels; ``"bilinear"`` (4-D input) blends the
    four nearest ones. See ``functional.interpolate``.
    """

    def __init__(
        self,
        size=None,
        scale_factor=None,
        mode: str = "nearest",
        align_corners: bool | None = None,
    ):
        super().__init__()
        self.size = size
        self.scale_factor = scale_factor
        self.mode = mode
        self.align_corners = align_corners

    def forward(self, input: Tensor) -> Tensor:
        return F.interpolate(
            input, self.size, self.scale_factor, self.mode, self.align_corners
        )

    def extra_repr(self) -> str:
        what = (
            f"size={self.size}"
            if self.size is not None
            else f"scale_factor={self.scale_factor}"
        )
        return f"{what}, mode={self.mode!r}"
