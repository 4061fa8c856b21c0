"""The backprop lesson: its gradients, its tables and its numerical check."""

import numpy as np
import pytest
from click.testing import CliRunner

from tinycv import lessons
from tinycv.cli import main

backprop = pytest.importorskip("tinycv.lessons.backprop")


def test_every_node_is_shown_forward_and_backward():
    lesson = lessons.load("backprop", seed=3, fast=True)
    states = list(lesson.steps())
    net = backprop.Network(2, "tanh", np.random.default_rng(0))
    error = net.error((1.0, 0.0), 1.0)
    nodes = backprop.graph_nodes(error)
    # 9 weights, 3 constants (x1, x2, y); per hidden unit two products, two
    # sums and tanh; the output two products, two sums and sigmoid; e and E.
    assert len(nodes) == 9 + 3 + 2 * 5 + 5 + 2
    assert nodes[-1] is error and len({node.label for node in nodes}) == len(nodes)
    assert "29 nodes" in str(states[0].body[0])


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
@pytest.mark.parametrize("hidden", [1, 3])
def test_gradients_match_central_differences(activation, hidden):
    lesson = lessons.load(
        "backprop",
        seed=5,
        fast=True,
        hidden=hidden,
        activation=activation,
        iterations=20,
    )
    list(lesson.steps())
    verdict = lesson.check()
    assert verdict.passed, verdict.measured
    assert lesson.results["worst_relative_error"] < 1e-6


def test_a_wrong_gradient_is_caught():
    lesson = lessons.load("backprop", seed=0, fast=True)
    net = backprop.Network(2, "tanh", np.random.default_rng(1))
    lesson.results["worst_relative_error"] = 0.0
    net.total_error(backprop.XOR_INPUTS, backprop.XOR_TARGETS).backward()
    net.params["v1"].grad *= 1.001
    rows = lesson._check_weights(net)
    worst = max(rows, key=lambda row: row[-1])
    assert worst[0] == "v1" and worst[-1] > 1e-4


def test_backward_follows_the_chain_rule_by_hand():
    net = backprop.Network(1, "tanh", np.random.default_rng(2))
    x, y = (1.0, 1.0), 0.0
    error = net.error(x, y)
    error.backward()
    p = {name: s.data for name, s in net.params.items()}
    h = np.tanh(p["b1"] + p["w11"] + p["w12"])
    f = 1 / (1 + np.exp(-(p["c"] + p["v1"] * h)))
    # dE/dv1 = 2(f - y) · f(1 - f) · h
    assert net.params["v1"].grad == pytest.approx(2 * (f - y) * f * (1 - f) * h)


def test_a_small_step_lowers_the_error():
    lesson = lessons.load("backprop", seed=4, fast=True, learning_rate=0.1)
    list(lesson.steps())
    before, after = lesson.results["first_step"]
    assert after < before


def test_bad_options_exit_2():
    result = CliRunner().invoke(main, ["lesson", "backprop", "--hidden", "0"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    result = CliRunner().invoke(main, ["lesson", "backprop", "--activation", "relu"])
    assert result.exit_code == 2


def test_figure():
    plt = pytest.importorskip("matplotlib.pyplot")
    lesson = lessons.load("backprop", seed=0, fast=True)
    lesson.run()
    figure = lesson.figure(plt)
    assert figure is not None
    plt.close(figure)
