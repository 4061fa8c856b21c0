"""DenseNet (Huang, Liu, van der Maaten and Weinberger, 2017).

Inside a dense block every layer receives the feature maps of *all*
layers before it, concatenated, and adds k new maps of its own (k, the
growth rate, is small: 12 or 32). Layer l of a block thus sees
k0 + k (l - 1) channels. Between blocks a transition layer (BN-ReLU-1×1
conv, then 2×2 average pooling) halves the size.

- Bottleneck ("B"): each layer first reduces its input to 4k maps with a
  1×1 convolution, BN-ReLU-conv1×1(4k)-BN-ReLU-conv3×3(k).
- Compression ("C"): a transition keeps θ m of its m maps (θ = 0.5).

DenseNet-BC with L = 100 and k = 12 on CIFAR has 0.8 M parameters;
DenseNet-121 (ImageNet: blocks of 6, 12, 24 and 16 layers, k = 32) 8.0 M.
"""

from __future__ import annotations

from tinycv import nn
from tinycv.models.network import Network, scaled
from tinycv.tensor import Tensor, cat

IMAGENET_BLOCKS = {
    121: (6, 12, 24, 16),
    169: (6, 12, 32, 32),
    201: (6, 12, 48, 32),
    161: (6, 12, 36, 24),
}


class DenseLayer(nn.Module):
    """BN-ReLU-[conv1×1 (4k)-BN-ReLU]-conv3×3 (k): k new feature maps."""

    def __init__(
        self, in_channels: int, growth_rate: int, bottleneck: bool, dropout=0.0
    ):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.relu = nn.ReLU()
        if bottleneck:
            inner = 4 * growth_rate
            self.conv1 = nn.Conv2d(in_channels, inner, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(inner)
        else:
            inner = in_channels
            self.conv1 = None
        self.conv2 = nn.Conv2d(inner, growth_rate, 3, padding=1, bias=False)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else None

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(x))
        if self.conv1 is not None:
            out = self.relu(self.bn2(self.conv1(out)))
        out = self.conv2(out)
        return self.dropout(out) if self.dropout is not None else out


class DenseBlock(nn.Module):
    """``layers`` dense layers, each fed the concatenation of all before it."""

    def __init__(self, in_channels, layers, growth_rate, bottleneck, dropout=0.0):
        super().__init__()
        self.layers = nn.ModuleList(
            DenseLayer(in_channels + i * growth_rate, growth_rate, bottleneck, dropout)
            for i in range(layers)
        )
        self.out_channels = in_channels + layers * growth_rate

    def forward(self, x: Tensor) -> Tensor:
        features = [x]
        for layer in self.layers:
            features.append(layer(cat(features, dim=1)))
        return cat(features, dim=1)


class Transition(nn.Module):
    """BN-ReLU-conv1×1 to ``out_channels``, then 2×2 average pooling."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(in_channels)
        self.relu = nn.ReLU()
        self.conv = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.pool = nn.AvgPool2d(2, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(self.conv(self.relu(self.bn(x))))


class DenseNet(Network):
    """A DenseNet: the CIFAR family (three blocks) or the ImageNet one (four).

    Args:
        depth: L. CIFAR: 3n + 4 layers (6n + 4 with bottlenecks), e.g. 40 or
            100; ImageNet: 121, 169, 201 or 161.
        growth_rate: k (12 on CIFAR, 32 on ImageNet; 48 for DenseNet-161).
        bottleneck: BN-ReLU-conv1×1 (4k) before each 3×3 convolution.
        compression: θ, the fraction of maps a transition keeps (0.5 for BC).
        dataset: ``"cifar"`` (three blocks on 32×32) or ``"imagenet"``.
        dropout: after each 3×3 convolution (the paper: 0.2 without augmentation).
        num_classes: outputs (default 10 on CIFAR, 1000 on ImageNet).
        width: a multiplier on the growth rate and the first layer, for
            small versions.
        input_size: side of the default input.
    """

    def __init__(
        self,
        depth: int = 100,
        growth_rate: int = 12,
        bottleneck: bool = True,
        compression: float = 0.5,
        dataset: str = "cifar",
        dropout: float = 0.0,
        num_classes: int | None = None,
        width: float = 1.0,
        input_size: int | None = None,
        in_channels: int = 3,
    ):
        super().__init__()
        if dataset not in ("cifar", "imagenet"):
            raise ValueError(
                f"DenseNet: dataset must be 'cifar' or 'imagenet', got {dataset!r}"
            )
        if not 0 < compression <= 1:
            raise ValueError(
                f"DenseNet: compression must lie in (0, 1], got {compression}"
            )
        cifar = dataset == "cifar"
        if cifar:
            per_layer = 2 if bottleneck else 1
            if (depth - 4) % (3 * per_layer) or depth < 4 + 3 * per_layer:
                raise ValueError(
                    f"DenseNet: a CIFAR DenseNet{'-BC' if bottleneck else ''} needs "
                    f"depth = {3 * per_layer}n + 4 "
                    f"(e.g. {40 if per_layer == 1 else 100}), got {depth}"
                )
            blocks = ((depth - 4) // (3 * per_layer),) * 3
        else:
            if depth not in IMAGENET_BLOCKS:
                raise ValueError(
                    f"DenseNet: no ImageNet DenseNet-{depth}; choose "
                    f"{', '.join(map(str, IMAGENET_BLOCKS))}"
                )
            blocks = IMAGENET_BLOCKS[depth]
        num_classes = (10 if cifar else 1000) if num_classes is None else num_classes
        input_size = (32 if cifar else 224) if input_size is None else input_size
        suffix = (
            "-BC" if bottleneck and compression < 1 else ("-B" if bottleneck else "")
        )
        if cifar:
            self.title = f"DenseNet{suffix} (L={depth}, k={growth_rate})"
        else:
            self.title = f"DenseNet-{depth} (k={growth_rate})"
        self.input_shape = (in_channels, input_size, input_size)

        growth = scaled(growth_rate, width)
        channels = 2 * growth if bottleneck or not cifar else scaled(16, width)
        if cifar:
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, channels, 3, padding=1, bias=False)
            )
        else:
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, channels, 7, stride=2, padding=3, bias=False),
                nn.BatchNorm2d(channels),
                nn.ReLU(),
                nn.MaxPool2d(3, stride=2, padding=1),
            )

        stages = []
        for index, layers in enumerate(blocks):
            block = DenseBlock(channels, layers, growth, bottleneck, dropout)
            stages.append(block)
            channels = block.out_channels
            if index < len(blocks) - 1:
                reduced = int(channels * compression)
                stages.append(Transition(channels, reduced))
                channels = reduced
        self.blocks = nn.Sequential(*stages)
        self.bn = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        for layer in self.modules():
            if isinstance(layer, nn.Conv2d):
                nn.init.kaiming_normal_(layer.weight)

    def forward(self, input: Tensor) -> Tensor:
        x = self.blocks(self.stem(input))
        x = self.relu(self.bn(x))
        return self.fc(self.avgpool(x).flatten(1))
