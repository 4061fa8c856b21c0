"""MobileNet v1 (Howard et al., 2017) and v2 (Sandler et al., 2018).

v1 replaces each standard convolution by a *depthwise separable* one: a
3×3 depthwise convolution (one filter per channel) followed by a 1×1
pointwise one that mixes the channels. For a D_F × D_F map with M input
and N output channels that costs D_K² M D_F² + M N D_F² multiply-adds
instead of D_K² M N D_F², 8 to 9 times fewer for 3×3 kernels. Every
convolution is followed by batch norm and ReLU. Two hyper-parameters trade
accuracy for cost: the width multiplier α thins every layer (cost ~ α²)
and the resolution multiplier ρ shrinks the input (cost ~ ρ²).

Paper, Tables 6 and 7 (parameters, multiply-adds):
α = 1: 4.2 M, 569 M; 0.75: 2.6 M, 325 M; 0.5: 1.3 M, 149 M; 0.25: 0.5 M, 41 M;
at α = 1, 192: 418 M, 160: 290 M, 128: 186 M.

v2's block is an *inverted residual with a linear bottleneck*: expand the
narrow input t times with a 1×1 convolution (ReLU6), filter with a 3×3
depthwise one (ReLU6), project back to a narrow output with a 1×1
convolution and *no* nonlinearity, and add the input when the shapes
agree. The residual thus joins the narrow layers, which is what keeps the
memory small. The body is Table 2's list of (t, c, n, s): expansion,
output channels, repeats, stride of the first repeat. 300 M multiply-adds.
"""

from __future__ import annotations

from collections import OrderedDict

from tinycv import nn
from tinycv.models import layer_shapes
from tinycv.models.network import Network
from tinycv.tensor import Tensor

# Table 1, after the first 3×3/2 convolution with 32 filters: each depthwise
# separable layer as (stride of its depthwise conv, filters of its pointwise conv).
# The paper's table prints s2 for the last depthwise layer, but its input
# sizes (7×7 in and out) and the final 7×7 pooling show stride 1.
V1_SEPARABLE = (
    [(1, 64), (2, 128), (1, 128), (2, 256), (1, 256), (2, 512)]
    + [(1, 512)] * 5
    + [(2, 1024), (1, 1024)]
)

# Table 2: (expansion t, output channels c, repeats n, first stride s).
V2_BOTTLENECKS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def thinned(channels: int, alpha: float, divisor: int = 1) -> int:
    """α × channels, rounded to a multiple of ``divisor`` (never down by > 10%)."""
    value = channels * alpha
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return max(1, rounded)


def conv_bn_act(in_channels, out_channels, kernel, stride=1, groups=1, act=nn.ReLU):
    """[conv (no bias), BN, activation]; ``act=None`` leaves it linear."""
    layers = [
        nn.Conv2d(
            in_channels,
            out_channels,
            kernel,
            stride,
            kernel // 2,
            groups=groups,
            bias=False,
        ),
        nn.BatchNorm2d(out_channels),
    ]
    if act is not None:
        layers.append(act())
    return layers


class MobileNetV1(Network):
    """MobileNet v1 (Table 1).

    Args:
        alpha: width multiplier α (1, 0.75, 0.5, 0.25 in the paper).
        resolution: input side ρ × 224 (224, 192, 160, 128 in the paper);
            any size runs, this is the default input for summaries.
        num_classes: outputs of the classifier (1000).
    """

    def __init__(
        self,
        alpha: float = 1.0,
        resolution: int = 224,
        num_classes: int = 1000,
        in_channels: int = 3,
    ):
        super().__init__()
        if alpha <= 0:
            raise ValueError(f"MobileNetV1: alpha must be positive, got {alpha}")
        self.title = f"MobileNet v1 {alpha:g}-{resolution}"
        self.input_shape = (in_channels, resolution, resolution)

        channels = thinned(32, alpha)
        layers = list(
            zip(("conv1", "bn1", "relu1"), conv_bn_act(in_channels, channels, 3, 2))
        )
        for index, (stride, filters) in enumerate(V1_SEPARABLE, start=2):
            filters = thinned(filters, alpha)
            depthwise = conv_bn_act(channels, channels, 3, stride, groups=channels)
            pointwise = conv_bn_act(channels, filters, 1)
            layers += zip((f"dw{index}", f"dw{index}_bn", f"dw{index}_relu"), depthwise)
            layers += zip((f"pw{index}", f"pw{index}_bn", f"pw{index}_relu"), pointwise)
            channels = filters
        self.features = nn.Sequential(OrderedDict(layers))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        _init(self)

    def forward(self, input: Tensor) -> Tensor:
        return self.fc(self.avgpool(self.features(input)).flatten(1))


class ReLU6(nn.Module):
    """``min(max(0, x), 6)``: a ReLU that stays robust in low precision."""

    def forward(self, input: Tensor) -> Tensor:
        return input.clip(0.0, 6.0)


layer_shapes.shape_rule(ReLU6)(layer_shapes.elementwise_rule("ReLU6"))


class InvertedResidual(nn.Module):
    """1×1 expand (×t, ReLU6), 3×3 depthwise (ReLU6), 1×1 linear projection (+ x)."""

    def __init__(
        self, in_channels: int, out_channels: int, stride: int, expansion: int
    ):
        super().__init__()
        hidden = in_channels * expansion
        layers = []
        if expansion != 1:
            layers += conv_bn_act(in_channels, hidden, 1, act=ReLU6)
        layers += conv_bn_act(hidden, hidden, 3, stride, groups=hidden, act=ReLU6)
        layers += conv_bn_act(hidden, out_channels, 1, act=None)
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: Tensor) -> Tensor:
        out = self.body(x)
        return x + out if self.residual else out


class MobileNetV2(Network):
    """MobileNet v2 (Table 2).

    Args:
        alpha: width multiplier (channels rounded to multiples of 8, as the
            paper's implementation does; the last 1×1 layer keeps 1280
            filters when α < 1).
        resolution: default input side (224).
        num_classes: outputs (1000).
        dropout: before the classifier.
        last_channels: filters of the last 1×1 convolution (default 1280),
            worth lowering for small versions.
    """

    def __init__(
        self,
        alpha: float = 1.0,
        resolution: int = 224,
        num_classes: int = 1000,
        dropout: float = 0.2,
        last_channels: int | None = None,
        in_channels: int = 3,
    ):
        super().__init__()
        if alpha <= 0:
            raise ValueError(f"MobileNetV2: alpha must be positive, got {alpha}")
        self.title = f"MobileNet v2 {alpha:g}-{resolution}"
        self.input_shape = (in_channels, resolution, resolution)

        channels = thinned(32, alpha, 8)
        blocks = [nn.Sequential(*conv_bn_act(in_channels, channels, 3, 2, act=ReLU6))]
        for expansion, filters, repeats, stride in V2_BOTTLENECKS:
            filters = thinned(filters, alpha, 8)
            for index in range(repeats):
                blocks.append(
                    InvertedResidual(
                        channels, filters, stride if index == 0 else 1, expansion
                    )
                )
                channels = filters
        if last_channels is None:
            last_channels = thinned(1280, max(1.0, alpha), 8)
        blocks.append(
            nn.Sequential(*conv_bn_act(channels, last_channels, 1, act=ReLU6))
        )
        self.features = nn.Sequential(*blocks)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(last_channels, num_classes)
        _init(self)

    def forward(self, input: Tensor) -> Tensor:
        x = self.avgpool(self.features(input)).flatten(1)
        return self.fc(self.dropout(x))


def _init(model: nn.Module) -> None:
    for layer in model.modules():
        if isinstance(layer, nn.Conv2d):
            nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
