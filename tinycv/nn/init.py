"""Weight initialisation: fill a tensor in place, as ``torch.nn.init`` does.

The lecture's lessons, in order:

- ``zeros_``: all-zero weights are terribly wrong. Every neuron of a layer
  then computes the same output and gets the same gradient, so they stay
  identical forever; the symmetry has to be broken.
- ``small_random_``: ``0.01 * randn`` breaks it, and was standard practice.
- ``kaiming_normal_``: for ReLU networks, ``randn(n) * sqrt(2 / n)`` with n
  the number of inputs keeps the variance of activations the same from
  layer to layer (He et al., 2015). ``xavier_*`` does the same for tanh-like
  units, averaging fan-in and fan-out (Glorot and Bengio, 2010).

Every function draws from tinycv's seeded generator (``tinycv.manual_seed``),
returns the tensor, and records no graph.
"""

from __future__ import annotations

import math

import numpy as np

from tinycv import random as tc_random
from tinycv.device import to_device
from tinycv.tensor import Tensor

__all__ = [
    "calculate_gain",
    "zeros_",
    "ones_",
    "constant_",
    "normal_",
    "uniform_",
    "small_random_",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
]


def _fill(tensor: Tensor, values: np.ndarray) -> Tensor:
    """Put ``values`` into ``tensor`` keeping its dtype, device and identity."""
    tensor.data = to_device(values.astype(tensor.dtype), tensor.device)
    return tensor


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The factor that keeps activations' variance steady through ``nonlinearity``.

    linear, conv and sigmoid: 1; tanh: 5/3; relu: sqrt(2);
    leaky_relu: sqrt(2 / (1 + slope^2)) with slope ``param`` (default 0.01);
    selu: 3/4.
    """
    if nonlinearity in ("linear", "identity", "sigmoid") or nonlinearity.startswith(
        ("conv", "conv_transpose")
    ):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1.0 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4.0
    raise ValueError(f"calculate_gain: unknown nonlinearity {nonlinearity!r}")


def fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """Inputs and outputs feeding one unit, as PyTorch counts them.

    For a Linear weight (out, in): (in, out). For a conv weight
    (out, in, kh, kw): (in * kh * kw, out * kh * kw).
    """
    if tensor.ndim < 2:
        raise ValueError(
            f"fan_in_and_fan_out: needs a tensor with at least 2 dims, got shape "
            f"{tensor.shape}"
        )
    receptive_field = int(np.prod(tensor.shape[2:], dtype=np.int64))
    return tensor.shape[1] * receptive_field, tensor.shape[0] * receptive_field


def _fan(tensor: Tensor, mode: str) -> int:
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    if mode == "fan_in":
        return fan_in
    if mode == "fan_out":
        return fan_out
    raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")


# ---- constants ---------------------------------------------------------------


def constant_(tensor: Tensor, val: float) -> Tensor:
    return _fill(tensor, np.full(tensor.shape, val))


def zeros_(tensor: Tensor) -> Tensor:
    """All zeros: fine for biases, wrong for weights (nothing breaks the symmetry)."""
    return constant_(tensor, 0.0)


def ones_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 1.0)


# ---- plain random ------------------------------------------------------------


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    return _fill(tensor, tc_random.generator().normal(mean, std, tensor.shape))


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    return _fill(tensor, tc_random.generator().uniform(a, b, tensor.shape))


def small_random_(tensor: Tensor, scale: float = 0.01) -> Tensor:
    """The lecture's "small random initialisation": ``scale * randn``."""
    return normal_(tensor, 0.0, scale)


# ---- scaled by the layer's size ---------------------------------------------


def xavier_uniform_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """U(-a, a) with ``a = gain * sqrt(6 / (fan_in + fan_out))``."""
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """N(0, std^2) with ``std = gain * sqrt(2 / (fan_in + fan_out))``."""
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def kaiming_normal_(
    tensor: Tensor,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
) -> Tensor:
    """N(0, std^2) with ``std = gain / sqrt(fan)``.

    With ``nonlinearity="relu"`` this is the slide's
    ``w = np.random.randn(n) * sqrt(2.0 / n)``. ``a`` is the negative slope
    when ``nonlinearity="leaky_relu"`` (the default, as in PyTorch).
    """
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return normal_(tensor, 0.0, std)


def kaiming_uniform_(
    tensor: Tensor,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
) -> Tensor:
    """U(-b, b) with ``b = sqrt(3) * gain / sqrt(fan)`` (same variance as normal).

    Linear and conv layers start from this with ``a = sqrt(5)``, as PyTorch's
    do, which gives ``b = 1 / sqrt(fan_in)``.
    """
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound)
