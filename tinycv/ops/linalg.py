"""Matrix multiplication with PyTorch's broadcasting rules, and its gradient.

For C = A·B the chain rule gives dA = dC·Bᵀ and dB = Aᵀ·dC; batch dimensions
that were broadcast are summed back. The multiplication itself runs on the
kernels in ``tinycv.kernels.matmul`` (numpy's BLAS is not used, so the
kernel family chosen by ``set_backend`` is the one that runs).
"""

from __future__ import annotations

import numpy as np

from tinycv.autograd import Function
from tinycv.ops.elementwise import unbroadcast


def batched_matmul(a, b):
    """``a @ b`` for arrays of ndim >= 2 whose batch dims broadcast."""
    from tinycv.kernels import matmul as kernels

    if a.dtype.kind != "f" or b.dtype.kind != "f":
        return np.matmul(a, b)
    if a.dtype != b.dtype:
        common = np.promote_types(a.dtype, b.dtype)
        a, b = a.astype(common), b.astype(common)
    if a.ndim == 2 and b.ndim == 2:
        return kernels.matmul2d(a, b)

    batch = tuple(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]))
    m, k = a.shape[-2:]
    n = b.shape[-1]
    a3 = _as_batches(a, batch + (m, k))
    b3 = _as_batches(b, batch + (k, n))
    return kernels.bmm(a3, b3).reshape(batch + (m, n))


def _as_batches(x, shape):
    from tinycv.device import array_module

    xp = array_module(x)
    stretched = xp.broadcast_to(x, shape)
    return xp.ascontiguousarray(stretched).reshape((-1,) + tuple(shape[-2:]))


def _swap_last(x):
    axes = list(range(x.ndim))
    axes[-1], axes[-2] = axes[-2], axes[-1]
    return x.transpose(axes)


class MatMul(Function):
    def forward(self, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(
                f"matmul: both operands need at least 1 dim, got shapes "
                f"{tuple(a.shape)} and {tuple(b.shape)}"
            )
        if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
            raise ValueError(
                f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be "
                f"multiplied ({a.shape[-1]} != {b.shape[-2 if b.ndim > 1 else 0]})"
            )
        self.shapes = (tuple(a.shape), tuple(b.shape))
        # A vector is a one-row (left) or one-column (right) matrix, as in numpy.
        a2 = a.reshape((1,) + tuple(a.shape)) if a.ndim == 1 else a
        b2 = b.reshape(tuple(b.shape) + (1,)) if b.ndim == 1 else b
        self.save_for_backward(a2, b2)

        out = batched_matmul(a2, b2)
        if a.ndim == 1:
            out = out.reshape(out.shape[:-2] + out.shape[-1:])
        if b.ndim == 1:
            out = out.reshape(out.shape[:-1])
        return out

    def backward(self, grad):
        a2, b2 = self.saved_tensors
        shape_a, shape_b = self.shapes
        if len(shape_a) == 1:
            grad = grad.reshape(grad.shape[:-1] + (1,) + grad.shape[-1:])
        if len(shape_b) == 1:
            grad = grad.reshape(tuple(grad.shape) + (1,))

        grad_a = grad_b = None
        if self.needs_input_grad[0]:
            grad_a = batched_matmul(grad, _swap_last(b2))
            grad_a = unbroadcast(grad_a, a2.shape).reshape(shape_a)
        if self.needs_input_grad[1]:
            grad_b = batched_matmul(_swap_last(a2), grad)
            grad_b = unbroadcast(grad_b, b2.shape).reshape(shape_b)
        return grad_a, grad_b
