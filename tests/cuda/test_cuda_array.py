"""CudaArray against numpy: every operation on tiny arrays."""

import operator

import numpy as np
import pytest

from tinycv.cuda import is_available, is_cuda_array, synchronize
from tinycv.cuda.array import CudaArray, NotSupportedOnGPU


def gpu(array):
    return CudaArray.from_host(np.asarray(array))


def check(result, expected, rtol=1e-6):
    assert isinstance(result, CudaArray)
    host = result.to_host()
    expected = np.asarray(expected)
    assert host.shape == expected.shape
    assert host.dtype == expected.dtype, (host.dtype, expected.dtype)
    np.testing.assert_allclose(host, expected, rtol=rtol, atol=1e-6)


def test_machine_questions():
    assert is_available()
    synchronize()
    a = gpu([1.0])
    assert is_cuda_array(a) and not is_cuda_array(np.ones(1))


def test_round_trip_and_attributes(rng):
    host = rng.standard_normal((2, 3, 4)).astype(np.float32)
    a = gpu(host)
    assert (a.shape, a.dtype, a.ndim, a.size) == ((2, 3, 4), np.float32, 3, 24)
    assert a.nbytes == host.nbytes and len(a) == 2 and a.device == "cuda"
    np.testing.assert_array_equal(a.to_host(), host)
    scalar = gpu(np.float64(2.5))
    assert scalar.shape == () and scalar.item() == 2.5
    assert float(gpu([3.0])) == 3.0
    assert "CudaArray" in repr(a)


SHAPES = [((3, 4), (4,)), ((2, 1, 3), (4, 1)), ((1,), (2, 3)), ((), (2, 2))]
OPERATORS = [operator.add, operator.sub, operator.mul, operator.truediv, operator.pow]


@pytest.mark.parametrize("left_shape, right_shape", SHAPES)
@pytest.mark.parametrize("op", OPERATORS)
def test_binary_broadcasting(rng, left_shape, right_shape, op):
    left = rng.uniform(0.5, 2.0, left_shape).astype(np.float32)
    right = rng.uniform(0.5, 2.0, right_shape).astype(np.float32)
    check(op(gpu(left), gpu(right)), op(left, right), rtol=1e-5)


def test_xp_binary_functions(rng):
    from tinycv.cuda import xp

    left = rng.standard_normal((2, 3))
    right = rng.standard_normal(3)
    for name in ["add", "subtract", "multiply", "maximum", "minimum", "less"]:
        check(getattr(xp, name)(gpu(left), gpu(right)), getattr(np, name)(left, right))
    check(xp.maximum(gpu(left), 0), np.maximum(left, 0))
    check(xp.maximum(gpu(np.array([np.nan, 1.0])), 2.0), [np.nan, 2.0])


def test_operators_with_scalars_keep_numpy_dtypes(rng):
    host = rng.uniform(0.5, 2.0, (2, 3)).astype(np.float32)
    a = gpu(host)
    check(a + 1, host + 1)
    check(2.0 * a, 2.0 * host)
    check(1 - a, 1 - host)
    check(a / 4, host / 4)
    check(3 / a, 3 / host)
    check(a**2, host**2)
    check(2.0**a, 2.0**host, rtol=1e-5)
    check(-a, -host)
    check(abs(a - 1), abs(host - 1))
    check(np.float64(2.0) * a, np.float64(2.0) * host)
    check(host * a, host * host)
    ints = np.arange(6).reshape(2, 3)
    check(gpu(ints) * 2, ints * 2)
    check(gpu(ints) / 2, ints / 2)
    check(gpu(ints) + a, ints + host)


def test_comparisons_and_booleans(rng):
    host = rng.standard_normal((3, 4))
    a = gpu(host)
    check(a > 0, host > 0)
    check(a <= host[0], host <= host[0])
    check(a == a, host == host)
    check(a != 0.5, host != 0.5)
    mask = host > 0
    check((a > 0) * a, mask * host)
    check((a > 0) * (a < 1), mask * (host < 1))
    check((a > 0).astype(np.float32), mask.astype(np.float32))


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "abs", "tanh", "negative"])
def test_unary_functions(rng, name):
    from tinycv.cuda import xp

    host = rng.uniform(0.1, 3.0, (3, 5)).astype(np.float32)
    check(getattr(xp, name)(gpu(host)), getattr(np, name)(host), rtol=1e-5)


def test_unary_on_integers_gives_float64():
    from tinycv.cuda import xp

    check(xp.exp(gpu(np.arange(4))), np.exp(np.arange(4)))


def test_astype_copy_reshape(rng):
    host = rng.standard_normal((2, 6))
    a = gpu(host)
    check(a.astype(np.float32), host.astype(np.float32))
    check(a.astype(np.int64), host.astype(np.int64))
    assert a.astype(np.float64, copy=False) is a
    check(a.reshape(3, 4), host.reshape(3, 4))
    check(a.reshape((-1, 3)), host.reshape(-1, 3))
    check(a.ravel(), host.ravel())
    check(a.reshape(1, 2, 1, 6).squeeze(), host)
    with pytest.raises(ValueError):
        a.reshape(5, 5)


@pytest.mark.parametrize("axes", [None, (1, 0, 2), (2, 0, 1), (0, 2, 1)])
def test_transpose(rng, axes):
    host = rng.standard_normal((2, 3, 4))
    check(gpu(host).transpose(axes), host.transpose(axes))


def test_transpose_checks_its_axes():
    a = gpu(np.zeros((2, 3, 4)))
    assert a.transpose(-1, 0, 1).shape == (4, 2, 3)
    for bad in [(0, 1), (0, 0, 1), (0, 1, 5)]:
        with pytest.raises(ValueError):
            a.transpose(bad)


def test_transpose_property_and_high_rank(rng):
    host = rng.standard_normal((3, 4))
    check(gpu(host).T, host.T)
    six = rng.standard_normal((1, 2, 1, 2, 3, 2))
    check(gpu(six).transpose(5, 4, 3, 2, 1, 0), six.transpose(5, 4, 3, 2, 1, 0))
    with pytest.raises(NotImplementedError, match="more than 6 dimensions"):
        gpu(np.zeros((1,) * 7)) + 1


KEYS = [
    1,
    -1,
    (slice(None), 2),
    (slice(1, None), slice(None, None, 2)),
    (Ellipsis, 1),
    (None, 0, slice(None, None, -1)),
    (slice(3, 1, -1), None, Ellipsis),
    (0, 1, 2),
]


@pytest.mark.parametrize("key", KEYS)
def test_basic_indexing(rng, key):
    host = rng.standard_normal((4, 3, 5))
    check(gpu(host)[key], host[key])


def test_setitem(rng):
    host = rng.standard_normal((3, 4))
    a = gpu(host)
    host[1] = 7.0
    a[1] = 7.0
    host[:, 2] = np.arange(3)
    a[:, 2] = gpu(np.arange(3.0))
    host[::2, 1:3] = np.array([[-1.0, -2.0]])
    a[::2, 1:3] = np.array([[-1.0, -2.0]])
    a[1:] = a[:-1]  # overlapping source and target
    host[1:] = host[:-1].copy()
    check(a, host)


def test_unsupported_features_say_so():
    a = gpu(np.arange(6.0))
    with pytest.raises(NotImplementedError, match="tinycv.cuda: indexing with arrays"):
        a[np.array([0, 2])]
    from tinycv.cuda import xp

    with pytest.raises(NotImplementedError, match="numpy.fft is not supported"):
        _ = xp.fft
    assert not hasattr(xp, "fft")
    assert issubclass(NotSupportedOnGPU, NotImplementedError)
    with pytest.raises(TypeError, match="to_host"):
        np.asarray(a)


@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2), (1, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions_short_rows(rng, axis, keepdims):
    host = rng.standard_normal((3, 4, 5)).astype(np.float32)
    a = gpu(host)
    check(
        a.sum(axis=axis, keepdims=keepdims),
        host.sum(axis=axis, keepdims=keepdims),
        1e-5,
    )
    check(a.max(axis=axis, keepdims=keepdims), host.max(axis=axis, keepdims=keepdims))
    check(a.min(axis=axis, keepdims=keepdims), host.min(axis=axis, keepdims=keepdims))
    check(
        a.mean(axis=axis, keepdims=keepdims),
        host.mean(axis=axis, keepdims=keepdims),
        1e-5,
    )


def test_reductions_long_rows_use_the_block_tree(rng):
    from tinycv.kernels.cuda.reduce import REDUCE_THREADS

    host = rng.standard_normal((2, REDUCE_THREADS + 37))
    a = gpu(host)
    check(a.sum(axis=1), host.sum(axis=1))
    check(a.max(axis=1), host.max(axis=1))
    check(a.min(axis=-1, keepdims=True), host.min(axis=-1, keepdims=True))
    check(a.sum(), host.sum())


def test_reduction_dtypes_and_extras(rng):
    ints = np.arange(12, dtype=np.int32).reshape(3, 4)
    check(gpu(ints).sum(axis=0), ints.sum(axis=0))
    check(gpu(ints > 4).sum(), (ints > 4).sum())
    check(gpu(ints).mean(), ints.mean())
    host = rng.standard_normal((4, 6))
    check(gpu(host).var(axis=0), host.var(axis=0))
    check(gpu(host).var(ddof=1), host.var(ddof=1))
    check(gpu(host).argmax(axis=1), host.argmax(axis=1))
    check(gpu(host).argmin(axis=0, keepdims=True), host.argmin(axis=0, keepdims=True))
    check(gpu(host).argmax(), host.argmax())
    ties = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])
    check(gpu(ties).argmax(axis=1), ties.argmax(axis=1))
    check(gpu(np.zeros((0, 3))).sum(axis=0), np.zeros((0, 3)).sum(axis=0))
    with pytest.raises(ValueError):
        gpu(np.zeros((0, 3))).max(axis=0)
