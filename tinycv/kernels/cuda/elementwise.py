"""Elementwise GPU kernels: one thread per output element, with broadcasting.

Every array here is a flat (1-D) numba device buffer read in row-major
order. A kernel gets, besides the buffers, the output's shape and, for each
input, the strides (counted in elements, not bytes) that say where output
element ``(i0, i1, ...)`` reads that input: ``offset + i0*s0 + i1*s1 + ...``.

numpy broadcasting is then one idea: a dimension of size 1 that is stretched
to the output's size is read with stride 0, so every output position along
it reads the same element. The same strided read also gives transpose
(permuted strides), basic slicing (an offset and scaled strides) and
concatenation (writing through the strides of a block of the output).

Shapes and strides are padded on the left to ``MAX_DIMS`` numbers, so each
kernel compiles once per dtype whatever the number of dimensions. One
kernel serves a whole family of operations, chosen by an integer code
(``ADD``, ``EXP``, ...), because Numba kernels cannot take functions as
arguments without closures.

Device functions (the small helpers kernels call) are declared with
``inline="always"``: Numba pastes them into each kernel, which costs
nothing at run time and lets ``tinycv.cuda.ptx_check`` compile the kernels
without a GPU.
"""

from __future__ import annotations

import math

from numba import cuda

MAX_DIMS = 6
THREADS_PER_BLOCK = 128

# Binary operations; their results have the operands' (common) dtype.
ADD, SUBTRACT, MULTIPLY, DIVIDE, POWER, MAXIMUM, MINIMUM = range(7)

# Comparisons; their results are booleans.
EQUAL, NOT_EQUAL, LESS, LESS_EQUAL, GREATER, GREATER_EQUAL = range(6)

# Unary operations; the input is converted to the result dtype first.
NEGATIVE, EXP, LOG, SQRT, ABS, TANH = range(6)


# ---------------------------------------------------------------- device maths


@cuda.jit(device=True, inline="always")
def binary_op(op, x, y):
    """``x op y`` for one pair of numbers of the same dtype."""
    if op == ADD:
        return x + y
    if op == SUBTRACT:
        return x - y
    if op == MULTIPLY:
        return x * y
    if op == DIVIDE:
        return x / y
    if op == POWER:
        return x**y
    # maximum / minimum propagate NaN, as numpy does (NaN != NaN).
    if op == MAXIMUM:
        return x if (x > y or x != x) else y
    return x if (x < y or x != x) else y


@cuda.jit(device=True, inline="always")
def compare_op(op, x, y):
    """``x op y`` for a comparison: True or False."""
    if op == EQUAL:
        return x == y
    if op == NOT_EQUAL:
        return x != y
    if op == LESS:
        return x < y
    if op == LESS_EQUAL:
        return x <= y
    if op == GREATER:
        return x > y
    return x >= y


@cuda.jit(device=True, inline="always")
def unary_op(op, x):
    """``op(x)`` for one number."""
    if op == NEGATIVE:
        return -x
    if op == EXP:
        return math.exp(x)
    if op == LOG:
        return math.log(x)
    if op == SQRT:
        return math.sqrt(x)
    if op == ABS:
        return abs(x)
    return math.tanh(x)


@cuda.jit(device=True, inline="always")
def strided_offset(flat, shape, strides):
    """Where output element number ``flat`` reads an input with ``strides``.

    Unravels ``flat`` into a row-major index over ``shape``, last dimension
    first, and adds up index times stride.
    """
    offset = 0
    for dim in range(MAX_DIMS - 1, -1, -1):
        index = flat % shape[dim]
        flat //= shape[dim]
        offset += index * strides[dim]
    return offset


# --------------------------------------------------------------------- kernels


@cuda.jit(cache=True)
def fill_kernel(out, value):
    i = cuda.grid(1)
    if i < out.size:
        out[i] = value


@cuda.jit(cache=True)
def cast_kernel(a, out):
    """``out = a`` converted to ``out``'s dtype (numpy's ``astype``)."""
    i = cuda.grid(1)
    if i < out.size:
        out[i] = a[i]


@cuda.jit(cache=True)
def unary_kernel(op, a, out):
    i = cuda.grid(1)
    if i < out.size:
        out[i] = unary_op(op, a[i])


@cuda.jit(cache=True)
def binary_kernel(op, a, a_strides, b, b_strides, out, shape):
    i = cuda.grid(1)
    if i < out.size:
        x = a[strided_offset(i, shape, a_strides)]
        y = b[strided_offset(i, shape, b_strides)]
        out[i] = binary_op(op, x, y)


@cuda.jit(cache=True)
def compare_kernel(op, a, a_strides, b, b_strides, out, shape):
    i = cuda.grid(1)
    if i < out.size:
        x = a[strided_offset(i, shape, a_strides)]
        y = b[strided_offset(i, shape, b_strides)]
        out[i] = compare_op(op, x, y)


@cuda.jit(cache=True)
def where_kernel(cond, cond_strides, a, a_strides, b, b_strides, out, shape):
    i = cuda.grid(1)
    if i < out.size:
        if cond[strided_offset(i, shape, cond_strides)]:
            out[i] = a[strided_offset(i, shape, a_strides)]
        else:
            out[i] = b[strided_offset(i, shape, b_strides)]


@cuda.jit(cache=True)
def copy_kernel(src, src_offset, src_strides, dst, dst_offset, dst_strides, shape):
    """Copy a strided block of ``src`` into a strided block of ``dst``.

    Thread ``i`` moves element ``i`` (row-major over ``shape``) of the block.
    """
    i = cuda.grid(1)
    count = 1
    for dim in range(MAX_DIMS):
        count *= shape[dim]
    if i < count:
        source = src_offset + strided_offset(i, shape, src_strides)
        target = dst_offset + strided_offset(i, shape, dst_strides)
        dst[target] = src[source]


# ------------------------------------------------------- host-side launchers


def blocks_for(count: int, threads: int = THREADS_PER_BLOCK) -> int:
    """How many blocks of ``threads`` cover ``count`` elements."""
    return (count + threads - 1) // threads


def contiguous_strides(shape) -> tuple:
    """Row-major strides, in elements, of a contiguous array of ``shape``."""
    strides = []
    step = 1
    for size in reversed(shape):
        strides.append(step)
        step *= size
    return tuple(reversed(strides))


def broadcast_strides(shape, out_shape) -> tuple:
    """Strides that read a contiguous ``shape`` as if it had ``out_shape``.

    Dimensions missing on the left, or of size 1 where the output is larger,
    get stride 0 (numpy's broadcasting rule).
    """
    missing = len(out_shape) - len(shape)
    strides = [0] * missing
    for size, out_size, stride in zip(
        shape, out_shape[missing:], contiguous_strides(shape), strict=True
    ):
        strides.append(0 if size == 1 and out_size != 1 else stride)
    return tuple(strides)


def _padded(values, fill: int) -> tuple:
    """``values`` with ``fill`` prepended up to ``MAX_DIMS`` numbers."""
    if len(values) > MAX_DIMS:
        raise NotImplementedError(
            f"tinycv.cuda: arrays with more than {MAX_DIMS} dimensions "
            f"(here {len(values)}) are not supported on the GPU yet"
        )
    return (fill,) * (MAX_DIMS - len(values)) + tuple(int(v) for v in values)


def fill(out, value) -> None:
    """Set every element of the device buffer ``out`` to ``value``."""
    if out.size:
        fill_kernel[blocks_for(out.size), THREADS_PER_BLOCK](out, value)


def cast(a, out) -> None:
    """``out = a`` elementwise, converting to ``out``'s dtype."""
    if out.size:
        cast_kernel[blocks_for(out.size), THREADS_PER_BLOCK](a, out)


def unary(op: int, a, out) -> None:
    """``out = op(a)`` elementwise; ``a`` and ``out`` have the same size."""
    if out.size:
        unary_kernel[blocks_for(out.size), THREADS_PER_BLOCK](op, a, out)


def binary(op: int, a, a_shape, b, b_shape, out, out_shape) -> None:
    """``out = a op b`` with ``a`` and ``b`` broadcast to ``out_shape``."""
    if out.size:
        binary_kernel[blocks_for(out.size), THREADS_PER_BLOCK](
            op,
            a,
            _padded(broadcast_strides(a_shape, out_shape), 0),
            b,
            _padded(broadcast_strides(b_shape, out_shape), 0),
            out,
            _padded(out_shape, 1),
        )


def compare(op: int, a, a_shape, b, b_shape, out, out_shape) -> None:
    """``out = a op b`` (booleans) with broadcasting."""
    if out.size:
        compare_kernel[blocks_for(out.size), THREADS_PER_BLOCK](
            op,
            a,
            _padded(broadcast_strides(a_shape, out_shape), 0),
            b,
            _padded(broadcast_strides(b_shape, out_shape), 0),
            out,
            _padded(out_shape, 1),
        )


def where(cond, cond_shape, a, a_shape, b, b_shape, out, out_shape) -> None:
    """``out = a if cond else b`` elementwise, with broadcasting."""
    if out.size:
        where_kernel[blocks_for(out.size), THREADS_PER_BLOCK](
            cond,
            _padded(broadcast_strides(cond_shape, out_shape), 0),
            a,
            _padded(broadcast_strides(a_shape, out_shape), 0),
            b,
            _padded(broadcast_strides(b_shape, out_shape), 0),
            out,
            _padded(out_shape, 1),
        )


def copy_strided(src, src_offset, src_strides, dst, dst_offset, dst_strides, shape):
    """Copy the block ``shape`` of ``src`` into ``dst``, both read by strides."""
    count = math.prod(shape)
    if count:
        copy_kernel[blocks_for(count), THREADS_PER_BLOCK](
            src,
            int(src_offset),
            _padded(src_strides, 0),
            dst,
            int(dst_offset),
            _padded(dst_strides, 0),
            _padded(shape, 1),
        )


def permute(src, shape, axes, out) -> None:
    """``out`` = contiguous copy of ``src`` (of ``shape``) with axes reordered.

    Output dimension ``k`` is input dimension ``axes[k]``, as in
    ``numpy.transpose``: read the input with its strides permuted.
    """
    strides = contiguous_strides(shape)
    out_shape = tuple(shape[axis] for axis in axes)
    copy_strided(
        src,
        0,
        tuple(strides[axis] for axis in axes),
        out,
        0,
        contiguous_strides(out_shape),
        out_shape,
    )
