"""The mlp lesson: XOR through a hidden layer, and capacity on a spiral."""

import pytest

from tinycv import lessons
from tinycv.data import logic_gate

mlp = pytest.importorskip("tinycv.lessons.mlp")


@pytest.fixture(scope="module")
def ran():
    lesson = lessons.load("mlp", seed=3, fast=True)
    states = list(lesson.steps())
    return lesson, states


def test_xor_is_solved_and_separable_in_the_hidden_layer(ran):
    lesson, _ = ran
    points, labels = logic_gate("xor")
    labels = labels.astype(int)
    assert (mlp.classify(lesson.xor_model, points) == labels).all()
    # The output unit is a perceptron on h: one line splits the hidden points.
    hidden = mlp.hidden_outputs(lesson.xor_model, points)
    assert hidden.shape == (4, 2)
    assert (lesson._output_unit(hidden) == labels).all()


def test_capacity_grows_with_hidden_units(ran):
    lesson, states = ran
    spiral = lesson.results["spiral"]
    assert set(spiral) == {1, 3, 20}
    assert spiral[1]["parameters"] == 2 + 1 + 1 + 1
    assert spiral[20]["parameters"] == 2 * 20 + 20 + 20 + 1
    assert spiral[20]["accuracy"] > 0.9 > spiral[1]["accuracy"]
    assert spiral[20]["error"] < spiral[3]["error"] < spiral[1]["error"]
    assert states[-1].title.startswith("hidden-layer size")


def test_sizes_option():
    lesson = lessons.load("mlp", fast=True, sizes=(20, 1, 3, 3))
    assert lesson.sizes == (1, 3, 20)
    with pytest.raises(ValueError, match="sizes"):
        lessons.load("mlp", sizes=(0, 3))


def test_one_hidden_unit_cannot_solve_xor():
    # f = σ(v·tanh(w·x + b) + c) only ever draws one line: every start fails.
    lesson = lessons.load("mlp", seed=0, fast=True, xor_hidden=1, xor_steps=60)
    next(lesson._xor())
    assert lesson.results["xor"]["accuracy"] < 1.0
    assert lesson.results["xor"]["attempts"] == mlp.MAX_XOR_STARTS


def test_figure(ran):
    plt = pytest.importorskip("matplotlib.pyplot")
    lesson, _ = ran
    lesson.check()
    figure = lesson.figure(plt)
    assert len(figure.axes) == 1 + 3
    plt.close(figure)
