"""numpy's names over GPU arrays: ``xp`` is to ``CudaArray`` what numpy is to
``ndarray``.

tinycv's ops ask ``tinycv.device.array_module(array)`` for a module and call
``xp.exp(x)``, ``xp.zeros(shape, dtype)``, ``xp.matmul(a, b)``: numpy on the
CPU, this module on the GPU, the same code either way. Each function
follows numpy's signature and dtype rules for the arguments it accepts; a
numpy function that is missing here raises ``NotImplementedError`` naming
it.

This module defines ``sum``, ``max``, ``min`` and ``abs`` as numpy does, so
inside it the Python built-ins are spelled ``builtins.sum`` and so on.
"""

from __future__ import annotations

import builtins

import numpy as np

from tinycv.cuda.array import (
    CudaArray,
    binary,
    compare,
    dtype_probe,
    normalize_axes,
    unary,
    unsupported,
)
from tinycv.kernels.cuda import elementwise

ndarray = CudaArray
newaxis = None
float32, float64 = np.float32, np.float64
int8, int32, int64 = np.int8, np.int32, np.int64
uint8, bool_ = np.uint8, np.bool_
pi, e, inf, nan = np.pi, np.e, np.inf, np.nan
dtype = np.dtype
result_type = np.result_type
broadcast_shapes = np.broadcast_shapes


def __getattr__(name: str):
    if name.startswith("__"):
        raise AttributeError(name)
    raise unsupported(f"numpy.{name}")


# ------------------------------------------------------------------ creation


def asarray(obj, dtype=None) -> CudaArray:
    """``obj`` as a CudaArray: no copy for one already of ``dtype``;
    numpy arrays, lists and scalars are copied to the GPU."""
    if isinstance(obj, CudaArray):
        return obj if dtype is None else obj.astype(dtype, copy=False)
    return CudaArray.from_host(np.asarray(obj, dtype=dtype))


def ascontiguousarray(obj, dtype=None) -> CudaArray:
    """A CudaArray is always contiguous: this is ``asarray``."""
    return asarray(obj, dtype)


def array(obj, dtype=None, copy: bool = True) -> CudaArray:
    result = asarray(obj, dtype)
    return result.copy() if copy and result is obj else result


def empty(shape, dtype=np.float64) -> CudaArray:
    return CudaArray.empty(shape, dtype)


def full(shape, fill_value, dtype=None) -> CudaArray:
    if dtype is None:
        dtype = np.asarray(fill_value).dtype
    return CudaArray.full(shape, fill_value, dtype)


def zeros(shape, dtype=np.float64) -> CudaArray:
    return CudaArray.full(shape, 0, dtype)


def ones(shape, dtype=np.float64) -> CudaArray:
    return CudaArray.full(shape, 1, dtype)


def empty_like(a, dtype=None) -> CudaArray:
    return CudaArray.empty(a.shape, dtype or a.dtype)


def full_like(a, fill_value, dtype=None) -> CudaArray:
    return CudaArray.full(a.shape, fill_value, dtype or a.dtype)


def zeros_like(a, dtype=None) -> CudaArray:
    return full_like(a, 0, dtype)


def ones_like(a, dtype=None) -> CudaArray:
    return full_like(a, 1, dtype)


# --------------------------------------------------------------- elementwise


def exp(x) -> CudaArray:
    return unary("exp", asarray(x))


def log(x) -> CudaArray:
    return unary("log", asarray(x))


def sqrt(x) -> CudaArray:
    return unary("sqrt", asarray(x))


def abs(x) -> CudaArray:
    return unary("abs", asarray(x))


absolute = abs


def tanh(x) -> CudaArray:
    return unary("tanh", asarray(x))


def negative(x) -> CudaArray:
    return unary("negative", asarray(x))


def add(a, b) -> CudaArray:
    return binary("add", a, b)


def subtract(a, b) -> CudaArray:
    return binary("subtract", a, b)


def multiply(a, b) -> CudaArray:
    return binary("multiply", a, b)


def divide(a, b) -> CudaArray:
    return binary("divide", a, b)


true_divide = divide


def power(a, b) -> CudaArray:
    return binary("power", a, b)


def square(x) -> CudaArray:
    return binary("multiply", x, x)


def maximum(a, b) -> CudaArray:
    return binary("maximum", a, b)


def minimum(a, b) -> CudaArray:
    return binary("minimum", a, b)


def equal(a, b) -> CudaArray:
    return compare("equal", a, b)


def not_equal(a, b) -> CudaArray:
    return compare("not_equal", a, b)


def less(a, b) -> CudaArray:
    return compare("less", a, b)


def less_equal(a, b) -> CudaArray:
    return compare("less_equal", a, b)


def greater(a, b) -> CudaArray:
    return compare("greater", a, b)


def greater_equal(a, b) -> CudaArray:
    return compare("greater_equal", a, b)


def clip(a, a_min, a_max) -> CudaArray:
    """``minimum(maximum(a, a_min), a_max)``; either bound may be None."""
    result = asarray(a)
    if a_min is not None:
        result = maximum(result, a_min)
    if a_max is not None:
        result = minimum(result, a_max)
    return result


def where(condition, x=None, y=None) -> CudaArray:
    """``x`` where ``condition`` holds, else ``y``, broadcast together."""
    if x is None or y is None:
        raise unsupported("where(condition) without x and y (nonzero)")
    result_dtype = np.result_type(dtype_probe(x), dtype_probe(y))
    condition = _as_array(condition, None)
    a = _as_array(x, result_dtype)
    b = _as_array(y, result_dtype)
    out_shape = np.broadcast_shapes(condition.shape, a.shape, b.shape)
    out = CudaArray.empty(out_shape, result_dtype)
    elementwise.where(
        condition.buffer,
        condition.shape,
        a.buffer,
        a.shape,
        b.buffer,
        b.shape,
        out.buffer,
        out_shape,
    )
    return out


def _as_array(value, dtype) -> CudaArray:
    """Like ``asarray``, but a scalar is filled on the GPU, not copied."""
    if isinstance(value, (CudaArray, np.ndarray, list, tuple)):
        return asarray(value, dtype)
    return CudaArray.full((), value, dtype or np.asarray(value).dtype)


# ------------------------------------------------------------------- shapes


def reshape(a, shape) -> CudaArray:
    return asarray(a).reshape(shape)


def transpose(a, axes=None) -> CudaArray:
    return asarray(a).transpose(axes)


def swapaxes(a, axis1: int, axis2: int) -> CudaArray:
    a = asarray(a)
    axes = list(range(a.ndim))
    axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
    return a.transpose(axes)


def expand_dims(a, axis) -> CudaArray:
    a = asarray(a)
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    shape = list(a.shape)
    for position in sorted(normalize_axes(axes, a.ndim + len(axes))):
        shape.insert(position, 1)
    return a.reshape(tuple(shape))


def squeeze(a, axis=None) -> CudaArray:
    return asarray(a).squeeze(axis)


def broadcast_to(a, shape) -> CudaArray:
    """``a`` stretched to ``shape`` by numpy's rules.

    numpy returns a read-only view; this returns a contiguous copy (one
    kernel), or ``a`` itself when it already has ``shape``.
    """
    a = asarray(a)
    shape = (int(shape),) if np.ndim(shape) == 0 else tuple(int(s) for s in shape)
    if a.shape == shape:
        return a
    if len(a.shape) > len(shape) or np.broadcast_shapes(a.shape, shape) != shape:
        raise ValueError(
            f"operands could not be broadcast together with remapped shapes "
            f"[original->remapped]: {a.shape} and requested shape {shape}"
        )
    out = CudaArray.empty(shape, a.dtype)
    elementwise.copy_strided(
        a.buffer,
        0,
        elementwise.broadcast_strides(a.shape, shape),
        out.buffer,
        0,
        elementwise.contiguous_strides(shape),
        shape,
    )
    return out


def concatenate(arrays, axis: int = 0) -> CudaArray:
    """Join arrays along an existing axis: one strided copy per input."""
    arrays = [asarray(a) for a in arrays]
    if not arrays:
        raise ValueError("need at least one array to concatenate")
    ndim = arrays[0].ndim
    if ndim == 0:
        raise ValueError("zero-dimensional arrays cannot be concatenated")
    (axis,) = normalize_axes(axis, ndim)
    for a in arrays:
        other_dims = a.shape[:axis] + a.shape[axis + 1 :]
        first_dims = arrays[0].shape[:axis] + arrays[0].shape[axis + 1 :]
        if a.ndim != ndim or other_dims != first_dims:
            raise ValueError(
                "all the input array dimensions except for the concatenation "
                f"axis must match exactly, got {arrays[0].shape} and {a.shape}"
            )
    result_dtype = np.result_type(*(a.dtype for a in arrays))
    out_shape = list(arrays[0].shape)
    out_shape[axis] = builtins.sum(a.shape[axis] for a in arrays)
    out = CudaArray.empty(tuple(out_shape), result_dtype)

    out_strides = elementwise.contiguous_strides(out.shape)
    start = 0
    for a in arrays:
        a = a.astype(result_dtype, copy=False)
        elementwise.copy_strided(
            a.buffer,
            0,
            elementwise.contiguous_strides(a.shape),
            out.buffer,
            start * out_strides[axis],
            out_strides,
            a.shape,
        )
        start += a.shape[axis]
    return out


def stack(arrays, axis: int = 0) -> CudaArray:
    """Join same-shaped arrays along a new axis."""
    arrays = [asarray(a) for a in arrays]
    if not arrays:
        raise ValueError("need at least one array to stack")
    if any(a.shape != arrays[0].shape for a in arrays):
        raise ValueError("all input arrays must have the same shape")
    return concatenate([expand_dims(a, axis) for a in arrays], axis=axis)


# ------------------------------------------------------------------- linear


def matmul(a, b) -> CudaArray:
    """numpy's ``matmul``: batch dims broadcast, 1-D operands promoted."""
    from tinycv.kernels.cuda.matmul import bmm

    a, b = asarray(a), asarray(b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError("matmul: Input operand does not have enough dimensions")
    left = a.reshape(1, -1) if a.ndim == 1 else a
    right = b.reshape(-1, 1) if b.ndim == 1 else b
    rows, inner = left.shape[-2:]
    if right.shape[-2] != inner:
        raise ValueError(
            f"matmul: mismatch in its core dimension: {a.shape} @ {b.shape}"
        )
    cols = right.shape[-1]
    batch = np.broadcast_shapes(left.shape[:-2], right.shape[:-2])
    left = broadcast_to(left, batch + (rows, inner)).reshape(-1, rows, inner)
    right = broadcast_to(right, batch + (inner, cols)).reshape(-1, inner, cols)

    out_shape = batch + (rows, cols)
    out = bmm(left, right).reshape(out_shape)
    if a.ndim == 1:
        out = out.reshape(out_shape[:-2] + out_shape[-1:])
    if b.ndim == 1:
        out = out.reshape(out.shape[:-1])
    return out


dot = matmul


# --------------------------------------------------------------- reductions


def sum(a, axis=None, dtype=None, keepdims: bool = False) -> CudaArray:
    return asarray(a).sum(axis=axis, dtype=dtype, keepdims=keepdims)


def max(a, axis=None, keepdims: bool = False) -> CudaArray:
    return asarray(a).max(axis=axis, keepdims=keepdims)


def min(a, axis=None, keepdims: bool = False) -> CudaArray:
    return asarray(a).min(axis=axis, keepdims=keepdims)


amax, amin = max, min


def mean(a, axis=None, keepdims: bool = False) -> CudaArray:
    return asarray(a).mean(axis=axis, keepdims=keepdims)


def var(a, axis=None, ddof: int = 0, keepdims: bool = False) -> CudaArray:
    return asarray(a).var(axis=axis, ddof=ddof, keepdims=keepdims)


def argmax(a, axis=None, keepdims: bool = False) -> CudaArray:
    return asarray(a).argmax(axis=axis, keepdims=keepdims)


def argmin(a, axis=None, keepdims: bool = False) -> CudaArray:
    return asarray(a).argmin(axis=axis, keepdims=keepdims)
