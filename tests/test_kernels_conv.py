"""Convolution kernels and ops: numba against the reference loops, against
torch when it is installed, gradients by central differences, and errors."""

import contextlib

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import tinycv
from tinycv.kernels import conv, use_backend
from tinycv.ops.conv import conv2d, conv3d, conv_transpose2d

FEW = settings(max_examples=20, deadline=None)
TOLERANCE = {np.float32: 2e-4, np.float64: 1e-10}


PATHS = pytest.mark.parametrize("path", ["direct", "gemm", "gemm-batch", "lanes"])


@contextlib.contextmanager
def kernel_path(path):
    """Run the numba kernels through one path: direct loops, or the matrix
    product, small images one task each ("gemm") or, as large ones are, from
    one padded copy of the whole batch ("gemm-batch"), or at stride 1 with
    the images in the SIMD lanes ("lanes": forward and input gradient in the
    lanes, weight gradient in the lanes' direct loops; other strides run
    "gemm")."""
    names = ("_use_direct", "_SMALL_IMAGE", "_use_lanes", "_use_lanes_for_grad")
    original = {name: getattr(conv, name) for name in names}
    lanes = path == "lanes"

    def use_direct(*_, gradient=False):
        return path == "direct" or (lanes and gradient)

    def use_lanes(x_shape, weight_shape, groups, stride, *_):
        return lanes and stride == (1, 1, 1)

    def use_lanes_for_grad(x_shape, groups, stride, *_):
        return lanes and stride == (1, 1, 1)

    conv._use_direct = use_direct
    conv._use_lanes = use_lanes
    conv._use_lanes_for_grad = use_lanes_for_grad
    if path == "gemm-batch":
        conv._SMALL_IMAGE = 0
    try:
        yield
    finally:
        for name, value in original.items():
            setattr(conv, name, value)


def assert_close(actual, expected, dtype):
    assert actual.dtype == expected.dtype == dtype
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=0, atol=TOLERANCE[dtype] * scale)


def strided_copy(array, strided):
    """The same values, either as they are or as a non-contiguous view."""
    if not strided:
        return array
    wider = np.zeros(array.shape[:-1] + (2 * array.shape[-1],), dtype=array.dtype)
    wider[..., ::2] = array
    return wider[..., ::2]


@st.composite
def conv2d_settings(draw):
    groups = draw(st.integers(1, 3))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 1)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    spans = [dilation[a] * (kernel[a] - 1) + 1 for a in range(2)]
    size = [
        draw(st.integers(max(1, spans[a] - 2 * padding[a]), spans[a] + 4))
        for a in range(2)
    ]
    return dict(
        batch=draw(st.integers(1, 2)),
        in_channels=groups * draw(st.integers(1, 3)),
        out_channels=groups * draw(st.integers(1, 5)),
        size=tuple(size),
        kernel=kernel,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        dtype=draw(st.sampled_from([np.float32, np.float64])),
        bias=draw(st.booleans()),
        strided=draw(st.booleans()),
    )


def random_conv2d(case, seed=0):
    rng = np.random.default_rng(seed)
    dtype = case["dtype"]
    x = rng.standard_normal((case["batch"], case["in_channels"]) + case["size"])
    weight_shape = (
        case["out_channels"],
        case["in_channels"] // case["groups"],
    ) + case["kernel"]
    weight = rng.standard_normal(weight_shape)
    bias = rng.standard_normal(case["out_channels"]) if case["bias"] else None
    return (
        strided_copy(x.astype(dtype), case["strided"]),
        weight.astype(dtype),
        None if bias is None else bias.astype(dtype),
    )


# ---- numba against the reference loops ----------------------------------


@PATHS
@FEW
@given(case=conv2d_settings())
def test_conv2d_numba_matches_reference(path, case):
    x, weight, bias = random_conv2d(case)
    settings_ = (case["stride"], case["padding"], case["dilation"], case["groups"])
    with kernel_path(path):
        y = conv.conv2d_forward(x, weight, bias, *settings_)
        grad_y = np.random.default_rng(1).standard_normal(y.shape).astype(x.dtype)
        grads = conv.conv2d_backward(grad_y, x, weight, *settings_, bias is not None)

    with use_backend("reference"):
        y_ref = conv.conv2d_forward(x, weight, bias, *settings_)
        grads_ref = conv.conv2d_backward(
            grad_y, x, weight, *settings_, bias is not None
        )

    assert_close(y, y_ref, case["dtype"])
    for grad, grad_ref in zip(grads, grads_ref):
        if grad_ref is None:
            assert grad is None
        else:
            assert_close(grad, grad_ref, case["dtype"])


@st.composite
def conv_transpose2d_settings(draw):
    groups = draw(st.integers(1, 2))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 1)))
    output_padding = tuple(
        draw(st.integers(0, max(stride[a], dilation[a]) - 1)) for a in range(2)
    )
    size = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    out_size = [
        conv.transposed_output_size(
            size[a], kernel[a], stride[a], padding[a], output_padding[a], dilation[a]
        )
        for a in range(2)
    ]
    assume(min(out_size) >= 1)
    return dict(
        x_shape=(draw(st.integers(1, 2)), groups * draw(st.integers(1, 3))) + size,
        out_per_group=draw(st.integers(1, 5)),
        kernel=kernel,
        settings=(stride, padding, output_padding, groups, dilation),
        dtype=draw(st.sampled_from([np.float32, np.float64])),
        strided=draw(st.booleans()),
    )


@PATHS
@FEW
@given(case=conv_transpose2d_settings())
def test_conv_transpose2d_numba_matches_reference(path, case):
    rng = np.random.default_rng(0)
    dtype = case["dtype"]
    groups = case["settings"][3]
    x = strided_copy(
        rng.standard_normal(case["x_shape"]).astype(dtype), case["strided"]
    )
    weight_shape = (case["x_shape"][1], case["out_per_group"]) + case["kernel"]
    weight = rng.standard_normal(weight_shape).astype(dtype)
    bias = rng.standard_normal(case["out_per_group"] * groups).astype(dtype)

    with kernel_path(path):
        y = conv.conv_transpose2d_forward(x, weight, bias, *case["settings"])
        grad_y = rng.standard_normal(y.shape).astype(dtype)
        grads = conv.conv_transpose2d_backward(
            grad_y, x, weight, *case["settings"], True
        )
    with use_backend("reference"):
        y_ref = conv.conv_transpose2d_forward(x, weight, bias, *case["settings"])
        grads_ref = conv.conv_transpose2d_backward(
            grad_y, x, weight, *case["settings"], True
        )

    assert_close(y, y_ref, dtype)
    for grad, grad_ref in zip(grads, grads_ref):
        assert_close(grad, grad_ref, dtype)


@FEW
@given(case=conv_transpose2d_settings())
def test_transposed_convolution_by_phases_and_by_stuffing(case):
    # A strided transposed convolution (and so the input gradient of a
    # strided convolution) runs as one stride-1 convolution per phase;
    # with a stride and a dilation on one axis it stuffs zeros instead.
    # Both must give the reference's result wherever phases apply.
    stride, padding, output_padding, groups, dilation = case["settings"]
    dilation = tuple(1 if s > 1 else d for s, d in zip(stride, dilation))
    size = tuple(
        conv.transposed_output_size(
            case["x_shape"][2 + a],
            case["kernel"][a],
            stride[a],
            padding[a],
            output_padding[a],
            dilation[a],
        )
        for a in range(2)
    )
    rng = np.random.default_rng(1)
    dtype = case["dtype"]
    x = rng.standard_normal(case["x_shape"]).astype(dtype)
    weight_shape = (case["x_shape"][1], case["out_per_group"]) + case["kernel"]
    weight = rng.standard_normal(weight_shape).astype(dtype)
    bias = rng.standard_normal(case["out_per_group"] * groups).astype(dtype)
    expected = conv.conv_transpose2d_forward_reference(
        x, weight, bias, stride, padding, output_padding, groups, dilation
    )
    as_3d = (x[:, :, None], weight[:, :, None], bias, (1,) + stride, (0,) + padding)
    rest = ((1,) + dilation, groups, (1,) + size)
    for way in (conv._conv_transpose_phases, conv._conv_transpose_stuffed):
        assert_close(way(*as_3d, *rest)[:, :, 0], expected, dtype)


@PATHS
@settings(max_examples=12, deadline=None)
@given(
    kernel=st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 2)),
    stride=st.tuples(st.integers(1, 2), st.integers(1, 2), st.integers(1, 2)),
    padding=st.tuples(st.integers(0, 1), st.integers(0, 1), st.integers(0, 1)),
    dilation=st.sampled_from([(1, 1, 1), (2, 1, 2)]),
    groups=st.sampled_from([1, 2]),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_conv3d_numba_matches_reference(
    path, kernel, stride, padding, dilation, groups, dtype
):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 2 * groups, 4, 5, 4)).astype(dtype)
    weight = rng.standard_normal((2 * groups, 2) + kernel).astype(dtype)
    bias = rng.standard_normal(2 * groups).astype(dtype)
    settings_ = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    with kernel_path(path):
        y = conv.conv3d_forward(x, weight, bias, **settings_)
        grad_y = rng.standard_normal(y.shape).astype(dtype)
        grads = conv.conv3d_backward(grad_y, x, weight, need_bias=True, **settings_)
    with use_backend("reference"):
        y_ref = conv.conv3d_forward(x, weight, bias, **settings_)
        grads_ref = conv.conv3d_backward(grad_y, x, weight, need_bias=True, **settings_)

    assert_close(y, y_ref, dtype)
    for grad, grad_ref in zip(grads, grads_ref):
        assert_close(grad, grad_ref, dtype)


@pytest.mark.parametrize(
    "x_shape, stride",
    [
        ((7, 3, 15, 15), (1, 1)),  # 13 x 13 outputs: three frames to a tile, 7 frames
        ((2, 3, 42, 33), (1, 2)),  # 40 x 16 outputs: a frame split into row tiles
    ],
)
def test_weight_gradient_tiles_group_small_frames_and_split_large_ones(x_shape, stride):
    rng = np.random.default_rng(5)
    x = rng.standard_normal(x_shape)
    weight = rng.standard_normal((5, 3, 3, 3))
    y = conv.conv2d_forward(x, weight, None, stride)
    grad_y = rng.standard_normal(y.shape)
    with kernel_path("gemm"):
        _, grad_w, _ = conv.conv2d_backward(grad_y, x, weight, stride, need_x=False)
    with use_backend("reference"):
        _, expected, _ = conv.conv2d_backward(grad_y, x, weight, stride, need_x=False)
    assert_close(grad_w, expected, np.float64)


def assert_matches_reference(x, weight, bias, geometry, rng):
    """conv2d forward, and the input and weight gradients, as the numba
    kernels compute them, against the reference loops."""
    y = conv.conv2d_forward(x, weight, bias, **geometry)
    grad_y = rng.standard_normal(y.shape).astype(x.dtype)
    grads = conv.conv2d_backward(grad_y, x, weight, need_bias=False, **geometry)
    with use_backend("reference"):
        y_ref = conv.conv2d_forward(x, weight, bias, **geometry)
        grads_ref = conv.conv2d_backward(grad_y, x, weight, need_bias=False, **geometry)
    dtype = x.dtype.type
    assert_close(y, y_ref, dtype)
    assert_close(grads[0], grads_ref[0], dtype)
    assert_close(grads[1], grads_ref[1], dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("stride, dilation", [(1, 1), (1, 2), (2, 1)])
def test_matrix_product_paths_on_images_of_several_tiles(dtype, stride, dilation):
    # 40 x 37 outputs: the stride-1 kernels split a frame into row tiles and
    # read vectors past the last output; stride 2 runs im2col. Two groups,
    # forward and both gradients against the reference loops.
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 10, 40, 37)).astype(dtype)
    weight = rng.standard_normal((14, 5, 3, 3)).astype(dtype)
    bias = rng.standard_normal(14).astype(dtype)
    geometry = dict(stride=stride, padding=1, dilation=dilation, groups=2)
    assert_matches_reference(x, weight, bias, geometry, rng)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("strided", [False, True])
def test_weight_gradient_transposes_whole_blocks_and_ragged_edges(dtype, strided):
    # 19 output channels of rows 21 wide: whole blocks of one vector of
    # channels by one vector of pixels are transposed in registers, the
    # channels and pixels past them number by number; grad_y may be a view.
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 2, 3, 21)).astype(dtype)
    weight = rng.standard_normal((19, 2, 3, 3)).astype(dtype)
    grad_y = strided_copy(rng.standard_normal((2, 19, 3, 21)).astype(dtype), strided)
    with kernel_path("gemm"):
        _, grad_w, _ = conv.conv2d_backward(grad_y, x, weight, padding=1, need_x=False)
    with use_backend("reference"):
        _, expected, _ = conv.conv2d_backward(
            grad_y, x, weight, padding=1, need_x=False
        )
    assert_close(grad_w, expected, dtype)


def test_depthwise_and_pointwise_on_larger_images():
    """The shapes MobileNet uses, big enough for several tiles per image."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 8, 19, 21)).astype(np.float32)
    depthwise = rng.standard_normal((8, 1, 3, 3)).astype(np.float32)
    pointwise = rng.standard_normal((12, 8, 1, 1)).astype(np.float32)
    y = conv.conv2d_forward(x, depthwise, None, (1, 1), (1, 1), (1, 1), 8)
    y = conv.conv2d_forward(y, pointwise, None, (1, 1), (0, 0), (1, 1), 1)

    expected = np.zeros_like(y)
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    for p in range(3):
        for q in range(3):
            window = padded[:, :, p : p + 19, q : q + 21]
            expected_dw = window * depthwise[:, 0, p, q][None, :, None, None]
            expected += np.einsum("oc,nchw->nohw", pointwise[:, :, 0, 0], expected_dw)
    np.testing.assert_allclose(y, expected, atol=1e-4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [(5, 5), (3, 9), (9, 3), (4, 19)])
@pytest.mark.parametrize("path", ["gemm", "gemm-batch"])
def test_output_rows_narrower_than_a_vector(path, size, dtype):
    # Rows of 1 to 17 outputs, so that one vector copied out of the wide
    # product spans several rows of y: it may overwrite rows that come
    # later, but nothing past the last channel's last row (the array's end).
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 3) + size).astype(dtype)
    weight = rng.standard_normal((5, 3, 3, 3)).astype(dtype)
    bias = rng.standard_normal(5).astype(dtype)
    with kernel_path(path):
        y = conv.conv2d_forward(x, weight, bias, padding=(0, 1))
    with use_backend("reference"):
        expected = conv.conv2d_forward(x, weight, bias, padding=(0, 1))
    assert_close(y, expected, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "padding, dilation, groups",
    [(0, 1, 1), (1, 1, 2), ((2, 0), (1, 2), 1)],
)
@pytest.mark.parametrize("strided", [False, True])
def test_images_in_lanes_on_whole_and_partial_blocks(
    dtype, padding, dilation, groups, strided
):
    # Two whole blocks of images (one per SIMD lane) and three images more:
    # the whole blocks are transposed in registers, the last one number by
    # number. Forward and both gradients (the input's gradient is a
    # convolution too), against the reference loops.
    lanes = conv.vector_width(dtype)
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2 * lanes + 3, 4, 7, 6)).astype(dtype)
    x = strided_copy(x, strided)
    weight = rng.standard_normal((6, 4 // groups, 3, 3)).astype(dtype)
    bias = rng.standard_normal(6).astype(dtype)
    geometry = dict(padding=padding, dilation=dilation, groups=groups)
    with kernel_path("lanes"):
        assert_matches_reference(x, weight, bias, geometry, rng)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_images_in_lanes_for_transposed_and_3d_convolutions(dtype):
    # A stride-2 transposed convolution runs as four stride-1 convolutions
    # (phases); with dilation 2 too, it places its input with zeros between
    # the pixels; conv3d has frames. All run with the batch in the lanes.
    lanes = conv.vector_width(dtype)
    rng = np.random.default_rng(12)
    x = rng.standard_normal((lanes + 1, 3, 4, 5)).astype(dtype)
    up = rng.standard_normal((3, 4, 3, 3)).astype(dtype)
    video = rng.standard_normal((lanes + 2, 2, 3, 4, 5)).astype(dtype)
    kernel3d = rng.standard_normal((5, 2, 2, 3, 3)).astype(dtype)
    with kernel_path("lanes"):
        y_up = conv.conv_transpose2d_forward(x, up, None, 2, 1, 1)
        y_stuffed = conv.conv_transpose2d_forward(x, up, None, 2, 1, 1, 1, 2)
        y_3d = conv.conv3d_forward(video, kernel3d, None, padding=(1, 0, 1))
    with use_backend("reference"):
        assert_close(y_up, conv.conv_transpose2d_forward(x, up, None, 2, 1, 1), dtype)
        expected = conv.conv_transpose2d_forward(x, up, None, 2, 1, 1, 1, 2)
        assert_close(y_stuffed, expected, dtype)
        expected = conv.conv3d_forward(video, kernel3d, None, padding=(1, 0, 1))
        assert_close(y_3d, expected, dtype)


def lanes_chosen(x_shape, weight_shape, groups=1, padding=0, stride=1):
    """Whether conv2d would run with the images in the lanes (float32)."""
    placed = (1,) + tuple(size + 2 * padding for size in x_shape[2:])
    out = (1,) + tuple(
        (p - k) // stride + 1 for p, k in zip(placed[1:], weight_shape[2:])
    )
    x5, w5 = (
        x_shape[:2] + (1,) + x_shape[2:],
        weight_shape[:2] + (1,) + weight_shape[2:],
    )
    return conv._use_lanes(x5, w5, groups, (1, stride, stride), placed, out, np.float32)


def test_images_in_lanes_where_the_shifted_product_drops_columns():
    # LeNet's conv2 drops 4 of every 14 wide columns: lanes. A VGG layer
    # drops 2 of 34: shifted. Depthwise convolutions: lanes, with direct
    # taps. A strided convolution or a batch smaller than a vector of
    # images cannot use the lanes; nor can an input too large for cache.
    lanes = conv.vector_width(np.float32)
    assert lanes_chosen((64, 6, 14, 14), (16, 6, 5, 5))
    assert not lanes_chosen((32, 64, 32, 32), (64, 64, 3, 3), padding=1)
    assert lanes_chosen((32, 128, 28, 28), (128, 1, 3, 3), groups=128, padding=1)
    assert not lanes_chosen((lanes - 1, 6, 14, 14), (16, 6, 5, 5))
    assert not lanes_chosen((64, 6, 14, 14), (16, 6, 5, 5), stride=2)
    assert not lanes_chosen((64, 512, 14, 14), (16, 512, 5, 5))
    # The weight gradients the direct loops would compute, likewise.
    depthwise = ((32, 128, 1, 28, 28), 128, (1, 1, 1), (1, 30, 30), np.float32)
    assert conv._use_lanes_for_grad(*depthwise)
    assert not conv._use_lanes_for_grad((lanes - 1,) + depthwise[0][1:], *depthwise[1:])
    assert not conv._use_lanes_for_grad(depthwise[0], 128, (1, 2, 2), *depthwise[3:])


@pytest.mark.parametrize("path", ["gemm-batch", "lanes"])
def test_reused_padded_copy_is_zeroed_on_every_call(path):
    # The padded copy of a batch lives in a buffer kept between calls. Fill
    # it with a large input first, then run a stride-2 transposed
    # convolution with dilation 2 (zeros between its pixels) and a padded
    # convolution in the same buffer: no value of the first call may leak
    # into them.
    rng = np.random.default_rng(7)
    big = 1e6 * rng.standard_normal((2, 4, 30, 30))
    x = rng.standard_normal((2, 4, 9, 8))
    up = rng.standard_normal((4, 3, 3, 3))
    down = rng.standard_normal((6, 4, 5, 5))
    with kernel_path(path):
        conv.conv2d_forward(big, rng.standard_normal((6, 4, 3, 3)), None, 1, 2)
        y_up = conv.conv_transpose2d_forward(x, up, None, 2, 1, 1, 1, 2)
        y_down = conv.conv2d_forward(x, down, None, 1, 2)
    with use_backend("reference"):
        expected = conv.conv_transpose2d_forward(x, up, None, 2, 1, 1, 1, 2)
        assert_close(y_up, expected, np.float64)
        assert_close(y_down, conv.conv2d_forward(x, down, None, 1, 2), np.float64)


@pytest.mark.parametrize("path", ["gemm", "gemm-batch"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_shifted_product_sums_many_taps_in_slices(path, dtype):
    # A VGG-sized layer: 64 channels x 3 x 3 = 576 taps over a task's rows
    # of 34 pixels is more input than conv._SHIFTED_SLICE_BYTES, so the
    # shifted product sums its taps in slices, each added to the sums
    # before (a task of the "gemm" path, a whole 34 x 34 frame, more so).
    # Checked against numpy on the padded input's 3 x 3 windows (the
    # reference loops would take seconds here).
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1, 64, 32, 32)).astype(dtype)
    weight = rng.standard_normal((8, 64, 3, 3)).astype(dtype)
    bias = rng.standard_normal(8).astype(dtype)
    rows_per_task, _ = conv._row_tiling(32, 34)  # the batch path's tasks
    assert 576 * rows_per_task * 34 * x.itemsize > conv._SHIFTED_SLICE_BYTES
    with kernel_path(path):
        y = conv.conv2d_forward(x, weight, bias, 1, 1)
    padded = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(2, 3))
    expected = np.einsum("nchwpq,ocpq->nohw", windows, weight) + bias[:, None, None]
    assert_close(y, expected.astype(dtype), dtype)


@pytest.mark.parametrize("strided", [False, True])
def test_bias_gradient_of_a_large_output_sums_on_all_cores(strided):
    # Above conv._PARALLEL_SUM numbers the planes are summed by a Numba
    # kernel instead of einsum; float32 sums in another order: tolerance.
    rng = np.random.default_rng(3)
    grad_y = rng.standard_normal((3, 5, 300, 250)).astype(np.float32)
    assert grad_y.size >= conv._PARALLEL_SUM
    grad_y = strided_copy(grad_y, strided)
    expected = grad_y.astype(np.float64).sum(axis=(0, 2, 3))
    np.testing.assert_allclose(conv._sum_per_channel(grad_y), expected, atol=2e-2)


def test_need_flags_skip_gradients():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 4, 6, 6))
    weight = rng.standard_normal((4, 4, 3, 3))
    grad_y = np.ones((1, 4, 4, 4))
    grads = conv.conv2d_backward(
        grad_y, x, weight, need_bias=False, need_x=False, need_weight=True
    )
    assert grads[0] is None and grads[2] is None
    assert grads[1].shape == weight.shape


# ---- against torch, when it is installed ---------------------------------


TORCH_CASES = [
    # x shape, weight shape, stride, padding, dilation, groups
    ((2, 1, 12, 12), (6, 1, 5, 5), 1, 0, 1, 1),
    ((2, 16, 9, 10), (8, 16, 3, 3), 1, 1, 1, 1),
    ((2, 6, 11, 9), (6, 1, 3, 3), 2, 1, 1, 6),
    ((1, 6, 13, 13), (9, 2, 3, 2), (2, 1), (0, 2), (2, 1), 3),
]


@pytest.mark.parametrize("case", TORCH_CASES)
def test_conv2d_matches_torch(case):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x_shape, w_shape, stride, padding, dilation, groups = case
    rng = np.random.default_rng(0)
    x, weight = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    bias = rng.standard_normal(w_shape[0])

    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, weight, bias))
    yt = F.conv2d(xt, wt, bt, stride, padding, dilation, groups)
    grad_y = rng.standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(grad_y))

    y = conv.conv2d_forward(x, weight, bias, stride, padding, dilation, groups)
    grads = conv.conv2d_backward(
        grad_y, x, weight, stride, padding, dilation, groups, True
    )
    np.testing.assert_allclose(y, yt.detach().numpy(), atol=1e-10)
    for grad, tensor in zip(grads, (xt, wt, bt)):
        np.testing.assert_allclose(grad, tensor.grad.numpy(), atol=1e-10)


@pytest.mark.parametrize(
    "stride, padding, output_padding, groups, dilation",
    [(2, 1, 1, 1, 1), ((2, 3), (0, 1), (1, 2), 2, 1), (1, 2, 1, 1, 2), (2, 0, 0, 1, 1)],
)
def test_conv_transpose2d_matches_torch(
    stride, padding, output_padding, groups, dilation
):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 5, 6))
    weight = rng.standard_normal((4, 3, 3, 2))
    bias = rng.standard_normal(3 * groups)
    xt, wt, bt = (torch.tensor(a) for a in (x, weight, bias))
    expected = torch.nn.functional.conv_transpose2d(
        xt, wt, bt, stride, padding, output_padding, groups, dilation
    )
    y = conv_transpose2d(
        tinycv.tensor(x),
        tinycv.tensor(weight),
        tinycv.tensor(bias),
        stride,
        padding,
        output_padding,
        groups,
        dilation,
    )
    np.testing.assert_allclose(y.numpy(), expected.numpy(), atol=1e-10)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("padding", ["same", "valid", (1, 0, 2)])
def test_conv3d_matches_torch(padding):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 5, 6, 7))
    weight = rng.standard_normal((4, 3, 2, 3, 4))
    expected = torch.nn.functional.conv3d(
        torch.tensor(x), torch.tensor(weight), padding=padding
    )
    y = conv3d(tinycv.tensor(x), tinycv.tensor(weight), padding=padding)
    np.testing.assert_allclose(y.numpy(), expected.numpy(), atol=1e-10)


# ---- gradients of the differentiable ops ---------------------------------


def float64_tensors(*shapes, seed=0):
    tinycv.manual_seed(seed)
    return [
        tinycv.randn(*shape, dtype=tinycv.float64, requires_grad=True)
        for shape in shapes
    ]


def test_conv2d_gradcheck():
    x, weight, bias = float64_tensors((2, 4, 7, 6), (6, 2, 3, 2), (6,))
    assert tinycv.gradcheck(
        lambda x, w, b: conv2d(
            x, w, b, stride=(2, 1), padding=1, dilation=(1, 2), groups=2
        ),
        x,
        weight,
        bias,
    )


def test_conv2d_same_padding_with_even_kernel_gradcheck():
    x, weight = float64_tensors((1, 2, 5, 6), (3, 2, 2, 4))
    y = conv2d(x, weight, padding="same")
    assert y.shape == (1, 3, 5, 6)
    assert tinycv.gradcheck(lambda x, w: conv2d(x, w, padding="same"), x, weight)


def test_conv3d_gradcheck():
    x, weight, bias = float64_tensors((1, 2, 4, 4, 5), (3, 2, 2, 3, 2), (3,))
    assert tinycv.gradcheck(
        lambda x, w, b: conv3d(x, w, b, stride=(1, 2, 1), padding=(1, 0, 1)),
        x,
        weight,
        bias,
    )


def test_conv_transpose2d_gradcheck():
    x, weight, bias = float64_tensors((2, 4, 3, 4), (4, 1, 3, 3), (2,))
    assert tinycv.gradcheck(
        lambda x, w, b: conv_transpose2d(
            x, w, b, stride=2, padding=1, output_padding=1, groups=2
        ),
        x,
        weight,
        bias,
    )


def test_only_the_needed_gradients_flow():
    x = tinycv.randn(1, 2, 5, 5)
    (weight,) = float64_tensors((3, 2, 3, 3))
    conv2d(x.double(), weight).sum().backward()
    assert x.grad is None
    assert weight.grad.shape == (3, 2, 3, 3)


# ---- bad input: one line naming the op and the shapes --------------------


BAD_INPUTS = [
    (
        lambda: conv.conv2d_forward(np.zeros((1, 3, 8, 8)), np.zeros((4, 4, 3, 3))),
        "conv2d: input has 3 channels but weight expects 4",
    ),
    (
        lambda: conv.conv2d_forward(np.zeros((3, 8, 8)), np.zeros((4, 3, 3, 3))),
        "conv2d: expected a 4-D input",
    ),
    (
        lambda: conv.conv2d_forward(np.zeros((1, 3, 4, 4)), np.zeros((4, 3, 5, 5))),
        "conv2d: kernel spans 5 but the padded input is only 4",
    ),
    (
        lambda: conv.conv2d_forward(
            np.zeros((1, 4, 8, 8)), np.zeros((6, 1, 3, 3)), groups=4
        ),
        "conv2d: groups=4 does not divide the 6 output channels",
    ),
    (
        lambda: conv.conv2d_forward(
            np.zeros((1, 3, 8, 8)), np.zeros((4, 3, 3, 3)), stride=0
        ),
        "conv2d: stride must be positive",
    ),
    (
        lambda: conv.conv2d_forward(
            np.zeros((1, 3, 8, 8)), np.zeros((4, 3, 3, 3)), np.zeros(5)
        ),
        "conv2d: bias has shape (5,) but the output has 4 channels",
    ),
    (
        lambda: conv.conv3d_forward(np.zeros((1, 3, 8, 8)), np.zeros((4, 3, 3, 3, 3))),
        "conv3d: expected a 5-D input",
    ),
    (
        lambda: conv.conv_transpose2d_forward(
            np.zeros((1, 3, 8, 8)), np.zeros((4, 2, 3, 3))
        ),
        "conv_transpose2d: input has 3 channels but weight expects 4",
    ),
    (
        lambda: conv.conv_transpose2d_forward(
            np.zeros((1, 4, 8, 8)), np.zeros((4, 2, 3, 3)), stride=2, output_padding=2
        ),
        "conv_transpose2d: output_padding (2, 2) must be >= 0 and smaller",
    ),
    (
        lambda: conv.conv2d_forward(
            np.zeros((1, 3, 8, 8), dtype=np.int64), np.zeros((4, 3, 3, 3))
        ),
        "conv2d: expected float32 or float64 input",
    ),
    (
        lambda: conv2d(
            tinycv.zeros(1, 3, 8, 8), tinycv.zeros(4, 3, 3, 3), stride=2, padding="same"
        ),
        "conv2d: padding='same' needs stride 1",
    ),
]


@pytest.mark.parametrize("call, message", BAD_INPUTS)
def test_bad_input_raises_one_line_value_error(call, message):
    with pytest.raises(ValueError) as info:
        call()
    text = str(info.value)
    assert text.startswith(message)
    assert "\n" not in text
