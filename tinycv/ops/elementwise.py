"""Elementwise operations with numpy broadcasting, each with its gradient.

Every op reads the same way: compute, save what the gradient needs, and in
``backward`` apply the chain rule. When an input was broadcast (a bias of
shape (C,) added to a batch of shape (N, C)), its gradient is the sum of the
gradient over the axes it was stretched along: that is ``unbroadcast``.
"""

from __future__ import annotations

from tinycv.autograd import Function
from tinycv.device import array_module


def shape_of(x) -> tuple:
    """The shape of an array, or () for a plain Python number."""
    return tuple(getattr(x, "shape", ()))


def unbroadcast(grad, shape: tuple):
    """Sum ``grad`` down to ``shape``, undoing numpy's broadcasting."""
    if tuple(grad.shape) == tuple(shape):
        return grad
    extra = grad.ndim - len(shape)
    stretched = tuple(
        extra + i
        for i, size in enumerate(shape)
        if size == 1 and grad.shape[extra + i] != 1
    )
    summed = grad.sum(axis=tuple(range(extra)) + stretched, keepdims=True)
    return summed.reshape(shape)


class Add(Function):
    def forward(self, a, b):
        self.shapes = (shape_of(a), shape_of(b))
        return a + b

    def backward(self, grad):
        shape_a, shape_b = self.shapes
        return (
            unbroadcast(grad, shape_a) if self.needs_input_grad[0] else None,
            unbroadcast(grad, shape_b) if self.needs_input_grad[1] else None,
        )


class Sub(Function):
    def forward(self, a, b):
        self.shapes = (shape_of(a), shape_of(b))
        return a - b

    def backward(self, grad):
        shape_a, shape_b = self.shapes
        return (
            unbroadcast(grad, shape_a) if self.needs_input_grad[0] else None,
            unbroadcast(-grad, shape_b) if self.needs_input_grad[1] else None,
        )


class Mul(Function):
    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a * b

    def backward(self, grad):
        a, b = self.saved_tensors
        return (
            unbroadcast(grad * b, shape_of(a)) if self.needs_input_grad[0] else None,
            unbroadcast(grad * a, shape_of(b)) if self.needs_input_grad[1] else None,
        )


class Div(Function):
    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a / b

    def backward(self, grad):
        a, b = self.saved_tensors
        # d(a/b)/da = 1/b,  d(a/b)/db = -a/b²
        grad_a = grad_b = None
        if self.needs_input_grad[0]:
            grad_a = unbroadcast(grad / b, shape_of(a))
        if self.needs_input_grad[1]:
            grad_b = unbroadcast(-grad * a / (b * b), shape_of(b))
        return grad_a, grad_b


class Pow(Function):
    def forward(self, a, b):
        out = a**b
        self.save_for_backward(a, b, out)
        return out

    def backward(self, grad):
        a, b, out = self.saved_tensors
        xp = array_module(grad)
        # d(a^b)/da = b·a^(b-1),  d(a^b)/db = a^b·ln a
        grad_a = grad_b = None
        if self.needs_input_grad[0]:
            grad_a = unbroadcast(grad * b * a ** (b - 1), shape_of(a))
        if self.needs_input_grad[1]:
            grad_b = unbroadcast(grad * out * xp.log(a), shape_of(b))
        return grad_a, grad_b


class Neg(Function):
    def forward(self, x):
        return -x

    def backward(self, grad):
        return (-grad,)


class Exp(Function):
    def forward(self, x):
        out = array_module(x).exp(x)
        self.save_for_backward(out)
        return out

    def backward(self, grad):
        (out,) = self.saved_tensors
        return (grad * out,)


class Log(Function):
    def forward(self, x):
        self.save_for_backward(x)
        return array_module(x).log(x)

    def backward(self, grad):
        (x,) = self.saved_tensors
        return (grad / x,)


class Sqrt(Function):
    def forward(self, x):
        out = array_module(x).sqrt(x)
        self.save_for_backward(out)
        return out

    def backward(self, grad):
        (out,) = self.saved_tensors
        return (grad / (2 * out),)


class Abs(Function):
    def forward(self, x):
        self.save_for_backward(x)
        return array_module(x).abs(x)

    def backward(self, grad):
        (x,) = self.saved_tensors
        # sign(x), with 0 at x = 0 as in PyTorch
        return (grad * ((x > 0) * 1 - (x < 0) * 1),)


class Tanh(Function):
    def forward(self, x):
        out = array_module(x).tanh(x)
        self.save_for_backward(out)
        return out

    def backward(self, grad):
        (out,) = self.saved_tensors
        return (grad * (1 - out * out),)


class Sigmoid(Function):
    def forward(self, x):
        # σ(x) = (1 + tanh(x/2)) / 2 never overflows, unlike 1 / (1 + e^-x).
        out = 0.5 * (1 + array_module(x).tanh(0.5 * x))
        self.save_for_backward(out)
        return out

    def backward(self, grad):
        (out,) = self.saved_tensors
        return (grad * out * (1 - out),)


class ReLU(Function):
    def forward(self, x):
        self.save_for_backward(x)
        return array_module(x).maximum(x, 0)

    def backward(self, grad):
        (x,) = self.saved_tensors
        return (grad * (x > 0),)


class Maximum(Function):
    """Elementwise max; at a tie the gradient is shared equally (as PyTorch)."""

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return array_module(a).maximum(a, b)

    def backward(self, grad):
        a, b = self.saved_tensors
        share_a = (a > b) + 0.5 * (a == b)
        return (
            unbroadcast(grad * share_a, shape_of(a))
            if self.needs_input_grad[0]
            else None,
            unbroadcast(grad * (1 - share_a), shape_of(b))
            if self.needs_input_grad[1]
            else None,
        )


class Clip(Function):
    """Clamp into [low, high]; the gradient passes only where x was inside."""

    def forward(self, x, low=None, high=None):
        self.save_for_backward(x)
        self.low, self.high = low, high
        return array_module(x).clip(x, low, high)

    def backward(self, grad):
        (x,) = self.saved_tensors
        inside = 1
        if self.low is not None:
            inside = inside * (x >= self.low)
        if self.high is not None:
            inside = inside * (x <= self.high)
        return (grad * inside,)


class Where(Function):
    def forward(self, condition, a, b):
        self.condition = condition
        self.shapes = (shape_of(a), shape_of(b))
        return array_module(condition).where(condition, a, b)

    def backward(self, grad):
        xp = array_module(grad)
        shape_a, shape_b = self.shapes
        zero = xp.zeros_like(grad)
        return (
            None,
            unbroadcast(xp.where(self.condition, grad, zero), shape_a)
            if self.needs_input_grad[1]
            else None,
            unbroadcast(xp.where(self.condition, zero, grad), shape_b)
            if self.needs_input_grad[2]
            else None,
        )


class Cast(Function):
    """Change the dtype; the gradient is cast back to the input's dtype."""

    def forward(self, x, dtype=None):
        self.input_dtype = x.dtype
        return x.astype(dtype)

    def backward(self, grad):
        return (grad.astype(self.input_dtype),)
