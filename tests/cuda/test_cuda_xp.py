"""tinycv.cuda.xp against numpy, function by function."""

import numpy as np
import pytest

from tinycv.cuda import xp
from tinycv.cuda.array import CudaArray


def gpu(array):
    return CudaArray.from_host(np.asarray(array))


def check(result, expected, rtol=1e-6):
    assert isinstance(result, CudaArray)
    expected = np.asarray(expected)
    host = result.to_host()
    assert host.shape == expected.shape and host.dtype == expected.dtype
    np.testing.assert_allclose(host, expected, rtol=rtol, atol=1e-6)


def test_creation():
    check(xp.zeros((2, 3), dtype=np.float32), np.zeros((2, 3), dtype=np.float32))
    check(xp.ones(4), np.ones(4))
    check(xp.full((2,), 7, dtype=np.int64), np.full((2,), 7, dtype=np.int64))
    check(xp.full((2, 2), 1.5), np.full((2, 2), 1.5))
    like = gpu(np.zeros((3, 1), np.float32))
    check(xp.zeros_like(like), np.zeros((3, 1), np.float32))
    check(xp.ones_like(like, dtype=np.float64), np.ones((3, 1)))
    assert xp.empty((2, 5), dtype=np.float32).shape == (2, 5)
    check(xp.asarray([[1, 2], [3, 4]], dtype=np.float32), np.float32([[1, 2], [3, 4]]))
    a = gpu(np.arange(3.0))
    assert xp.asarray(a) is a and xp.ascontiguousarray(a) is a
    check(xp.array(a), np.arange(3.0))


def test_where_and_clip(rng):
    host = rng.standard_normal((3, 4)).astype(np.float32)
    a = gpu(host)
    check(xp.where(a > 0, a, 0.0), np.where(host > 0, host, 0.0))
    check(xp.where(a > 0, 1.0, a[0]), np.where(host > 0, 1.0, host[0]))
    check(xp.clip(a, -0.5, 0.5), np.clip(host, -0.5, 0.5))
    check(xp.clip(a, None, 0.0), np.clip(host, None, 0.0))


def test_broadcast_to_expand_dims_squeeze(rng):
    host = rng.standard_normal((3, 1))
    check(xp.broadcast_to(gpu(host), (2, 3, 4)), np.broadcast_to(host, (2, 3, 4)))
    with pytest.raises(ValueError):
        xp.broadcast_to(gpu(host), (2, 2))
    check(xp.expand_dims(gpu(host), 0), np.expand_dims(host, 0))
    check(xp.expand_dims(gpu(host), (0, -1)), np.expand_dims(host, (0, -1)))
    check(xp.squeeze(gpu(host), 1), np.squeeze(host, 1))
    check(xp.swapaxes(gpu(host), 0, 1), np.swapaxes(host, 0, 1))


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concatenate_and_stack(rng, axis):
    parts = [rng.standard_normal((2, 3)), rng.standard_normal((2, 3))]
    if axis != 1:
        parts.append(rng.standard_normal((2, 3)))
    gpus = [gpu(p) for p in parts]
    check(xp.concatenate(gpus, axis=axis), np.concatenate(parts, axis=axis))
    check(xp.stack(gpus, axis=axis), np.stack(parts, axis=axis))


def test_concatenate_uneven_and_mixed_dtypes(rng):
    a = rng.standard_normal((2, 1)).astype(np.float32)
    b = rng.standard_normal((2, 3))
    check(xp.concatenate([gpu(a), gpu(b)], axis=1), np.concatenate([a, b], axis=1))
    with pytest.raises(ValueError):
        xp.concatenate([gpu(a), gpu(b)], axis=0)


@pytest.mark.parametrize(
    "left, right",
    [
        ((3, 4), (4, 5)),
        ((2, 3, 4), (4, 2)),
        ((4,), (4, 3)),
        ((3, 4), (4,)),
        ((2, 1, 2, 3), (3, 3, 2)),
    ],
)
def test_matmul_shapes(rng, left, right):
    a = rng.standard_normal(left).astype(np.float32)
    b = rng.standard_normal(right).astype(np.float32)
    check(xp.matmul(gpu(a), gpu(b)), np.matmul(a, b), rtol=1e-5)
    check(gpu(a) @ gpu(b), a @ b, rtol=1e-5)


def test_reduction_functions(rng):
    host = rng.standard_normal((2, 3, 4))
    a = gpu(host)
    check(xp.sum(a, axis=(0, 2)), np.sum(host, axis=(0, 2)))
    check(xp.max(a, axis=1, keepdims=True), np.max(host, axis=1, keepdims=True))
    check(xp.min(a), np.min(host))
    check(xp.mean(a, axis=-1), np.mean(host, axis=-1))
    check(xp.argmax(a, axis=2), np.argmax(host, axis=2))
