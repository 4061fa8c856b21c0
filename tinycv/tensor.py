"""Tensor: an n-dimensional array that remembers how it was computed.

A Tensor wraps a raw array (numpy on the CPU, a ``CudaArray`` on the GPU)
and, when it needs a gradient, the ``Function`` that produced it and that
function's inputs. The methods below are thin: each one calls a Function
from ``tinycv.ops``, where the forward and the backward of the operation
are written next to each other. Names and signatures follow PyTorch.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from tinycv import autograd
from tinycv import random as tc_random
from tinycv.device import array_module, check_device, device_of
from tinycv.ops import elementwise as ew
from tinycv.ops import linalg, reduce, shape

float32 = np.dtype("float32")
float64 = np.dtype("float64")
int64 = np.dtype("int64")
int32 = np.dtype("int32")
uint8 = np.dtype("uint8")
bool_ = np.dtype("bool")

_default_dtype = float32

MaxResult = namedtuple("MaxResult", ["values", "indices"])


class Tensor:
    """An array with an optional gradient, on the CPU or the GPU.

    Build one with ``tinycv.tensor(data)`` or a factory (``zeros``,
    ``randn``, ...). ``requires_grad=True`` makes operations on it record a
    graph, and ``backward()`` fills ``.grad`` of the leaves.
    """

    __array_priority__ = 1000  # numpy_array * tensor -> Tensor.__rmul__

    def __init__(self, data, requires_grad: bool = False):
        if isinstance(data, Tensor):
            data = data.data
        if not _is_raw_array(data):
            data = _as_array(data, None)
        self.data = data
        self.grad = None
        self._grad_fn = None
        self._parents = ()
        self._retains_grad = False
        self._created = next(autograd.creation_counter)
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, data, grad_fn=None, parents=()):
        """A Tensor around an op's result (used by ``Function.apply``)."""
        out = Tensor.__new__(Tensor)
        out.data = data
        out.grad = None
        out._grad_fn = grad_fn
        out._parents = parents
        out._retains_grad = False
        out._created = next(autograd.creation_counter)
        out.requires_grad = grad_fn is not None
        return out

    # ---- what it is -------------------------------------------------------

    @property
    def shape(self) -> tuple:
        return tuple(self.data.shape)

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def device(self) -> str:
        return device_of(self.data)

    @property
    def grad_fn(self):
        return self._grad_fn

    @property
    def is_leaf(self) -> bool:
        return self._grad_fn is None

    def size(self, dim: int | None = None):
        return self.shape if dim is None else self.shape[dim]

    def dim(self) -> int:
        return self.ndim

    def numel(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    # ---- gradients --------------------------------------------------------

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and self.dtype.kind != "f":
            raise TypeError(
                f"requires_grad: only floating-point tensors can require "
                f"gradients (this one is {self.dtype})"
            )
        self.requires_grad = requires_grad
        return self

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this non-leaf tensor after ``backward()``."""
        self._retains_grad = True

    def backward(self, gradient=None, retain_graph: bool = False) -> None:
        """Compute d(self)/d(leaf) for every leaf and add it to ``leaf.grad``.

        ``gradient`` is dLoss/dSelf; it may be left out only when self holds
        one number (a loss), where it is 1.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward: this tensor does not require grad and has no "
                "grad_fn (was it made inside no_grad(), or from tensors "
                "without requires_grad=True?)"
            )
        if gradient is None:
            if self.numel() != 1:
                raise RuntimeError(
                    f"backward: a gradient can be implied only for a tensor "
                    f"with one element; this one has shape {self.shape} — "
                    "pass gradient= of the same shape"
                )
            seed = array_module(self.data).ones_like(self.data)
        else:
            seed = gradient.data if isinstance(gradient, Tensor) else gradient
            seed = _as_array(seed, self.dtype)
            if tuple(seed.shape) != self.shape:
                raise ValueError(
                    f"backward: gradient has shape {tuple(seed.shape)} but the "
                    f"tensor has shape {self.shape}"
                )
        autograd.backward(self, seed, retain_graph=retain_graph)

    def _chain(self, grad):
        grads = self._grad_fn.backward(grad)
        return grads if isinstance(grads, tuple) else (grads,)

    def _accumulate_grad(self, grad) -> None:
        # Copy: a gradient array may be shared with another tensor, or be a
        # read-only broadcast view, and optimisers update .grad in place.
        if isinstance(grad, np.ndarray):
            grad = np.array(grad, dtype=self.dtype)
        else:
            grad = grad.astype(self.dtype)
        if self.grad is None:
            self.grad = Tensor._wrap(grad)
        else:
            self.grad = Tensor._wrap(self.grad.data + grad)

    def _release(self) -> None:
        self._grad_fn = None
        self._parents = ()

    def detach(self) -> Tensor:
        """The same numbers, cut from the graph."""
        return Tensor._wrap(self.data)

    def zero_(self) -> Tensor:
        self.data[...] = 0
        return self

    # ---- conversions ------------------------------------------------------

    def numpy(self) -> np.ndarray:
        if self.device != "cpu":
            raise TypeError("numpy(): this tensor is on the GPU; call .cpu() first")
        return self.data

    def item(self) -> float | int:
        if self.numel() != 1:
            raise ValueError(
                f"item(): only a one-element tensor converts to a number; "
                f"this one has shape {self.shape}"
            )
        host = self.data if self.device == "cpu" else self.data.to_host()
        return host.reshape(()).item()

    def tolist(self):
        return self.cpu().data.tolist()

    def __array__(self, dtype=None, copy=None):
        host = self.cpu().data
        return host if dtype is None else host.astype(dtype)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        return bool(self.item())

    def to(self, target) -> Tensor:
        """``to("cuda")``, ``to("cpu")`` or ``to(tinycv.float64)``."""
        if isinstance(target, str):
            target = check_device(target)
            if target == self.device:
                return self
            return shape.ToDevice.apply(self, device=target)
        return self.type(target)

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self) -> Tensor:
        return self.to("cuda")

    def type(self, dtype) -> Tensor:
        dtype = np.dtype(dtype)
        if dtype == self.dtype:
            return self
        if dtype.kind == "f" and self.dtype.kind == "f":
            return ew.Cast.apply(self, dtype=dtype)
        return Tensor._wrap(self.data.astype(dtype))

    def float(self) -> Tensor:
        return self.type(float32)

    def double(self) -> Tensor:
        return self.type(float64)

    def long(self) -> Tensor:
        return self.type(int64)

    def int(self) -> Tensor:
        return self.type(int32)

    def bool(self) -> Tensor:
        return self.type(bool_)

    def clone(self) -> Tensor:
        return shape.Reshape.apply(self, shape=self.shape) * 1

    def contiguous(self) -> Tensor:
        return self

    # ---- arithmetic -------------------------------------------------------

    def __add__(self, other):
        return ew.Add.apply(self, _operand(other, self))

    def __radd__(self, other):
        return ew.Add.apply(_operand(other, self), self)

    def __sub__(self, other):
        return ew.Sub.apply(self, _operand(other, self))

    def __rsub__(self, other):
        return ew.Sub.apply(_operand(other, self), self)

    def __mul__(self, other):
        return ew.Mul.apply(self, _operand(other, self))

    def __rmul__(self, other):
        return ew.Mul.apply(_operand(other, self), self)

    def __truediv__(self, other):
        return ew.Div.apply(self, _operand(other, self))

    def __rtruediv__(self, other):
        return ew.Div.apply(_operand(other, self), self)

    def __pow__(self, exponent):
        return ew.Pow.apply(self, _operand(exponent, self))

    def __rpow__(self, base):
        return ew.Pow.apply(_operand(base, self), self)

    def __neg__(self):
        return ew.Neg.apply(self)

    def __matmul__(self, other):
        return self.matmul(other)

    def __rmatmul__(self, other):
        return _as_tensor(other, self).matmul(self)

    def matmul(self, other) -> Tensor:
        return linalg.MatMul.apply(self, _as_tensor(other, self))

    def pow(self, exponent) -> Tensor:
        return self**exponent

    def exp(self) -> Tensor:
        return ew.Exp.apply(self)

    def log(self) -> Tensor:
        return ew.Log.apply(self)

    def sqrt(self) -> Tensor:
        return ew.Sqrt.apply(self)

    def abs(self) -> Tensor:
        return ew.Abs.apply(self)

    def tanh(self) -> Tensor:
        return ew.Tanh.apply(self)

    def sigmoid(self) -> Tensor:
        return ew.Sigmoid.apply(self)

    def relu(self) -> Tensor:
        return ew.ReLU.apply(self)

    def maximum(self, other) -> Tensor:
        return ew.Maximum.apply(self, _as_tensor(other, self))

    def minimum(self, other) -> Tensor:
        return -ew.Maximum.apply(-self, -_as_tensor(other, self))

    def clip(self, min=None, max=None) -> Tensor:  # noqa: A002 (PyTorch's names)
        return ew.Clip.apply(self, low=min, high=max)

    clamp = clip

    # ---- comparisons: no gradient ------------------------------------------

    def _compare(self, other, op) -> Tensor:
        other = other.data if isinstance(other, Tensor) else other
        return Tensor._wrap(op(self.data, other))

    def __lt__(self, other):
        return self._compare(other, lambda a, b: a < b)

    def __le__(self, other):
        return self._compare(other, lambda a, b: a <= b)

    def __gt__(self, other):
        return self._compare(other, lambda a, b: a > b)

    def __ge__(self, other):
        return self._compare(other, lambda a, b: a >= b)

    def __eq__(self, other):
        return self._compare(other, lambda a, b: a == b)

    def __ne__(self, other):
        return self._compare(other, lambda a, b: a != b)

    __hash__ = object.__hash__

    # ---- reductions -------------------------------------------------------

    def sum(self, dim=None, keepdim: bool = False) -> Tensor:
        return reduce.Sum.apply(self, axis=dim, keepdims=keepdim)

    def mean(self, dim=None, keepdim: bool = False) -> Tensor:
        axes = reduce.normalize_axes(dim, self.ndim, "mean")
        count = int(np.prod([self.shape[a] for a in axes], dtype=np.int64))
        return self.sum(dim=axes, keepdim=keepdim) / max(count, 1)

    def var(
        self,
        dim=None,
        unbiased: bool = True,
        keepdim: bool = False,
        *,
        correction: int | None = None,
    ) -> Tensor:
        """Variance; ``correction=1`` (unbiased) by default, as in PyTorch."""
        if correction is None:
            correction = 1 if unbiased else 0
        axes = reduce.normalize_axes(dim, self.ndim, "var")
        count = int(np.prod([self.shape[a] for a in axes], dtype=np.int64))
        centred = self - self.mean(dim=axes, keepdim=True)
        return (centred * centred).sum(dim=axes, keepdim=keepdim) / max(
            count - correction, 1
        )

    def std(self, dim=None, unbiased: bool = True, keepdim: bool = False) -> Tensor:
        return self.var(dim=dim, unbiased=unbiased, keepdim=keepdim).sqrt()

    def amax(self, dim=None, keepdim: bool = False) -> Tensor:
        return reduce.Max.apply(self, axis=dim, keepdims=keepdim)

    def amin(self, dim=None, keepdim: bool = False) -> Tensor:
        return reduce.Max.apply(self, axis=dim, keepdims=keepdim, smallest=True)

    def max(self, dim: int | None = None, keepdim: bool = False):
        """The largest value; with ``dim``, (values, indices) as in PyTorch."""
        if dim is None:
            return self.amax()
        return MaxResult(self.amax(dim, keepdim), self.argmax(dim, keepdim))

    def min(self, dim: int | None = None, keepdim: bool = False):
        if dim is None:
            return self.amin()
        return MaxResult(self.amin(dim, keepdim), self.argmin(dim, keepdim))

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        return _arg_reduce(self, dim, keepdim, "argmax")

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        return _arg_reduce(self, dim, keepdim, "argmin")

    # ---- shape ------------------------------------------------------------

    def reshape(self, *shape_) -> Tensor:
        target = _resolve_shape(_sizes(shape_), self.numel(), self.shape)
        return shape.Reshape.apply(self, shape=target)

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        if self.ndim == 0:
            return self.reshape(1)
        start, end = start_dim % self.ndim, end_dim % self.ndim
        middle = int(np.prod(self.shape[start : end + 1], dtype=np.int64))
        return self.reshape(self.shape[:start] + (middle,) + self.shape[end + 1 :])

    def squeeze(self, dim: int | None = None) -> Tensor:
        if dim is None:
            return self.reshape(tuple(n for n in self.shape if n != 1))
        dim = dim % max(self.ndim, 1)
        if self.ndim == 0 or self.shape[dim] != 1:
            return self
        return self.reshape(self.shape[:dim] + self.shape[dim + 1 :])

    def unsqueeze(self, dim: int) -> Tensor:
        dim = dim % (self.ndim + 1)
        return self.reshape(self.shape[:dim] + (1,) + self.shape[dim:])

    def permute(self, *dims) -> Tensor:
        dims = tuple(d % self.ndim for d in _sizes(dims))
        if sorted(dims) != list(range(self.ndim)):
            raise ValueError(
                f"permute: {dims} is not a permutation of the {self.ndim} dims "
                f"of a tensor of shape {self.shape}"
            )
        return shape.Permute.apply(self, dims=dims)

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        dims = list(range(self.ndim))
        dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
        return self.permute(dims)

    @property
    def T(self) -> Tensor:
        return self.permute(tuple(reversed(range(self.ndim))))

    def expand(self, *sizes) -> Tensor:
        sizes = _sizes(sizes)
        lead = len(sizes) - self.ndim
        target = tuple(
            self.shape[i - lead] if n == -1 else n for i, n in enumerate(sizes)
        )
        return shape.Expand.apply(self, shape=target)

    def __getitem__(self, index) -> Tensor:
        return shape.GetItem.apply(self, index=_raw_index(index))

    def __setitem__(self, index, value) -> None:
        if self.requires_grad and autograd.is_grad_enabled():
            raise RuntimeError(
                "setitem: cannot write into a tensor that requires grad; do it "
                "inside tinycv.no_grad() or on .detach()"
            )
        self.data[_raw_index(index)] = (
            value.data if isinstance(value, Tensor) else value
        )

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    # ---- display ----------------------------------------------------------

    def __repr__(self) -> str:
        host = self.cpu().data if self.device == "cpu" else self.data.to_host()
        body = np.array2string(
            host,
            separator=", ",
            precision=4,
            threshold=50,
            edgeitems=3,
            prefix="tensor(",
        )
        extras = []
        if self.dtype != _default_dtype and self.dtype.kind == "f":
            extras.append(f"dtype={self.dtype}")
        if self.device != "cpu":
            extras.append(f"device='{self.device}'")
        if self._grad_fn is not None:
            extras.append(f"grad_fn={self._grad_fn!r}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body] + extras) + ")"

    def __rich__(self):
        from tinycv.viz import tensor_panel

        return tensor_panel(self)


# ---- helpers the methods share --------------------------------------------


def _is_raw_array(x) -> bool:
    return isinstance(x, np.ndarray) or type(x).__name__ == "CudaArray"


def _as_array(data, dtype):
    """numpy array from a list/number, with PyTorch's default dtypes."""
    if _is_raw_array(data):
        return data if dtype is None else data.astype(dtype, copy=False)
    array = np.asarray(data)
    if dtype is not None:
        return array.astype(dtype)
    if array.dtype.kind == "f":
        return array.astype(_default_dtype)
    if array.dtype.kind in "iu":
        return array.astype(int64)
    if array.dtype.kind == "b":
        return array
    raise TypeError(f"tensor: cannot make a tensor from {type(data).__name__}")


def _operand(x, like: Tensor):
    """Tensors pass through; Python numbers stay weak (keep like's dtype)."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (int, float, bool, np.number)):
        return x
    return _as_tensor(x, like)


def _as_tensor(x, like: Tensor) -> Tensor:
    if isinstance(x, Tensor):
        return x
    dtype = like.dtype if not isinstance(x, np.ndarray) else None
    array = _as_array(x, dtype)
    if like.device != "cpu":
        from tinycv.device import to_device

        array = to_device(array, like.device)
    return Tensor._wrap(array)


def _raw_index(index):
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return index


def _sizes(args) -> tuple:
    """Accept both ``f(2, 3)`` and ``f((2, 3))``, as PyTorch does."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(int(n) for n in args[0])
    return tuple(int(n) for n in args)


def _resolve_shape(target: tuple, numel: int, current: tuple) -> tuple:
    if target.count(-1) > 1:
        raise ValueError(f"reshape: only one -1 allowed in {target}")
    known = int(np.prod([n for n in target if n != -1], dtype=np.int64))
    if -1 in target:
        if known == 0 or numel % known:
            raise ValueError(f"reshape: cannot reshape {current} into {target}")
        target = tuple(numel // known if n == -1 else n for n in target)
    elif known != numel:
        raise ValueError(
            f"reshape: cannot reshape a tensor of shape {current} ({numel} "
            f"elements) into {target} ({known} elements)"
        )
    return target


def _arg_reduce(t: Tensor, dim, keepdim: bool, name: str) -> Tensor:
    xp = array_module(t.data)
    if dim is None:
        return Tensor._wrap(xp.asarray(getattr(t.data, name)()).astype(int64))
    out = getattr(t.data, name)(axis=dim)
    if keepdim:
        out = xp.expand_dims(out, dim)
    return Tensor._wrap(out.astype(int64))


# ---- factories ------------------------------------------------------------


def tensor(data, dtype=None, requires_grad: bool = False, device: str = "cpu"):
    """A new tensor holding a copy of ``data`` (list, number or array)."""
    if isinstance(data, Tensor):
        data = data.detach().cpu().data
    array = _as_array(data, None if dtype is None else np.dtype(dtype))
    array = np.array(array, copy=True) if isinstance(array, np.ndarray) else array
    out = Tensor(array, requires_grad=requires_grad)
    return (
        out
        if device == "cpu"
        else out.to(device).detach().requires_grad_(requires_grad)
    )


def _factory(array, dtype, requires_grad, device) -> Tensor:
    if dtype is not None:
        array = array.astype(np.dtype(dtype))
    return tensor(array, requires_grad=requires_grad, device=device)


def zeros(*size, dtype=None, requires_grad=False, device="cpu") -> Tensor:
    array = np.zeros(_sizes(size), dtype=_default_dtype)
    return _factory(array, dtype, requires_grad, device)


def ones(*size, dtype=None, requires_grad=False, device="cpu") -> Tensor:
    array = np.ones(_sizes(size), dtype=_default_dtype)
    return _factory(array, dtype, requires_grad, device)


def full(size, fill_value, dtype=None, requires_grad=False, device="cpu") -> Tensor:
    array = np.full(_sizes((size,)), fill_value, dtype=_default_dtype)
    return _factory(array, dtype, requires_grad, device)


def zeros_like(t: Tensor, dtype=None, requires_grad=False) -> Tensor:
    return zeros(
        t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad, device=t.device
    )


def ones_like(t: Tensor, dtype=None, requires_grad=False) -> Tensor:
    return ones(
        t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad, device=t.device
    )


def randn(*size, dtype=None, requires_grad=False, device="cpu") -> Tensor:
    """Standard normal samples from tinycv's seeded generator."""
    array = tc_random.generator().standard_normal(_sizes(size))
    return _factory(array.astype(_default_dtype), dtype, requires_grad, device)


def rand(*size, dtype=None, requires_grad=False, device="cpu") -> Tensor:
    """Uniform samples in [0, 1) from tinycv's seeded generator."""
    array = tc_random.generator().random(_sizes(size))
    return _factory(array.astype(_default_dtype), dtype, requires_grad, device)


def randint(low: int, high: int, size, dtype=None, device="cpu") -> Tensor:
    array = tc_random.generator().integers(low, high, size=_sizes((size,)))
    return _factory(array.astype(int64), dtype, False, device)


def arange(start, end=None, step=1, dtype=None, requires_grad=False, device="cpu"):
    if end is None:
        start, end = 0, start
    array = np.arange(start, end, step)
    array = _as_array(array.tolist() if array.dtype.kind == "f" else array, None)
    return _factory(array, dtype, requires_grad, device)


def eye(n: int, m: int | None = None, dtype=None, requires_grad=False, device="cpu"):
    array = np.eye(n, m, dtype=_default_dtype)
    return _factory(array, dtype, requires_grad, device)


def cat(tensors, dim: int = 0) -> Tensor:
    """Join tensors along an existing dim (``torch.cat``)."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    first = tensors[0]
    dim = dim % max(first.ndim, 1)
    for i, t in enumerate(tensors):
        if t.ndim != first.ndim or any(
            a != b for k, (a, b) in enumerate(zip(t.shape, first.shape)) if k != dim
        ):
            raise ValueError(
                f"cat: tensor {i} has shape {t.shape}, which does not match "
                f"{first.shape} outside dim {dim}"
            )
    return shape.Concatenate.apply(*tensors, axis=dim)


def stack(tensors, dim: int = 0) -> Tensor:
    """Join same-shaped tensors along a new dim (``torch.stack``)."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    for i, t in enumerate(tensors):
        if t.shape != tensors[0].shape:
            raise ValueError(
                f"stack: tensor {i} has shape {t.shape} but tensor 0 has "
                f"{tensors[0].shape}"
            )
    return cat([t.unsqueeze(dim) for t in tensors], dim=dim)


def where(condition, input, other) -> Tensor:  # noqa: A002 (PyTorch's name)
    condition = condition.data if isinstance(condition, Tensor) else condition
    like = input if isinstance(input, Tensor) else other
    return ew.Where.apply(condition, _operand(input, like), _operand(other, like))


def maximum(a: Tensor, b) -> Tensor:
    return a.maximum(b)


def minimum(a: Tensor, b) -> Tensor:
    return a.minimum(b)
