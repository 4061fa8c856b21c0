"""What each layer does to a shape: the rules behind ``tinycv.models.summary``.

A *shape rule* takes a layer and the shape of its input (with the batch
dimension) and returns a ``LayerShape``: the output shape, the
multiply-adds and connections of the call, and the labels of its row in a
summary table ("Conv dw / s2", "3×3×32 dw"). The formulas are the layers'
own: for a convolution, ``floor((n + 2 padding - dilation (k - 1) - 1) /
stride) + 1`` per spatial dimension and ``C_out × (output positions) ×
(C_in / groups) × k × k`` multiply-adds.

Conventions, those of the papers: multiply-adds (MobileNet's "Mult-Adds",
ResNet's "FLOPs") count the products of convolutions, transposed
convolutions, fully connected and recurrent layers, one per weight use;
biases, normalisation, activations and pooling are not counted.
*Connections*, LeNet-5's measure, count every weighted link including the
bias, one per output unit it feeds.

A model's own layers register their rules next to their class with
``@shape_rule(MyLayer)``; subclasses inherit their parent's rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tinycv import nn


class InputTooSmall(ValueError):
    """A layer's output would be empty: the input is too small for the network."""


@dataclass
class LayerShape:
    """What a shape rule says about one call of a layer.

    ``output`` is the output shape with its batch dimension, or a tuple of
    such shapes (nested as the layer returns its outputs).
    """

    output: tuple
    kind: str
    stride: tuple | None = None
    filter: str = ""
    macs: int = 0
    connections: int = 0
    elementwise: bool = False  # shape-preserving (BN, activations): folded in tables


_RULES: dict[type, object] = {}


def shape_rule(*layer_types):
    """Register ``rule(layer, input_shape) -> LayerShape`` for these layer types.

    Subclasses inherit their parent's rule. Models register rules for their
    own layers next to the layer's class (LeNet-5's subsampling, say).
    """

    def register(rule):
        for layer_type in layer_types:
            _RULES[layer_type] = rule
        return rule

    return register


def rule_for(layer: nn.Module):
    for cls in type(layer).__mro__:
        if cls in _RULES:
            return _RULES[cls]
    return None


def conv_output_size(size: int, kernel: int, stride: int, padding: int, dilation=1):
    """``floor((size + 2 padding - dilation (kernel - 1) - 1) / stride) + 1``."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def times(sizes) -> str:
    """``(3, 224, 224)`` -> ``"3×224×224"``."""
    return "×".join(str(size) for size in sizes)


def check_nonempty(sizes: tuple, input_sizes: tuple, what: str) -> tuple:
    if min(sizes) < 1:
        raise InputTooSmall(
            f"a {times(input_sizes)} input leaves {times(sizes)} after {what}"
        )
    return sizes


def _stride_or_none(stride: tuple) -> tuple | None:
    return stride if any(s != 1 for s in stride) else None


def _check_channels(layer, shape: tuple, channels: int, dims: int) -> None:
    if len(shape) != dims + 2 or shape[1] != channels:
        expected = ("N", channels) + ("D", "H", "W")[-dims:]
        raise ValueError(
            f"{type(layer).__name__}({layer.extra_repr()}): expected input "
            f"({', '.join(map(str, expected))}), got {shape}"
        )


@shape_rule(nn.Conv2d, nn.Conv3d)
def _conv(conv, shape):
    dims = len(conv.kernel_size)
    _check_channels(conv, shape, conv.in_channels, dims)
    spatial = tuple(
        conv_output_size(n, k, s, p, d)
        for n, k, s, p, d in zip(
            shape[2:], conv.kernel_size, conv.stride, conv.padding, conv.dilation
        )
    )
    spatial = check_nonempty(
        spatial, shape[2:], f"a {times(conv.kernel_size)} convolution"
    )
    outputs = shape[0] * conv.out_channels * math.prod(spatial)
    per_output = conv.in_channels // conv.groups * math.prod(conv.kernel_size)

    depthwise = conv.groups > 1 and conv.groups == conv.in_channels
    if depthwise:
        kind = "Conv dw"
        filter_shape = f"{times(conv.kernel_size)}×{conv.in_channels} dw"
    else:
        kind = "Conv"
        filter_shape = times(
            conv.kernel_size + (conv.in_channels // conv.groups, conv.out_channels)
        )
        if conv.groups > 1:
            filter_shape += f" g{conv.groups}"
    return LayerShape(
        output=(shape[0], conv.out_channels) + spatial,
        kind=kind if dims == 2 else kind + "3d",
        stride=_stride_or_none(conv.stride),
        filter=filter_shape,
        macs=outputs * per_output,
        connections=outputs * (per_output + (conv.bias is not None)),
    )


@shape_rule(nn.ConvTranspose2d)
def _conv_transpose(conv, shape):
    _check_channels(conv, shape, conv.in_channels, 2)
    spatial = tuple(
        (n - 1) * s - 2 * p + d * (k - 1) + extra + 1
        for n, k, s, p, d, extra in zip(
            shape[2:],
            conv.kernel_size,
            conv.stride,
            conv.padding,
            conv.dilation,
            conv.output_padding,
        )
    )
    spatial = check_nonempty(spatial, shape[2:], "a transposed convolution")
    # Each input pixel is spread over a k×k window of every output channel.
    macs = (
        math.prod(shape)
        * conv.out_channels
        // conv.groups
        * math.prod(conv.kernel_size)
    )
    bias_links = shape[0] * conv.out_channels * math.prod(spatial)
    return LayerShape(
        output=(shape[0], conv.out_channels) + spatial,
        kind="Up-conv",
        stride=_stride_or_none(conv.stride),
        filter=times(conv.kernel_size + (conv.in_channels, conv.out_channels)),
        macs=macs,
        connections=macs + (bias_links if conv.bias is not None else 0),
    )


@shape_rule(nn.Linear)
def _linear(linear, shape):
    if shape[-1] != linear.in_features:
        raise ValueError(
            f"Linear({linear.extra_repr()}): expected input (*, "
            f"{linear.in_features}), got {shape}"
        )
    rows = math.prod(shape[:-1])
    macs = rows * linear.in_features * linear.out_features
    bias_links = rows * linear.out_features if linear.bias is not None else 0
    return LayerShape(
        output=shape[:-1] + (linear.out_features,),
        kind="FC",
        filter=f"{linear.in_features}×{linear.out_features}",
        macs=macs,
        connections=macs + bias_links,
    )


def as_tuple(value, dims: int) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * dims


@shape_rule(nn.MaxPool2d, nn.AvgPool2d, nn.MaxPool3d, nn.AvgPool3d)
def _pool(pool, shape):
    dims = pool.dims
    kernel = as_tuple(pool.kernel_size, dims)
    stride = as_tuple(pool.stride, dims)
    padding = as_tuple(pool.padding, dims)
    if len(shape) != dims + 2:
        raise ValueError(
            f"{type(pool).__name__}: expected a {dims + 2}-D input, got {shape}"
        )
    spatial = tuple(
        conv_output_size(n, k, s, p)
        for n, k, s, p in zip(shape[2:], kernel, stride, padding)
    )
    spatial = check_nonempty(spatial, shape[2:], f"a {times(kernel)} pooling")
    average = isinstance(pool, (nn.AvgPool2d, nn.AvgPool3d))
    outputs = shape[0] * shape[1] * math.prod(spatial)
    return LayerShape(
        output=shape[:2] + spatial,
        kind="Avg Pool" if average else "Max Pool",
        stride=_stride_or_none(stride),
        filter=f"Pool {times(kernel)}",
        connections=outputs * math.prod(kernel) if average else 0,
    )


@shape_rule(nn.AdaptiveAvgPool2d)
def _adaptive_pool(pool, shape):
    target = as_tuple(pool.output_size, 2)
    target = tuple(n if t is None else t for n, t in zip(shape[2:], target))
    if target == (1, 1):
        label = f"Pool {times(shape[2:])}"
    else:
        label = f"Pool to {times(target)}"
    return LayerShape(output=shape[:2] + target, kind="Avg Pool", filter=label)


@shape_rule(nn.Flatten)
def _flatten(flatten, shape):
    start = flatten.start_dim % len(shape)
    end = flatten.end_dim % len(shape)
    merged = math.prod(shape[start : end + 1])
    return LayerShape(
        output=shape[:start] + (merged,) + shape[end + 1 :], kind="Flatten"
    )


@shape_rule(nn.Upsample)
def _upsample(upsample, shape):
    dims = len(shape) - 2
    if upsample.size is not None:
        spatial = as_tuple(upsample.size, dims)
    else:
        factors = as_tuple(upsample.scale_factor, dims)
        spatial = tuple(int(math.floor(n * f)) for n, f in zip(shape[2:], factors))
    return LayerShape(
        output=shape[:2] + tuple(spatial), kind="Upsample", filter=upsample.mode
    )


@shape_rule(nn.RNN, nn.LSTM)
def _recurrent(rnn, shape):
    if shape[-1] != rnn.input_size or len(shape) not in (2, 3):
        raise ValueError(
            f"{type(rnn).__name__}({rnn.extra_repr()}): expected input with "
            f"{rnn.input_size} features per step, got {shape}"
        )
    if len(shape) == 2:
        steps, batch = shape[0], None
    elif rnn.batch_first:
        batch, steps = shape[0], shape[1]
    else:
        steps, batch = shape[0], shape[1]
    directions = rnn.num_directions
    hidden = rnn.hidden_size
    gate_rows = rnn.gates * hidden

    macs = 0
    for layer in range(rnn.num_layers):
        layer_input = rnn.input_size if layer == 0 else hidden * directions
        macs += directions * steps * gate_rows * (layer_input + hidden)
    macs *= batch or 1
    links = macs + (
        2 * directions * rnn.num_layers * gate_rows * steps if rnn.bias else 0
    )

    features = hidden * directions
    if batch is None:
        output, state = (steps, features), (rnn.num_layers * directions, hidden)
    elif rnn.batch_first:
        output = (batch, steps, features)
        state = (rnn.num_layers * directions, batch, hidden)
    else:
        output = (steps, batch, features)
        state = (rnn.num_layers * directions, batch, hidden)
    is_lstm = isinstance(rnn, nn.LSTM)
    return LayerShape(
        output=(output, (state, state)) if is_lstm else (output, state),
        kind="LSTM" if is_lstm else "RNN",
        filter=f"{rnn.input_size}→{hidden}"
        + (f" ×{rnn.num_layers}" if rnn.num_layers > 1 else ""),
        macs=macs,
        connections=links,
    )


def _elementwise(kind):
    def rule(layer, shape):
        return LayerShape(output=shape, kind=kind, elementwise=True)

    return rule


_ELEMENTWISE_KINDS = {
    "BN": (nn.BatchNorm1d, nn.BatchNorm2d),
    "LRN": (nn.LocalResponseNorm,),
    "Norm": (nn.LayerNorm, nn.GroupNorm, nn.InstanceNorm2d),
    "Dropout": (nn.Dropout,),
    "ReLU": (nn.ReLU,),
    "Sigmoid": (nn.Sigmoid,),
    "Tanh": (nn.Tanh,),
    "Softmax": (nn.Softmax, nn.LogSoftmax),
    "Act": (nn.LeakyReLU, nn.ELU, nn.GELU, nn.Softplus, nn.SiLU),
    "Identity": (nn.Identity,),
}
for _kind, _types in _ELEMENTWISE_KINDS.items():
    shape_rule(*_types)(_elementwise(_kind))


def elementwise_rule(kind: str):
    """The rule of a layer that keeps its input's shape (an activation, say)."""
    return _elementwise(kind)
