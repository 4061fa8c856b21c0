"""The matmul kernels: Numba against the reference loops and numpy.

Shapes are drawn by hypothesis, odd sizes included so that the ragged edge
(fewer than 4 rows or columns left for a register tile) is exercised, and
inputs come contiguous, as transposed views and as strided slices, in
float32 and float64. Larger fixed shapes cross the kernel's block and K
slice boundaries. Both Numba paths run every case: the packed parallel
kernel, and the one-call kernel that small products take. Timings are never
asserted here (see tinycv.bench).
"""

import contextlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinycv
from tinycv.kernels import matmul, use_backend

SETTINGS = settings(max_examples=20, deadline=None)
TOLERANCE = {
    np.float32: dict(rtol=1e-4, atol=1e-4),
    np.float64: dict(rtol=1e-9, atol=1e-11),
}


PATHS = pytest.mark.parametrize("path", ["packed", "small"])


@contextlib.contextmanager
def product_path(path):
    """Send every product through one Numba path, whatever its size."""
    original = matmul.SMALL_WORK
    matmul.SMALL_WORK = 0 if path == "packed" else 2**62
    try:
        yield
    finally:
        matmul.SMALL_WORK = original


def _layout(array, kind):
    """The same values as ``array`` in another memory layout."""
    if kind == "transposed":
        return np.ascontiguousarray(array.swapaxes(-1, -2)).swapaxes(-1, -2)
    if kind == "strided":
        wide = np.zeros(array.shape[:-1] + (2 * array.shape[-1],), array.dtype)
        wide[..., ::2] = array
        return wide[..., ::2]
    return array


@st.composite
def operands(draw, max_size=12):
    batch = draw(st.integers(1, 3))
    rows, depth, cols = (draw(st.integers(1, max_size)) for _ in range(3))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    a = rng.standard_normal((batch, rows, depth)).astype(dtype)
    b = rng.standard_normal((batch, depth, cols)).astype(dtype)
    layouts = st.sampled_from(["contiguous", "transposed", "strided"])
    return _layout(a, draw(layouts)), _layout(b, draw(layouts)), dtype


@PATHS
@SETTINGS
@given(operands())
def test_bmm_numba_matches_reference(path, case):
    a, b, dtype = case
    with use_backend("reference"):
        expected = matmul.bmm(a, b)
    with use_backend("numba"), product_path(path):
        result = matmul.bmm(a, b)
    assert result.dtype == dtype and result.shape == expected.shape
    np.testing.assert_allclose(result, expected, **TOLERANCE[dtype])


@SETTINGS
@given(operands(max_size=40))
def test_bmm_numba_matches_numpy(case):
    a, b, dtype = case
    result = matmul.bmm(a, b)
    np.testing.assert_allclose(result, np.matmul(a, b), **TOLERANCE[dtype])


@pytest.mark.parametrize(
    "shape",
    [
        (1, 130, 600, 70),  # several row blocks, three K slices, ragged edges
        (2, 67, 1030, 129),  # K not a multiple of the vector length
        (1, 50, 40, 300),  # several column blocks, the last panel part empty
        (3, 1, 257, 1),  # one row, one column: padding only
    ],
)
@PATHS
def test_bmm_crosses_block_boundaries(path, shape):
    batch, rows, depth, cols = shape
    rng = np.random.default_rng(0)
    a = rng.standard_normal((batch, rows, depth))
    b = rng.standard_normal((batch, depth, cols))
    with product_path(path):
        result = matmul.bmm(a, b)
    np.testing.assert_allclose(result, np.matmul(a, b), rtol=1e-9, atol=1e-10)


def test_matmul2d_transposed_views_as_in_backward():
    rng = np.random.default_rng(1)
    grad = rng.standard_normal((33, 17)).astype(np.float32)
    a = rng.standard_normal((33, 45)).astype(np.float32)
    b = rng.standard_normal((45, 17)).astype(np.float32)
    np.testing.assert_allclose(
        matmul.matmul2d(grad, b.T), grad @ b.T, rtol=1e-4, atol=1e-4
    )
    np.testing.assert_allclose(
        matmul.matmul2d(a.T, grad), a.T @ grad, rtol=1e-4, atol=1e-4
    )


def test_dtypes_and_empty_shapes():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((5, 6))
    b = rng.standard_normal((6, 7))
    mixed = matmul.matmul2d(a.astype(np.float32), b)
    assert mixed.dtype == np.float64
    half = matmul.matmul2d(a.astype(np.float16), b.astype(np.float16))
    assert half.dtype == np.float16
    np.testing.assert_allclose(half, a @ b, rtol=2e-2, atol=5e-2)

    assert np.array_equal(
        matmul.matmul2d(np.ones((3, 0)), np.ones((0, 4))), np.zeros((3, 4))
    )
    assert matmul.bmm(np.ones((2, 0, 3)), np.ones((2, 3, 4))).shape == (2, 0, 4)
    assert matmul.bmm(np.ones((0, 2, 3)), np.ones((0, 3, 4))).shape == (0, 2, 4)


@pytest.mark.parametrize(
    "a_shape, b_shape, message",
    [
        ((2, 3, 4), (2, 5, 6), "bmm: inner dimensions differ, 4 != 5"),
        ((2, 3, 4), (3, 4, 6), "bmm: batch sizes differ, 2 != 3"),
        ((3, 4), (4, 6), "bmm: expects two 3-d arrays"),
    ],
)
def test_bmm_errors_name_the_op_and_shapes(a_shape, b_shape, message):
    with pytest.raises(ValueError) as error:
        matmul.bmm(np.ones(a_shape), np.ones(b_shape))
    text = str(error.value)
    assert text.startswith(message)
    assert str(a_shape) in text and str(b_shape) in text
    assert "\n" not in text


def test_matmul2d_errors():
    with pytest.raises(ValueError, match=r"matmul2d: inner dimensions differ"):
        matmul.matmul2d(np.ones((2, 3)), np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"matmul2d: expects float arrays"):
        matmul.matmul2d(np.ones((2, 3), dtype=np.int64), np.ones((3, 2)))


def test_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    a = rng.standard_normal((4, 37, 29)).astype(np.float32)
    b = rng.standard_normal((4, 29, 41)).astype(np.float32)
    expected = torch.bmm(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    np.testing.assert_allclose(matmul.bmm(a, b), expected, rtol=1e-4, atol=1e-4)


def test_tensor_matmul_gradients():
    rng = np.random.default_rng(4)
    a = tinycv.tensor(rng.standard_normal((2, 5, 7)), requires_grad=True)
    b = tinycv.tensor(rng.standard_normal((7, 3)), requires_grad=True)
    assert a.dtype == np.float64
    assert tinycv.gradcheck(lambda x, y: x @ y, a, b)


def test_reused_packing_workspace_leaves_earlier_results_alone():
    # The packed operands live in a buffer kept between calls; a result must
    # not share it, and a smaller product after a larger one must not read
    # the larger one's leftovers.
    rng = np.random.default_rng(3)
    big = [rng.standard_normal((1, 70, 90)), rng.standard_normal((1, 90, 70))]
    small = [rng.standard_normal((1, 9, 5)), rng.standard_normal((1, 5, 7))]
    first = matmul.bmm_numba(*big)
    second = matmul.bmm_numba(*small)
    np.testing.assert_allclose(first, big[0] @ big[1], rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(second, small[0] @ small[1], rtol=1e-9, atol=1e-11)


def test_products_on_several_python_threads_at_once():
    # Each Python thread packs into its own workspace.
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(4)
    pairs = [
        (rng.standard_normal((2, n, n + 3)), rng.standard_normal((2, n + 3, n)))
        for n in (40, 50, 60, 70, 80, 90)
    ]
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda pair: matmul.bmm_numba(*pair), pairs * 3))
    for (a, b), c in zip(pairs * 3, results):
        np.testing.assert_allclose(c, a @ b, rtol=1e-9, atol=1e-11)
