"""AlexNet (Krizhevsky, Sutskever and Hinton, 2012) and its one-stream variant.

Five convolutional layers, three fully connected ones and a softmax; ReLU,
dropout and data augmentation were its three key ideas. In the paper the
network is split over two GPUs of 3 GB each: every layer but conv3 and the
fully connected ones sees only the maps on its own GPU, which is a grouped
convolution with two groups. Local response normalisation follows conv1
and conv2, and overlapping 3×3 max-pooling with stride 2 follows both
normalisations and conv5.

    conv1 96 11×11 /4 -> LRN -> pool -> conv2 256 5×5 (2 groups) -> LRN -> pool
    -> conv3 384 3×3 -> conv4 384 3×3 (2 groups) -> conv5 256 3×3 (2 groups)
    -> pool -> FC 4096 -> FC 4096 -> FC 1000

About 61 million parameters (60,965,224). The paper writes 224×224 for
the input, but its arithmetic needs 227×227: (227 - 11) / 4 + 1 = 55.

``variant="single"`` is the common one-stream version (Krizhevsky's 2014
"one weird trick" paper, also torchvision's): 64, 192, 384, 256 and 256
filters, conv1 padded by 2 on a 224×224 input, no grouping, no LRN,
61,100,840 parameters.
"""

from __future__ import annotations

from collections import OrderedDict

from tinycv import nn
from tinycv.models import shapes
from tinycv.models.network import Network, scaled
from tinycv.tensor import Tensor

VARIANTS = {
    # name: (filters of conv1..conv5, conv1 padding, default input size)
    "paper": ((96, 256, 384, 384, 256), 0, 227),
    "single": ((64, 192, 384, 256, 256), 2, 224),
}


def alexnet_lrn() -> nn.LocalResponseNorm:
    """The paper's normalisation: k = 2, n = 5, alpha = 1e-4, beta = 0.75.

    The paper writes ``a / (k + alpha sum a^2)^beta``; tinycv (as PyTorch)
    divides alpha by n, so alpha is given here as 5e-4.
    """
    return nn.LocalResponseNorm(size=5, alpha=5e-4, beta=0.75, k=2.0)


class AlexNet(Network):
    """AlexNet.

    Args:
        num_classes: outputs of the last layer (1000 for ImageNet).
        variant: ``"paper"`` (2012) or ``"single"`` (one stream, torchvision).
        groups: 2 reproduces the paper's split over two GPUs in conv2, conv4
            and conv5 (paper variant only; 1 connects every map).
        lrn: local response normalisation after conv1 and conv2.
        width: multiplier on every layer's width, the FC layers' included.
        input_size: side of the square input; the first FC layer is sized
            for it.
        dropout: probability of dropping a unit in the first two FC layers.
    """

    def __init__(
        self,
        num_classes: int = 1000,
        variant: str = "paper",
        groups: int | None = None,
        lrn: bool | None = None,
        width: float = 1.0,
        input_size: int | None = None,
        dropout: float = 0.5,
        in_channels: int = 3,
    ):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(
                f"AlexNet: unknown variant {variant!r}; choose 'paper' or 'single'"
            )
        filters, first_padding, default_size = VARIANTS[variant]
        paper = variant == "paper"
        groups = (2 if paper else 1) if groups is None else groups
        lrn = paper if lrn is None else lrn
        input_size = default_size if input_size is None else input_size
        c1, c2, c3, c4, c5 = (scaled(f, width) for f in filters)
        for count in (c1, c2, c4, c5):
            if count % groups:
                raise ValueError(
                    f"AlexNet: width {width} gives {count} filters, which do not "
                    f"split into {groups} groups"
                )

        self.title = "AlexNet" if paper else "AlexNet (one stream)"
        self.input_shape = (in_channels, input_size, input_size)
        self.fixed_dims = (0, 1, 2)
        self.size_option = "input_size"

        layers = [
            ("conv1", nn.Conv2d(in_channels, c1, 11, stride=4, padding=first_padding)),
            ("relu1", nn.ReLU()),
        ]
        if lrn:
            layers.append(("norm1", alexnet_lrn()))
        layers += [
            ("pool1", nn.MaxPool2d(3, stride=2)),
            ("conv2", nn.Conv2d(c1, c2, 5, padding=2, groups=groups)),
            ("relu2", nn.ReLU()),
        ]
        if lrn:
            layers.append(("norm2", alexnet_lrn()))
        layers += [
            ("pool2", nn.MaxPool2d(3, stride=2)),
            ("conv3", nn.Conv2d(c2, c3, 3, padding=1)),
            ("relu3", nn.ReLU()),
            ("conv4", nn.Conv2d(c3, c4, 3, padding=1, groups=groups)),
            ("relu4", nn.ReLU()),
            ("conv5", nn.Conv2d(c4, c5, 3, padding=1, groups=groups)),
            ("relu5", nn.ReLU()),
            ("pool5", nn.MaxPool2d(3, stride=2)),
        ]
        self.features = nn.Sequential(OrderedDict(layers))

        feature_shape = shapes.checked_output_shape(
            self.features, self.input_shape, self.title
        )
        hidden = scaled(4096, width)
        self.classifier = nn.Sequential(
            OrderedDict(
                [
                    (
                        "fc6",
                        nn.Linear(c5 * feature_shape[1] * feature_shape[2], hidden),
                    ),
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
