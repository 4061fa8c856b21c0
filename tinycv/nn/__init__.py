"""Neural-network layers, losses and initialisation, as ``torch.nn``.

``tinycv.nn.Conv2d(1, 6, 5)`` means what it means in PyTorch. Where the
lecture defines something differently, its form is offered by name:
``Dropout(keep_prob=0.8)``, ``SumSquaredError``, ``init.small_random_``,
and ``tinycv.optim.Momentum``.
"""

from tinycv.nn import functional, init
from tinycv.nn.activation import (
    ELU,
    GELU,
    LeakyReLU,
    LogSoftmax,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
)
from tinycv.nn.attention import ChannelAttention, SoftAttention, SpatialAttention
from tinycv.nn.conv import Conv2d, Conv3d, ConvTranspose2d
from tinycv.nn.dropout import Dropout
from tinycv.nn.linear import Flatten, Identity, Linear
from tinycv.nn.loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    MSELoss,
    NLLLoss,
    SumSquaredError,
)
from tinycv.nn.module import (
    Module,
    ModuleList,
    Parameter,
    Sequential,
    StateDictError,
)
from tinycv.nn.normalization import (
    BatchNorm1d,
    BatchNorm2d,
    GroupNorm,
    InstanceNorm2d,
    LayerNorm,
    LocalResponseNorm,
)
from tinycv.nn.pooling import (
    AdaptiveAvgPool2d,
    AvgPool2d,
    AvgPool3d,
    MaxPool2d,
    MaxPool3d,
    Upsample,
)
from tinycv.nn.recurrent import LSTM, RNN, LSTMCell, RNNCell
from tinycv.nn.serialization import SerializationError, load, save

__all__ = [
    "functional",
    "init",
    "Module",
    "Parameter",
    "Sequential",
    "ModuleList",
    "StateDictError",
    "SerializationError",
    "save",
    "load",
    "Linear",
    "Identity",
    "Flatten",
    "Conv2d",
    "Conv3d",
    "ConvTranspose2d",
    "MaxPool2d",
    "AvgPool2d",
    "MaxPool3d",
    "AvgPool3d",
    "AdaptiveAvgPool2d",
    "Upsample",
    "Dropout",
    "BatchNorm1d",
    "BatchNorm2d",
    "LayerNorm",
    "InstanceNorm2d",
    "GroupNorm",
    "LocalResponseNorm",
    "Sigmoid",
    "Tanh",
    "ReLU",
    "LeakyReLU",
    "ELU",
    "GELU",
    "Softplus",
    "SiLU",
    "Softmax",
    "LogSoftmax",
    "RNN",
    "LSTM",
    "RNNCell",
    "LSTMCell",
    "SoftAttention",
    "ChannelAttention",
    "SpatialAttention",
    "MSELoss",
    "SumSquaredError",
    "CrossEntropyLoss",
    "NLLLoss",
    "BCELoss",
    "BCEWithLogitsLoss",
]
