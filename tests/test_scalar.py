"""Scalar: its gradients against central differences and against Tensor."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinycv
from tinycv import Scalar

finite = st.floats(-2.0, 2.0, allow_nan=False)


def expression(lib, a, b):
    """The same formula for Scalars and for Tensors (``lib`` is the module)."""
    c = a * b + a / (b * b + 1.0) - 3.0
    d = (c.tanh() + a.sigmoid() * 2.0) ** 2
    e = (a * a + 1.0).log() + (b * 0.5).exp() - (a + 3.0).relu() + (b - 3.0).relu()
    return d * e + (1.0 - b) / 2.0


@given(a=finite, b=finite)
@settings(max_examples=50, deadline=None)
def test_scalar_matches_tensor(a, b):
    sa, sb = Scalar(a), Scalar(b)
    out = expression(None, sa, sb)
    out.backward()

    ta = tinycv.tensor(a, dtype=tinycv.float64, requires_grad=True)
    tb = tinycv.tensor(b, dtype=tinycv.float64, requires_grad=True)
    tout = expression(None, ta, tb)
    tout.backward()

    assert out.data == pytest.approx(tout.item(), rel=1e-9, abs=1e-12)
    assert sa.grad == pytest.approx(ta.grad.item(), rel=1e-7, abs=1e-9)
    assert sb.grad == pytest.approx(tb.grad.item(), rel=1e-7, abs=1e-9)


@given(a=finite, b=finite)
@settings(max_examples=50, deadline=None)
def test_scalar_gradients_by_central_differences(a, b):
    h = 1e-6
    sa, sb = Scalar(a), Scalar(b)
    expression(None, sa, sb).backward()

    def f(x, y):
        return expression(None, Scalar(x), Scalar(y)).data

    assert sa.grad == pytest.approx(
        (f(a + h, b) - f(a - h, b)) / (2 * h), rel=1e-5, abs=1e-6
    )
    assert sb.grad == pytest.approx(
        (f(a, b + h) - f(a, b - h)) / (2 * h), rel=1e-5, abs=1e-6
    )


def test_every_node_keeps_its_gradient_and_graph_release():
    a, b = Scalar(2.0, "a"), Scalar(-3.0, "b")
    c = a * b
    d = c + a
    d.backward(retain_graph=True)
    assert (a.grad, b.grad, c.grad, d.grad) == (-2.0, 2.0, 1.0, 1.0)
    assert c._parents  # kept
    d.backward()
    assert a.grad == -4.0  # accumulated, as in PyTorch
    assert not c._parents and not d._parents  # released


def test_deep_scalar_chain():
    x = Scalar(1.0)
    y = x
    for _ in range(50000):
        y = y * 1.0 + 0.0
    y.backward()
    assert x.grad == 1.0


def test_scalar_errors_and_misc():
    with pytest.raises(TypeError, match="exponent"):
        Scalar(2.0) ** Scalar(2.0)
    with pytest.raises(TypeError, match="cannot combine"):
        Scalar(1.0) + "x"
    with pytest.raises(ValueError, match="positive"):
        Scalar(-1.0).log()
    assert math.isclose(Scalar(1000.0).sigmoid().data, 1.0)
    assert Scalar(-1000.0).sigmoid().data == pytest.approx(0.0)
    with tinycv.no_grad():
        z = Scalar(2.0) * 3
    assert not z._parents
    assert "a=2" in repr(Scalar(2.0, "a"))


def test_show_graph_prints_every_node():
    from rich.console import Console

    a, b = Scalar(2.0, "a"), Scalar(-3.0, "b")
    out = a * b + a
    out.backward(retain_graph=True)
    console = Console(record=True, width=100)
    console.print(tinycv.show_graph(out))
    text = console.export_text()
    assert "a data=2 grad=-2" in text and "b data=-3 grad=2" in text
    assert "(see above)" in text


def test_scalar_step_leaves_no_garbage():
    import gc

    rng = np.random.default_rng(0)
    w = [Scalar(v) for v in rng.standard_normal(5)]
    gc.collect()
    gc.disable()
    try:
        for _ in range(20):
            loss = sum((wi * 2.0 - 1.0).tanh() ** 2 for wi in w)
            loss.backward()
        assert gc.collect() == 0
    finally:
        gc.enable()
