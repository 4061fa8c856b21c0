"""Attention: learn a weighting of the features and use it to select them.

Three forms from the lecture:

- ``SoftAttention`` (Show, Attend and Tell, Xu et al. 2015): a query (say
  the caption decoder's hidden state) scores each of L feature vectors
  through a small MLP; a softmax turns the scores into weights over the L
  locations, and the context is the weighted sum of the features.
- ``ChannelAttention`` (squeeze-and-excitation, Hu et al. 2018): one weight
  per channel, from the channel's global average, through a bottleneck MLP.
- ``SpatialAttention`` (CBAM, Woo et al. 2018): one weight per pixel, from
  a 7x7 convolution over the channel-wise mean and max maps.

Each of the last two returns the reweighted feature map; ``weights(x)``
gives the attention map itself, to look at.
"""

from __future__ import annotations

from tinycv.nn import functional as F
from tinycv.nn.conv import Conv2d
from tinycv.nn.linear import Linear
from tinycv.nn.module import Module
from tinycv.tensor import Tensor, cat


class SoftAttention(Module):
    """Soft (deterministic) attention over L feature vectors.

    ::

        e_l = w^T tanh(W_f a_l + W_q h)        a score per location l
        alpha = softmax(e)                     weights over the L locations
        z = sum_l alpha_l a_l                  the context vector

    ``forward(features, query)`` takes features (N, L, feature_dim) and a
    query (N, query_dim) and returns ``(context, weights)``, shaped
    (N, feature_dim) and (N, L).
    """

    def __init__(self, feature_dim: int, query_dim: int, attention_dim: int):
        super().__init__()
        self.feature_dim = feature_dim
        self.query_dim = query_dim
        self.attention_dim = attention_dim
        self.feature_proj = Linear(feature_dim, attention_dim)
        self.query_proj = Linear(query_dim, attention_dim)
        self.score = Linear(attention_dim, 1)

    def forward(self, features: Tensor, query: Tensor) -> tuple[Tensor, Tensor]:
        self.check_input(features, ("N", "L", self.feature_dim))
        self.check_input(query, (features.shape[0], self.query_dim))

        hidden = (
            self.feature_proj(features) + self.query_proj(query).unsqueeze(1)
        ).tanh()
        scores = self.score(hidden).squeeze(-1)
        weights = F.softmax(scores, dim=1)

        context = (weights.unsqueeze(-1) * features).sum(1)
        return context, weights

    def extra_repr(self) -> str:
        return (
            f"feature_dim={self.feature_dim}, query_dim={self.query_dim}, "
            f"attention_dim={self.attention_dim}"
        )


class ChannelAttention(Module):
    """Squeeze-and-excitation: reweight the channels of (N, C, H, W) input.

    Squeeze: average each channel over H, W. Excite: a two-layer MLP with
    a bottleneck of ``channels // reduction`` units (ReLU, then sigmoid)
    gives one weight in (0, 1) per channel. Output: input * weight.
    """

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.channels = channels
        self.reduction = reduction
        hidden = max(1, channels // reduction)
        self.fc1 = Linear(channels, hidden)
        self.fc2 = Linear(hidden, channels)

    def weights(self, input: Tensor) -> Tensor:
        """The channel weights, shaped (N, C, 1, 1)."""
        self.check_input(input, ("N", self.channels, "H", "W"))
        squeezed = input.mean(dim=(2, 3))
        excited = self.fc2(self.fc1(squeezed).relu()).sigmoid()
        return excited.reshape(input.shape[0], self.channels, 1, 1)

    def forward(self, input: Tensor) -> Tensor:
        return input * self.weights(input)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, reduction={self.reduction}"


class SpatialAttention(Module):
    """CBAM's spatial attention: reweight the pixels of (N, C, H, W) input.

    Pool across channels into two maps (mean and max), convolve them with a
    ``kernel_size`` x ``kernel_size`` filter into one map, and squash it
    with a sigmoid. Output: input * map.
    """

    def __init__(self, kernel_size: int = 7):
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(
                f"SpatialAttention: kernel_size must be odd, got {kernel_size}"
            )
        self.kernel_size = kernel_size
        self.conv = Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def weights(self, input: Tensor) -> Tensor:
        """The attention map, shaped (N, 1, H, W)."""
        self.check_input(input, ("N", "C", "H", "W"))
        mean_map = input.mean(dim=1, keepdim=True)
        max_map = input.amax(dim=1, keepdim=True)
        return self.conv(cat([mean_map, max_map], dim=1)).sigmoid()

    def forward(self, input: Tensor) -> Tensor:
        return input * self.weights(input)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}"
