"""The SIMD vector type of tinycv.kernels._simd, on float32 and float64."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

import tinycv.kernels  # noqa: F401  (chooses Numba's CPU features first)
from tinycv.kernels._simd import (
    REGISTER_BYTES,
    vfma,
    vlanes,
    vload,
    vmuladd,
    vstore,
    vtranspose,
)


@njit(cache=True)
def axpy_one_vector(scale, x, y, start):
    """y[start : start + lanes] += scale * x[start : start + lanes]."""
    vstore(y, start, vfma(vload(y, start), scale, vload(x, start)))
    return vlanes(y)


@njit(cache=True)
def sum_of_scaled_vectors(x, y):
    """Lane l of the result: sum over vector starts s of x[s] * y[s + l]."""
    lanes = vlanes(x)
    out = np.zeros(lanes, dtype=x.dtype)
    acc = vload(out, 0)
    for start in range(0, x.size, lanes):
        acc = vfma(acc, x[start], vload(y, start))
    vstore(out, 0, acc)
    return out


def test_lanes_fill_one_register():
    assert REGISTER_BYTES in (16, 32, 64)
    for dtype in (np.float32, np.float64):
        x = np.zeros(64, dtype)
        assert axpy_one_vector(1.0, x, x.copy(), 0) * x.itemsize == REGISTER_BYTES


@settings(max_examples=25, deadline=None)
@given(
    dtype=st.sampled_from([np.float32, np.float64]),
    start=st.integers(0, 20),
    scale=st.floats(-4, 4),
    seed=st.integers(0, 2**16),
)
def test_vector_multiply_add_matches_numpy_at_any_offset(dtype, start, scale, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(40).astype(dtype)
    y = rng.standard_normal(40).astype(dtype)
    expected = y.copy()
    lanes = REGISTER_BYTES // x.itemsize
    expected[start : start + lanes] += dtype(scale) * x[start : start + lanes]

    assert axpy_one_vector(scale, x, y, start) == lanes
    # Only the vector's lanes change; unaligned starts included. (A fused
    # multiply-add rounds once, numpy twice: hence the tolerance.)
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-6)


def test_vectors_carried_through_a_loop():
    # The running sum stays a vector across loop iterations: lane l sums
    # x[start] * y[start + l] over the vector starts.
    x = np.arange(1.0, 33.0)
    y = np.linspace(0.5, 2.0, 32)
    lanes = REGISTER_BYTES // 8
    expected = sum(x[s] * y[s : s + lanes] for s in range(0, 32, lanes))
    np.testing.assert_allclose(sum_of_scaled_vectors(x, y), expected)


@njit(cache=True)
def transpose_block(src, src_start, src_step, dst, dst_start, dst_step):
    vtranspose(src, src_start, src_step, dst, dst_start, dst_step)


@settings(max_examples=25, deadline=None)
@given(
    dtype=st.sampled_from([np.float32, np.float64]),
    src_start=st.integers(0, 5),
    src_gap=st.integers(0, 3),
    dst_start=st.integers(0, 5),
    dst_gap=st.integers(0, 3),
    seed=st.integers(0, 2**16),
)
def test_transpose_moves_every_number_across_the_diagonal(
    dtype, src_start, src_gap, dst_start, dst_gap, seed
):
    # Rows of the block lanes + gap apart, at unaligned starts; nothing
    # outside the transposed block changes.
    lanes = REGISTER_BYTES // np.dtype(dtype).itemsize
    src_step, dst_step = lanes + src_gap, lanes + dst_gap
    rng = np.random.default_rng(seed)
    src = rng.standard_normal(src_start + lanes * src_step).astype(dtype)
    dst = rng.standard_normal(dst_start + lanes * dst_step).astype(dtype)
    expected = dst.copy()
    block = src[src_start:].reshape(lanes, src_step)[:, :lanes]
    expected[dst_start:].reshape(lanes, dst_step)[:, :lanes] = block.T

    transpose_block(src, src_start, src_step, dst, dst_start, dst_step)
    np.testing.assert_array_equal(dst, expected)


def test_transpose_in_place():
    lanes = REGISTER_BYTES // 4
    square = np.arange(lanes * lanes, dtype=np.float32)
    transpose_block(square, 0, lanes, square, 0, lanes)
    expected = np.arange(lanes * lanes, dtype=np.float32).reshape(lanes, lanes).T
    np.testing.assert_array_equal(square.reshape(lanes, lanes), expected)


@njit(cache=True)
def multiply_add_vectors(acc, u, v, start):
    """acc[start : start + lanes] += u[...] * v[...], one vector each."""
    total = vmuladd(vload(acc, start), vload(u, start), vload(v, start))
    vstore(acc, start, total)


@settings(max_examples=25, deadline=None)
@given(
    dtype=st.sampled_from([np.float32, np.float64]),
    start=st.integers(0, 20),
    seed=st.integers(0, 2**16),
)
def test_vector_times_vector_multiply_add(dtype, start, seed):
    rng = np.random.default_rng(seed)
    acc, u, v = (rng.standard_normal(40).astype(dtype) for _ in range(3))
    lanes = REGISTER_BYTES // acc.itemsize
    expected = acc.copy()
    expected[start : start + lanes] += (
        u[start : start + lanes] * v[start : start + lanes]
    )
    multiply_add_vectors(acc, u, v, start)
    np.testing.assert_allclose(acc, expected, rtol=1e-6, atol=1e-6)
