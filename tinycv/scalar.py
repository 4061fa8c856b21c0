"""Scalar: automatic differentiation on one number at a time.

Every operation does the same three things, in the same order:

1. compute the value of the result;
2. write down the local derivative of the result with respect to each input
   (the factor the chain rule multiplies by on the way back);
3. link the result to its inputs, each with its local derivative.

Backpropagation then only multiplies: dLoss/dInput += local * dLoss/dResult.
The walk itself lives in ``tinycv.autograd`` and is the same one Tensors use.
Small enough to print every node of the graph, which the early lessons do.
"""

from __future__ import annotations

import math

from tinycv import autograd


class Scalar:
    """A number that remembers how it was computed.

    >>> a, b = Scalar(2.0), Scalar(-3.0)
    >>> c = a * b + a
    >>> c.backward()
    >>> a.grad, b.grad
    (-2.0, 2.0)
    """

    # The inputs (at most two) and the local derivatives with respect to them
    # sit in plain slots rather than tuples: one object per node instead of
    # three keeps the work of Python's garbage collector small.
    __slots__ = (
        "data",
        "grad",
        "requires_grad",
        "label",
        "op",
        "_a",
        "_b",
        "_da",
        "_db",
        "_created",
    )

    # Every Scalar keeps its gradient after backward(), not just the leaves, so
    # a lesson can print dLoss/dNode for every node of the graph.
    _retains_grad = True

    def __init__(self, data, label: str = "", requires_grad: bool = True):
        self.data = float(data)
        self.grad = 0.0
        self.requires_grad = requires_grad
        self.label = label
        self.op = ""
        self._a = self._b = None
        self._da = self._db = 0.0
        self._created = next(autograd.creation_counter)

    @staticmethod
    def _result(value: float, op: str, a, da: float, b=None, db: float = 0.0):
        """A new node: its value, and each input with d(value)/d(input)."""
        out = Scalar.__new__(Scalar)
        out.data = value
        out.grad = 0.0
        out.requires_grad = True
        out.label = ""
        out._created = next(autograd.creation_counter)
        if autograd._grad_enabled:
            out.op, out._a, out._da, out._b, out._db = op, a, da, b, db
        else:
            out.op, out._a, out._da, out._b, out._db = "", None, 0.0, None, 0.0
        return out

    # ---- arithmetic -------------------------------------------------------

    def __add__(self, other):
        other = _as_scalar(other)
        value = self.data + other.data

        return Scalar._result(value, "+", self, 1.0, other, 1.0)

    def __mul__(self, other):
        other = _as_scalar(other)
        value = self.data * other.data

        return Scalar._result(value, "*", self, other.data, other, self.data)

    def __pow__(self, exponent):
        if not isinstance(exponent, (int, float)):
            raise TypeError(
                f"Scalar ** {type(exponent).__name__}: the exponent must be a "
                "plain int or float"
            )
        value = self.data**exponent
        local = exponent * self.data ** (exponent - 1) if exponent != 0 else 0.0

        return Scalar._result(value, f"**{exponent}", self, local)

    def __neg__(self):
        return Scalar._result(-self.data, "neg", self, -1.0)

    def __sub__(self, other):
        other = _as_scalar(other)
        value = self.data - other.data

        return Scalar._result(value, "-", self, 1.0, other, -1.0)

    def __truediv__(self, other):
        other = _as_scalar(other)
        if other.data == 0:
            raise ZeroDivisionError("Scalar division by zero")
        value = self.data / other.data

        # d(a/b)/da = 1/b,  d(a/b)/db = -a/b²
        return Scalar._result(
            value, "/", self, 1.0 / other.data, other, -value / other.data
        )

    def __radd__(self, other):
        return self + other

    def __rmul__(self, other):
        return self * other

    def __rsub__(self, other):
        return _as_scalar(other) - self

    def __rtruediv__(self, other):
        return _as_scalar(other) / self

    # ---- elementary functions ---------------------------------------------

    def exp(self):
        value = math.exp(self.data)

        return Scalar._result(value, "exp", self, value)

    def log(self):
        if self.data <= 0:
            raise ValueError(f"Scalar.log: the input must be positive, got {self.data}")
        value = math.log(self.data)

        return Scalar._result(value, "log", self, 1.0 / self.data)

    def tanh(self):
        value = math.tanh(self.data)

        return Scalar._result(value, "tanh", self, 1.0 - value * value)

    def sigmoid(self):
        value = _sigmoid(self.data)

        return Scalar._result(value, "sigmoid", self, value * (1.0 - value))

    def relu(self):
        value = self.data if self.data > 0 else 0.0

        return Scalar._result(value, "relu", self, 1.0 if self.data > 0 else 0.0)

    # ---- backpropagation --------------------------------------------------

    def backward(self, gradient: float = 1.0, retain_graph: bool = False) -> None:
        """Fill ``.grad`` of every node this Scalar was computed from."""
        autograd.backward(self, float(gradient), retain_graph=retain_graph)

    def zero_grad(self) -> None:
        self.grad = 0.0

    @property
    def _parents(self) -> tuple:
        if self._a is None:
            return ()
        return (self._a,) if self._b is None else (self._a, self._b)

    def _chain(self, grad: float):
        # The chain rule: dLoss/dInput = d(self)/d(input) * dLoss/d(self)
        return (self._da * grad, self._db * grad)

    def _accumulate_grad(self, grad: float) -> None:
        self.grad += grad

    def _release(self) -> None:
        self._a = self._b = None

    @property
    def is_leaf(self) -> bool:
        return self._a is None

    def item(self) -> float:
        return self.data

    def __float__(self) -> float:
        return self.data

    def __repr__(self) -> str:
        name = f"{self.label}=" if self.label else ""
        return f"Scalar({name}{self.data:.6g}, grad={self.grad:.6g})"


def _as_scalar(x) -> Scalar:
    if isinstance(x, Scalar):
        return x
    if isinstance(x, (int, float)):
        return Scalar(x, requires_grad=False)
    raise TypeError(
        f"Scalar op: cannot combine a Scalar with {type(x).__name__}; "
        "use a number or a Scalar"
    )


def _sigmoid(x: float) -> float:
    # Written two ways so exp never overflows for large |x|.
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)
