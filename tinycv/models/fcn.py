"""Fully convolutional networks (Long, Shelhamer and Darrell, 2015): FCN-32s/16s/8s.

No fully connected layer, so no fixed input size: VGG-16's fc6 and fc7
become convolutions (7×7 and 1×1; the same weights, slid over the image),
a 1×1 convolution scores each class at every position of the 1/32-size
map, and a transposed convolution ("deconvolution") upsamples the scores
back to the input's size. The output is one score map per class.

- FCN-32s upsamples the 1/32 scores by 32 in one step.
- FCN-16s first upsamples by 2, adds scores computed from pool4 (1/16),
  then upsamples by 16: finer detail from a finer layer ("skip").
- FCN-8s adds pool3's scores (1/8) as well, then upsamples by 8.

As in the paper's Caffe models, the first convolution pads by 100 and the
max-poolings round up, so that any input of at least one pixel leaves fc6
something to see; the outputs are then cropped back into register. The
crop offsets follow from the geometry of the layers (see ``Grid``); for
the paper's layers they come out as 19 (32s), 5 and 27 (16s), 9 and 31
(8s). The final upsampling is fixed to bilinear interpolation and the 2×
ones start bilinear and are learned, as in the paper.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from tinycv import nn
from tinycv.models import layer_shapes, shapes
from tinycv.models.network import Network, scaled
from tinycv.tensor import Tensor, cat, zeros

VARIANTS = ("32s", "16s", "8s")

# VGG-16 (configuration D): filters of the convolutions in each of the 5 blocks.
VGG16_BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))


class CeilMaxPool2d(nn.MaxPool2d):
    """2×2/2 max-pooling that rounds the output size up (Caffe's convention).

    An odd row or column is completed with zeros before pooling. Its inputs
    come out of a ReLU and are never negative, so a zero never wins over a
    real value: the result is exactly Caffe's pooling of the partial window.
    """

    def __init__(self):
        super().__init__(2, stride=2)

    def forward(self, input: Tensor) -> Tensor:
        n, c, h, w = input.shape
        if h % 2:
            row = zeros(n, c, 1, w, dtype=input.dtype, device=input.device)
            input = cat([input, row], dim=2)
            h += 1
        if w % 2:
            column = zeros(n, c, h, 1, dtype=input.dtype, device=input.device)
            input = cat([input, column], dim=3)
        return super().forward(input)


@layer_shapes.shape_rule(CeilMaxPool2d)
def _ceil_pool_shape(pool, shape):
    spatial = tuple(-(-n // 2) for n in shape[2:])
    return layer_shapes.LayerShape(
        output=shape[:2] + spatial,
        kind="Max Pool ceil",
        stride=(2, 2),
        filter="Pool 2×2",
    )


@dataclass(frozen=True)
class Grid:
    """Where a feature map's pixels sit on the input: pixel i at ``scale * i + shift``.

    A convolution or pooling (kernel k, stride s, padding p) puts output
    pixel i at the centre of its window, input pixel ``s i + (k - 1)/2 - p``;
    a transposed convolution inverts that. Two maps on grids of the same
    scale line up after cropping the one with the smaller shift by the
    difference of shifts, in its own pixels.
    """

    scale: Fraction = Fraction(1)
    shift: Fraction = Fraction(0)

    def through(self, kernel: int, stride: int, padding: int) -> Grid:
        centre = Fraction(kernel - 1, 2) - padding
        return Grid(self.scale * stride, self.shift + self.scale * centre)

    def up(self, kernel: int, stride: int, padding: int = 0) -> Grid:
        centre = Fraction(kernel - 1, 2) - padding
        return Grid(self.scale / stride, self.shift - self.scale * centre / stride)

    def offset_onto(self, target: Grid) -> int:
        """How many of this map's pixels to skip so that it lines up with ``target``."""
        offset = (target.shift - self.shift) / self.scale
        if self.scale != target.scale or offset.denominator != 1 or offset < 0:
            raise ValueError(
                f"FCN: grids {self} and {target} cannot be aligned by a crop"
            )
        return int(offset)


def _through_layers(grid: Grid, layers) -> Grid:
    for layer in layers:
        if isinstance(layer, (nn.Conv2d, nn.MaxPool2d)):
            kernel = layer_shapes.as_tuple(layer.kernel_size, 2)[0]
            stride = layer_shapes.as_tuple(layer.stride, 2)[0]
            padding = layer_shapes.as_tuple(layer.padding, 2)[0]
            grid = grid.through(kernel, stride, padding)
    return grid


def crop(x: Tensor, offset: int, height: int, width: int) -> Tensor:
    """``x[:, :, offset : offset + height, offset : offset + width]``, checked."""
    if x.shape[2] < offset + height or x.shape[3] < offset + width:
        raise shapes.InputTooSmall(
            f"cannot crop {height}×{width} at offset {offset} from a "
            f"{x.shape[2]}×{x.shape[3]} map"
        )
    return x[:, :, offset : offset + height, offset : offset + width]


def bilinear_kernel(size: int) -> np.ndarray:
    """The (size, size) filter that upsamples by bilinear interpolation."""
    factor = (size + 1) // 2
    centre = factor - 1 if size % 2 == 1 else factor - 0.5
    ramp = 1 - np.abs(np.arange(size) - centre) / factor
    return np.outer(ramp, ramp)


def upsampling(classes: int, factor: int, learned: bool) -> nn.ConvTranspose2d:
    """A transposed convolution by ``factor`` that starts as bilinear interpolation.

    Each class is upsampled on its own (the kernel is zero between classes).
    ``learned=False`` freezes it, as the paper does for the last one.
    """
    size = 2 * factor
    layer = nn.ConvTranspose2d(classes, classes, size, stride=factor, bias=False)
    layer.weight.requires_grad_(learned)
    if shapes.is_placeholder(layer.weight):
        return layer  # built for a summary: no numbers to set
    weight = np.zeros((classes, classes, size, size), np.float32)
    weight[np.arange(classes), np.arange(classes)] = bilinear_kernel(size)
    layer.weight.data = weight
    return layer


class FCN(Network):
    """FCN-32s, FCN-16s or FCN-8s on a VGG-16 backbone.

    Args:
        num_classes: score maps (21 for PASCAL VOC: 20 classes and background).
        variant: ``"32s"``, ``"16s"`` or ``"8s"``.
        width: multiplier on the backbone's filters and on fc6/fc7.
        fc_channels: channels of the convolutionalised fc6 and fc7
            (default 4096 × width).
        first_padding: padding of the first convolution (100 in the paper).
        dropout: after fc6 and fc7.
        input_size: side of the default input for summaries (any size runs).
    """

    def __init__(
        self,
        num_classes: int = 21,
        variant: str = "8s",
        width: float = 1.0,
        fc_channels: int | None = None,
        first_padding: int = 100,
        dropout: float = 0.5,
        input_size: int = 500,
        in_channels: int = 3,
    ):
        super().__init__()
        variant = str(variant).lower().removeprefix("fcn-").removeprefix("fcn")
        if variant not in VARIANTS:
            raise ValueError(f"FCN: unknown variant {variant!r}; choose 32s, 16s or 8s")
        self.variant = variant
        self.title = f"FCN-{variant}"
        self.input_shape = (in_channels, input_size, input_size)

        blocks = []
        channels = in_channels
        block_channels = []
        for index, filters in enumerate(VGG16_BLOCKS):
            layers = []
            for position, count in enumerate(filters):
                count = scaled(count, width)
                padding = first_padding if (index, position) == (0, 0) else 1
                layers += [nn.Conv2d(channels, count, 3, padding=padding), nn.ReLU()]
                channels = count
            layers.append(CeilMaxPool2d())
            blocks.append(nn.Sequential(*layers))
            block_channels.append(channels)
        self.block1, self.block2, self.block3, self.block4, self.block5 = blocks

        fc = scaled(4096, width) if fc_channels is None else fc_channels
        self.head = nn.Sequential(
            nn.Conv2d(channels, fc, 7),  # fc6
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Conv2d(fc, fc, 1),  # fc7
            nn.ReLU(),
            nn.Dropout(dropout),
        )
        self.score_fr = nn.Conv2d(fc, num_classes, 1)
        scoring = [self.score_fr]
        if variant == "32s":
            self.upscore = upsampling(num_classes, 32, learned=False)
        else:
            self.score_pool4 = nn.Conv2d(block_channels[3], num_classes, 1)
            self.upscore2 = upsampling(num_classes, 2, learned=True)
            scoring.append(self.score_pool4)
            if variant == "16s":
                self.upscore16 = upsampling(num_classes, 16, learned=False)
            else:
                self.score_pool3 = nn.Conv2d(block_channels[2], num_classes, 1)
                self.upscore_pool4 = upsampling(num_classes, 2, learned=True)
                self.upscore8 = upsampling(num_classes, 8, learned=False)
                scoring.append(self.score_pool3)
        for layer in scoring:  # the paper starts the class scores at zero
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.offsets = self._crop_offsets()

    def _crop_offsets(self) -> dict:
        """The crops that bring each map into register, from the layers' geometry."""
        grid = Grid()
        pools = []
        for block in (self.block1, self.block2, self.block3, self.block4, self.block5):
            grid = _through_layers(grid, block)
            pools.append(grid)
        scores = _through_layers(grid, list(self.head) + [self.score_fr])
        image = Grid()
        if self.variant == "32s":
            return {"upscore": scores.up(64, 32).offset_onto(image)}
        fused4 = scores.up(4, 2)
        offsets = {"score_pool4": pools[3].offset_onto(fused4)}
        if self.variant == "16s":
            offsets["upscore16"] = fused4.up(32, 16).offset_onto(image)
            return offsets
        fused3 = fused4.up(4, 2)
        offsets["score_pool3"] = pools[2].offset_onto(fused3)
        offsets["upscore8"] = fused3.up(16, 8).offset_onto(image)
        return offsets

    def forward(self, input: Tensor) -> Tensor:
        height, width = input.shape[2:]
        pool3 = self.block3(self.block2(self.block1(input)))
        pool4 = self.block4(pool3)
        scores = self.score_fr(self.head(self.block5(pool4)))
        if self.variant == "32s":
            return crop(self.upscore(scores), self.offsets["upscore"], height, width)

        up = self.upscore2(scores)
        skip = crop(self.score_pool4(pool4), self.offsets["score_pool4"], *up.shape[2:])
        fused = up + skip
        if self.variant == "16s":
            return crop(self.upscore16(fused), self.offsets["upscore16"], height, width)

        up = self.upscore_pool4(fused)
        skip = crop(self.score_pool3(pool3), self.offsets["score_pool3"], *up.shape[2:])
        fused = up + skip
        return crop(self.upscore8(fused), self.offsets["upscore8"], height, width)
