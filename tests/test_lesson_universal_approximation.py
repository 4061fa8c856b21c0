"""The universal-approximation lesson: the minimax fit and the picture."""

import numpy as np
import pytest
from rich.console import Console

from tinycv import lessons
from tinycv.viz import line_plot

ua = pytest.importorskip("tinycv.lessons.universal_approximation")


def problem(units, seed=0, points=201):
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 1, points)
    w, b = ua.random_units(units, 15.0, rng)
    return ua.hidden_layer(x, w, b), ua.TARGETS["wave"][1](x)


def test_units_step_inside_the_interval():
    w, b = ua.random_units(500, 15.0, np.random.default_rng(0))
    centres = -b / w
    assert centres.min() >= 0 and centres.max() <= 1
    assert (np.abs(w) >= 3).all() and (np.abs(w) <= 15).all()
    assert (w > 0).any() and (w < 0).any()


def test_minimax_is_no_worse_than_least_squares():
    for seed in range(5):
        phi, target = problem(6, seed)
        fit = ua.minimax_fit(phi, target, 5000)
        _, squares = ua.least_squares_fit(phi, target)
        assert fit["max_error"] <= squares * 1.001


def test_the_fit_is_bracketed_by_its_lower_bound():
    phi, target = problem(8, seed=2)
    fit = ua.minimax_fit(phi, target, 5000)
    assert fit["lower_bound"] <= fit["max_error"]
    assert fit["max_error"] <= fit["lower_bound"] * (1 + ua.GAP)
    assert fit["iterations"] < 5000
    # The bound is a real one: random output weights never beat it.
    rng = np.random.default_rng(0)
    for _ in range(200):
        v = fit["v"] + rng.normal(0, 0.05, fit["v"].shape) * np.abs(fit["v"])
        assert np.abs(phi @ v - target).max() >= fit["lower_bound"]


def test_minimax_returns_the_output_weights_it_measured():
    phi, target = problem(8)
    fit = ua.minimax_fit(phi, target, 200)
    measured = np.abs(phi @ fit["v"] - target).max()
    assert measured == pytest.approx(fit["max_error"], rel=1e-6)


def test_a_function_the_units_can_represent_is_fitted_exactly():
    phi, _ = problem(5)
    target = phi @ np.array([0.5, -1.0, 2.0, 0.25, -0.75])
    assert ua.minimax_fit(phi, target, 50)["max_error"] < 1e-8


def test_nested_networks_never_get_worse():
    phi, target = problem(16, seed=3)
    errors = [
        ua.minimax_fit(phi[:, :n], target, 5000)["max_error"] for n in (1, 2, 4, 8, 16)
    ]
    for smaller, larger in zip(errors, errors[1:]):
        assert larger <= smaller * (1 + ua.GAP)


@pytest.mark.parametrize("function", sorted(ua.TARGETS))
def test_claim_for_every_function(function):
    lesson = lessons.load(
        "universal-approximation", seed=11, fast=True, function=function
    )
    list(lesson.steps())
    assert lesson.check().passed


def test_units_option():
    lesson = lessons.load("universal-approximation", fast=True, units=(8, 1, 8, 2))
    assert lesson.units == (1, 2, 8)
    with pytest.raises(ValueError, match="units"):
        lessons.load("universal-approximation", units=(0, 4))
    single = lessons.load("universal-approximation", fast=True, units=(4,))
    list(single.steps())
    verdict = single.check()
    assert not verdict.passed and "two values" in verdict.measured


def test_line_plot_draws_each_curve_and_its_legend():
    x = np.linspace(0, 1, 50)
    text = line_plot(x, {"up": x, "down": 1 - x}, rows=5, cols=20)
    lines = text.plain.split("\n")
    assert len(lines) == 5 + 2
    assert "up" in lines[-1] and "down" in lines[-1]
    plot = "".join(lines[:5])
    assert any("\u2800" < ch <= "\u28ff" for ch in plot)
    console = Console(width=60, record=True, color_system="truecolor")
    console.print(text)
    assert "38;2" in console.export_text(styles=True)


def test_figure():
    plt = pytest.importorskip("matplotlib.pyplot")
    lesson = lessons.load("universal-approximation", seed=0, fast=True)
    lesson.run()
    figure = lesson.figure(plt)
    assert figure is not None
    plt.close(figure)
