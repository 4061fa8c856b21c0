"""tinycv.nn: each layer's forward against its formula in numpy, its backward by
gradcheck in float64, and the Module machinery around them."""

import math
from collections import OrderedDict

import numpy as np
import pytest

import tinycv
from tinycv import nn
from tinycv.nn import functional as F
from tinycv.nn import init


@pytest.fixture(autouse=True)
def _seed():
    tinycv.manual_seed(0)


def rand(*shape, scale=1.0, seed=0):
    return np.random.default_rng(seed).standard_normal(shape) * scale


def leaf(array):
    """A float64 tensor that requires grad, for gradcheck."""
    return tinycv.tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


def check_layer(layer, *shape, seed=1):
    """gradcheck a layer with respect to its input and every parameter.

    The parameters are passed to gradcheck as inputs, so it perturbs them in
    place; the layer reads them from itself.
    """
    layer.double()
    x = leaf(rand(*shape, seed=seed))

    def run(x, *params):
        out = layer(x)
        return out[0] if isinstance(out, tuple) else out

    assert tinycv.gradcheck(run, x, *layer.parameters())


def close(tensor, expected, atol=1e-10):
    np.testing.assert_allclose(tensor.data, expected, rtol=1e-7, atol=atol)


# ---- numpy references -------------------------------------------------------


def conv2d_reference(x, w, b, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    n, c_in, h, wd = x.shape
    c_out, c_per_group, kh, kw = w.shape
    x = np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
    out_h = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    out_w = (wd + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n, c_out, out_h, out_w))
    outs_per_group = c_out // groups
    for o in range(c_out):
        g = o // outs_per_group
        for i in range(out_h):
            for j in range(out_w):
                rows = i * stride[0] + dilation[0] * np.arange(kh)
                cols = j * stride[1] + dilation[1] * np.arange(kw)
                patch = x[:, g * c_per_group : (g + 1) * c_per_group][:, :, rows][
                    ..., cols
                ]
                out[:, o, i, j] = (patch * w[o]).sum(axis=(1, 2, 3))
    return out if b is None else out + b.reshape(1, -1, 1, 1)


def conv_transpose2d_reference(x, w, b, stride, padding, output_padding):
    n, c_in, h, wd = x.shape
    _, c_out, kh, kw = w.shape
    full_h = (h - 1) * stride + kh + output_padding
    full_w = (wd - 1) * stride + kw + output_padding
    out = np.zeros((n, c_out, full_h, full_w))
    for i in range(h):
        for j in range(wd):
            # Each input pixel stamps its weighted kernel onto the output.
            stamp = np.einsum("nc,cokl->nokl", x[:, :, i, j], w)
            out[:, :, i * stride : i * stride + kh, j * stride : j * stride + kw] += (
                stamp
            )
    out = out[:, :, padding : full_h - padding, padding : full_w - padding]
    return out + b.reshape(1, -1, 1, 1)


def pool2d_reference(x, k, stride, padding, reduce):
    fill = -np.inf if reduce is np.max else 0.0
    x = np.pad(
        x, ((0, 0), (0, 0), (padding,) * 2, (padding,) * 2), constant_values=fill
    )
    out_h = (x.shape[2] - k) // stride + 1
    out_w = (x.shape[3] - k) // stride + 1
    out = np.zeros(x.shape[:2] + (out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            window = x[:, :, i * stride : i * stride + k, j * stride : j * stride + k]
            out[:, :, i, j] = reduce(window, axis=(2, 3))
    return out


# ---- Module machinery ---------------------------------------------------------


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.bn = nn.BatchNorm2d(2)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(8, 3))

    def forward(self, x):
        return self.head(self.bn(self.conv(x)).relu())


def test_attributes_register_parameters_buffers_and_children():
    net = TinyNet()
    names = [name for name, _ in net.named_parameters()]
    assert names == [
        "conv.weight",
        "conv.bias",
        "bn.weight",
        "bn.bias",
        "head.2.weight",
        "head.2.bias",
    ]
    assert all(
        isinstance(p, nn.Parameter) and p.requires_grad for p in net.parameters()
    )
    assert isinstance(net.conv.weight, tinycv.Tensor)
    assert [name for name, _ in net.named_buffers()] == [
        "bn.running_mean",
        "bn.running_var",
        "bn.num_batches_tracked",
    ]
    assert [type(m).__name__ for m in net.children()] == [
        "Conv2d",
        "BatchNorm2d",
        "Sequential",
    ]
    assert len(list(net.modules())) == 7
    assert net.num_parameters() == 2 * 9 + 2 + 2 + 2 + 8 * 3 + 3


def test_shared_parameters_are_counted_once():
    layer = nn.Linear(2, 2)
    model = nn.Sequential(layer, nn.Tanh(), layer)
    assert len(list(model.parameters())) == 2
    assert model.num_parameters() == 6


def test_wrong_assignments_are_refused():
    net = TinyNet()
    with pytest.raises(TypeError, match="Parameter or None"):
        net.conv.weight = tinycv.zeros(2, 1, 3, 3)
    net.conv.bias = None
    assert "conv.bias" not in net.state_dict()

    class Forgetful(nn.Module):
        def __init__(self):
            self.layer = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match="super\\(\\).__init__\\(\\)"):
        Forgetful()


def test_train_eval_reach_every_submodule():
    net = TinyNet()
    assert all(m.training for m in net.modules())
    net.eval()
    assert not any(m.training for m in net.modules())
    net.train()
    assert net.head[1].training


def test_zero_grad_and_requires_grad():
    net = TinyNet()
    net(tinycv.randn(2, 1, 4, 4)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.requires_grad_(False)
    assert net.num_parameters(trainable_only=True) == 0


def test_state_dict_round_trip_includes_buffers():
    net = TinyNet()
    net(tinycv.randn(4, 1, 4, 4))  # moves the running statistics
    state = net.state_dict()
    assert "bn.running_mean" in state and "bn.num_batches_tracked" in state

    other = TinyNet()
    result = other.load_state_dict(state)
    assert result.missing_keys == [] and result.unexpected_keys == []
    for key, value in other.state_dict().items():
        np.testing.assert_array_equal(value.data, state[key].data)
    assert other.bn.num_batches_tracked.item() == 1
    net.eval(), other.eval()
    x = tinycv.randn(2, 1, 4, 4)
    np.testing.assert_allclose(other(x).data, net(x).data)


def test_load_state_dict_copies_rather_than_shares():
    source, target = nn.Linear(2, 2), nn.Linear(2, 2)
    target.load_state_dict(source.state_dict())
    source.weight.data[...] = 0
    assert np.abs(target.weight.data).sum() > 0


def test_load_state_dict_names_missing_unexpected_and_misshaped_keys():
    small = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    big = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 2), nn.Linear(2, 2))
    with pytest.raises(nn.StateDictError) as error:
        small.load_state_dict(big.state_dict())
    message = str(error.value)
    assert "\n" not in message
    assert "unexpected keys: 3.weight, 3.bias" in message
    assert "0.weight (file (5, 4), model (3, 4))" in message
    with pytest.raises(nn.StateDictError, match="missing keys: 3.weight, 3.bias"):
        big.load_state_dict(small.state_dict())

    partial = OrderedDict(list(small.state_dict().items())[:2])
    missing, unexpected = small.load_state_dict(partial, strict=False)
    assert missing == ["2.weight", "2.bias"] and unexpected == []


def test_to_double_keeps_parameter_identity_and_integer_buffers():
    net = TinyNet()
    weight = net.conv.weight
    net.double()
    assert net.conv.weight is weight and weight.dtype == np.float64
    assert net.bn.running_var.dtype == np.float64
    assert net.bn.num_batches_tracked.dtype == np.int64
    assert net(tinycv.randn(2, 1, 4, 4).double()).dtype == np.float64


def test_repr_reads_like_torch():
    net = TinyNet()
    assert repr(net) == (
        "TinyNet(\n"
        "  (conv): Conv2d(1, 2, kernel_size=(3, 3))\n"
        "  (bn): BatchNorm2d(2, eps=1e-05, momentum=0.1, affine=True, "
        "track_running_stats=True)\n"
        "  (head): Sequential(\n"
        "    (0): Flatten(start_dim=1, end_dim=-1)\n"
        "    (1): Dropout(p=0.5)\n"
        "    (2): Linear(in_features=8, out_features=3, bias=True)\n"
        "  )\n"
        ")"
    )
    assert repr(nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False)) == (
        "Conv2d(3, 8, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), bias=False)"
    )


def test_sequential_and_module_list():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[-1], nn.Linear)
    assert isinstance(seq[:2], nn.Sequential) and len(seq[:2]) == 2
    named = nn.Sequential(OrderedDict(fc=nn.Linear(2, 2), act=nn.Tanh()))
    assert list(named.state_dict()) == ["fc.weight", "fc.bias"]

    class Stack(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList(nn.Linear(2, 2) for _ in range(3))

    stack = Stack()
    assert len(list(stack.parameters())) == 6
    stack.layers.append(nn.Linear(2, 1))
    assert stack.layers[3].out_features == 1 and len(stack.layers) == 4


# ---- input shapes are checked ------------------------------------------------


def test_wrong_input_shape_names_the_layer_and_both_shapes():
    with pytest.raises(ValueError) as error:
        nn.Conv2d(1, 6, 5)(tinycv.zeros(8, 3, 32, 32))
    assert str(error.value) == (
        "Conv2d(1, 6, kernel_size=(5, 5)): expected input (N, 1, H, W), "
        "got (8, 3, 32, 32)"
    )
    with pytest.raises(
        ValueError, match=r"Linear\(in_features=4.*\(\*, 4\), got \(2, 5\)"
    ):
        nn.Linear(4, 2)(tinycv.zeros(2, 5))
    with pytest.raises(
        ValueError, match=r"BatchNorm2d\(3.*\(N, 3, H, W\), got \(2, 3\)"
    ):
        nn.BatchNorm2d(3)(tinycv.zeros(2, 3))
    with pytest.raises(ValueError, match=r"LSTM\(3, 4\): expected input \(L, N, 3\)"):
        nn.LSTM(3, 4)(tinycv.zeros(5, 2, 2))
    with pytest.raises(ValueError, match="MaxPool2d"):
        nn.MaxPool2d(2)(tinycv.zeros(4, 4))


# ---- initialisation ------------------------------------------------------------


def test_init_functions_follow_their_formulas():
    w = tinycv.zeros(400, 250)
    assert np.all(init.constant_(w, 0.3).data == np.float32(0.3))
    assert np.all(init.zeros_(w).data == 0)
    assert init.small_random_(w).data.std() == pytest.approx(0.01, rel=0.02)
    relu_std = init.kaiming_normal_(w, nonlinearity="relu").data.std()
    assert relu_std == pytest.approx(math.sqrt(2 / 250), rel=0.02)
    bound = math.sqrt(3) * math.sqrt(2 / (1 + 5)) / math.sqrt(250)
    values = init.kaiming_uniform_(w, a=math.sqrt(5)).data
    assert np.abs(values).max() <= bound and np.abs(values).max() > 0.99 * bound
    assert init.xavier_normal_(w).data.std() == pytest.approx(
        math.sqrt(2 / 650), rel=0.02
    )
    values = init.xavier_uniform_(w, gain=2.0).data
    assert np.abs(values).max() <= 2 * math.sqrt(6 / 650)
    assert w.dtype == np.float32


def test_gain_and_fans():
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert init.calculate_gain("conv2d") == 1.0
    assert init.fan_in_and_fan_out(tinycv.zeros(6, 3, 5, 5)) == (75, 150)
    with pytest.raises(ValueError, match="at least 2 dims"):
        init.xavier_normal_(tinycv.zeros(3))


def test_init_is_seeded():
    tinycv.manual_seed(7)
    first = nn.Linear(3, 3).weight.data.copy()
    tinycv.manual_seed(7)
    np.testing.assert_array_equal(nn.Linear(3, 3).weight.data, first)


def test_layer_defaults_are_uniform_in_one_over_sqrt_fan_in():
    conv = nn.Conv2d(4, 8, 3)
    bound = 1 / math.sqrt(4 * 9)
    assert np.abs(conv.weight.data).max() <= bound
    assert np.abs(conv.bias.data).max() <= bound
    assert conv.weight.data.std() == pytest.approx(bound / math.sqrt(3), rel=0.15)


def test_zero_init_leaves_hidden_units_identical():
    # The symmetry lesson: with equal weights, every hidden unit gets the same
    # gradient, so training can never make them differ.
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    for param in model.parameters():
        init.constant_(param, 0.5)
    F.mse_loss(model(tinycv.randn(5, 3)), tinycv.randn(5, 1)).backward()
    grad = model[0].weight.grad.data
    np.testing.assert_allclose(grad, np.broadcast_to(grad[0], grad.shape), rtol=1e-5)


# ---- linear and convolution ---------------------------------------------------


def test_linear():
    layer = nn.Linear(4, 3).double()
    x = rand(2, 5, 4)
    close(layer(tinycv.tensor(x)), x @ layer.weight.data.T + layer.bias.data)
    check_layer(nn.Linear(3, 2), 2, 3)
    assert nn.Linear(3, 2, bias=False).bias is None


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"stride": 2, "padding": 1},
        {"dilation": 2, "padding": 2},
        {"groups": 2, "bias": False},
    ],
)
def test_conv2d(settings):
    layer = nn.Conv2d(4, 6, 3, **settings).double()
    x = rand(2, 4, 7, 7)
    bias = None if layer.bias is None else layer.bias.data
    expected = conv2d_reference(
        x,
        layer.weight.data,
        bias,
        layer.stride,
        layer.padding,
        layer.dilation,
        layer.groups,
    )
    close(layer(tinycv.tensor(x)), expected)


def test_conv2d_gradcheck_and_same_padding():
    check_layer(nn.Conv2d(2, 2, 3, stride=2, padding=1), 1, 2, 5, 5)
    check_layer(nn.Conv2d(2, 4, 3, groups=2), 1, 2, 4, 4)
    assert nn.Conv2d(1, 1, 5, padding="same")(tinycv.zeros(1, 1, 9, 9)).shape == (
        1,
        1,
        9,
        9,
    )
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)


def test_conv3d():
    layer = nn.Conv3d(2, 3, (2, 3, 3), stride=1, padding=(0, 1, 1)).double()
    x = rand(1, 2, 3, 4, 4)
    xp = np.pad(x, ((0, 0), (0, 0), (0, 0), (1, 1), (1, 1)))
    w = layer.weight.data
    expected = np.zeros((1, 3, 2, 4, 4))
    for d in range(2):
        for i in range(4):
            for j in range(4):
                patch = xp[:, :, d : d + 2, i : i + 3, j : j + 3]
                expected[:, :, d, i, j] = np.einsum("ncdhw,ocdhw->no", patch, w)
    close(layer(tinycv.tensor(x)), expected + layer.bias.data.reshape(1, 3, 1, 1, 1))
    check_layer(nn.Conv3d(1, 2, 2), 1, 1, 3, 3, 3)


def test_conv_layers_match_torch():
    torch = pytest.importorskip("torch")
    cases = [
        (
            nn.Conv2d,
            torch.nn.Conv2d,
            (4, 6, 3),
            {"stride": 2, "dilation": 2, "groups": 2},
        ),
        (
            nn.Conv3d,
            torch.nn.Conv3d,
            (4, 2, 2),
            {"padding": 1, "dilation": 2, "groups": 2},
        ),
        (nn.ConvTranspose2d, torch.nn.ConvTranspose2d, (4, 2, 3), {"stride": 2}),
    ]
    for ours_class, theirs_class, args, settings in cases:
        ours = ours_class(*args, **settings).double()
        theirs = theirs_class(*args, **settings).double()
        theirs.load_state_dict(
            {k: torch.tensor(v.data) for k, v in ours.state_dict().items()}
        )
        x = rand(1, 4, *([5] * (ours.weight.ndim - 2)))
        close(ours(tinycv.tensor(x)), theirs(torch.tensor(x)).detach().numpy())


def test_conv_transpose2d():
    layer = nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1).double()
    x = rand(2, 3, 4, 4)
    expected = conv_transpose2d_reference(
        x, layer.weight.data, layer.bias.data, 2, 1, 1
    )
    out = layer(tinycv.tensor(x))
    assert out.shape == (2, 2, 8, 8)
    close(out, expected)
    check_layer(nn.ConvTranspose2d(2, 2, 3, stride=2), 1, 2, 3, 3)


# ---- pooling and resizing ---------------------------------------------------


def test_pooling_layers():
    x = rand(2, 3, 6, 6)
    close(nn.MaxPool2d(2)(tinycv.tensor(x)), pool2d_reference(x, 2, 2, 0, np.max))
    close(nn.MaxPool2d(3, 2, 1)(tinycv.tensor(x)), pool2d_reference(x, 3, 2, 1, np.max))
    close(nn.AvgPool2d(2)(tinycv.tensor(x)), pool2d_reference(x, 2, 2, 0, np.mean))
    close(
        nn.AvgPool2d(3, 1, 1)(tinycv.tensor(x)), pool2d_reference(x, 3, 1, 1, np.mean)
    )
    close(nn.AdaptiveAvgPool2d(1)(tinycv.tensor(x)), x.mean(axis=(2, 3), keepdims=True))
    x3 = rand(1, 2, 4, 4, 4)
    blocks = x3.reshape(1, 2, 2, 2, 2, 2, 2, 2)
    close(nn.MaxPool3d(2)(tinycv.tensor(x3)), blocks.max(axis=(3, 5, 7)))
    close(nn.AvgPool3d(2)(tinycv.tensor(x3)), blocks.mean(axis=(3, 5, 7)))
    for layer in (nn.MaxPool2d(2), nn.AvgPool2d(2, 1, 1), nn.AdaptiveAvgPool2d(2)):
        check_layer(layer, 1, 2, 4, 4)
    check_layer(nn.AvgPool3d(2), 1, 1, 2, 4, 4)
    check_layer(nn.MaxPool3d(2), 1, 1, 2, 4, 4)
    with pytest.raises(ValueError, match="ceil_mode=True is not supported"):
        nn.MaxPool2d(2, ceil_mode=True)


def test_flatten_and_identity():
    x = tinycv.randn(2, 3, 4, 5)
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 1)(x).shape == (6, 4, 5)
    assert nn.Identity(7, whatever=1)(x) is x


def test_upsample_nearest_repeats_pixels():
    x = rand(1, 2, 3, 4)
    expected = x.repeat(2, axis=2).repeat(2, axis=3)
    close(nn.Upsample(scale_factor=2)(tinycv.tensor(x)), expected)
    close(F.interpolate(tinycv.tensor(x), size=(6, 8)), expected)
    check_layer(nn.Upsample(scale_factor=2), 1, 1, 2, 3)


def test_upsample_bilinear():
    x = rand(1, 1, 2, 2)
    out = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)(
        tinycv.tensor(x)
    )
    a, b, c, d = x[0, 0].ravel()
    # Corners stay; the centre is the mean of all four.
    close(out[0, 0, [0, 0, 3, 3], [0, 3, 0, 3]], [a, b, c, d])
    y = np.linspace(0, 1, 4)[:, None]
    xs = np.linspace(0, 1, 4)[None, :]
    expected = a * (1 - y) * (1 - xs) + b * (1 - y) * xs + c * y * (1 - xs) + d * y * xs
    close(out[0, 0], expected)
    check_layer(nn.Upsample(size=(5, 3), mode="bilinear"), 1, 2, 3, 4)
    with pytest.raises(ValueError, match="needs 4-D input"):
        F.interpolate(tinycv.zeros(1, 1, 4), scale_factor=2, mode="bilinear")


@pytest.mark.parametrize("align_corners", [False, True])
def test_upsample_matches_torch(align_corners):
    torch = pytest.importorskip("torch")
    x = rand(2, 3, 5, 4)
    for size in [(7, 9), (3, 2)]:
        ours = F.interpolate(
            tinycv.tensor(x), size=size, mode="bilinear", align_corners=align_corners
        )
        theirs = torch.nn.functional.interpolate(
            torch.tensor(x), size=size, mode="bilinear", align_corners=align_corners
        )
        close(ours, theirs.numpy())
    ours = F.interpolate(tinycv.tensor(x), size=(7, 9))
    close(ours, torch.nn.functional.interpolate(torch.tensor(x), size=(7, 9)).numpy())


# ---- activations ----------------------------------------------------------------


def _gelu_reference(x):
    return x * 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))


ACTIVATIONS = [
    (nn.Sigmoid(), lambda x: 1 / (1 + np.exp(-x))),
    (nn.Tanh(), np.tanh),
    (nn.ReLU(), lambda x: np.maximum(x, 0)),
    (nn.LeakyReLU(0.2), lambda x: np.where(x > 0, x, 0.2 * x)),
    (nn.ELU(1.5), lambda x: np.where(x > 0, x, 1.5 * (np.exp(x) - 1))),
    (nn.GELU(), _gelu_reference),
    (
        nn.GELU("tanh"),
        lambda x: (
            0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
        ),
    ),
    (nn.Softplus(beta=2.0), lambda x: np.log1p(np.exp(2 * x)) / 2),
    (nn.SiLU(), lambda x: x / (1 + np.exp(-x))),
    (nn.Softmax(dim=1), lambda x: np.exp(x) / np.exp(x).sum(1, keepdims=True)),
    (nn.LogSoftmax(dim=1), lambda x: x - np.log(np.exp(x).sum(1, keepdims=True))),
]


@pytest.mark.parametrize("layer, formula", ACTIVATIONS, ids=lambda v: repr(v)[:12])
def test_activation(layer, formula):
    x = rand(3, 4, scale=2.0)
    close(layer(tinycv.tensor(x)), formula(x))
    check_layer(layer, 3, 4)


def test_softmax_and_softplus_are_stable_for_huge_inputs():
    x = tinycv.tensor([[1000.0, 0.0, -1000.0]])
    np.testing.assert_allclose(F.softmax(x, dim=1).data, [[1, 0, 0]])
    np.testing.assert_allclose(F.log_softmax(x, dim=1).data, [[0, -1000, -2000]])
    np.testing.assert_allclose(F.softplus(x).data, [[1000, math.log(2), 0]], rtol=1e-6)
    assert np.isfinite(F.elu(x).data).all()


# ---- dropout ---------------------------------------------------------------------


def test_dropout_scales_kept_units_and_is_identity_in_eval():
    layer = nn.Dropout(p=0.2)
    x = tinycv.ones(200, 500)
    out = layer(x).data
    kept = out != 0
    np.testing.assert_allclose(out[kept], 1 / 0.8, rtol=1e-6)
    assert kept.mean() == pytest.approx(0.8, abs=0.01)
    assert out.mean() == pytest.approx(1.0, abs=0.01)  # expectation preserved

    layer.eval()
    assert layer(x) is x


def test_dropout_keep_prob_is_the_lectures_parameter():
    assert nn.Dropout(keep_prob=0.8).p == pytest.approx(0.2)
    assert nn.Dropout().keep_prob == 0.5
    assert nn.Dropout(keep_prob=0.5).keep_prob == 0.5
    tinycv.manual_seed(3)
    a = F.dropout(tinycv.ones(50), keep_prob=0.8).data
    tinycv.manual_seed(3)
    b = F.dropout(tinycv.ones(50), p=0.2).data
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="either p or keep_prob"):
        nn.Dropout(p=0.5, keep_prob=0.5)
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        nn.Dropout(keep_prob=1.5)
    assert np.all(F.dropout(tinycv.ones(5), p=1.0).data == 0)


def test_dropout_gradient_is_the_same_mask():
    x = tinycv.ones(100, requires_grad=True)
    out = F.dropout(x, keep_prob=0.5)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.data, out.data)


# ---- normalisation ------------------------------------------------------------------


def test_batch_norm_training_uses_batch_statistics_and_updates_running_ones():
    layer = nn.BatchNorm2d(3, momentum=0.1).double()
    init.normal_(layer.weight)
    init.normal_(layer.bias)
    x = rand(4, 3, 5, 5, scale=2.0) + 1.0
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    var = x.var(axis=(0, 2, 3), keepdims=True)  # biased, as in the paper
    gamma = layer.weight.data.reshape(1, 3, 1, 1)
    beta = layer.bias.data.reshape(1, 3, 1, 1)
    close(layer(tinycv.tensor(x)), gamma * (x - mean) / np.sqrt(var + 1e-5) + beta)

    unbiased = x.var(axis=(0, 2, 3), ddof=1)
    close(layer.running_mean, 0.1 * mean.ravel())
    close(layer.running_var, 0.9 + 0.1 * unbiased)
    assert layer.num_batches_tracked.item() == 1


def test_batch_norm_eval_uses_running_statistics():
    layer = nn.BatchNorm1d(4).double()
    layer.running_mean.data = np.array([1.0, 2.0, 3.0, 4.0])
    layer.running_var.data = np.array([1.0, 4.0, 9.0, 16.0])
    layer.eval()
    x = rand(3, 4)
    expected = (x - layer.running_mean.data) / np.sqrt(layer.running_var.data + 1e-5)
    close(layer(tinycv.tensor(x)), expected)
    # Eval does not touch the running statistics, and one sample is fine.
    layer(tinycv.tensor(x[:1]))
    assert layer.num_batches_tracked.item() == 0


def test_batch_norm_options():
    x = rand(6, 2, 3)
    cumulative = nn.BatchNorm1d(2, momentum=None).double()
    cumulative(tinycv.tensor(x[:3]))
    cumulative(tinycv.tensor(x[3:]))
    means = (x[:3].mean(axis=(0, 2)) + x[3:].mean(axis=(0, 2))) / 2
    close(cumulative.running_mean, means)

    untracked = (
        nn.BatchNorm1d(2, affine=False, track_running_stats=False).double().eval()
    )
    assert untracked.running_mean is None and not list(untracked.parameters())
    mean, var = x.mean(axis=(0, 2), keepdims=True), x.var(axis=(0, 2), keepdims=True)
    close(untracked(tinycv.tensor(x)), (x - mean) / np.sqrt(var + 1e-5))

    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(2)(tinycv.zeros(1, 2))


def test_batch_norm_gradcheck_in_both_modes():
    check_layer(nn.BatchNorm2d(2), 3, 2, 2, 2)
    check_layer(nn.BatchNorm1d(3).eval(), 4, 3)


def test_batch_norm_matches_torch():
    torch = pytest.importorskip("torch")
    ours = nn.BatchNorm2d(3).double()
    theirs = torch.nn.BatchNorm2d(3).double()
    for seed in range(3):
        x = rand(4, 3, 2, 2, seed=seed)
        close(ours(tinycv.tensor(x)), theirs(torch.tensor(x)).detach().numpy())
    for key, value in theirs.state_dict().items():
        close(ours.state_dict()[key], value.numpy())


def test_layer_group_instance_norm():
    x = rand(2, 4, 3, 3, scale=3.0)

    def standardize(values, axes):
        mean = values.mean(axis=axes, keepdims=True)
        return (values - mean) / np.sqrt(values.var(axis=axes, keepdims=True) + 1e-5)

    close(nn.LayerNorm((4, 3, 3)).double()(tinycv.tensor(x)), standardize(x, (1, 2, 3)))
    close(nn.LayerNorm(3).double()(tinycv.tensor(x)), standardize(x, (3,)))
    close(nn.InstanceNorm2d(4).double()(tinycv.tensor(x)), standardize(x, (2, 3)))
    grouped = standardize(x.reshape(2, 2, 18), (2,)).reshape(x.shape)
    close(nn.GroupNorm(2, 4).double()(tinycv.tensor(x)), grouped)

    check_layer(nn.LayerNorm(3), 2, 3)
    check_layer(nn.GroupNorm(2, 4), 2, 4, 2)
    check_layer(nn.InstanceNorm2d(2, affine=True), 2, 2, 2, 2)
    with pytest.raises(ValueError, match="divisible by num_groups"):
        nn.GroupNorm(3, 4)


def test_instance_norm_running_stats():
    layer = nn.InstanceNorm2d(2, track_running_stats=True).double()
    x = rand(3, 2, 2, 2)
    layer(tinycv.tensor(x))
    close(layer.running_mean, 0.1 * x.mean(axis=(2, 3)).mean(axis=0))
    layer.eval()
    mean = layer.running_mean.data.reshape(1, 2, 1, 1)
    var = layer.running_var.data.reshape(1, 2, 1, 1)
    close(layer(tinycv.tensor(x)), (x - mean) / np.sqrt(var + 1e-5))


def test_local_response_norm():
    x = rand(2, 5, 2, 2)
    size, alpha, beta, k = 3, 0.1, 0.75, 2.0
    padded = np.pad(x**2, ((0, 0), (1, 1), (0, 0), (0, 0)))
    window = sum(padded[:, i : i + 5] for i in range(size))
    expected = x / (k + alpha / size * window) ** beta
    close(nn.LocalResponseNorm(size, alpha, beta, k)(tinycv.tensor(x)), expected)
    check_layer(nn.LocalResponseNorm(2, 0.5), 1, 3, 2)


# ---- recurrent ---------------------------------------------------------------------


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def lstm_by_hand(x, w_ih, w_hh, b_ih, b_hh, hidden):
    """One layer of LSTM unrolled in numpy, gates i, f, g, o."""
    h = np.zeros((x.shape[1], hidden))
    c = np.zeros_like(h)
    outputs = []
    for x_t in x:
        z = x_t @ w_ih.T + b_ih + h @ w_hh.T + b_hh
        i, f, g, o = np.split(z, 4, axis=1)
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
        outputs.append(h)
    return np.array(outputs), h, c


def test_lstm_matches_a_hand_unrolled_cell():
    lstm = nn.LSTM(3, 4).double()
    assert lstm.weight_ih_l0.shape == (16, 3) and lstm.weight_hh_l0.shape == (16, 4)
    assert lstm.bias_ih_l0.shape == (16,)
    x = rand(5, 2, 3)
    output, (h_n, c_n) = lstm(tinycv.tensor(x))
    params = [
        getattr(lstm, n).data
        for n in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
    ]
    outputs, h, c = lstm_by_hand(x, *params, hidden=4)
    close(output, outputs)
    close(h_n, h[None])
    close(c_n, c[None])


def test_lstm_batch_first_two_layers_and_initial_state():
    lstm = nn.LSTM(3, 4, num_layers=2, batch_first=True).double()
    x = rand(2, 5, 3)
    output, (h_n, c_n) = lstm(tinycv.tensor(x))
    assert output.shape == (2, 5, 4) and h_n.shape == c_n.shape == (2, 2, 4)
    first = [
        getattr(lstm, f"{n}_l0").data
        for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    ]
    second = [
        getattr(lstm, f"{n}_l1").data
        for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    ]
    layer0, _, _ = lstm_by_hand(x.transpose(1, 0, 2), *first, hidden=4)
    layer1, h1, _ = lstm_by_hand(layer0, *second, hidden=4)
    close(output, layer1.transpose(1, 0, 2))
    close(h_n[1], h1)

    h0 = tinycv.zeros(2, 2, 4, dtype=tinycv.float64)
    with pytest.raises(ValueError, match=r"expected c_0 of shape \(2, 2, 4\)"):
        lstm(tinycv.tensor(x), (h0, tinycv.zeros(1, 2, 4)))


def test_rnn_matches_its_formula_and_backprops_through_time():
    rnn = nn.RNN(2, 3).double()
    x = rand(4, 1, 2)
    output, h_n = rnn(tinycv.tensor(x))
    h = np.zeros((1, 3))
    for x_t in x:
        h = np.tanh(
            x_t @ rnn.weight_ih_l0.data.T
            + rnn.bias_ih_l0.data
            + h @ rnn.weight_hh_l0.data.T
            + rnn.bias_hh_l0.data
        )
    close(h_n[0], h)
    close(output[-1], h)
    check_layer(nn.RNN(2, 2, num_layers=2), 2, 1, 2)
    check_layer(nn.LSTM(2, 2), 3, 1, 2)


def test_rnn_unbatched_bidirectional_and_cells():
    rnn = nn.RNN(3, 4, bidirectional=True)
    output, h_n = rnn(tinycv.randn(6, 3))
    assert output.shape == (6, 8) and h_n.shape == (2, 4)
    assert "weight_hh_l0_reverse" in rnn.state_dict()

    cell = nn.LSTMCell(3, 4)
    h, c = cell(tinycv.randn(2, 3))
    assert h.shape == c.shape == (2, 4)
    assert nn.RNNCell(3, 4)(tinycv.randn(2, 3), h).shape == (2, 4)


@pytest.mark.parametrize("kind", ["RNN", "LSTM"])
def test_recurrent_layers_match_torch(kind):
    torch = pytest.importorskip("torch")
    settings = {"num_layers": 2, "bidirectional": True, "batch_first": True}
    ours = getattr(nn, kind)(3, 4, **settings).double()
    theirs = getattr(torch.nn, kind)(3, 4, **settings).double()
    theirs.load_state_dict(
        {k: torch.tensor(v.data) for k, v in ours.state_dict().items()}
    )
    x = rand(2, 5, 3)
    out, state = ours(tinycv.tensor(x))
    their_out, their_state = theirs(torch.tensor(x))
    close(out, their_out.detach().numpy())
    if kind == "LSTM":
        state, their_state = state[1], their_state[1]
    close(state, their_state.detach().numpy())


# ---- attention -------------------------------------------------------------------


def test_soft_attention_weights_sum_to_one_and_mix_the_features():
    attention = nn.SoftAttention(feature_dim=5, query_dim=3, attention_dim=4).double()
    features, query = rand(2, 6, 5), rand(2, 3, seed=1)
    context, weights = attention(tinycv.tensor(features), tinycv.tensor(query))
    assert context.shape == (2, 5) and weights.shape == (2, 6)
    np.testing.assert_allclose(weights.data.sum(axis=1), 1.0)

    p = {name: param.data for name, param in attention.named_parameters()}
    hidden = np.tanh(
        features @ p["feature_proj.weight"].T
        + p["feature_proj.bias"]
        + (query @ p["query_proj.weight"].T + p["query_proj.bias"])[:, None]
    )
    scores = (hidden @ p["score.weight"].T + p["score.bias"])[..., 0]
    alpha = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    close(weights, alpha)
    close(context, (alpha[..., None] * features).sum(axis=1))

    query_leaf = leaf(query)
    assert tinycv.gradcheck(lambda f, q: attention(f, q)[0], leaf(features), query_leaf)


def test_channel_attention_is_squeeze_and_excitation():
    se = nn.ChannelAttention(32).double()
    assert se.fc1.out_features == 2  # reduction 16
    x = rand(2, 32, 3, 3)
    squeezed = x.mean(axis=(2, 3))
    hidden = np.maximum(squeezed @ se.fc1.weight.data.T + se.fc1.bias.data, 0)
    scale = _sigmoid(hidden @ se.fc2.weight.data.T + se.fc2.bias.data)
    close(se(tinycv.tensor(x)), x * scale[:, :, None, None])
    check_layer(nn.ChannelAttention(4, reduction=2), 1, 4, 2, 2)


def test_spatial_attention_convolves_mean_and_max_maps():
    sa = nn.SpatialAttention(3).double()
    x = rand(2, 4, 5, 5)
    maps = np.stack([x.mean(axis=1), x.max(axis=1)], axis=1)
    attention = _sigmoid(
        conv2d_reference(maps, sa.conv.weight.data, None, padding=(1, 1))
    )
    close(sa.weights(tinycv.tensor(x)), attention)
    close(sa(tinycv.tensor(x)), x * attention)
    assert nn.SpatialAttention().conv.weight.shape == (1, 2, 7, 7)
    check_layer(nn.SpatialAttention(3), 1, 2, 3, 3)


# ---- losses ------------------------------------------------------------------------


def test_mse_and_the_lectures_sum_squared_error():
    y, t = rand(4, 3), rand(4, 3, seed=1)
    close(F.mse_loss(tinycv.tensor(y), tinycv.tensor(t)), ((y - t) ** 2).mean())
    close(
        nn.MSELoss(reduction="sum")(tinycv.tensor(y), tinycv.tensor(t)),
        ((y - t) ** 2).sum(),
    )
    close(
        nn.SumSquaredError()(tinycv.tensor(y), tinycv.tensor(t)), ((t - y) ** 2).sum()
    )
    assert tinycv.gradcheck(lambda a: F.sum_squared_error(a, tinycv.tensor(t)), leaf(y))
    with pytest.raises(
        ValueError, match=r"input has shape \(4, 1\) but target has shape \(4,\)"
    ):
        F.mse_loss(tinycv.zeros(4, 1), tinycv.zeros(4))


def _log_softmax(x):
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def test_cross_entropy_with_class_indices():
    logits = rand(5, 4, scale=3.0)
    target = np.array([0, 3, 1, 1, 2])
    log_p = _log_softmax(logits)
    picked = -log_p[np.arange(5), target]
    close(F.cross_entropy(tinycv.tensor(logits), target), picked.mean())
    close(
        nn.CrossEntropyLoss(reduction="none")(
            tinycv.tensor(logits), tinycv.tensor(target)
        ),
        picked,
    )
    close(F.nll_loss(tinycv.tensor(log_p), target, reduction="sum"), picked.sum())

    weight = np.array([1.0, 2.0, 0.5, 3.0])
    weighted = F.cross_entropy(
        tinycv.tensor(logits), target, weight=tinycv.tensor(weight)
    )
    close(weighted, (picked * weight[target]).sum() / weight[target].sum())

    ignored = np.array([0, 3, -100, 1, 2])
    keep = ignored != -100
    close(F.cross_entropy(tinycv.tensor(logits), ignored), picked[keep].mean())
    assert tinycv.gradcheck(lambda z: F.cross_entropy(z, target), leaf(logits))


def test_cross_entropy_with_probabilities_and_label_smoothing():
    logits = rand(3, 4)
    probabilities = np.abs(rand(3, 4, seed=2))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    expected = -(probabilities * _log_softmax(logits)).sum(axis=1).mean()
    close(
        F.cross_entropy(tinycv.tensor(logits), tinycv.tensor(probabilities)), expected
    )

    target = np.array([1, 0, 3])
    smooth = 0.9 * np.eye(4)[target] + 0.1 / 4
    expected = -(smooth * _log_softmax(logits)).sum(axis=1).mean()
    close(F.cross_entropy(tinycv.tensor(logits), target, label_smoothing=0.1), expected)


def test_cross_entropy_is_stable_and_checks_targets():
    logits = tinycv.tensor([[1000.0, -1000.0]], requires_grad=True)
    loss = F.cross_entropy(logits, [1])
    loss.backward()
    assert loss.item() == pytest.approx(2000.0)
    np.testing.assert_allclose(logits.grad.data, [[1.0, -1.0]])
    with pytest.raises(ValueError, match="target 5 is out of range for 2 classes"):
        F.cross_entropy(logits, [5])
    with pytest.raises(ValueError, match=r"needs class targets of shape \(1,\)"):
        F.cross_entropy(logits, [0, 1])


def test_cross_entropy_matches_torch():
    torch = pytest.importorskip("torch")
    logits = rand(2, 3, 4, 2)
    target = np.random.default_rng(0).integers(0, 3, (2, 4, 2))
    target[0, 0, 0] = -100
    weight = np.array([0.5, 1.0, 2.0])
    for reduction in ("mean", "none"):
        ours = F.cross_entropy(
            tinycv.tensor(logits),
            target,
            tinycv.tensor(weight),
            reduction=reduction,
            label_smoothing=0.2,
        )
        theirs = torch.nn.functional.cross_entropy(
            torch.tensor(logits),
            torch.tensor(target),
            torch.tensor(weight),
            reduction=reduction,
            label_smoothing=0.2,
        )
        close(ours, theirs.numpy())


def test_binary_cross_entropy_and_with_logits():
    p = np.random.default_rng(0).uniform(0.05, 0.95, (4, 2))
    y = np.array([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    bce = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    close(F.binary_cross_entropy(tinycv.tensor(p), tinycv.tensor(y)), bce.mean())
    close(nn.BCELoss(reduction="none")(tinycv.tensor(p), tinycv.tensor(y)), bce)

    z = np.log(p / (1 - p))  # the logits of p
    close(
        F.binary_cross_entropy_with_logits(tinycv.tensor(z), tinycv.tensor(y)),
        bce.mean(),
    )
    pos_weight = np.array([2.0, 3.0])
    weighted = -(pos_weight * y * np.log(p) + (1 - y) * np.log(1 - p))
    loss = nn.BCEWithLogitsLoss(pos_weight=tinycv.tensor(pos_weight))
    close(loss(tinycv.tensor(z), tinycv.tensor(y)), weighted.mean())
    assert tinycv.gradcheck(
        lambda a: F.binary_cross_entropy_with_logits(a, tinycv.tensor(y)), leaf(z)
    )
    assert tinycv.gradcheck(
        lambda a: F.binary_cross_entropy(a, tinycv.tensor(y)), leaf(p)
    )
    with pytest.raises(ValueError, match="probabilities in \\[0, 1\\]"):
        F.binary_cross_entropy(tinycv.tensor(z) * 10, tinycv.tensor(y))


def test_binary_cross_entropy_with_logits_is_stable():
    z = tinycv.tensor([500.0, -500.0, 0.0], requires_grad=True)
    y = tinycv.tensor([0.0, 1.0, 1.0])
    loss = F.binary_cross_entropy_with_logits(z, y, reduction="sum")
    loss.backward()
    assert loss.item() == pytest.approx(1000 + math.log(2))
    # d/dz = sigmoid(z) - y, right even at z = 0 where a zero-initialised
    # logistic regression starts.
    np.testing.assert_allclose(z.grad.data, [1.0, -1.0, -0.5])
    assert (
        F.binary_cross_entropy(tinycv.tensor([0.0]), tinycv.tensor([1.0])).item()
        == 100.0
    )


def test_delattr_removes_plain_attributes_and_registered_ones():
    m = nn.Linear(2, 3)
    m.note = "plain"
    del m.note
    assert not hasattr(m, "note")
    del m.bias
    assert "bias" not in dict(m.named_parameters())
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        del m.missing
