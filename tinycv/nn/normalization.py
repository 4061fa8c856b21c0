"""Normalisation layers: batch, layer, instance, group, and AlexNet's LRN.

They differ only in which numbers share a mean and a variance. For a
feature map (N, C, H, W):

- BatchNorm: each channel, over the batch and the pixels (N, H, W);
- LayerNorm: each sample, over its channels and pixels (C, H, W);
- InstanceNorm: each sample and channel, over its pixels (H, W);
- GroupNorm: each sample and group of channels, over the group's pixels.

Only batch norm depends on the other samples in the batch, so only it
behaves differently in training and evaluation, and keeps running averages.
"""

from __future__ import annotations

import numpy as np

from tinycv.nn import functional as F
from tinycv.nn import init
from tinycv.nn.module import Module, empty_parameter
from tinycv.tensor import Tensor


class _NormBase(Module):
    """gamma (``weight``), beta (``bias``) and running statistics per channel."""

    def __init__(
        self,
        num_features: int,
        eps: float,
        momentum: float | None,
        affine: bool,
        track_running_stats: bool,
        device=None,
        dtype=None,
    ):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = init.ones_(
                empty_parameter(num_features, dtype=dtype, device=device)
            )
            self.bias = empty_parameter(num_features, dtype=dtype, device=device)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer(
                "running_mean", Tensor(np.zeros(num_features, dtype=self._dtype(dtype)))
            )
            self.register_buffer(
                "running_var", Tensor(np.ones(num_features, dtype=self._dtype(dtype)))
            )
            self.register_buffer(
                "num_batches_tracked", Tensor(np.zeros((), dtype=np.int64))
            )
            if device is not None:
                self.to(device)
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    @staticmethod
    def _dtype(dtype):
        return np.float32 if dtype is None else np.dtype(dtype)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            self.num_batches_tracked.data = self.num_batches_tracked.data * 0

    def _momentum_for_this_batch(self) -> float:
        """Count the batch; momentum=None means a plain average of all batches."""
        if not (self.training and self.track_running_stats):
            return 0.0 if self.momentum is None else self.momentum
        self.num_batches_tracked.data = self.num_batches_tracked.data + 1
        if self.momentum is None:
            return 1.0 / int(self.num_batches_tracked.item())
        return self.momentum

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, track_running_stats={self.track_running_stats}"
        )


class _BatchNorm(_NormBase):
    """Batch normalisation (Ioffe and Szegedy, 2015); see ``F.batch_norm``.

    Training: normalise with the batch mean and biased variance, and update
    ``running_mean``/``running_var`` (the unbiased variance) with
    ``momentum``. Evaluation: normalise with the running averages. With
    ``track_running_stats=False`` batch statistics are used in both modes.
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device=None,
        dtype=None,
    ):
        super().__init__(
            num_features, eps, momentum, affine, track_running_stats, device, dtype
        )

    def forward(self, input: Tensor) -> Tensor:
        self.check_input(input, *self.input_patterns())
        momentum = self._momentum_for_this_batch()
        use_batch_stats = self.training or self.running_mean is None
        return F.batch_norm(
            input,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            use_batch_stats,
            momentum,
            self.eps,
        )


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L) input: one mean per feature C."""

    def input_patterns(self):
        return ("N", self.num_features), ("N", self.num_features, "L")


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W) input: one mean per channel C."""

    def input_patterns(self):
        return (("N", self.num_features, "H", "W"),)


class InstanceNorm2d(_NormBase):
    """Normalise each channel of each image over its own pixels (style transfer).

    PyTorch's defaults: no affine parameters and no running statistics.
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = False,
        track_running_stats: bool = False,
        device=None,
        dtype=None,
    ):
        super().__init__(
            num_features, eps, momentum, affine, track_running_stats, device, dtype
        )

    def forward(self, input: Tensor) -> Tensor:
        self.check_input(input, ("N", self.num_features, "H", "W"))
        momentum = self._momentum_for_this_batch()
        use_input_stats = self.training or not self.track_running_stats
        return F.instance_norm(
            input,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            use_input_stats,
            momentum,
            self.eps,
        )


class LayerNorm(Module):
    """Normalise each sample over its last dims (``normalized_shape``)."""

    def __init__(
        self,
        normalized_shape,
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        device=None,
        dtype=None,
    ):
        super().__init__()
        self.normalized_shape = F._as_shape(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            weight = empty_parameter(*self.normalized_shape, dtype=dtype, device=device)
            self.weight = init.ones_(weight)
        else:
            self.register_parameter("weight", None)
        if elementwise_affine and bias:
            self.bias = empty_parameter(
                *self.normalized_shape, dtype=dtype, device=device
            )
        else:
            self.register_parameter("bias", None)

    def forward(self, input: Tensor) -> Tensor:
        self.check_input(input, ("*",) + self.normalized_shape)
        return F.layer_norm(
            input, self.normalized_shape, self.weight, self.bias, self.eps
        )

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, "
            f"elementwise_affine={self.elementwise_affine}"
        )


class GroupNorm(Module):
    """Normalise each group of ``num_channels // num_groups`` channels per sample.

    ``num_groups=1`` is layer norm over (C, H, W); ``num_groups=num_channels``
    is instance norm.
    """

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        device=None,
        dtype=None,
    ):
        super().__init__()
        if num_channels % num_groups:
            raise ValueError(
                f"GroupNorm: num_channels ({num_channels}) must be divisible by "
                f"num_groups ({num_groups})"
            )
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        if affine:
            self.weight = init.ones_(
                empty_parameter(num_channels, dtype=dtype, device=device)
            )
            self.bias = empty_parameter(num_channels, dtype=dtype, device=device)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, input: Tensor) -> Tensor:
        self.check_input(input, ("N", self.num_channels, "*"))
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.num_groups}, {self.num_channels}, eps={self.eps}, "
            f"affine={self.affine}"
        )


class LocalResponseNorm(Module):
    """AlexNet's local response normalisation across nearby channels.

    ``b_c = a_c / (k + alpha / size * sum of a_c'^2 over size channels
    around c) ^ beta``; AlexNet used size=5, alpha=1e-4, beta=0.75, k=2.
    """

    def __init__(
        self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0
    ):
        super().__init__()
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def forward(self, input: Tensor) -> Tensor:
        self.check_input(input, ("N", "C", "*"))
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
