"""Every Tensor op's backward against central differences (float64).

Shapes are drawn by hypothesis, including broadcasting and non-contiguous
inputs (transposed views), so each gradient is checked over every element.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinycv
from tinycv import gradcheck

SETTINGS = settings(max_examples=20, deadline=None)


def leaf(array):
    return tinycv.tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


@st.composite
def arrays(draw, min_dims=1, max_dims=3, positive=False):
    shape = tuple(
        draw(st.lists(st.integers(1, 4), min_size=min_dims, max_size=max_dims))
    )
    seed = draw(st.integers(0, 2**31 - 1))
    values = np.random.default_rng(seed).standard_normal(shape)
    if positive:
        values = np.abs(values) + 0.5
    if draw(st.booleans()) and values.ndim >= 2:
        values = np.ascontiguousarray(values.swapaxes(0, 1)).swapaxes(0, 1)
        assert values.ndim < 2 or not values.flags.c_contiguous or 1 in values.shape
    return values


@st.composite
def broadcast_pair(draw):
    a = draw(arrays(min_dims=1, max_dims=3))
    # b: drop leading dims and set some dims to 1 so it broadcasts against a
    keep = draw(st.integers(0, a.ndim - 1))
    shape = [1 if draw(st.booleans()) else n for n in a.shape[keep:]]
    seed = draw(st.integers(0, 2**31 - 1))
    # the offset keeps a and b apart, away from the kinks of maximum and where
    b = np.random.default_rng(seed).standard_normal(shape) + 0.37
    if draw(st.booleans()):
        return b, a
    return a, b


@pytest.mark.parametrize(
    "op",
    [
        lambda a, b: a + b,
        lambda a, b: a - b,
        lambda a, b: a * b,
        lambda a, b: a / (b * b + 1),
        lambda a, b: a.maximum(b),
        lambda a, b: a.minimum(b),
        lambda a, b: tinycv.where(a > b, a, b * 2),
    ],
    ids=["add", "sub", "mul", "div", "maximum", "minimum", "where"],
)
@given(pair=broadcast_pair())
@SETTINGS
def test_binary_ops_broadcast(op, pair):
    a, b = leaf(pair[0]), leaf(pair[1])
    assert gradcheck(op, a, b)
    assert a.grad is None and b.grad is None  # gradcheck leaves grads as found


@pytest.mark.parametrize(
    "op",
    [
        lambda x: x.exp(),
        lambda x: x.log(),
        lambda x: x.sqrt(),
        lambda x: x.abs(),
        lambda x: x.tanh(),
        lambda x: x.sigmoid(),
        lambda x: x.relu(),
        lambda x: x**3,
        lambda x: x**0.5,
        lambda x: 2.0**x,
        lambda x: x.clip(0.7, 1.2),
        lambda x: -x / 3 + 1 - x * 2,
        lambda x: x ** leaf(np.full(x.shape, 1.5)),
    ],
    ids=[
        "exp",
        "log",
        "sqrt",
        "abs",
        "tanh",
        "sigmoid",
        "relu",
        "cube",
        "pow_half",
        "rpow",
        "clip",
        "affine",
        "pow_tensor",
    ],
)
@given(x=arrays(positive=True))
@SETTINGS
def test_unary_ops(op, x):
    assert gradcheck(op, leaf(x))


@given(x=arrays(min_dims=1, max_dims=4), data=st.data())
@SETTINGS
def test_reductions(x, data):
    axis = data.draw(st.one_of(st.none(), st.integers(-x.ndim, x.ndim - 1)))
    keep = data.draw(st.booleans())
    t = leaf(x)
    assert gradcheck(lambda t: t.sum(dim=axis, keepdim=keep), t)
    assert gradcheck(lambda t: t.mean(dim=axis, keepdim=keep), t)
    assert gradcheck(lambda t: t.amax(dim=axis, keepdim=keep), t)
    assert gradcheck(lambda t: t.amin(dim=axis, keepdim=keep), t)
    if x.size > 1:
        assert gradcheck(lambda t: t.var(dim=axis, keepdim=keep), t)


def test_reduction_values_match_numpy():
    x = np.random.default_rng(0).standard_normal((3, 4, 5))
    t = tinycv.tensor(x)
    np.testing.assert_allclose(t.sum(dim=(0, 2)).numpy(), x.sum(axis=(0, 2)))
    np.testing.assert_allclose(t.var(dim=1).numpy(), x.var(axis=1, ddof=1))
    np.testing.assert_allclose(t.var(dim=1, unbiased=False).numpy(), x.var(axis=1))
    values, indices = t.max(dim=2)
    np.testing.assert_allclose(values.numpy(), x.max(axis=2))
    np.testing.assert_array_equal(indices.numpy(), x.argmax(axis=2))


def test_max_ties_share_the_gradient():
    t = leaf([1.0, 3.0, 3.0])
    t.amax().backward()
    np.testing.assert_allclose(t.grad.numpy(), [0, 0.5, 0.5])


@given(x=arrays(min_dims=2, max_dims=4))
@SETTINGS
def test_shape_ops(x):
    t = leaf(x)
    n = x.ndim
    assert gradcheck(lambda t: t.reshape(-1) * 2, t)
    assert gradcheck(lambda t: t.permute(*reversed(range(n))) * 3, t)
    assert gradcheck(lambda t: t.transpose(0, -1).flatten(), t)
    assert gradcheck(lambda t: t.unsqueeze(1).expand(*x.shape[:1], 3, *x.shape[1:]), t)
    assert gradcheck(lambda t: t[0] * t[-1], t)
    assert gradcheck(lambda t: t[:, ::2], t)
    assert gradcheck(lambda t: t[np.array([0, 0, -1])], t)
    assert gradcheck(lambda t: tinycv.cat([t, t * 2], dim=-1), t)
    assert gradcheck(lambda t: tinycv.stack([t, t.exp()], dim=1), t)


@given(
    batch=st.lists(st.integers(1, 3), max_size=2),
    m=st.integers(1, 5),
    k=st.integers(1, 5),
    n=st.integers(1, 5),
    broadcast=st.booleans(),
    transposed=st.booleans(),
)
@SETTINGS
def test_matmul(batch, m, k, n, broadcast, transposed):
    rng = np.random.default_rng(m * 100 + k * 10 + n)
    a = rng.standard_normal(tuple(batch) + (m, k))
    b = rng.standard_normal(((1,) if broadcast and batch else tuple(batch)) + (k, n))
    if transposed:
        a = np.ascontiguousarray(np.swapaxes(a, -1, -2)).swapaxes(-1, -2)
    np.testing.assert_allclose(
        (tinycv.tensor(a) @ tinycv.tensor(b)).numpy(), a @ b, rtol=1e-10, atol=1e-10
    )
    assert gradcheck(lambda a, b: a @ b, leaf(a), leaf(b))


def test_matmul_vectors_and_errors():
    a, v = leaf(np.ones((3, 4))), leaf(np.arange(4.0))
    assert (a @ v).shape == (3,)
    assert (v @ a.T).shape == (3,)
    assert (v @ v).shape == ()
    assert gradcheck(lambda a, v: a @ v, a, v)
    with pytest.raises(ValueError, match=r"matmul: shapes \(3, 4\) and \(3, 4\)"):
        a @ a


def test_gradients_accumulate_and_graph_is_released():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward()
    assert y.grad_fn is None  # released
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2 + 3, 4 + 3])


def test_retain_graph_allows_a_second_backward():
    x = leaf([1.0, 2.0])
    y = (x.exp()).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.exp([1.0, 2.0]))


def test_seed_gradient_for_non_scalar_output():
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    (x * 2).backward(np.array([[1.0, 0.0], [0.5, 2.0]]))
    np.testing.assert_allclose(x.grad.numpy(), [[2, 0], [1, 4]])
    with pytest.raises(RuntimeError, match="one element"):
        (x * 2).backward()


def test_deep_graph_has_no_recursion_limit():
    x = leaf([0.5])
    y = x
    for _ in range(20000):
        y = y * 1.0
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0])


def test_graph_leaves_no_cycles_for_the_collector():
    import gc

    x = leaf(np.ones((4, 4)))
    gc.collect()
    gc.disable()
    try:
        for _ in range(50):
            ((x @ x).tanh() * 2 + 1).sum().backward()
        assert gc.collect() == 0  # plain reference counting freed everything
    finally:
        gc.enable()


def test_no_grad_records_nothing():
    x = leaf([1.0])
    with tinycv.no_grad():
        y = x * 2
    assert not y.requires_grad and y.grad_fn is None

    @tinycv.no_grad()
    def double(t):
        return t * 2

    assert double(x).grad_fn is None
    assert tinycv.is_grad_enabled()


def test_detach_numpy_item_and_dtypes():
    x = tinycv.tensor([1.5, 2.5], requires_grad=True)
    assert x.dtype == tinycv.float32
    assert tinycv.tensor([1, 2]).dtype == tinycv.int64
    assert tinycv.tensor([1.0], dtype=tinycv.float64).dtype == np.float64
    assert (x * 2).detach().grad_fn is None
    assert isinstance(x.numpy(), np.ndarray)
    assert x.sum().item() == pytest.approx(4.0)
    assert x.double().dtype == tinycv.float64
    with pytest.raises(TypeError, match="only floating-point"):
        tinycv.tensor([1, 2], requires_grad=True)
    with pytest.raises(ValueError, match="item"):
        x.item()


def test_factories_are_seeded():
    tinycv.manual_seed(3)
    a = tinycv.randn(2, 3)
    tinycv.manual_seed(3)
    b = tinycv.randn((2, 3))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert tinycv.zeros(2, 3).shape == (2, 3)
    assert tinycv.ones(4).numpy().sum() == 4
    assert tinycv.eye(3).numpy().trace() == 3
    assert tinycv.arange(5).dtype == tinycv.int64
    assert tinycv.arange(0.0, 1.0, 0.25).shape == (4,)
    assert 0 <= tinycv.rand(100).numpy().min() and tinycv.rand(100).numpy().max() < 1
    assert tinycv.full((2, 2), 7.0).numpy().sum() == 28


def test_reshape_error_names_shapes():
    with pytest.raises(
        ValueError, match=r"reshape: cannot reshape a tensor of shape \(2, 3\)"
    ):
        tinycv.zeros(2, 3).reshape(4, 2)


def test_gradcheck_reports_the_worst_element():
    class WrongSquare(tinycv.Function):
        def forward(self, x):
            self.save_for_backward(x)
            return x * x

        def backward(self, grad):
            (x,) = self.saved_tensors
            wrong = 2 * x * grad
            wrong[1] += 1.0
            return (wrong,)

    with pytest.raises(tinycv.GradcheckError, match=r"element \(1,\)"):
        gradcheck(lambda x: WrongSquare.apply(x), leaf([1.0, 2.0, 3.0]))
    with pytest.raises(TypeError, match="float64"):
        gradcheck(lambda x: x * 2, tinycv.tensor([1.0], requires_grad=True))


def test_repr_and_rich_display():
    from rich.console import Console

    x = tinycv.tensor([[1.0, 2.0]], requires_grad=True)
    y = x * 2
    assert "grad_fn=<MulBackward>" in repr(y)
    console = Console(record=True, width=80)
    console.print(y)
    shown = console.export_text()
    assert "(1, 2)" in shown and "float32" in shown and "Mul" in shown


def test_training_steps_do_not_grow_the_number_of_live_objects():
    import gc

    from tinycv import nn, optim

    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))
    sgd = optim.SGD(model.parameters(), lr=0.01)
    x, y = tinycv.randn(16, 3), tinycv.randn(16, 1)

    def step():
        loss = ((model(x) - y) ** 2).mean()
        sgd.zero_grad()
        loss.backward()
        sgd.step()

    for _ in range(5):
        step()
    gc.collect()
    before = len(gc.get_objects())
    for _ in range(50):
        step()
    gc.collect()
    assert len(gc.get_objects()) <= before + 10


def test_gradcheck_accepts_computed_inputs_and_leaves_them_alone():
    x = tinycv.randn(4, 3, requires_grad=True)
    w = tinycv.randn(3, 2, requires_grad=True)
    x64, w64 = x.double(), w.double()
    before = x64.numpy().copy()
    assert gradcheck(lambda x, w: (x @ w).tanh(), x64, w64)
    np.testing.assert_array_equal(x64.numpy(), before)
    assert x.grad is None and w.grad is None
