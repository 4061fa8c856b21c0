"""VGG (Simonyan and Zisserman, 2014): configurations A to E of Table 1.

Depth is the one thing that changes: stacks of 3×3 convolutions (stride 1,
padding 1, so a stack keeps the size) separated by 2×2 max-pooling, then
FC-4096, FC-4096, FC-1000. Two stacked 3×3 layers see a 5×5 window and
three see 7×7, with fewer parameters and more nonlinearities than one big
filter. Configuration C adds 1×1 convolutions (extra nonlinearity at the
same receptive field); A-LRN adds AlexNet's local response normalisation,
which the paper found useless.

The table is written below in the paper's own words (``conv3-64`` is a
3×3 convolution with 64 filters). Parameters (Table 2, in millions): A 133,
B 133, C 134, D 138, E 144; D, "VGG-16", has exactly 138,357,544.
"""

from __future__ import annotations

from collections import OrderedDict

from tinycv import nn
from tinycv.models import shapes
from tinycv.models.alexnet import alexnet_lrn
from tinycv.models.network import Network, scaled
from tinycv.tensor import Tensor

_BLOCK_A = (
    "conv3-64 | conv3-128 | conv3-256 conv3-256 | conv3-512 conv3-512 "
    "| conv3-512 conv3-512"
)
_BLOCK_B = (
    "conv3-64 conv3-64 | conv3-128 conv3-128 | conv3-256 conv3-256 "
    "| conv3-512 conv3-512 | conv3-512 conv3-512"
)

# Table 1, one configuration a line; "|" is a maxpool.
CONFIGURATIONS = {
    "A": _BLOCK_A,
    "A-LRN": _BLOCK_A.replace("conv3-64", "conv3-64 LRN", 1),
    "B": _BLOCK_B,
    "C": (
        "conv3-64 conv3-64 | conv3-128 conv3-128 | conv3-256 conv3-256 conv1-256 "
        "| conv3-512 conv3-512 conv1-512 | conv3-512 conv3-512 conv1-512"
    ),
    "D": (
        "conv3-64 conv3-64 | conv3-128 conv3-128 | conv3-256 conv3-256 conv3-256 "
        "| conv3-512 conv3-512 conv3-512 | conv3-512 conv3-512 conv3-512"
    ),
    "E": (
        "conv3-64 conv3-64 | conv3-128 conv3-128 "
        "| conv3-256 conv3-256 conv3-256 conv3-256 "
        "| conv3-512 conv3-512 conv3-512 conv3-512 "
        "| conv3-512 conv3-512 conv3-512 conv3-512"
    ),
}

WEIGHT_LAYERS = {"A": 11, "A-LRN": 11, "B": 13, "C": 16, "D": 16, "E": 19}


def make_layers(
    config: str, in_channels: int = 3, width: float = 1.0, batch_norm: bool = False
) -> nn.Sequential:
    """The convolutional part of a configuration, named as in the paper.

    Layers are called ``conv{block}_{index}`` (``conv3_2`` is the second
    convolution of the third block) and ``pool{block}``.
    """
    layers = []
    channels = in_channels
    for block, stack in enumerate(CONFIGURATIONS[config].split("|"), start=1):
        index = 0
        for token in stack.split():
            if token == "LRN":
                layers.append((f"norm{block}_{index}", alexnet_lrn()))
                continue
            index += 1
            kernel, filters = (int(part) for part in token[len("conv") :].split("-"))
            filters = scaled(filters, width)
            name = f"conv{block}_{index}"
            layers.append(
                (name, nn.Conv2d(channels, filters, kernel, padding=kernel // 2))
            )
            if batch_norm:
                layers.append((f"bn{block}_{index}", nn.BatchNorm2d(filters)))
            layers.append((f"relu{block}_{index}", nn.ReLU()))
            channels = filters
        layers.append((f"pool{block}", nn.MaxPool2d(2, stride=2)))
    return nn.Sequential(OrderedDict(layers))


class VGG(Network):
    """A VGG network of Table 1.

    Args:
        config: ``"A"``, ``"A-LRN"``, ``"B"``, ``"C"``, ``"D"`` or ``"E"``.
        num_classes: outputs of the last layer (1000 for ImageNet).
        batch_norm: a BatchNorm2d after every convolution (a later addition,
            not in the paper).
        width: multiplier on the number of filters and of FC units.
        input_size: side of the square input (the paper: 224); the first FC
            layer is sized for it, and five poolings need at least 32.
        hidden: units of the two hidden FC layers (default 4096 × width).
        dropout: probability of dropping a unit after fc6 and fc7.
    """

    def __init__(
        self,
        config: str = "D",
        num_classes: int = 1000,
        batch_norm: bool = False,
        width: float = 1.0,
        input_size: int = 224,
        hidden: int | None = None,
        dropout: float = 0.5,
        in_channels: int = 3,
    ):
        super().__init__()
        config = str(config).upper()
        if config not in CONFIGURATIONS:
            raise ValueError(
                f"VGG: unknown configuration {config!r}; Table 1 of the paper has "
                f"{', '.join(CONFIGURATIONS)}"
            )
        self.config = config
        self.title = f"VGG-{WEIGHT_LAYERS[config]} ({config})" + (
            " with batch norm" if batch_norm else ""
        )
        self.input_shape = (in_channels, input_size, input_size)
        self.fixed_dims = (0, 1, 2)
        self.size_option = "input_size"

        self.features = make_layers(config, in_channels, width, batch_norm)
        channels, height, width_out = shapes.checked_output_shape(
            self.features, self.input_shape, f"VGG ({config})"
        )
        hidden = scaled(4096, width) if hidden is None else hidden
        self.classifier = nn.Sequential(
            OrderedDict(
                [
                    ("fc6", nn.Linear(channels * height * width_out, hidden)),
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
