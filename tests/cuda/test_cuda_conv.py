"""The convolution kernels against numpy references.

Forward passes are compared with ``cuda_reference``. Backward passes are
checked with the dot-product test: a convolution is linear in its input and
in its weight, so for any cotangent g the gradients must satisfy
<conv(x, w), g> = <x, grad_x> = <w, grad_w>, and grad_b = sum of g.
"""

import cuda_reference
import numpy as np
import pytest

from tinycv.cuda.array import CudaArray
from tinycv.kernels.cuda import conv


def gpu(array):
    return CudaArray.from_host(np.asarray(array))


def dot(a, b):
    return float(np.sum(np.asarray(a, np.float64) * np.asarray(b, np.float64)))


CONV2D_CASES = [
    # x shape, (C_out, kh, kw), stride, padding, dilation, groups, dtype
    ((2, 3, 5, 5), (4, 3, 3), (1, 1), (1, 1), (1, 1), 1, np.float32),
    ((1, 4, 7, 5), (4, 2, 3), (2, 1), (0, 2), (1, 2), 2, np.float64),
    ((1, 2, 5, 5), (2, 3, 3), (2, 2), (1, 1), (1, 1), 2, np.float32),
]


@pytest.mark.parametrize("case", CONV2D_CASES)
def test_conv2d_forward_and_backward(rng, case):
    x_shape, (out_channels, kh, kw), stride, padding, dilation, groups, dtype = case
    x = rng.standard_normal(x_shape).astype(dtype)
    weight = rng.standard_normal((out_channels, x_shape[1] // groups, kh, kw))
    weight = weight.astype(dtype)
    bias = rng.standard_normal(out_channels).astype(dtype)

    y = conv.conv2d_forward(
        gpu(x), gpu(weight), gpu(bias), stride, padding, dilation, groups
    ).to_host()
    expected = cuda_reference.conv_forward(
        x, weight, bias, stride, padding, dilation, groups
    )
    assert y.dtype == dtype
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)

    g = rng.standard_normal(y.shape).astype(dtype)
    grad_x, grad_w, grad_b = conv.conv2d_backward(
        gpu(g), gpu(x), gpu(weight), stride, padding, dilation, groups, True
    )
    linear = y - bias.reshape(1, -1, 1, 1)
    assert grad_x.shape == x.shape and grad_w.shape == weight.shape
    assert dot(linear, g) == pytest.approx(dot(x, grad_x.to_host()), rel=1e-4)
    assert dot(linear, g) == pytest.approx(dot(weight, grad_w.to_host()), rel=1e-4)
    np.testing.assert_allclose(grad_b.to_host(), g.sum(axis=(0, 2, 3)), rtol=1e-4)


def test_conv2d_without_bias_skips_grad_b(rng):
    x = rng.standard_normal((1, 1, 4, 4))
    weight = rng.standard_normal((1, 1, 2, 2))
    y = conv.conv2d_forward(gpu(x), gpu(weight), None, (1, 1), (0, 0), (1, 1), 1)
    expected = cuda_reference.conv_forward(x, weight, None, (1, 1), (0, 0), (1, 1), 1)
    np.testing.assert_allclose(y.to_host(), expected, rtol=1e-12)
    *_, grad_b = conv.conv2d_backward(
        y, gpu(x), gpu(weight), (1, 1), (0, 0), (1, 1), 1, False
    )
    assert grad_b is None


def test_conv3d_forward_and_backward(rng):
    x = rng.standard_normal((1, 2, 4, 5, 4))
    weight = rng.standard_normal((3, 2, 2, 3, 2))
    bias = rng.standard_normal(3)
    stride, padding = (1, 2, 1), (1, 0, 1)
    y = conv.conv3d_forward(gpu(x), gpu(weight), gpu(bias), stride, padding)
    expected = cuda_reference.conv_forward(
        x, weight, bias, stride, padding, (1, 1, 1), 1
    )
    np.testing.assert_allclose(y.to_host(), expected, rtol=1e-10, atol=1e-10)

    g = rng.standard_normal(expected.shape)
    grad_x, grad_w, grad_b = conv.conv3d_backward(
        gpu(g), gpu(x), gpu(weight), stride, padding, True
    )
    linear = expected - bias.reshape(1, -1, 1, 1, 1)
    assert dot(linear, g) == pytest.approx(dot(x, grad_x.to_host()), rel=1e-9)
    assert dot(linear, g) == pytest.approx(dot(weight, grad_w.to_host()), rel=1e-9)
    np.testing.assert_allclose(grad_b.to_host(), g.sum(axis=(0, 2, 3, 4)))


TRANSPOSE_CASES = [
    # x shape, (C_out/groups, kh, kw), stride, padding, output_padding, groups, dilation
    ((2, 2, 3, 3), (3, 3, 3), (2, 2), (1, 1), (1, 1), 1, (1, 1)),
    ((1, 4, 3, 2), (1, 2, 3), (1, 2), (0, 1), (0, 1), 2, (2, 1)),
]


@pytest.mark.parametrize("case", TRANSPOSE_CASES)
def test_conv_transpose2d_forward_and_backward(rng, case):
    x_shape, (out_per_group, kh, kw), stride, padding, out_pad, groups, dil = case
    x = rng.standard_normal(x_shape)
    weight = rng.standard_normal((x_shape[1], out_per_group, kh, kw))
    bias = rng.standard_normal(out_per_group * groups)

    y = conv.conv_transpose2d_forward(
        gpu(x), gpu(weight), gpu(bias), stride, padding, out_pad, groups, dil
    ).to_host()
    expected = cuda_reference.conv_transpose2d_forward(
        x, weight, bias, stride, padding, out_pad, groups, dil
    )
    np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-10)

    g = rng.standard_normal(y.shape)
    grad_x, grad_w, grad_b = conv.conv_transpose2d_backward(
        gpu(g), gpu(x), gpu(weight), stride, padding, out_pad, groups, dil, True
    )
    linear = y - bias.reshape(1, -1, 1, 1)
    assert grad_x.shape == x.shape and grad_w.shape == weight.shape
    assert dot(linear, g) == pytest.approx(dot(x, grad_x.to_host()), rel=1e-9)
    assert dot(linear, g) == pytest.approx(dot(weight, grad_w.to_host()), rel=1e-9)
    np.testing.assert_allclose(grad_b.to_host(), g.sum(axis=(0, 2, 3)))
