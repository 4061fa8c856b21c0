"""Wide residual networks (Zagoruyko and Komodakis, 2016): WRN-d-k.

Fewer, wider layers: a CIFAR ResNet whose three groups have 16k, 32k and
64k filters instead of 16, 32 and 64, with (d - 4) / 6 blocks per group.
Blocks are pre-activation ones (BN-ReLU-conv3×3, twice; He et al., 2016),
optionally with dropout between the two convolutions, and a 1×1
projection shortcut where the number of channels changes. WRN-28-10 has
36.5 M parameters; a 16-layer wide network matches a 1000-layer thin one.
"""

from __future__ import annotations

from tinycv import nn
from tinycv.models.network import Network, scaled
from tinycv.tensor import Tensor


class WideBlock(nn.Module):
    """BN-ReLU-conv3×3 (stride), [dropout], BN-ReLU-conv3×3, plus the shortcut."""

    def __init__(self, in_channels, out_channels, stride=1, dropout=0.0):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else None
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.relu = nn.ReLU()
        reshapes = stride != 1 or in_channels != out_channels
        self.shortcut = (
            nn.Conv2d(in_channels, out_channels, 1, stride, 0, bias=False)
            if reshapes
            else None
        )

    def forward(self, x: Tensor) -> Tensor:
        activated = self.relu(self.bn1(x))
        out = self.conv1(activated)
        out = self.relu(self.bn2(out))
        if self.dropout is not None:
            out = self.dropout(out)
        out = self.conv2(out)
        # The projection sees the activated input, as the block's first conv does.
        return out + (x if self.shortcut is None else self.shortcut(activated))


class WideResNet(Network):
    """WRN-``depth``-``k``.

    Args:
        depth: 6n + 4 (16, 22, 28, 40, ...).
        k: widening factor (1 gives a pre-activation ResNet).
        dropout: probability of dropping a unit between a block's two
            convolutions (the paper used 0.3 on some runs; 0 by default).
        num_classes: outputs (10 for CIFAR-10).
        width: an extra multiplier on every width, for small versions.
        input_size: side of the default input (32).
    """

    def __init__(
        self,
        depth: int = 28,
        k: int = 10,
        dropout: float = 0.0,
        num_classes: int = 10,
        width: float = 1.0,
        input_size: int = 32,
        in_channels: int = 3,
    ):
        super().__init__()
        if depth < 10 or (depth - 4) % 6:
            raise ValueError(
                f"WideResNet: depth must be 6n + 4 (16, 22, 28, 40, ...), got {depth}"
            )
        n = (depth - 4) // 6
        self.title = f"WRN-{depth}-{k}"
        self.input_shape = (in_channels, input_size, input_size)

        channels = scaled(16, width)
        self.conv1 = nn.Conv2d(in_channels, channels, 3, 1, 1, bias=False)
        groups = []
        for index, filters in enumerate((16 * k, 32 * k, 64 * k)):
            filters = scaled(filters, width)
            blocks = []
            for b in range(n):
                stride = 2 if (b == 0 and index > 0) else 1
                blocks.append(WideBlock(channels, filters, stride, dropout))
                channels = filters
            groups.append(nn.Sequential(*blocks))
        self.group1, self.group2, self.group3 = groups
        self.bn = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        for layer in self.modules():
            if isinstance(layer, nn.Conv2d):
                nn.init.kaiming_normal_(
                    layer.weight, mode="fan_out", nonlinearity="relu"
                )

    def forward(self, input: Tensor) -> Tensor:
        x = self.conv1(input)
        x = self.group3(self.group2(self.group1(x)))
        x = self.relu(self.bn(x))
        return self.fc(self.avgpool(x).flatten(1))
