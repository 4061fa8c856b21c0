"""The matmul kernels against numpy: sizes that do and don't fill the tiles."""

import numpy as np
import pytest

from tinycv.cuda.array import CudaArray
from tinycv.kernels.cuda import matmul


def gpu(array):
    return CudaArray.from_host(np.asarray(array))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 16, 16, 16), (2, 5, 19, 7), (1, 17, 3, 20)])
def test_bmm_tiled_and_simple_match_numpy(rng, dtype, shape):
    batch, rows, inner, cols = shape
    a = rng.standard_normal((batch, rows, inner)).astype(dtype)
    b = rng.standard_normal((batch, inner, cols)).astype(dtype)
    expected = a @ b
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    for product in (matmul.bmm(gpu(a), gpu(b)), matmul.bmm_simple(gpu(a), gpu(b))):
        result = product.to_host()
        assert result.dtype == dtype
        np.testing.assert_allclose(result, expected, rtol=tolerance, atol=tolerance)


def test_matmul2d_and_empty_inner(rng):
    a = rng.standard_normal((3, 5)).astype(np.float32)
    b = rng.standard_normal((5, 2)).astype(np.float32)
    np.testing.assert_allclose(
        matmul.matmul2d(gpu(a), gpu(b)).to_host(), a @ b, rtol=1e-5
    )
    zero = matmul.matmul2d(gpu(np.zeros((2, 0))), gpu(np.zeros((0, 3))))
    np.testing.assert_array_equal(zero.to_host(), np.zeros((2, 3)))


def test_a_numpy_operand_is_copied_to_the_gpu(rng):
    a = rng.standard_normal((1, 3, 4))
    b = rng.standard_normal((1, 4, 2))
    np.testing.assert_allclose(matmul.bmm(gpu(a), b).to_host(), a @ b)


def test_shape_errors_name_the_op():
    with pytest.raises(ValueError, match="bmm"):
        matmul.bmm(gpu(np.zeros((1, 2, 3))), gpu(np.zeros((1, 2, 3))))
    with pytest.raises(ValueError, match="matmul2d"):
        matmul.matmul2d(gpu(np.zeros((2, 3))), gpu(np.zeros((2, 3))))
