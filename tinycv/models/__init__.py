"""The model zoo: the lecture's networks, faithful to their papers, and their summaries.

    >>> from tinycv import models
    >>> model = models.create("vgg16", width=0.125, input_size=32, num_classes=10)
    >>> models.summary("vgg16").params          # no weight is allocated for this
    138357544

Every network scales down with a width multiplier and a small input, so it
trains on a laptop; at its default settings it has the paper's parameters
and multiply-adds. ``available()`` lists the names; the classes are here
too (``models.VGG``, ``models.LeNet5``, ...).
"""

from __future__ import annotations

from fractions import Fraction

from tinycv.models.alexnet import AlexNet
from tinycv.models.autoencoder import Autoencoder, ConvAutoencoder, DenoisingAutoencoder
from tinycv.models.c3d import C3D
from tinycv.models.densenet import DenseNet
from tinycv.models.fcn import FCN
from tinycv.models.lenet import LeNet5
from tinycv.models.mobilenet import MobileNetV1, MobileNetV2
from tinycv.models.network import Network
from tinycv.models.recurrent import SequenceModel
from tinycv.models.registry import available, create, entry
from tinycv.models.resnet import CifarResNet, ResNet
from tinycv.models.shapes import InputTooSmall, Summary, placeholder_weights
from tinycv.models.shapes import summary as summarize_model
from tinycv.models.slowfast import SlowFast
from tinycv.models.two_stream import TwoStream
from tinycv.models.unet import UNet
from tinycv.models.vgg import VGG
from tinycv.models.wide_resnet import WideResNet

__all__ = [
    "available",
    "create",
    "summary",
    "summary_command",
    "placeholder_weights",
    "InputTooSmall",
    "Summary",
    "Network",
    "LeNet5",
    "AlexNet",
    "VGG",
    "ResNet",
    "CifarResNet",
    "WideResNet",
    "DenseNet",
    "FCN",
    "UNet",
    "MobileNetV1",
    "MobileNetV2",
    "C3D",
    "TwoStream",
    "SlowFast",
    "Autoencoder",
    "ConvAutoencoder",
    "DenoisingAutoencoder",
    "SequenceModel",
]


def _size_options(name: str, input_size: tuple, options: dict) -> dict:
    """Options that build model ``name`` for one sample of ``input_size``.

    A network whose fully connected layers fix its input (VGG, C3D, ...)
    must be built for the size it is summarised at; ``--input-size 3,64,64``
    then means ``input_size=64`` (and ``in_channels=3``, and ``frames=`` for
    a clip (C, T, H, W), ``length=`` for a sequence (L, F)). Options given
    explicitly win.
    """
    known = entry(name).options()
    derived = {}
    if len(input_size) == 2 and "length" in known:
        derived["length"] = input_size[0]
        if "input_size" in known:
            derived["input_size"] = input_size[1]
    if len(input_size) >= 3:
        height, width = input_size[-2:]
        if height != width:
            raise ValueError(
                f"{name}: the zoo's models take square inputs, got {height}×{width}"
            )
        for key in ("input_size", "resolution"):
            if key in known:
                derived[key] = height
        if "in_channels" in known:
            derived["in_channels"] = input_size[0]
    if len(input_size) == 4:
        if "frames" in known:
            derived["frames"] = input_size[1]
        elif (
            "stack" in known
            and options.get("motion", known.get("motion")) == "difference"
        ):
            derived["stack"] = input_size[1] - 1
    return {**derived, **options}


def summary(model_or_name, input_size=None, **options) -> Summary:
    """The layer table of a model: per-layer shapes, parameters and multiply-adds.

    Args:
        model_or_name: a model (any ``nn.Module``), or a name of ``available()``;
            a named model is built with placeholder weights, so even VGG-16 or
            U-Net take no memory and no time.
        input_size: one sample's shape, without the batch dimension (default:
            the model's ``input_shape``).
        **options: model options, with a name.

    Returns:
        a ``Summary``: ``rows`` (one per layer call), ``params``,
        ``trainable_params``, ``macs``, ``connections``, and ``table()``.
    """
    if not isinstance(model_or_name, str):
        if options:
            raise TypeError("summary: options go with a model name, not a model")
        return summarize_model(model_or_name, input_size)
    name = model_or_name
    if input_size is not None:
        input_size = tuple(int(n) for n in input_size)
        options = _size_options(name, input_size, options)
    with placeholder_weights():
        model = create(name, **options)
    return summarize_model(model, input_size)


def _option_value(value):
    """The CLI passes numbers as numbers; also read "1/8" and "1,1,1,1"."""
    if not isinstance(value, str):
        return value
    if "," in value:
        return tuple(
            _option_value(part.strip()) for part in value.split(",") if part.strip()
        )
    for kind in (int, float, Fraction):
        try:
            number = kind(value)
        except (ValueError, ZeroDivisionError):
            continue
        return float(number) if kind is Fraction else number
    return value


def summary_command(name: str, input_size, options: dict) -> int:
    """``tinycv summary NAME [--input-size C,H,W] [-o key=value]``: print the table."""
    from tinycv._console import console

    options = {key: _option_value(value) for key, value in options.items()}
    console.print(summary(name, input_size, **options))
    return 0
