"""Autoencoders: learn a code by reconstructing the input through a bottleneck.

An encoder maps the input to a short code, a decoder maps the code back,
and the loss is the reconstruction error: no labels needed. Because the
code is smaller than the input the network cannot copy, it has to keep
what matters.

A *denoising* autoencoder (Vincent, Larochelle, Bengio and Manzagol, 2008)
is trained to reconstruct the clean input from a corrupted copy (Gaussian
noise added, or a fraction of the inputs set to zero), which forces it to
learn the structure of the data rather than the identity. The corruption
happens only in training mode; the loss compares with the clean input.

Both kinds come fully connected (an MLP on the flattened image) and
convolutional (stride-2 convolutions down, stride-2 transposed ones up).
"""

from __future__ import annotations

import math

from tinycv import nn
from tinycv import random as tc_random
from tinycv.device import to_device
from tinycv.models.network import Network
from tinycv.tensor import Tensor


class Autoencoder(Network):
    """A fully connected autoencoder: image -> hidden layers -> code -> back.

    Args:
        input_shape: one image's shape, (1, 28, 28) for MNIST.
        hidden: widths of the encoder's hidden layers (the decoder mirrors them).
        code_size: length of the code.
        output: ``"sigmoid"`` (pixels in [0, 1]) or ``"linear"``.
    """

    def __init__(
        self,
        input_shape: tuple = (1, 28, 28),
        hidden: tuple = (256, 64),
        code_size: int = 16,
        output: str = "sigmoid",
    ):
        super().__init__()
        if output not in ("sigmoid", "linear"):
            raise ValueError(
                f"Autoencoder: output must be 'sigmoid' or 'linear', got {output!r}"
            )
        self.title = "Autoencoder (fully connected)"
        self.input_shape = tuple(input_shape)
        self.fixed_dims = tuple(range(len(self.input_shape)))
        size = math.prod(self.input_shape)

        widths = [size, *hidden, code_size]
        encoder = [nn.Flatten()]
        for n_in, n_out in zip(widths[:-1], widths[1:]):
            encoder += [nn.Linear(n_in, n_out), nn.ReLU()]
        self.encoder = nn.Sequential(*encoder[:-1])  # the code itself is linear

        decoder = []
        backwards = widths[::-1]
        for n_in, n_out in zip(backwards[:-1], backwards[1:]):
            decoder += [nn.Linear(n_in, n_out), nn.ReLU()]
        decoder[-1] = nn.Sigmoid() if output == "sigmoid" else nn.Identity()
        self.decoder = nn.Sequential(*decoder)

    def encode(self, input: Tensor) -> Tensor:
        return self.encoder(input)

    def decode(self, code: Tensor) -> Tensor:
        return self.decoder(code).reshape(code.shape[0], *self.input_shape)

    def forward(self, input: Tensor) -> Tensor:
        return self.decode(self.encode(input))


class ConvAutoencoder(Network):
    """A convolutional autoencoder: stride-2 3×3 convolutions down, transposed up.

    Each level halves the size, so the image side must be divisible by
    2^levels (28 = 4 × 7 for MNIST with two levels).

    Args:
        in_channels: image channels.
        channels: filters of each level ((16, 32): 28×28 -> 14×14 -> 7×7).
        input_size: the default image side (28).
        output: ``"sigmoid"`` or ``"linear"``.
    """

    def __init__(
        self,
        in_channels: int = 1,
        channels: tuple = (16, 32),
        input_size: int = 28,
        output: str = "sigmoid",
    ):
        super().__init__()
        if output not in ("sigmoid", "linear"):
            raise ValueError(
                f"ConvAutoencoder: output must be 'sigmoid' or 'linear', got {output!r}"
            )
        self.title = "Autoencoder (convolutional)"
        self.input_shape = (in_channels, input_size, input_size)
        self.levels = len(channels)

        encoder = []
        previous = in_channels
        for filters in channels:
            encoder += [nn.Conv2d(previous, filters, 3, stride=2, padding=1), nn.ReLU()]
            previous = filters
        self.encoder = nn.Sequential(*encoder)

        decoder = []
        for filters in [*channels[-2::-1], in_channels]:
            decoder.append(
                nn.ConvTranspose2d(
                    previous, filters, 3, stride=2, padding=1, output_padding=1
                )
            )
            decoder.append(nn.ReLU())
            previous = filters
        decoder[-1] = nn.Sigmoid() if output == "sigmoid" else nn.Identity()
        self.decoder = nn.Sequential(*decoder)

    def forward(self, input: Tensor) -> Tensor:
        step = 2**self.levels
        if any(size % step for size in input.shape[2:]):
            raise ValueError(
                f"{self.title}: with {self.levels} stride-2 levels the image "
                f"sides must be divisible by {step}, got {tuple(input.shape)}"
            )
        return self.decoder(self.encoder(input))


def corrupt(input: Tensor, noise: str, level: float) -> Tensor:
    """A corrupted copy: ``"gaussian"`` adds N(0, level²), ``"masking"`` zeroes
    a fraction ``level`` of the inputs. No gradient flows into the noise."""
    generator = tc_random.generator()
    if noise == "gaussian":
        sample = generator.normal(0.0, level, input.shape).astype(input.dtype)
        return input + Tensor(to_device(sample, input.device))
    keep = (generator.random(input.shape) >= level).astype(input.dtype)
    return input * Tensor(to_device(keep, input.device))


class DenoisingAutoencoder(Network):
    """Reconstruct the clean input from a corrupted one (corrupted in training only).

    Args:
        kind: ``"fc"`` (an ``Autoencoder``) or ``"conv"`` (a ``ConvAutoencoder``).
        noise: ``"masking"`` (the paper's: zero a random fraction) or ``"gaussian"``.
        level: the fraction zeroed, or the noise's standard deviation.
        **options: passed to the autoencoder.
    """

    def __init__(
        self, kind: str = "fc", noise: str = "masking", level: float = 0.3, **options
    ):
        super().__init__()
        if kind not in ("fc", "conv"):
            raise ValueError(
                f"DenoisingAutoencoder: kind must be 'fc' or 'conv', got {kind!r}"
            )
        if noise not in ("masking", "gaussian"):
            raise ValueError(
                "DenoisingAutoencoder: noise must be 'masking' or 'gaussian', "
                f"got {noise!r}"
            )
        if noise == "masking" and not 0 <= level < 1:
            raise ValueError(
                f"DenoisingAutoencoder: a masking level lies in [0, 1), got {level}"
            )
        self.autoencoder = (
            Autoencoder(**options) if kind == "fc" else ConvAutoencoder(**options)
        )
        self.noise = noise
        self.level = level
        self.title = f"Denoising {self.autoencoder.title[len('Autoencoder ') :]}"
        self.input_shape = self.autoencoder.input_shape
        self.fixed_dims = self.autoencoder.fixed_dims

    def forward(self, input: Tensor) -> Tensor:
        if self.training and self.level > 0:
            input = corrupt(input, self.noise, self.level)
        return self.autoencoder(input)
