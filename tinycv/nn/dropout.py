"""Dropout (Srivastava et al., 2014), one of AlexNet's three key ideas."""

from __future__ import annotations

from tinycv.nn import functional as F
from tinycv.nn.module import Module
from tinycv.tensor import Tensor


class Dropout(Module):
    """Randomly zero units while training; a stochastic ensemble of sub-networks.

    PyTorch speaks of ``p``, the probability of *dropping* a unit (default
    0.5). The lecture speaks of the probability of *keeping* one, typically
    0.8 for input units and 0.5 for hidden units; give that as ``keep_prob``::

        Dropout(keep_prob=0.8)   # the same as Dropout(p=0.2)

    Inverted dropout: kept units are scaled by ``1 / keep_prob`` during
    training, so in ``eval()`` mode the layer does nothing at all.
    """

    def __init__(
        self,
        p: float | None = None,
        inplace: bool = False,
        *,
        keep_prob: float | None = None,
    ):
        super().__init__()
        self.p = 1.0 - F._keep_probability(p, keep_prob, "Dropout")
        self.inplace = inplace

    @property
    def keep_prob(self) -> float:
        return 1.0 - self.p

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout(input, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p:g}"
