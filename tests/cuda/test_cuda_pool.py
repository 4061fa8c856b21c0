"""The pooling kernels against numpy references."""

import cuda_reference
import numpy as np
import pytest

from tinycv.cuda.array import CudaArray
from tinycv.kernels.cuda import pool


def gpu(array):
    return CudaArray.from_host(np.asarray(array))


POOL2D_CASES = [
    # x shape, kernel, stride, padding
    ((2, 2, 6, 6), (2, 2), (2, 2), (0, 0)),
    ((1, 2, 5, 7), (3, 3), (1, 2), (1, 1)),
    ((1, 1, 4, 5), (3, 2), (2, 1), (1, 0)),
]


@pytest.mark.parametrize("case", POOL2D_CASES)
def test_max_pool2d(rng, case):
    x_shape, kernel, stride, padding = case
    x = rng.standard_normal(x_shape).astype(np.float32)
    y, argmax = pool.max_pool2d_forward(gpu(x), kernel, stride, padding)
    expected, expected_argmax = cuda_reference.pool_forward(
        x, kernel, stride, padding, "max"
    )
    np.testing.assert_array_equal(y.to_host(), expected)
    assert argmax.dtype == np.int64
    np.testing.assert_array_equal(argmax.to_host(), expected_argmax)

    g = rng.standard_normal(expected.shape).astype(np.float32)
    grad_x = pool.max_pool2d_backward(gpu(g), argmax, x.shape)
    np.testing.assert_allclose(
        grad_x.to_host(),
        cuda_reference.max_pool_backward(g, expected_argmax, x.shape),
        rtol=1e-6,
    )


def test_max_pool_ties_pick_the_first():
    x = np.array([[[[1.0, 1.0], [1.0, 0.0]]]])
    _, argmax = pool.max_pool2d_forward(gpu(x), (2, 2), (2, 2), (0, 0))
    assert argmax.to_host().ravel().tolist() == [0]


@pytest.mark.parametrize("case", POOL2D_CASES)
def test_avg_pool2d(rng, case):
    x_shape, kernel, stride, padding = case
    x = rng.standard_normal(x_shape)
    y = pool.avg_pool2d_forward(gpu(x), kernel, stride, padding).to_host()
    expected = cuda_reference.pool_forward(x, kernel, stride, padding, "avg")
    np.testing.assert_allclose(y, expected, rtol=1e-12)

    # Average pooling is linear: <pool(x), g> = <x, grad_x>.
    g = rng.standard_normal(y.shape)
    grad_x = pool.avg_pool2d_backward(gpu(g), x.shape, kernel, stride, padding)
    assert np.sum(y * g) == pytest.approx(np.sum(x * grad_x.to_host()), rel=1e-10)


def test_pool3d(rng):
    x = rng.standard_normal((1, 2, 4, 4, 3))
    kernel, stride, padding = (2, 2, 2), (2, 1, 1), (0, 1, 1)
    y, argmax = pool.max_pool3d_forward(gpu(x), kernel, stride, padding)
    expected, expected_argmax = cuda_reference.pool_forward(
        x, kernel, stride, padding, "max"
    )
    np.testing.assert_array_equal(y.to_host(), expected)
    np.testing.assert_array_equal(argmax.to_host(), expected_argmax)
    g = rng.standard_normal(expected.shape)
    grad_x = pool.max_pool3d_backward(gpu(g), argmax, x.shape)
    np.testing.assert_allclose(
        grad_x.to_host(), cuda_reference.max_pool_backward(g, expected_argmax, x.shape)
    )

    y = pool.avg_pool3d_forward(gpu(x), kernel, stride, padding).to_host()
    expected = cuda_reference.pool_forward(x, kernel, stride, padding, "avg")
    np.testing.assert_allclose(y, expected, rtol=1e-12)
    g = rng.standard_normal(y.shape)
    grad_x = pool.avg_pool3d_backward(gpu(g), x.shape, kernel, stride, padding)
    assert np.sum(y * g) == pytest.approx(np.sum(x * grad_x.to_host()), rel=1e-10)
