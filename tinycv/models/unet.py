"""U-Net (Ronneberger, Fischer and Brox, 2015).

A contracting path (two unpadded 3×3 convolutions and a ReLU each, then
2×2 max-pooling; the filters double at each step, 64 to 1024) captures
context; a symmetric expanding path (a 2×2 "up-convolution" that halves
the filters, concatenation with the cropped feature map of the same level
of the contracting path, two 3×3 convolutions) gives precise localisation.
A final 1×1 convolution maps 64 features to the classes.

The convolutions are unpadded, so every one eats a one-pixel border: a
572×572 tile gives a 388×388 segmentation of its centre (the paper's
Figure 1), and the contracting path's maps are cropped before they are
concatenated (568 -> 392 at the top level). ``padding=1`` gives the padded
variant most re-implementations use, where output and input sizes match;
with ``base`` and ``depth`` it scales down to a laptop.
"""

from __future__ import annotations

from tinycv import nn
from tinycv.models import shapes
from tinycv.models.network import Network
from tinycv.tensor import Tensor, cat


def double_conv(in_channels: int, out_channels: int, padding: int) -> nn.Sequential:
    """conv3×3-ReLU-conv3×3-ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=padding),
        nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, 3, padding=padding),
        nn.ReLU(),
    )


def center_crop(x: Tensor, height: int, width: int) -> Tensor:
    """The central ``height``×``width`` part of a (N, C, H, W) map."""
    top = (x.shape[2] - height) // 2
    left = (x.shape[3] - width) // 2
    if top < 0 or left < 0:
        raise shapes.InputTooSmall(
            f"cannot crop {height}×{width} from a {x.shape[2]}×{x.shape[3]} map"
        )
    return x[:, :, top : top + height, left : left + width]


class UNet(Network):
    """U-Net.

    Args:
        in_channels: channels of the input (1 in the paper: gray cell images).
        num_classes: output maps (2 in the paper: cell and background).
        base: filters of the first level (64); level l has base × 2^l.
        depth: number of poolings (4 in the paper).
        padding: 0 (the paper: outputs are smaller than inputs) or 1.
        input_size: side of the default input (572 unpadded, 256 padded).
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 2,
        base: int = 64,
        depth: int = 4,
        padding: int = 0,
        input_size: int | None = None,
    ):
        super().__init__()
        if padding not in (0, 1):
            raise ValueError(f"UNet: padding must be 0 (the paper) or 1, got {padding}")
        if depth < 1 or base < 1:
            raise ValueError(
                f"UNet: depth and base must be positive, got {depth}, {base}"
            )
        self.padding = padding
        self.depth = depth
        self.title = "U-Net" + (" (padded)" if padding else "")
        if input_size is None:
            input_size = 572 if padding == 0 else 256
        self.input_shape = (in_channels, input_size, input_size)

        widths = [base * 2**level for level in range(depth + 1)]
        self.down = nn.ModuleList()
        channels = in_channels
        for filters in widths[:-1]:
            self.down.append(double_conv(channels, filters, padding))
            channels = filters
        self.pool = nn.MaxPool2d(2, stride=2)
        self.bottom = double_conv(channels, widths[-1], padding)
        channels = widths[-1]

        self.upconv = nn.ModuleList()
        self.up = nn.ModuleList()
        for filters in reversed(widths[:-1]):
            self.upconv.append(nn.ConvTranspose2d(channels, filters, 2, stride=2))
            self.up.append(double_conv(2 * filters, filters, padding))
            channels = filters
        self.classifier = nn.Conv2d(channels, num_classes, 1)
        for layer in self.modules():
            if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
                # The paper: Gaussian with std sqrt(2 / N), N the inputs of a unit.
                nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")

    def forward(self, input: Tensor) -> Tensor:
        if self.padding and not shapes.is_tracing():
            self._check_divisible(input)
        skips = []
        x = input
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottom(x)
        for upconv, block, skip in zip(self.upconv, self.up, reversed(skips)):
            x = upconv(x)
            x = block(cat([center_crop(skip, *x.shape[2:]), x], dim=1))
        return self.classifier(x)

    def _check_divisible(self, input: Tensor) -> None:
        step = 2**self.depth
        for size in input.shape[2:]:
            if size % step:
                raise ValueError(
                    f"{self.title}: with {self.depth} poolings the padded U-Net needs "
                    f"sizes divisible by {step}, got {tuple(input.shape)} "
                    f"(try {max(step, size // step * step)})"
                )
