"""Pooling: the Numba kernels against the reference loops, and the ops' gradients.

Windows are drawn by hypothesis: odd sizes, overlapping windows (stride
smaller than the kernel, as AlexNet's 3x3 every 2 pixels), padding up to
half the kernel, non-contiguous inputs, float32 and float64. PyTorch, when
installed, checks the conventions (output sizes, first-max ties, padding
counted in the mean). Timings are never asserted here (see tinycv.bench).
"""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import tinycv
from tinycv.kernels import pool, use_backend
from tinycv.ops import pool as ops

SETTINGS = settings(max_examples=15, deadline=None)


@st.composite
def pooling(draw, dims=2, max_size=9):
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(dims))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    spatial = tuple(draw(st.integers(1, max_size)) for _ in range(dims))
    assume(all(k <= s + 2 * p for k, s, p in zip(kernel, spatial, padding)))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), *spatial)
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    x = rng.standard_normal(shape).astype(dtype)
    if draw(st.booleans()):
        x = np.round(x)  # many ties: the first maximum must win
    if draw(st.booleans()):
        # NaNs, often several to a window: a NaN wins, the window's last one
        x[rng.random(shape) < draw(st.sampled_from([0.05, 0.3]))] = np.nan
    if draw(st.booleans()):
        x = np.ascontiguousarray(x.swapaxes(-1, -2)).swapaxes(-1, -2)
    return x, kernel, stride, padding


def _both(fn, *args):
    """fn(*args) on the reference loops and on the Numba kernels."""
    with use_backend("reference"):
        expected = fn(*args)
    with use_backend("numba"):
        result = fn(*args)
    return expected, result


def _check_max(forward, backward, case):
    x, kernel, stride, padding = case
    (y_ref, where_ref), (y, where) = _both(forward, x, kernel, stride, padding)
    assert y.dtype == x.dtype and where.dtype == np.int64
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(where, where_ref)

    grad_y = np.random.default_rng(0).standard_normal(y.shape).astype(x.dtype)
    grad_ref, grad = _both(backward, grad_y, where, x.shape)
    np.testing.assert_allclose(grad, grad_ref, rtol=1e-6, atol=1e-6)


def _check_avg(forward, backward, case):
    x, kernel, stride, padding = case
    y_ref, y = _both(forward, x, kernel, stride, padding)
    assert y.dtype == x.dtype
    np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-6)

    grad_y = np.random.default_rng(0).standard_normal(y.shape).astype(x.dtype)
    grad_ref, grad = _both(backward, grad_y, x.shape, kernel, stride, padding)
    np.testing.assert_allclose(grad, grad_ref, rtol=1e-5, atol=1e-6)


@SETTINGS
@given(pooling())
def test_max_pool2d_numba_matches_reference(case):
    _check_max(pool.max_pool2d_forward, pool.max_pool2d_backward, case)


@SETTINGS
@given(pooling())
def test_avg_pool2d_numba_matches_reference(case):
    _check_avg(pool.avg_pool2d_forward, pool.avg_pool2d_backward, case)


@settings(max_examples=10, deadline=None)
@given(pooling(dims=3, max_size=5))
def test_max_pool3d_numba_matches_reference(case):
    _check_max(pool.max_pool3d_forward, pool.max_pool3d_backward, case)


@settings(max_examples=10, deadline=None)
@given(pooling(dims=3, max_size=5))
def test_avg_pool3d_numba_matches_reference(case):
    _check_avg(pool.avg_pool3d_forward, pool.avg_pool3d_backward, case)


@SETTINGS
@given(
    shape=st.tuples(
        st.integers(1, 2), st.integers(1, 3), st.integers(2, 9), st.integers(2, 9)
    ),
    nan_share=st.sampled_from([0.0, 0.05, 0.3]),
    seed=st.integers(0, 2**31 - 1),
)
def test_max_pool2d_2x2_fast_path_matches_reference(shape, nan_share, seed):
    rng = np.random.default_rng(seed)
    x = np.round(rng.standard_normal(shape)).astype(np.float32)  # ties
    x[rng.random(shape) < nan_share] = np.nan
    _check_max(
        pool.max_pool2d_forward, pool.max_pool2d_backward, (x, (2, 2), (2, 2), (0, 0))
    )


def test_empty_batch_or_channels():
    for shape in [(0, 3, 4, 4), (2, 0, 5, 5)]:
        x = np.zeros(shape, dtype=np.float32)
        for window in [((2, 2), (2, 2), (0, 0)), ((3, 3), (2, 2), (1, 1))]:
            y, where = pool.max_pool2d_forward(x, *window)
            assert pool.max_pool2d_backward(y, where, shape).shape == shape
            y = pool.avg_pool2d_forward(x, *window)
            assert pool.avg_pool2d_backward(y, shape, *window).shape == shape


def test_ties_go_to_the_first_maximum_and_overlaps_add_up():
    x = np.ones((1, 1, 5, 5))
    y, where = pool.max_pool2d_forward(x, (3, 3), (2, 2), (0, 0))
    # Each window's first cell (top-left) wins.
    np.testing.assert_array_equal(where[0, 0], [[0, 2], [10, 12]])
    grad = pool.max_pool2d_backward(np.ones_like(y), where, x.shape)
    assert grad.sum() == 4 and grad[0, 0, 0, 0] == 1

    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 5.0  # the centre wins all four overlapping 2x2 windows
    y, where = pool.max_pool2d_forward(x, (2, 2), (1, 1), (0, 0))
    grad = pool.max_pool2d_backward(np.ones_like(y), where, x.shape)
    assert grad[0, 0, 1, 1] == 4


def test_padding_counts_in_the_mean():
    x = np.ones((1, 1, 2, 2))
    y = pool.avg_pool2d_forward(x, (3, 3), (1, 1), (1, 1))
    np.testing.assert_allclose(y[0, 0], np.full((2, 2), 4 / 9))


def test_max_pool_propagates_nan():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    x[0, 0, 0, 1] = np.nan
    (y_ref, where_ref), (y, where) = _both(
        pool.max_pool2d_forward, x, (2, 2), (2, 2), (0, 0)
    )
    assert np.isnan(y[0, 0, 0, 0]) and where[0, 0, 0, 0] == 1
    np.testing.assert_array_equal(where, where_ref)


def test_float16_runs_in_float32():
    x = np.random.default_rng(0).standard_normal((1, 2, 4, 4)).astype(np.float16)
    y, _ = pool.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0))
    assert y.dtype == np.float16
    assert pool.avg_pool2d_forward(x, (2, 2), (2, 2), (0, 0)).dtype == np.float16


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: pool.max_pool2d_forward(np.zeros((2, 3, 4, 4)), 5, 1, 0),
            "max_pool2d: kernel is larger than the padded input "
            "(input (2, 3, 4, 4), kernel_size (5, 5)",
        ),
        (
            lambda: pool.avg_pool2d_forward(np.zeros((2, 3, 8, 8)), 3, 1, 2),
            "avg_pool2d: padding must be at most half the kernel size "
            "(input (2, 3, 8, 8), kernel_size (3, 3), stride (1, 1), padding (2, 2))",
        ),
        (
            lambda: pool.max_pool2d_forward(np.zeros((3, 4, 4)), 2, 2, 0),
            "max_pool2d: expects a 4-d input (N, C, H, W), got shape (3, 4, 4)",
        ),
        (
            lambda: pool.max_pool3d_forward(np.zeros((1, 1, 4, 4)), 2, 2, 0),
            "max_pool3d: expects a 5-d input (N, C, D, H, W), got shape (1, 1, 4, 4)",
        ),
        (
            lambda: pool.max_pool2d_forward(np.zeros((1, 1, 4, 4)), 0, 1, 0),
            "max_pool2d: kernel_size and stride must be positive",
        ),
        (
            lambda: pool.avg_pool2d_backward(
                np.zeros((1, 1, 3, 3)), (1, 1, 4, 4), 2, 2, 0
            ),
            "avg_pool2d: grad_y has shape (1, 1, 3, 3) but the output has shape "
            "(1, 1, 2, 2)",
        ),
        (
            lambda: pool.max_pool2d_forward(np.zeros((1, 1, 4, 4), np.int64), 2, 2, 0),
            "max_pool2d: expects a float array, got int64",
        ),
    ],
)
def test_errors_are_one_line_and_name_the_op(call, message):
    with pytest.raises(ValueError) as error:
        call()
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    "shape, kernel, stride, padding",
    [
        ((2, 3, 13, 13), 3, 2, 0),  # AlexNet's overlapping pooling
        ((2, 3, 9, 7), 3, 2, 1),
        ((1, 2, 8, 8), 2, 2, 0),
        ((1, 1, 5, 6), (2, 3), (1, 2), (1, 1)),
    ],
)
def test_matches_torch_2d(shape, kernel, stride, padding):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = np.random.default_rng(0).standard_normal(shape)
    x[..., :2, :2] = 1.0  # a tie
    xt = torch.from_numpy(x).requires_grad_()
    y_t, where_t = F.max_pool2d(xt, kernel, stride, padding, return_indices=True)
    y, where = pool.max_pool2d_forward(x, kernel, stride, padding)
    np.testing.assert_array_equal(y, y_t.detach().numpy())
    np.testing.assert_array_equal(where, where_t.numpy())

    grad_y = np.random.default_rng(1).standard_normal(y.shape)
    y_t.backward(torch.from_numpy(grad_y))
    grad = pool.max_pool2d_backward(grad_y, where, shape)
    np.testing.assert_allclose(grad, xt.grad.numpy(), rtol=1e-12)

    xt = torch.from_numpy(x).requires_grad_()
    avg_t = F.avg_pool2d(xt, kernel, stride, padding)
    avg_t.backward(torch.from_numpy(grad_y))
    np.testing.assert_allclose(
        pool.avg_pool2d_forward(x, kernel, stride, padding), avg_t.detach().numpy()
    )
    np.testing.assert_allclose(
        pool.avg_pool2d_backward(grad_y, shape, kernel, stride, padding),
        xt.grad.numpy(),
    )


def test_matches_torch_3d():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = np.random.default_rng(2).standard_normal((2, 2, 5, 6, 7))
    y_t, where_t = F.max_pool3d(
        torch.from_numpy(x), 3, (2, 1, 2), 1, return_indices=True
    )
    y, where = pool.max_pool3d_forward(x, 3, (2, 1, 2), 1)
    np.testing.assert_array_equal(y, y_t.numpy())
    np.testing.assert_array_equal(where, where_t.numpy())
    np.testing.assert_allclose(
        pool.avg_pool3d_forward(x, 3, (2, 1, 2), 1),
        F.avg_pool3d(torch.from_numpy(x), 3, (2, 1, 2), 1).numpy(),
    )


# --------------------------------------------------------------------------
# The differentiable ops
# --------------------------------------------------------------------------


def _leaf(shape, seed=0):
    values = np.random.default_rng(seed).standard_normal(shape)
    return tinycv.tensor(values, dtype=tinycv.float64, requires_grad=True)


@pytest.mark.parametrize(
    "op",
    [
        lambda x: ops.max_pool2d(x, 3, 2, 1),
        lambda x: ops.max_pool2d(x, 2),
        lambda x: ops.avg_pool2d(x, 3, 2, 1),
        lambda x: ops.avg_pool2d(x, (2, 3), stride=(1, 2)),
        lambda x: ops.adaptive_avg_pool2d(x, 1),
        lambda x: ops.adaptive_avg_pool2d(x, (3, 4)),
        lambda x: ops.adaptive_avg_pool2d(x, (4, 3)),
        lambda x: ops.adaptive_avg_pool2d(x, (None, 2)),
        ops.global_avg_pool2d,
    ],
)
def test_gradients_2d(op):
    assert tinycv.gradcheck(op, _leaf((1, 2, 7, 8)))


@pytest.mark.parametrize(
    "op",
    [
        lambda x: ops.max_pool3d(x, 2, (1, 2, 1), 1),
        lambda x: ops.avg_pool3d(x, 3, 2, 1),
    ],
)
def test_gradients_3d(op):
    assert tinycv.gradcheck(op, _leaf((1, 1, 5, 6, 4)))


def test_unbatched_input_and_default_stride():
    x = tinycv.tensor(np.arange(32.0).reshape(2, 4, 4))
    y = ops.max_pool2d(x, 2)
    assert y.shape == (2, 2, 2)
    np.testing.assert_array_equal(y.numpy()[0], [[5, 7], [13, 15]])


def test_adaptive_avg_pool2d_matches_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(3).standard_normal((2, 3, 7, 9))
    for size in (1, 2, (3, 4), (5, 3), (7, None), (None, 4)):
        expected = torch.nn.functional.adaptive_avg_pool2d(torch.from_numpy(x), size)
        result = ops.adaptive_avg_pool2d(tinycv.tensor(x), size)
        np.testing.assert_allclose(result.numpy(), expected.numpy(), rtol=1e-12)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda x: ops.max_pool2d(x, 2, dilation=2), "max_pool2d: dilation=2 is not"),
        (lambda x: ops.max_pool2d(x, 2, ceil_mode=True), "max_pool2d: ceil_mode=True"),
        (
            lambda x: ops.avg_pool2d(x, 2, count_include_pad=False),
            "avg_pool2d: count_include_pad=False is not supported",
        ),
        (lambda x: ops.adaptive_avg_pool2d(x, 0), "adaptive_avg_pool2d: output_size"),
        (lambda x: ops.max_pool3d(x[0], 2), "max_pool3d: expects a 5-d input"),
    ],
)
def test_op_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call(_leaf((1, 2, 4, 4)))
