"""SlowFast networks (Feichtenhofer, Fan, Malik and He, 2019).

Two pathways look at the same clip at two frame rates:

- the *Slow* pathway sees few frames (every α-th one) with many channels,
  to capture what is in the scene (spatial semantics);
- the *Fast* pathway sees α times more frames with only β (1/8) of the
  channels, to capture motion at fine temporal resolution cheaply; it
  costs about 20% of the total.

*Lateral connections* feed the Fast pathway into the Slow one after pool1
and after res2, res3 and res4: a time-strided convolution (kernel 5×1×1,
stride α in time, 2βC output channels) brings the Fast features to the
Slow frame rate, and they are concatenated to the Slow features. Both
pathways end in global average pooling; the pooled features are
concatenated before the classifier.

Both pathways are 3-D ResNet-50s (Table 1 of the paper, T×τ = 4×16):

    conv1     Slow 1×7×7, 64, stride 1,2,2     Fast 5×7×7, 8
    pool1     1×3×3 max, stride 1,2,2
    res2-res5 bottlenecks [1×1×1, 3×3 (1×3×3), 1×1×1 ×4] ×3, 4, 6, 3, widths 64,
              128, 256, 512 (Fast: ×β); the first 1×1×1 of a Slow block is 3×1×1
              in res4 and res5 only ("non-degenerate" temporal convolutions),
              of a Fast block 3×1×1 everywhere
    head      global average pool, concatenate, FC

The clip goes in at the Fast frame rate: (N, 3, αT, H, W); the Slow
pathway takes every α-th frame of it.
"""

from __future__ import annotations

from tinycv import nn
from tinycv.models import shapes
from tinycv.models.network import Network, scaled
from tinycv.tensor import Tensor, cat

DEPTHS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}


class BatchNorm3d(nn.BatchNorm2d):
    """Batch norm over (N, C, T, H, W) input: one mean per channel C."""

    def input_patterns(self):
        return (("N", self.num_features, "T", "H", "W"),)


def conv3d_bn(in_channels, out_channels, kernel, stride=(1, 1, 1), relu=True):
    """A 3-D convolution (no bias, padded to keep the size), BN and maybe ReLU."""
    padding = tuple(k // 2 for k in kernel)
    layers = [
        nn.Conv3d(in_channels, out_channels, kernel, stride, padding, bias=False),
        BatchNorm3d(out_channels),
    ]
    if relu:
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class Bottleneck3d(nn.Module):
    """(tk×1×1) - (1×3×3, spatial stride) - (1×1×1, ×4), plus the shortcut."""

    def __init__(self, in_channels, inner, temporal_kernel, spatial_stride):
        super().__init__()
        out_channels = 4 * inner
        stride = (1, spatial_stride, spatial_stride)
        self.a = conv3d_bn(in_channels, inner, (temporal_kernel, 1, 1))
        self.b = conv3d_bn(inner, inner, (1, 3, 3), stride)
        self.c = conv3d_bn(inner, out_channels, (1, 1, 1), relu=False)
        self.relu = nn.ReLU()
        reshapes = spatial_stride != 1 or in_channels != out_channels
        self.shortcut = (
            conv3d_bn(in_channels, out_channels, (1, 1, 1), stride, relu=False)
            if reshapes
            else None
        )

    def forward(self, x: Tensor) -> Tensor:
        out = self.c(self.b(self.a(x)))
        return self.relu(out + (x if self.shortcut is None else self.shortcut(x)))


def res_stage(
    in_channels, inner, blocks, temporal_kernel, spatial_stride
) -> nn.Sequential:
    layers = []
    for index in range(blocks):
        stride = spatial_stride if index == 0 else 1
        layers.append(Bottleneck3d(in_channels, inner, temporal_kernel, stride))
        in_channels = 4 * inner
    return nn.Sequential(*layers)


class SlowFast(Network):
    """SlowFast with 3-D ResNet pathways.

    Args:
        num_classes: outputs (400 for Kinetics-400).
        alpha: α, the Fast pathway's frame-rate ratio (8).
        beta: β, the Fast pathway's channel ratio (1/8).
        frames: frames of the input clip at the Fast rate, αT (32); a
            multiple of α.
        depth: 50 or 101 (ResNet depth of both pathways).
        blocks: bottlenecks per stage, overriding depth (e.g. (1, 1, 1, 1)).
        width: multiplier on the Slow pathway's widths (the Fast one follows β).
        fusion_kernel: temporal kernel of the lateral convolutions (5).
        input_size: frame side (224).
        dropout: before the classifier.
    """

    def __init__(
        self,
        num_classes: int = 400,
        alpha: int = 8,
        beta: float = 1 / 8,
        frames: int = 32,
        depth: int = 50,
        blocks: tuple | None = None,
        width: float = 1.0,
        fusion_kernel: int = 5,
        input_size: int = 224,
        dropout: float = 0.5,
        in_channels: int = 3,
    ):
        super().__init__()
        if blocks is None:
            if depth not in DEPTHS:
                raise ValueError(f"SlowFast: depth must be 50 or 101, got {depth}")
            blocks = DEPTHS[depth]
        if len(blocks) != 4:
            raise ValueError(
                f"SlowFast: blocks needs 4 numbers (res2-res5), got {blocks}"
            )
        if alpha < 1 or frames % alpha:
            raise ValueError(
                f"SlowFast: frames ({frames}) must be a multiple of alpha ({alpha})"
            )
        self.alpha = alpha
        self.title = (
            f"SlowFast (Slow {frames // alpha} frames, Fast {frames}; "
            f"α={alpha}, β={beta:g})"
        )
        self.input_shape = (in_channels, frames, input_size, input_size)

        slow = scaled(64, width)
        fast = scaled(slow, beta)
        self.slow_stem = conv3d_bn(in_channels, slow, (1, 7, 7), (1, 2, 2))
        self.fast_stem = conv3d_bn(in_channels, fast, (5, 7, 7), (1, 2, 2))
        self.pool1 = nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1))

        self.slow_stages = nn.ModuleList()
        self.fast_stages = nn.ModuleList()
        self.laterals = nn.ModuleList()
        slow_channels, fast_channels = slow, fast
        for index, count in enumerate(blocks):
            # Fast -> Slow, before each stage: after pool1, res2, res3 and res4.
            lateral = nn.Sequential(
                nn.Conv3d(
                    fast_channels,
                    2 * fast_channels,
                    (fusion_kernel, 1, 1),
                    (alpha, 1, 1),
                    (fusion_kernel // 2, 0, 0),
                    bias=False,
                ),
                BatchNorm3d(2 * fast_channels),
                nn.ReLU(),
            )
            self.laterals.append(lateral)
            slow_inner = scaled(64 * 2**index, width)
            fast_inner = scaled(slow_inner, beta)
            spatial_stride = 1 if index == 0 else 2
            slow_temporal = 3 if index >= 2 else 1
            self.slow_stages.append(
                res_stage(
                    slow_channels + 2 * fast_channels,
                    slow_inner,
                    count,
                    slow_temporal,
                    spatial_stride,
                )
            )
            self.fast_stages.append(
                res_stage(fast_channels, fast_inner, count, 3, spatial_stride)
            )
            slow_channels, fast_channels = 4 * slow_inner, 4 * fast_inner

        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(slow_channels + fast_channels, num_classes)

    def forward(self, clip: Tensor) -> Tensor:
        if clip.shape[2] % self.alpha and not shapes.is_tracing():
            raise ValueError(
                f"{self.title}: the clip's {clip.shape[2]} frames are not a multiple "
                f"of alpha = {self.alpha}"
            )
        slow = self.pool1(self.slow_stem(clip[:, :, :: self.alpha]))
        fast = self.pool1(self.fast_stem(clip))
        for lateral, slow_stage, fast_stage in zip(
            self.laterals, self.slow_stages, self.fast_stages
        ):
            slow = slow_stage(cat([slow, lateral(fast)], dim=1))
            fast = fast_stage(fast)
        pooled = cat([slow.mean(dim=(2, 3, 4)), fast.mean(dim=(2, 3, 4))], dim=1)
        return self.fc(self.dropout(pooled))
