"""C3D (Tran, Bourdev, Fergus, Torresani and Paluri, 2015): 3-D convolutions for video.

A 2-D convolution applied to a clip collapses time after the first layer;
a 3-D one (a k×k×k filter sliding over time as well as space) keeps a
temporal signal all the way up. The paper found 3×3×3 kernels best
everywhere, and built eight convolutional and five pooling layers:

    conv1a 64 | pool1 1×2×2 | conv2a 128 | pool2 | conv3a, conv3b 256 | pool3
    | conv4a, conv4b 512 | pool4 | conv5a, conv5b 512 | pool5 | fc6 4096 | fc7 4096

on clips of 16 frames of 112×112 (N, 3, 16, 112, 112). pool1 does not pool
time, so as not to merge the temporal signal too early; the others are
2×2×2. pool5 pads the frame by one (as the released model does), leaving
512 × 1 × 4 × 4 = 8192 inputs for fc6. 487 outputs for Sports-1M.
"""

from __future__ import annotations

from collections import OrderedDict

from tinycv import nn
from tinycv.models import shapes
from tinycv.models.network import Network, scaled
from tinycv.tensor import Tensor

# (name, filters) of the convolutions, "pool" between the five groups.
LAYERS = (
    ("conv1a", 64), "pool",
    ("conv2a", 128), "pool",
    ("conv3a", 256), ("conv3b", 256), "pool",
    ("conv4a", 512), ("conv4b", 512), "pool",
    ("conv5a", 512), ("conv5b", 512), "pool",
)  # fmt: skip


class C3D(Network):
    """C3D.

    Args:
        num_classes: outputs (487 for Sports-1M, 101 for UCF101).
        width: multiplier on the filters and the FC units.
        frames: clip length (16); four temporal poolings need at least 16.
        input_size: frame side (112); the first FC layer is sized for it.
        dropout: after fc6 and fc7.
    """

    def __init__(
        self,
        num_classes: int = 487,
        width: float = 1.0,
        frames: int = 16,
        input_size: int = 112,
        dropout: float = 0.5,
        in_channels: int = 3,
    ):
        super().__init__()
        self.title = "C3D"
        self.input_shape = (in_channels, frames, input_size, input_size)
        self.fixed_dims = (0, 1, 2, 3)
        self.size_option = "frames= and input_size"

        layers = []
        channels = in_channels
        pools = 0
        for item in LAYERS:
            if item == "pool":
                pools += 1
                kernel = (1, 2, 2) if pools == 1 else (2, 2, 2)
                padding = (0, 1, 1) if pools == 5 else 0
                layers.append((f"pool{pools}", nn.MaxPool3d(kernel, kernel, padding)))
                continue
            name, filters = item
            filters = scaled(filters, width)
            layers.append((name, nn.Conv3d(channels, filters, 3, padding=1)))
            layers.append((f"relu{name[4:]}", nn.ReLU()))
            channels = filters
        self.features = nn.Sequential(OrderedDict(layers))

        out = shapes.checked_output_shape(self.features, self.input_shape, "C3D")
        hidden = scaled(4096, width)
        self.classifier = nn.Sequential(
            OrderedDict(
                [
                    ("fc6", nn.Linear(out[0] * out[1] * out[2] * out[3], hidden)),
                    ("relu6", nn.ReLU()),
                    ("drop6", nn.Dropout(dropout)),
                    ("fc7", nn.Linear(hidden, hidden)),
                    ("relu7", nn.ReLU()),
                    ("drop7", nn.Dropout(dropout)),
                    ("fc8", nn.Linear(hidden, num_classes)),
                ]
            )
        )

    def forward(self, input: Tensor) -> Tensor:
        return self.classifier(self.features(input).flatten(1))
