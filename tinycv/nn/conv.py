"""Convolution layers: Conv2d, Conv3d and ConvTranspose2d.

Each holds a weight and a bias and calls the differentiable op in
``tinycv.ops.conv``; the loops themselves live in ``tinycv.kernels.conv``.
Weight layouts are PyTorch's: (C_out, C_in / groups, kh, kw) for a
convolution, (C_in, C_out / groups, kh, kw) for a transposed one.
"""

from __future__ import annotations

import math

from tinycv.nn import functional as F
from tinycv.nn import init
from tinycv.nn.module import Module, empty_parameter
from tinycv.tensor import Tensor


def to_tuple(value, n: int, name: str) -> tuple:
    """``3`` -> ``(3, 3)``; a tuple of length n passes through."""
    if isinstance(value, (tuple, list)):
        if len(value) != n:
            raise ValueError(f"{name} needs {n} values, got {tuple(value)}")
        return tuple(int(v) for v in value)
    return (int(value),) * n


class _ConvNd(Module):
    """What every convolution shares: checked settings, weight, bias, repr.

    Subclasses set ``dims``, the number of spatial dims (2 for images, 3 for
    video), and write ``forward``; the constructor is PyTorch's.
    """

    transposed = False

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device=None,
        dtype=None,
    ):
        super().__init__()
        name = type(self).__name__
        dims = self.dims
        if in_channels % groups or out_channels % groups:
            raise ValueError(
                f"{name}: in_channels ({in_channels}) and out_channels "
                f"({out_channels}) must both be divisible by groups ({groups})"
            )
        if padding_mode != "zeros":
            raise ValueError(
                f"{name}: only padding_mode='zeros' is supported, got {padding_mode!r}"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = to_tuple(kernel_size, dims, f"{name} kernel_size")
        self.stride = to_tuple(stride, dims, f"{name} stride")
        self.dilation = to_tuple(dilation, dims, f"{name} dilation")
        self.padding = self._resolve_padding(padding, dims)
        self.groups = groups

        if self.transposed:
            shape = (in_channels, out_channels // groups) + self.kernel_size
        else:
            shape = (out_channels, in_channels // groups) + self.kernel_size
        self.weight = empty_parameter(*shape, dtype=dtype, device=device)
        if bias:
            self.bias = empty_parameter(out_channels, dtype=dtype, device=device)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def _resolve_padding(self, padding, dims: int) -> tuple:
        name = type(self).__name__
        if padding == "valid":
            return (0,) * dims
        if padding != "same":
            return to_tuple(padding, dims, f"{name} padding")
        if any(s != 1 for s in self.stride):
            raise ValueError(f"{name}: padding='same' needs stride 1")
        total = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)]
        if any(t % 2 for t in total):
            raise ValueError(
                f"{name}: padding='same' with an even kernel needs uneven padding, "
                "which tinycv does not support; pad the input yourself"
            )
        return tuple(t // 2 for t in total)

    def _settings(self) -> dict:
        """The keyword arguments the functional convolution takes."""
        return dict(
            stride=self.stride,
            padding=self.padding,
            dilation=self.dilation,
            groups=self.groups,
        )

    def reset_parameters(self) -> None:
        # PyTorch's default: kaiming_uniform with a = sqrt(5), which gives
        # U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and bias alike.
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init.fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        parts = [f"{self.in_channels}, {self.out_channels}"]
        parts.append(f"kernel_size={self.kernel_size}")
        if any(s != 1 for s in self.stride):
            parts.append(f"stride={self.stride}")
        if any(self.padding):
            parts.append(f"padding={self.padding}")
        if any(getattr(self, "output_padding", ())):
            parts.append(f"output_padding={self.output_padding}")
        if any(d != 1 for d in self.dilation):
            parts.append(f"dilation={self.dilation}")
        if self.groups != 1:
            parts.append(f"groups={self.groups}")
        if self.bias is None:
            parts.append("bias=False")
        return ", ".join(parts)


class Conv2d(_ConvNd):
    """2-D convolution over (N, C_in, H, W) input, as ``torch.nn.Conv2d``.

    Output size per spatial dim:
    ``floor((H + 2 padding - dilation (k - 1) - 1) / stride) + 1``.
    ``groups=in_channels`` gives the depthwise convolution of MobileNet.
    ``padding`` may also be ``"valid"`` (0) or ``"same"`` (odd kernels).
    """

    dims = 2

    def forward(self, input: Tensor) -> Tensor:
        self.check_input(input, ("N", self.in_channels, "H", "W"))
        return F.conv2d(input, self.weight, self.bias, **self._settings())


class Conv3d(_ConvNd):
    """3-D convolution over (N, C_in, D, H, W) input (video: D is time).

    The filters slide over time as well as space, so a feature can respond
    to motion (3D CNN, 2011). Settings as for ``Conv2d``, with triples.
    """

    dims = 3

    def forward(self, input: Tensor) -> Tensor:
        self.check_input(input, ("N", self.in_channels, "D", "H", "W"))
        return F.conv3d(input, self.weight, self.bias, **self._settings())


class ConvTranspose2d(_ConvNd):
    """Transposed convolution: the backward of Conv2d, used to upsample.

    Output size per spatial dim:
    ``(H - 1) stride - 2 padding + dilation (k - 1) + output_padding + 1``.
    """

    dims = 2
    transposed = True

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        output_padding=0,
        groups: int = 1,
        bias: bool = True,
        dilation=1,
        padding_mode: str = "zeros",
        device=None,
        dtype=None,
    ):
        if isinstance(padding, str):
            raise ValueError("ConvTranspose2d: padding must be numbers, not a string")
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            bias,
            padding_mode,
            device,
            dtype,
        )
        self.output_padding = to_tuple(
            output_padding, 2, "ConvTranspose2d output_padding"
        )
        for extra, s, d in zip(self.output_padding, self.stride, self.dilation):
            if extra >= max(s, d):
                raise ValueError(
                    f"ConvTranspose2d: output_padding {self.output_padding} must be "
                    f"smaller than stride {self.stride} or dilation {self.dilation}"
                )

    def forward(self, input: Tensor) -> Tensor:
        self.check_input(input, ("N", self.in_channels, "H", "W"))
        return F.conv_transpose2d(
            input,
            self.weight,
            self.bias,
            stride=self.stride,
            padding=self.padding,
            output_padding=self.output_padding,
            groups=self.groups,
            dilation=self.dilation,
        )
