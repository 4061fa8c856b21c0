"""CudaArray: an n-dimensional array in GPU memory with numpy's manners.

A ``CudaArray`` is a flat numba device buffer plus a shape, always stored
C-contiguous (row-major). It offers the part of numpy's ``ndarray`` that
tinycv's ``Tensor`` uses, so a whole training step runs on the GPU with no
copy back to the host per operation:

* ``shape``, ``dtype``, ``ndim``, ``size``; ``from_host`` / ``to_host``;
* ``+ - * / **``, unary ``-``, comparisons, with numpy's broadcasting and
  dtype rules (python scalars are "weak": ``float32 * 2.0`` stays float32);
* ``reshape`` (free: same buffer), ``transpose`` and basic slicing (copies:
  one kernel each), ``astype``;
* ``sum``, ``max``, ``min``, ``mean``, ``var``, ``argmax`` over any axes.

Every operation launches a kernel from ``tinycv.kernels.cuda`` and returns
at once; the GPU runs kernels in launch order. Only ``to_host``, ``item``
and the like wait for the result.

What is not here raises ``NotImplementedError`` naming what is missing, and
numpy functions refuse a ``CudaArray`` (``np.exp(a)`` is a TypeError): use
``tinycv.cuda.xp.exp(a)``, or ``a.to_host()`` to copy it to numpy.
"""

from __future__ import annotations

import math
import numbers
import operator

import numpy as np
from numba import cuda

from tinycv.kernels.cuda import elementwise, reduce


class NotSupportedOnGPU(NotImplementedError, AttributeError):
    """A numpy feature tinycv.cuda does not offer.

    Also an ``AttributeError``, so ``hasattr(xp, "fft")`` answers False.
    """


def unsupported(what: str) -> NotSupportedOnGPU:
    """The error for a numpy feature that has no GPU version yet."""
    return NotSupportedOnGPU(f"tinycv.cuda: {what} is not supported on the GPU yet")


# name -> (kernel operation code, numpy ufunc whose dtype rules we follow)
BINARY_OPS = {
    "add": (elementwise.ADD, np.add),
    "subtract": (elementwise.SUBTRACT, np.subtract),
    "multiply": (elementwise.MULTIPLY, np.multiply),
    "divide": (elementwise.DIVIDE, np.true_divide),
    "power": (elementwise.POWER, np.power),
    "maximum": (elementwise.MAXIMUM, np.maximum),
    "minimum": (elementwise.MINIMUM, np.minimum),
}
COMPARE_OPS = {
    "equal": elementwise.EQUAL,
    "not_equal": elementwise.NOT_EQUAL,
    "less": elementwise.LESS,
    "less_equal": elementwise.LESS_EQUAL,
    "greater": elementwise.GREATER,
    "greater_equal": elementwise.GREATER_EQUAL,
}
UNARY_OPS = {
    "negative": (elementwise.NEGATIVE, np.negative),
    "exp": (elementwise.EXP, np.exp),
    "log": (elementwise.LOG, np.log),
    "sqrt": (elementwise.SQRT, np.sqrt),
    "abs": (elementwise.ABS, np.abs),
    "tanh": (elementwise.TANH, np.tanh),
}


class CudaArray:
    """An n-d array on the GPU: a flat device ``buffer`` read with ``shape``."""

    # numpy hands binary operators over to us (ndarray + CudaArray calls our
    # __radd__) and refuses its own functions on a CudaArray.
    __array_ufunc__ = None

    def __init__(self, buffer, shape):
        self.buffer = buffer
        self.shape = tuple(int(size) for size in shape)
        if math.prod(self.shape) != buffer.size:
            raise ValueError(
                f"CudaArray: shape {self.shape} does not match a buffer of "
                f"{buffer.size} elements"
            )

    # ------------------------------------------------------------ creation

    @classmethod
    def empty(cls, shape, dtype=np.float64) -> CudaArray:
        """A new array with uninitialised contents."""
        shape = _as_shape(shape)
        return cls(cuda.device_array(math.prod(shape), dtype=np.dtype(dtype)), shape)

    @classmethod
    def full(cls, shape, value, dtype) -> CudaArray:
        """A new array with every element set to ``value``."""
        out = cls.empty(shape, dtype)
        elementwise.fill(out.buffer, np.asarray(value, dtype=out.dtype).item())
        return out

    @classmethod
    def from_host(cls, array) -> CudaArray:
        """Copy a numpy array (or anything ``np.asarray`` takes) to the GPU."""
        host = np.asarray(array, order="C")  # keeps 0-d arrays 0-d
        if host.dtype == object:
            raise TypeError("CudaArray.from_host: cannot copy an object array")
        return cls(cuda.to_device(host.reshape(-1)), host.shape)

    def to_host(self) -> np.ndarray:
        """Copy to a new numpy array (waits for the kernels that write it)."""
        return self.buffer.copy_to_host().reshape(self.shape)

    def device_array(self):
        """The numba device array of ``shape`` on the same memory (for kernels)."""
        return self.buffer.reshape(self.shape)

    # ---------------------------------------------------------- attributes

    @property
    def dtype(self) -> np.dtype:
        return self.buffer.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return self.buffer.size

    @property
    def itemsize(self) -> int:
        return self.dtype.itemsize

    @property
    def nbytes(self) -> int:
        return self.size * self.itemsize

    @property
    def device(self) -> str:
        return "cuda"

    @property
    def T(self) -> CudaArray:
        return self.transpose()

    # --------------------------------------------------------- conversions

    def __array__(self, dtype=None, copy=None):
        raise TypeError(
            "a CudaArray lives on the GPU; call .to_host() to copy it to numpy"
        )

    def __repr__(self) -> str:
        values = np.array2string(self.to_host(), separator=", ")
        return f"CudaArray({values}, dtype={self.dtype})"

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def item(self):
        """The single element as a python number (copies it to the host)."""
        if self.size != 1:
            raise ValueError("can only convert an array of size 1 to a Python scalar")
        return self.to_host().reshape(()).item()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        if self.size != 1:
            raise ValueError(
                "The truth value of an array with more than one element is "
                "ambiguous. Use a.any() or a.all()"
            )
        return bool(self.item())

    def astype(self, dtype, copy: bool = True) -> CudaArray:
        """A copy converted to ``dtype`` (``self`` if equal and not ``copy``)."""
        dtype = np.dtype(dtype)
        if dtype == self.dtype and not copy:
            return self
        out = CudaArray.empty(self.shape, dtype)
        elementwise.cast(self.buffer, out.buffer)
        return out

    def copy(self) -> CudaArray:
        return self.astype(self.dtype, copy=True)

    def fill(self, value) -> None:
        """Set every element to ``value``, in place."""
        elementwise.fill(self.buffer, np.asarray(value, dtype=self.dtype).item())

    # -------------------------------------------------------------- shapes

    def reshape(self, *shape) -> CudaArray:
        """The same buffer read with another shape (one size may be -1)."""
        shape = _resolve_reshape(self.size, shape[0] if len(shape) == 1 else shape)
        return CudaArray(self.buffer, shape)

    def ravel(self) -> CudaArray:
        return self.reshape(-1)

    def flatten(self) -> CudaArray:
        return self.reshape(-1).copy()

    def squeeze(self, axis=None) -> CudaArray:
        if axis is None:
            axes = tuple(dim for dim, size in enumerate(self.shape) if size == 1)
        else:
            axes = normalize_axes(axis, self.ndim)
        for dim in axes:
            if self.shape[dim] != 1:
                raise ValueError(
                    "cannot select an axis to squeeze out which has size not "
                    "equal to one"
                )
        return self.reshape(
            tuple(size for dim, size in enumerate(self.shape) if dim not in axes)
        )

    def transpose(self, *axes) -> CudaArray:
        """Axes reordered as numpy's ``transpose`` (a copy, one kernel)."""
        if len(axes) == 1 and (axes[0] is None or not _is_int(axes[0])):
            axes = axes[0]
        if axes is None or axes == ():
            axes = tuple(reversed(range(self.ndim)))
        axes = tuple(operator.index(axis) for axis in axes)
        if sorted(axis % max(self.ndim, 1) for axis in axes) != list(range(self.ndim)):
            raise ValueError(f"axes {axes} don't match array of {self.ndim} dims")
        if any(not -self.ndim <= axis < self.ndim for axis in axes):
            raise np.exceptions.AxisError(f"axes {axes} out of range")
        axes = tuple(axis % self.ndim for axis in axes)
        if axes == tuple(range(self.ndim)):
            return self
        out = CudaArray.empty(tuple(self.shape[axis] for axis in axes), self.dtype)
        elementwise.permute(self.buffer, self.shape, axes, out.buffer)
        return out

    def __getitem__(self, key) -> CudaArray:
        """Basic indexing (ints, slices, ``...``, ``None``); a copy."""
        offset, strides, shape = _basic_index(self.shape, key)
        out = CudaArray.empty(shape, self.dtype)
        elementwise.copy_strided(
            self.buffer,
            offset,
            strides,
            out.buffer,
            0,
            elementwise.contiguous_strides(shape),
            shape,
        )
        return out

    def __setitem__(self, key, value) -> None:
        """Write ``value`` (broadcast) into the block selected by ``key``."""
        offset, strides, shape = _basic_index(self.shape, key)
        # Copy first, so a source that overlaps the target is read intact.
        source = as_operand(value, self.dtype)
        if source is value:
            source = source.copy()
        while source.ndim > len(shape) and source.shape[0] == 1:
            source = source.reshape(source.shape[1:])
        if source.ndim > len(shape) or np.broadcast_shapes(source.shape, shape) != (
            shape
        ):
            raise ValueError(
                f"could not broadcast input array from shape {source.shape} "
                f"into shape {shape}"
            )
        elementwise.copy_strided(
            source.buffer,
            0,
            elementwise.broadcast_strides(source.shape, shape),
            self.buffer,
            offset,
            strides,
            shape,
        )

    # ---------------------------------------------------------- arithmetic

    def __add__(self, other):
        return binary("add", self, other) if is_operand(other) else NotImplemented

    def __radd__(self, other):
        return binary("add", other, self) if is_operand(other) else NotImplemented

    def __sub__(self, other):
        return binary("subtract", self, other) if is_operand(other) else NotImplemented

    def __rsub__(self, other):
        return binary("subtract", other, self) if is_operand(other) else NotImplemented

    def __mul__(self, other):
        return binary("multiply", self, other) if is_operand(other) else NotImplemented

    def __rmul__(self, other):
        return binary("multiply", other, self) if is_operand(other) else NotImplemented

    def __truediv__(self, other):
        return binary("divide", self, other) if is_operand(other) else NotImplemented

    def __rtruediv__(self, other):
        return binary("divide", other, self) if is_operand(other) else NotImplemented

    def __pow__(self, other):
        return binary("power", self, other) if is_operand(other) else NotImplemented

    def __rpow__(self, other):
        return binary("power", other, self) if is_operand(other) else NotImplemented

    def __neg__(self):
        return unary("negative", self)

    def __pos__(self):
        return self

    def __abs__(self):
        return unary("abs", self)

    def __matmul__(self, other):
        from tinycv.cuda import xp

        return xp.matmul(self, other) if is_operand(other) else NotImplemented

    def __rmatmul__(self, other):
        from tinycv.cuda import xp

        return xp.matmul(other, self) if is_operand(other) else NotImplemented

    # --------------------------------------------------------- comparisons

    def __eq__(self, other):
        return compare("equal", self, other) if is_operand(other) else NotImplemented

    def __ne__(self, other):
        if not is_operand(other):
            return NotImplemented
        return compare("not_equal", self, other)

    def __lt__(self, other):
        return compare("less", self, other) if is_operand(other) else NotImplemented

    def __le__(self, other):
        if not is_operand(other):
            return NotImplemented
        return compare("less_equal", self, other)

    def __gt__(self, other):
        return compare("greater", self, other) if is_operand(other) else NotImplemented

    def __ge__(self, other):
        if not is_operand(other):
            return NotImplemented
        return compare("greater_equal", self, other)

    __hash__ = None

    # ---------------------------------------------------------- reductions

    def sum(self, axis=None, dtype=None, keepdims: bool = False) -> CudaArray:
        """Sum over ``axis`` (None: all); ints and bools sum as int64."""
        if dtype is None:
            dtype = np.add.reduce(np.zeros(1, self.dtype)).dtype
        return self._reduce(reduce.SUM, axis, dtype, keepdims)

    def max(self, axis=None, keepdims: bool = False) -> CudaArray:
        return self._reduce(reduce.MAX, axis, self.dtype, keepdims)

    def min(self, axis=None, keepdims: bool = False) -> CudaArray:
        return self._reduce(reduce.MIN, axis, self.dtype, keepdims)

    def mean(self, axis=None, keepdims: bool = False) -> CudaArray:
        """Mean over ``axis``; integer arrays average as float64."""
        dtype = np.mean(np.zeros(1, self.dtype)).dtype
        count = _count(self.shape, normalize_axes(axis, self.ndim))
        return self.sum(axis, dtype=dtype, keepdims=keepdims) / count

    def var(self, axis=None, ddof: int = 0, keepdims: bool = False) -> CudaArray:
        """Variance: mean squared distance from the mean (``ddof`` as numpy)."""
        centred = self - self.mean(axis, keepdims=True)
        count = _count(self.shape, normalize_axes(axis, self.ndim))
        return (centred * centred).sum(axis, keepdims=keepdims) / (count - ddof)

    def argmax(self, axis=None, keepdims: bool = False) -> CudaArray:
        """Index of the first maximum along ``axis`` (None: of the flat array)."""
        return self._arg_best(axis, keepdims, largest=True)

    def argmin(self, axis=None, keepdims: bool = False) -> CudaArray:
        """Index of the first minimum along ``axis`` (None: of the flat array)."""
        return self._arg_best(axis, keepdims, largest=False)

    def _arg_best(self, axis, keepdims: bool, largest: bool) -> CudaArray:
        if axis is None:
            buffer, _ = reduce.arg_best(self.buffer, (self.size,), 0, largest)
            result = CudaArray(buffer, ())
            return result.reshape((1,) * self.ndim) if keepdims else result
        (axis,) = normalize_axes(axis, self.ndim)
        buffer, kept_shape = reduce.arg_best(self.buffer, self.shape, axis, largest)
        result = CudaArray(buffer, kept_shape)
        if keepdims:
            result = result.reshape(_keepdims_shape(self.shape, (axis,)))
        return result

    def _reduce(self, op: int, axis, dtype, keepdims: bool) -> CudaArray:
        axes = normalize_axes(axis, self.ndim)
        source = self.astype(dtype, copy=False)
        buffer, kept_shape = reduce.reduce(
            op, source.buffer, self.shape, axes, source.dtype
        )
        result = CudaArray(buffer, kept_shape)
        if keepdims:
            result = result.reshape(_keepdims_shape(self.shape, axes))
        return result


# ------------------------------------------------------------ operand rules


def _is_int(value) -> bool:
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(
        value, (bool, np.bool_)
    )


def is_operand(value) -> bool:
    """Whether ``value`` can meet a CudaArray in arithmetic."""
    return isinstance(value, (CudaArray, np.ndarray, numbers.Number, np.generic))


def dtype_probe(value):
    """What numpy's dtype rules should see for ``value``, without its data.

    Arrays are stood in for by an empty array of their dtype; python
    scalars stay themselves, so numpy treats them as weak (NEP 50).
    """
    if isinstance(value, (CudaArray, np.ndarray)):
        return np.empty(0, dtype=value.dtype)
    return value


def as_operand(value, dtype) -> CudaArray:
    """``value`` as a CudaArray of ``dtype``; scalars become 0-d arrays.

    A scalar is written by a one-thread fill kernel, not copied from the
    host; a numpy array is copied to the GPU.
    """
    if isinstance(value, CudaArray):
        return value.astype(dtype, copy=False)
    if isinstance(value, (numbers.Number, np.generic)):
        return CudaArray.full((), value, dtype)
    return CudaArray.from_host(np.asarray(value, dtype=dtype))


def binary(name: str, left, right) -> CudaArray:
    """``left <name> right`` with numpy's broadcasting and dtype rules."""
    op, ufunc = BINARY_OPS[name]
    dtype = ufunc(dtype_probe(left), dtype_probe(right)).dtype
    if dtype == np.bool_:
        # numpy's add / multiply / maximum / minimum of booleans are or / and;
        # compute them on 0/1 integers and compare back to booleans.
        as_int8 = [as_operand(value, np.int8) for value in (left, right)]
        return binary(name, *as_int8) != 0
    a = as_operand(left, dtype)
    b = as_operand(right, dtype)
    out_shape = np.broadcast_shapes(a.shape, b.shape)
    out = CudaArray.empty(out_shape, dtype)
    elementwise.binary(op, a.buffer, a.shape, b.buffer, b.shape, out.buffer, out_shape)
    return out


def compare(name: str, left, right) -> CudaArray:
    """``left <name> right`` elementwise, as a boolean array."""
    dtype = np.result_type(dtype_probe(left), dtype_probe(right))
    a = as_operand(left, dtype)
    b = as_operand(right, dtype)
    out_shape = np.broadcast_shapes(a.shape, b.shape)
    out = CudaArray.empty(out_shape, np.bool_)
    elementwise.compare(
        COMPARE_OPS[name], a.buffer, a.shape, b.buffer, b.shape, out.buffer, out_shape
    )
    return out


def unary(name: str, value: CudaArray) -> CudaArray:
    """``name(value)`` elementwise; integers become float64 for exp, log, ..."""
    op, ufunc = UNARY_OPS[name]
    dtype = ufunc(dtype_probe(value)).dtype
    source = value.astype(dtype, copy=False)
    out = CudaArray.empty(value.shape, dtype)
    elementwise.unary(op, source.buffer, out.buffer)
    return out


# ------------------------------------------------------------ shape helpers


def _as_shape(shape) -> tuple:
    if _is_int(shape):
        return (int(shape),)
    return tuple(operator.index(size) for size in shape)


def _resolve_reshape(size: int, shape) -> tuple:
    """``shape`` with its one ``-1`` filled in, checked against ``size``."""
    shape = list(_as_shape(shape))
    if shape.count(-1) > 1:
        raise ValueError("can only specify one unknown dimension")
    if -1 in shape:
        known = math.prod(s for s in shape if s != -1)
        if known == 0 or size % known:
            raise ValueError(f"cannot reshape array of size {size} into shape {shape}")
        shape[shape.index(-1)] = size // known
    if math.prod(shape) != size:
        raise ValueError(
            f"cannot reshape array of size {size} into shape {tuple(shape)}"
        )
    return tuple(shape)


def normalize_axes(axis, ndim: int) -> tuple:
    """``axis`` (None, an int or a tuple; negatives count from the end) as a
    sorted tuple of distinct non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if _is_int(axis) else tuple(axis)
    normalized = []
    for value in axes:
        index = operator.index(value)
        if not -ndim <= index < ndim:
            raise np.exceptions.AxisError(index, ndim)
        normalized.append(index % ndim)
    if len(set(normalized)) != len(normalized):
        raise ValueError("repeated axis")
    return tuple(sorted(normalized))


def _count(shape: tuple, axes: tuple) -> int:
    return math.prod(shape[axis] for axis in axes)


def _keepdims_shape(shape: tuple, axes: tuple) -> tuple:
    return tuple(1 if dim in axes else size for dim, size in enumerate(shape))


def _basic_index(shape: tuple, key) -> tuple:
    """``(offset, strides, shape)`` of the block that basic indexing selects.

    Supports ints, slices (any step), ``...`` and ``None``; an integer drops
    its dimension, a slice scales its stride, ``None`` adds a dimension of
    size 1 read with stride 0.
    """
    key = key if isinstance(key, tuple) else (key,)
    for item in key:
        if not (item is None or item is Ellipsis or isinstance(item, slice)):
            if not _is_int(item):
                raise unsupported(
                    "indexing with arrays, lists or booleans (advanced indexing)"
                )
    if sum(item is Ellipsis for item in key) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    used = sum(item is not None and item is not Ellipsis for item in key)
    if used > len(shape):
        raise IndexError(
            f"too many indices for array: array is {len(shape)}-dimensional, "
            f"but {used} were indexed"
        )
    rest = (slice(None),) * (len(shape) - used)
    if Ellipsis in key:
        at = next(i for i, item in enumerate(key) if item is Ellipsis)
        key = key[:at] + rest + key[at + 1 :]
    else:
        key = key + rest

    source_strides = elementwise.contiguous_strides(shape)
    offset, strides, out_shape = 0, [], []
    dim = 0
    for item in key:
        if item is None:
            out_shape.append(1)
            strides.append(0)
            continue
        size, stride = shape[dim], source_strides[dim]
        if isinstance(item, slice):
            start, stop, step = item.indices(size)
            length = len(range(start, stop, step))
            offset += start * stride if length else 0
            out_shape.append(length)
            strides.append(step * stride)
        else:
            index = operator.index(item)
            if not -size <= index < size:
                raise IndexError(
                    f"index {index} is out of bounds for axis {dim} with size {size}"
                )
            offset += (index % size) * stride
        dim += 1
    return offset, tuple(strides), tuple(out_shape)
