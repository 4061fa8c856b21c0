"""ResNet (He, Zhang, Ren and Sun, 2015) and its plain twins.

A residual block learns F(x) and outputs F(x) + x: the stacked layers fit
a residual, and when the best mapping is close to the identity they only
have to push F towards zero. The *plain* network is the same stack with
the skip connections removed; the paper's point is that plain networks get
worse as they get deeper (higher *training* error) and residual ones do not.

Two families, both here:

- ImageNet (Table 1): a 7×7/2 convolution and a 3×3/2 max-pool, four stages
  of 64, 128, 256 and 512 filters (the first block of stages 2-4 halves the
  size), global average pooling and a 1000-way FC. Basic blocks (two 3×3)
  for 18 and 34 layers, bottleneck blocks (1×1 down, 3×3, 1×1 up ×4) from
  50 layers. ResNet-18: 11,689,512 parameters, 1.8 G multiply-adds.
- CIFAR-10 (Section 4.2): a 3×3 convolution, three stages of n basic
  blocks with 16, 32 and 64 filters on 32×32, 16×16 and 8×8 maps, global
  average pooling and a 10-way FC: 6n + 2 weight layers (ResNet-20, 32, 44,
  56, 110 for n = 3, 5, 7, 9, 18). ResNet-20 has 0.27 M parameters.

Where a block changes the size or the number of channels the shortcut
cannot be the identity. The paper's options: (A) identity with stride-2
subsampling and zero-padded extra channels, no parameters (used for
CIFAR); (B) a 1×1 projection convolution only there (used for ImageNet);
(C) projections on every shortcut.
"""

from __future__ import annotations

from tinycv import nn
from tinycv.models.network import Network, scaled
from tinycv.tensor import Tensor, cat, zeros

IMAGENET_DEPTHS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}


def conv_bn(in_channels, out_channels, kernel_size, stride=1, padding=None):
    """A convolution without bias (the batch norm after it has one) and its BN."""
    padding = kernel_size // 2 if padding is None else padding
    return (
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False),
        nn.BatchNorm2d(out_channels),
    )


class ZeroPadShortcut(nn.Module):
    """Option A: subsample by ``stride`` and append zero channels. No parameters."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.extra = out_channels - in_channels
        self.stride = stride

    def forward(self, input: Tensor) -> Tensor:
        x = input[:, :, :: self.stride, :: self.stride]
        if self.extra == 0:
            return x
        n, _, h, w = x.shape
        padding = zeros(n, self.extra, h, w, dtype=x.dtype, device=x.device)
        return cat([x, padding], dim=1)

    def extra_repr(self) -> str:
        return f"stride={self.stride}, zero_channels={self.extra}"


def make_shortcut(in_channels, out_channels, stride, option: str):
    """The shortcut of a block: None (identity), zero-padding or a projection."""
    reshapes = stride != 1 or in_channels != out_channels
    if option == "C" or (option == "B" and reshapes):
        conv, bn = conv_bn(in_channels, out_channels, 1, stride, 0)
        return nn.Sequential(conv, bn)
    if reshapes:
        return ZeroPadShortcut(in_channels, out_channels, stride)
    return None


class BasicBlock(nn.Module):
    """Two 3×3 convolutions; ``relu(F(x) + shortcut(x))``."""

    expansion = 1

    def __init__(self, in_channels, channels, stride=1, shortcut="B", plain=False):
        super().__init__()
        out_channels = channels * self.expansion
        self.conv1, self.bn1 = conv_bn(in_channels, channels, 3, stride)
        self.conv2, self.bn2 = conv_bn(channels, out_channels, 3)
        self._join(in_channels, out_channels, stride, shortcut, plain)

    def _join(self, in_channels, out_channels, stride, shortcut, plain):
        """The skip connection (none for a plain block) and the final ReLU."""
        self.relu = nn.ReLU()
        self.plain = plain
        self.shortcut = (
            None
            if plain
            else make_shortcut(in_channels, out_channels, stride, shortcut)
        )

    def residual(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        return self.bn2(self.conv2(out))

    def forward(self, x: Tensor) -> Tensor:
        out = self.residual(x)
        if not self.plain:
            out = out + (x if self.shortcut is None else self.shortcut(x))
        return self.relu(out)


class Bottleneck(BasicBlock):
    """1×1 (reduce), 3×3, 1×1 (restore, ×4 channels); ``relu(F(x) + shortcut(x))``.

    The paper's ResNet-50 subsamples in the first 1×1 convolution
    (``stride_on="1x1"``); torchvision's "v1.5" does it in the 3×3 one,
    which is a little more accurate and costs 4.1 G instead of 3.8 G
    multiply-adds, with the same parameters.
    """

    expansion = 4

    def __init__(
        self,
        in_channels,
        channels,
        stride=1,
        shortcut="B",
        plain=False,
        stride_on="1x1",
    ):
        nn.Module.__init__(self)
        out_channels = channels * self.expansion
        first_stride, middle_stride = (stride, 1) if stride_on == "1x1" else (1, stride)
        self.conv1, self.bn1 = conv_bn(in_channels, channels, 1, first_stride)
        self.conv2, self.bn2 = conv_bn(channels, channels, 3, middle_stride)
        self.conv3, self.bn3 = conv_bn(channels, out_channels, 1)
        self._join(in_channels, out_channels, stride, shortcut, plain)

    def residual(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.bn3(self.conv3(out))


def _check_option(shortcut: str) -> str:
    shortcut = str(shortcut).upper()
    if shortcut not in ("A", "B", "C"):
        raise ValueError(
            f"ResNet: unknown shortcut option {shortcut!r}; the paper's are "
            "A (zero-padding), B (projections where the shape changes) and "
            "C (projections everywhere)"
        )
    return shortcut


def init_resnet(model: nn.Module) -> None:
    """He initialisation for convolutions, BN scale 1 and shift 0 (the paper's)."""
    for layer in model.modules():
        if isinstance(layer, nn.Conv2d):
            nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(layer, nn.BatchNorm2d):
            nn.init.ones_(layer.weight)
            nn.init.zeros_(layer.bias)


class ResNet(Network):
    """The ImageNet ResNets of Table 1 (and their plain twins).

    Args:
        depth: 18, 34, 50, 101 or 152.
        num_classes: outputs of the last layer.
        plain: remove every skip connection (the paper's plain baseline).
        shortcut: ``"A"``, ``"B"`` (the paper's choice here) or ``"C"``.
        width: multiplier on every stage's filters (64, 128, 256, 512).
        stride_on: ``"1x1"`` (paper) or ``"3x3"`` (v1.5), bottlenecks only.
        input_size: side of the default input (any size of at least 1 works:
            the network ends in global average pooling).
    """

    def __init__(
        self,
        depth: int = 18,
        num_classes: int = 1000,
        plain: bool = False,
        shortcut: str = "B",
        width: float = 1.0,
        stride_on: str = "1x1",
        input_size: int = 224,
        in_channels: int = 3,
    ):
        super().__init__()
        if depth not in IMAGENET_DEPTHS:
            raise ValueError(
                f"ResNet: no ImageNet ResNet with depth {depth}; Table 1 has "
                f"{', '.join(map(str, IMAGENET_DEPTHS))} (CIFAR depths 6n+2 are "
                "resnet_cifar)"
            )
        if stride_on not in ("1x1", "3x3"):
            raise ValueError(
                f"ResNet: stride_on must be '1x1' or '3x3', got {stride_on!r}"
            )
        shortcut = _check_option(shortcut)
        kind, blocks = IMAGENET_DEPTHS[depth]
        self.title = f"{'Plain' if plain else 'ResNet'}-{depth}"
        self.input_shape = (in_channels, input_size, input_size)

        stem = scaled(64, width)
        self.conv1, self.bn1 = conv_bn(in_channels, stem, 7, stride=2, padding=3)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)

        extra = {"stride_on": stride_on} if kind == "bottleneck" else {}
        block = Bottleneck if kind == "bottleneck" else BasicBlock
        channels = stem
        stages = []
        for index, (count, filters) in enumerate(zip(blocks, (64, 128, 256, 512))):
            filters = scaled(filters, width)
            layers = []
            for b in range(count):
                stride = 2 if (b == 0 and index > 0) else 1
                layers.append(
                    block(channels, filters, stride, shortcut, plain, **extra)
                )
                channels = filters * block.expansion
            stages.append(nn.Sequential(*layers))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        init_resnet(self)

    def forward(self, input: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(input))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))


class CifarResNet(Network):
    """The CIFAR-10 ResNets of Section 4.2: 6n + 2 layers (and plain twins).

    Args:
        depth: 6n + 2 (20, 32, 44, 56, 110, ...).
        num_classes: outputs (10 for CIFAR-10).
        plain: remove every skip connection.
        shortcut: ``"A"`` (the paper's choice for CIFAR), ``"B"`` or ``"C"``.
        width: multiplier on the 16, 32, 64 filters.
        input_size: side of the default input (32).
    """

    def __init__(
        self,
        depth: int = 20,
        num_classes: int = 10,
        plain: bool = False,
        shortcut: str = "A",
        width: float = 1.0,
        input_size: int = 32,
        in_channels: int = 3,
    ):
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(
                f"CIFAR ResNet: depth must be 6n + 2 (20, 32, 44, 56, 110, ...), "
                f"got {depth}"
            )
        shortcut = _check_option(shortcut)
        n = (depth - 2) // 6
        self.title = f"{'Plain' if plain else 'ResNet'}-{depth} (CIFAR)"
        self.input_shape = (in_channels, input_size, input_size)

        channels = scaled(16, width)
        self.conv1, self.bn1 = conv_bn(in_channels, channels, 3)
        self.relu = nn.ReLU()
        stages = []
        for index, filters in enumerate((16, 32, 64)):
            filters = scaled(filters, width)
            layers = []
            for b in range(n):
                stride = 2 if (b == 0 and index > 0) else 1
                layers.append(BasicBlock(channels, filters, stride, shortcut, plain))
                channels = filters
            stages.append(nn.Sequential(*layers))
        self.layer1, self.layer2, self.layer3 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        init_resnet(self)

    def forward(self, input: Tensor) -> Tensor:
        x = self.relu(self.bn1(self.conv1(input)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.avgpool(x).flatten(1))
