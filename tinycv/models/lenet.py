"""LeNet-5 (LeCun, Bottou, Bengio and Haffner, 1998), as the paper builds it.

    input 1×32×32 -> C1 6@28×28 -> S2 6@14×14 -> C3 16@10×10 -> S4 16@5×5
                  -> C5 120 -> F6 84 -> output 10 (Euclidean RBF units)

Three details make it the paper's network rather than "a small CNN":

- S2 and S4 are *trainable* subsampling layers: each unit adds its four
  inputs, multiplies the sum by a coefficient and adds a bias, one pair per
  feature map, before the squashing function.
- C3 is *partially* connected (the paper's Table I): its first six maps see
  three neighbouring S2 maps, the next six four neighbouring ones, the next
  three four non-neighbouring ones and the last one all six. The paper's
  reasons: fewer connections, and broken symmetry, so that different maps
  are forced to extract different features.
- The outputs are Euclidean radial basis function units whose weights are
  fixed by hand (±1 pictures of the digits on a 7×12 grid), not trained.

Counting it (kernels 5×5, one bias per map):

    C1  6 × (25 + 1)                      =    156
    S2  6 × 2 (coefficient, bias)         =     12
    C3  60 kernels × 25 + 16 biases       =  1,516   (6·3 + 6·4 + 3·4 + 1·6 = 60)
    S4  16 × 2                            =     32
    C5  120 × (16 × 25 + 1)               = 48,120
    F6  84 × (120 + 1)                    = 10,164
                                            -------
    trainable parameters, C1 to F6        = 60,000

With a fully connected C3 (``full_c3=True``) it has 16 × (6 × 25 + 1) =
2,416 parameters instead of 1,516, so 60,900 in all. The paper's
340,908 connections are every weighted link used once per output unit:
122,304 (C1, 28·28·6·26) + 5,880 (S2) + 151,600 (C3) + 2,000 (S4) +
48,120 (C5) + 10,164 (F6) + 840 (the 10 RBF units, 84 inputs each).
"""

from __future__ import annotations

import numpy as np

from tinycv import nn
from tinycv.models import layer_shapes, shapes
from tinycv.models.network import Network
from tinycv.nn import functional as F
from tinycv.nn.module import empty_parameter
from tinycv.tensor import Tensor

# Table I of the paper: which S2 maps (rows) each C3 map (columns) sees.
C3_TABLE_PICTURE = """
     0  1  2  3  4  5  6  7  8  9 10 11 12 13 14 15
  0  X  .  .  .  X  X  X  .  .  X  X  X  X  .  X  X
  1  X  X  .  .  .  X  X  X  .  .  X  X  X  X  .  X
  2  X  X  X  .  .  .  X  X  X  .  .  X  .  X  X  X
  3  .  X  X  X  .  .  X  X  X  X  .  .  X  .  X  X
  4  .  .  X  X  X  .  .  X  X  X  X  .  X  X  .  X
  5  .  .  .  X  X  X  .  .  X  X  X  X  .  X  X  X
"""


def _read_table(picture: str) -> list[tuple[int, ...]]:
    """The picture above as, for each C3 map, the tuple of S2 maps it sees."""
    rows = [line.split()[1:] for line in picture.strip().splitlines()[1:]]
    return [
        tuple(s2 for s2, marks in enumerate(rows) if marks[c3] == "X")
        for c3 in range(len(rows[0]))
    ]


C3_TABLE = _read_table(C3_TABLE_PICTURE)

# The RBF units' fixed weights: each digit drawn on a 7×12 grid, "#" = +1, "." = -1.
DIGIT_PICTURES = """
..###.. ...#... .#####. .#####. ....#.. ####### ..####. ####### .#####. .#####.
.#...#. ..##... #.....# #.....# ...##.. #...... .#..... ......# #.....# #.....#
#.....# .#.#... ......# ......# ..#.#.. #...... #...... .....#. #.....# #.....#
#.....# ...#... ......# ......# .#..#.. #...... #...... .....#. #.....# #.....#
#.....# ...#... .....#. ..####. #...#.. ######. ######. ....#.. .#####. #.....#
#.....# ...#... ....#.. ......# ####### ......# #.....# ....#.. #.....# .######
#.....# ...#... ...#... ......# ....#.. ......# #.....# ...#... #.....# ......#
#.....# ...#... ..#.... ......# ....#.. ......# #.....# ...#... #.....# ......#
#.....# ...#... .#..... #.....# ....#.. #.....# #.....# ..#.... #.....# .....#.
.#...#. ...#... #...... #.....# ....#.. #.....# #.....# ..#.... #.....# ....#..
..###.. .#####. ####### .#####. ....#.. .#####. .#####. ..#.... .#####. .###...
....... ....... ....... ....... ....... ....... ....... ....... ....... .......
"""


def digit_prototypes() -> np.ndarray:
    """The (10, 84) matrix of ±1 codes, one row per digit."""
    rows = [line.split() for line in DIGIT_PICTURES.strip().splitlines()]
    codes = np.array(
        [
            [1.0 if mark == "#" else -1.0 for row in rows for mark in row[digit]]
            for digit in range(10)
        ]
    )
    return codes.astype(np.float32)


# ---- the layers the paper defines ---------------------------------------------------


class ScaledTanh(nn.Module):
    """The paper's squashing function ``f(a) = A tanh(S a)``, A = 1.7159, S = 2/3.

    Chosen so that f(1) = 1 and f(-1) = -1, where its second derivative is
    largest, and so that the gain stays close to one in normal operation.
    """

    amplitude = 1.7159
    slope = 2.0 / 3.0

    def forward(self, input: Tensor) -> Tensor:
        return self.amplitude * (input * self.slope).tanh()


layer_shapes.shape_rule(ScaledTanh)(layer_shapes.elementwise_rule("Tanh·1.7159"))


class Subsampling(nn.Module):
    """S2 and S4: add each 2×2 window, scale by a trainable coefficient, add a bias.

    One coefficient and one bias per feature map, so 2 parameters a map.
    The sum is computed as 4 × the window's mean.
    """

    def __init__(self, channels: int, kernel_size: int = 2):
        super().__init__()
        self.channels = channels
        self.kernel_size = kernel_size
        self.weight = empty_parameter(channels)
        self.bias = empty_parameter(channels)

    def forward(self, input: Tensor) -> Tensor:
        k = self.kernel_size
        window_sum = F.avg_pool2d(input, k, k, 0) * (k * k)
        per_map = (1, self.channels, 1, 1)
        return window_sum * self.weight.reshape(per_map) + self.bias.reshape(per_map)

    def extra_repr(self) -> str:
        return f"{self.channels}, kernel_size={self.kernel_size}"


@layer_shapes.shape_rule(Subsampling)
def _subsampling_shape(layer, shape):
    k = layer.kernel_size
    spatial = layer_shapes.check_nonempty(
        (shape[2] // k, shape[3] // k), shape[2:], f"a {k}×{k} subsampling"
    )
    outputs = shape[0] * shape[1] * spatial[0] * spatial[1]
    return layer_shapes.LayerShape(
        output=shape[:2] + spatial,
        kind="Subsampling",
        stride=(k, k),
        filter=f"Sum {k}×{k}, ×w + b",
        macs=outputs,
        connections=outputs * (k * k + 1),
    )


class PartialConv2d(nn.Module):
    """A convolution where output map j sees only the input maps ``table[j]``.

    It keeps one k×k kernel per connection (60 for LeNet-5's C3, not
    16 × 6 = 96) and, at each call, places them into the full
    (out, in, k, k) kernel with a fixed 0/1 matrix; the zeros there are
    the missing connections, and stay zero because they are not parameters.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, table):
        super().__init__()
        if len(table) != out_channels:
            raise ValueError(
                f"PartialConv2d: the table lists {len(table)} output maps, "
                f"expected {out_channels}"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.table = [tuple(inputs) for inputs in table]
        self.links = [(j, i) for j, inputs in enumerate(self.table) for i in inputs]

        placement = np.zeros((out_channels * in_channels, len(self.links)), np.float32)
        for column, (j, i) in enumerate(self.links):
            placement[j * in_channels + i, column] = 1.0
        self.register_buffer("placement", Tensor(placement), persistent=False)
        self.weight = empty_parameter(len(self.links), kernel_size, kernel_size)
        self.bias = empty_parameter(out_channels)
        self.reset_parameters()

    def reset_parameters(self, scale: float = 2.4) -> None:
        """Uniform in ±scale / F, F the fan-in of the output map (the paper's rule).

        Output map j adds ``len(table[j])`` kernels of k×k inputs, so maps
        that see more input maps start with smaller weights.
        """
        nn.init.uniform_(self.weight, -1.0, 1.0)
        nn.init.uniform_(self.bias, -1.0, 1.0)
        if shapes.is_placeholder(self.weight):
            return  # built for a summary: no numbers to scale
        window = self.kernel_size**2
        map_fan_in = np.array([len(inputs) * window for inputs in self.table])
        link_fan_in = map_fan_in[[j for j, _ in self.links]]
        self.weight.data = self.weight.data * (scale / link_fan_in)[:, None, None]
        self.bias.data = self.bias.data * (scale / map_fan_in)

    def full_weight(self) -> Tensor:
        """The (out, in, k, k) kernel, zero where the table has no connection."""
        k = self.kernel_size
        kernels = self.weight.reshape(len(self.links), k * k)
        return (self.placement @ kernels).reshape(
            self.out_channels, self.in_channels, k, k
        )

    def forward(self, input: Tensor) -> Tensor:
        self.check_input(input, ("N", self.in_channels, "H", "W"))
        return F.conv2d(input, self.full_weight(), self.bias)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"connections={len(self.links)}"
        )


@layer_shapes.shape_rule(PartialConv2d)
def _partial_conv_shape(layer, shape):
    if len(shape) != 4 or shape[1] != layer.in_channels:
        raise ValueError(
            f"PartialConv2d: expected (N, {layer.in_channels}, H, W), got {shape}"
        )
    k = layer.kernel_size
    spatial = layer_shapes.check_nonempty(
        (shape[2] - k + 1, shape[3] - k + 1), shape[2:], f"a {k}×{k} convolution"
    )
    positions = shape[0] * spatial[0] * spatial[1]
    macs = positions * len(layer.links) * k * k
    return layer_shapes.LayerShape(
        output=(shape[0], layer.out_channels) + spatial,
        kind="Conv partial",
        filter=f"{k}×{k}, {len(layer.links)} of "
        f"{layer.in_channels}×{layer.out_channels} maps",
        macs=macs,
        connections=macs + positions * layer.out_channels,
    )


class EuclideanRBF(nn.Module):
    """The output layer: ``y_i = sum_j (x_j - w_ij)^2`` with fixed ``w``.

    Each unit measures how far F6's 84 outputs are from the code of its
    class; the smallest distance wins. ``forward`` returns ``-y`` so that,
    as with any classifier's scores, the largest is the prediction and
    ``CrossEntropyLoss`` applies (it is then close to the paper's own
    criterion). The codes are a buffer: saved with the model, never trained.
    """

    def __init__(self, prototypes: np.ndarray):
        super().__init__()
        self.register_buffer("prototypes", Tensor(np.asarray(prototypes, np.float32)))

    def forward(self, input: Tensor) -> Tensor:
        codes = self.prototypes
        squared = (input * input).sum(dim=1, keepdim=True)
        cross = input @ codes.T
        distances = squared - 2 * cross + (codes * codes).sum(dim=1)
        return -distances

    def extra_repr(self) -> str:
        classes, features = self.prototypes.shape
        return f"{features}, {classes}, fixed"


@layer_shapes.shape_rule(EuclideanRBF)
def _rbf_shape(layer, shape):
    classes, features = layer.prototypes.shape
    links = shape[0] * classes * features
    return layer_shapes.LayerShape(
        output=(shape[0], classes),
        kind="RBF",
        filter=f"{features}×{classes} fixed",
        macs=links,
        connections=links,
    )


# ---- the network ---------------------------------------------------------------------

ACTIVATIONS = {
    "scaled_tanh": ScaledTanh,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "relu": nn.ReLU,
}


def _choice(value: str, options, what: str) -> str:
    if value not in options:
        raise ValueError(
            f"LeNet-5: unknown {what} {value!r}; choose one of {', '.join(options)}"
        )
    return value


class LeNet5(Network):
    """LeNet-5 for 32×32 single-channel images (MNIST's 28×28 padded by 2).

    Args:
        num_classes: outputs; the RBF output has codes for the 10 digits only.
        activation: ``"scaled_tanh"`` (the paper's 1.7159 tanh(2a/3)),
            ``"tanh"``, ``"sigmoid"`` or ``"relu"``.
        subsampling: ``"trainable"`` (the paper's coefficient and bias) or
            ``"average"`` (plain 2×2 average pooling, no parameters).
        full_c3: connect every C3 map to every S2 map instead of Table I.
        output: ``"rbf"`` (fixed Euclidean RBF units, the paper) or
            ``"linear"`` (a trained fully connected layer, the modern habit).

    The paper initialises every weight and bias uniformly in ±2.4 / fan-in.
    """

    title = "LeNet-5"

    def __init__(
        self,
        num_classes: int = 10,
        activation: str = "scaled_tanh",
        subsampling: str = "trainable",
        full_c3: bool = False,
        output: str = "rbf",
    ):
        super().__init__()
        _choice(activation, ACTIVATIONS, "activation")
        _choice(subsampling, ("trainable", "average"), "subsampling")
        _choice(output, ("rbf", "linear"), "output")
        if output == "rbf" and num_classes != 10:
            raise ValueError(
                f"LeNet-5: the RBF output has codes for the 10 digits only, got "
                f"num_classes={num_classes}; use output='linear'"
            )
        self.input_shape = (1, 32, 32)
        self.fixed_dims = (0, 1, 2)

        def subsample(channels):
            if subsampling == "trainable":
                return Subsampling(channels)
            return nn.AvgPool2d(2)

        self.c1 = nn.Conv2d(1, 6, 5)
        self.s2 = subsample(6)
        self.c3 = nn.Conv2d(6, 16, 5) if full_c3 else PartialConv2d(6, 16, 5, C3_TABLE)
        self.s4 = subsample(16)
        self.c5 = nn.Conv2d(16, 120, 5)
        self.f6 = nn.Linear(120, 84)
        if output == "rbf":
            self.output = EuclideanRBF(digit_prototypes())
        else:
            self.output = nn.Linear(84, num_classes)
        self.squash = ACTIVATIONS[activation]()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform in ±2.4 / F, F the fan-in of the unit the weight feeds."""
        fan_ins = {
            "c1": 25,
            "s2": 4,
            "c3": 150,
            "s4": 4,
            "c5": 400,
            "f6": 120,
            "output": 84,
        }
        for name, fan_in in fan_ins.items():
            layer = getattr(self, name)
            if isinstance(layer, PartialConv2d):
                layer.reset_parameters(2.4)  # a fan-in per C3 map: 75, 100 or 150
                continue
            for param in layer.parameters():
                nn.init.uniform_(param, -2.4 / fan_in, 2.4 / fan_in)

    def forward(self, input: Tensor) -> Tensor:
        x = self.squash(self.c1(input))
        x = self.squash(self.s2(x))
        x = self.squash(self.c3(x))
        x = self.squash(self.s4(x))
        x = self.squash(self.c5(x))
        x = self.squash(self.f6(x.flatten(1)))
        return self.output(x)
