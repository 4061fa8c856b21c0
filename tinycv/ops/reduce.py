"""Reductions over axes: sum, max and min, with their gradients.

The gradient of a reduction flows back to every element that took part:
all of them for a sum, only the winners for a max or a min. ``keepdims``
shapes let the gradient broadcast back over the reduced axes.
"""

from __future__ import annotations

from tinycv.autograd import Function
from tinycv.device import array_module


def normalize_axes(axis, ndim: int, op: str):
    """``axis`` as a sorted tuple of non-negative ints (None: every axis)."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    result = []
    for a in axes:
        if not -ndim <= a < max(ndim, 1):
            raise IndexError(
                f"{op}: dim {a} is out of range for a tensor with {ndim} dims"
            )
        result.append(a % max(ndim, 1))
    return tuple(sorted(set(result)))


def keepdims_shape(shape: tuple, axes: tuple) -> tuple:
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


class Sum(Function):
    def forward(self, x, axis=None, keepdims=False):
        self.axes = normalize_axes(axis, x.ndim, "sum")
        self.input_shape = tuple(x.shape)
        return x.sum(axis=self.axes, keepdims=keepdims)

    def backward(self, grad):
        xp = array_module(grad)
        grad = grad.reshape(keepdims_shape(self.input_shape, self.axes))
        return (xp.broadcast_to(grad, self.input_shape),)


class Max(Function):
    """Max over axes; tied maxima share the gradient equally."""

    def forward(self, x, axis=None, keepdims=False, smallest=False):
        self.axes = normalize_axes(axis, x.ndim, "min" if smallest else "max")
        if smallest:
            out = x.min(axis=self.axes, keepdims=True)
        else:
            out = x.max(axis=self.axes, keepdims=True)
        self.save_for_backward(x, out)
        return out if keepdims else out.reshape(_drop(out.shape, self.axes))

    def backward(self, grad):
        x, out = self.saved_tensors
        winners = (x == out) * 1
        count = winners.sum(axis=self.axes, keepdims=True)
        grad = grad.reshape(out.shape)
        return (winners * (grad / count),)


def _drop(shape, axes):
    return tuple(n for i, n in enumerate(shape) if i not in axes)
