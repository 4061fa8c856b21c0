"""Operations that move numbers around without changing them.

Reshape, permute, broadcast, index, concatenate: the forward rearranges the
array, and the backward puts each gradient back where its number came from.
"""

from __future__ import annotations

import numpy as np

from tinycv.autograd import Function
from tinycv.device import array_module
from tinycv.ops.elementwise import unbroadcast


class Reshape(Function):
    def forward(self, x, shape=()):
        self.input_shape = tuple(x.shape)
        return x.reshape(shape)

    def backward(self, grad):
        return (grad.reshape(self.input_shape),)


class Permute(Function):
    def forward(self, x, dims=()):
        self.dims = dims
        return x.transpose(dims)

    def backward(self, grad):
        inverse = tuple(int(i) for i in np.argsort(self.dims))
        return (grad.transpose(inverse),)


class Expand(Function):
    """Broadcast to a larger shape; the gradient sums back (``unbroadcast``)."""

    def forward(self, x, shape=()):
        self.input_shape = tuple(x.shape)
        return array_module(x).broadcast_to(x, shape)

    def backward(self, grad):
        return (unbroadcast(grad, self.input_shape),)


def _is_basic(index) -> bool:
    """True for indices made of ints, slices, None and ... only (no arrays)."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(
        isinstance(p, (int, np.integer, slice)) or p is None or p is Ellipsis
        for p in parts
    )


class GetItem(Function):
    def forward(self, x, index=None):
        self.input_shape = tuple(x.shape)
        self.dtype = x.dtype
        self.index = index
        return x[index]

    def backward(self, grad):
        xp = array_module(grad)
        full = xp.zeros(self.input_shape, dtype=grad.dtype)
        if _is_basic(self.index):
            full[self.index] = grad
        else:
            # An index array may pick one element several times: add, not set.
            np.add.at(full, self.index, grad)
        return (full,)


class Concatenate(Function):
    def forward(self, *arrays, axis=0):
        self.axis = axis
        self.sizes = [a.shape[axis] for a in arrays]
        return array_module(arrays[0]).concatenate(arrays, axis=axis)

    def backward(self, grad):
        grads = []
        start = 0
        for size, needed in zip(self.sizes, self.needs_input_grad):
            index = [slice(None)] * grad.ndim
            index[self.axis] = slice(start, start + size)
            grads.append(grad[tuple(index)] if needed else None)
            start += size
        return tuple(grads)


class ToDevice(Function):
    """Move to another device; the gradient moves back."""

    def forward(self, x, device="cpu"):
        from tinycv.device import device_of, to_device

        self.source = device_of(x)
        return to_device(x, device)

    def backward(self, grad):
        from tinycv.device import to_device

        return (to_device(grad, self.source),)
