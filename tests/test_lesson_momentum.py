"""The momentum lesson: Polyak's settings, the rate measurement, the maps."""

import numpy as np
import pytest
from rich.console import Console
from tinycv.lessons import momentum
from tinycv.lessons._surfaces import Rosenbrock, Valley, descend, parameter, steps_to

from tinycv import lessons, optim
from tinycv.viz import contour_map


def test_lecture_momentum_is_the_heavy_ball():
    # v <- λv − (1−λ)g, θ <- θ + ηv  equals  θ <- θ − αg + β(θ − θ_prev)
    valley = Valley(1.0, 30.0)
    lam, eta = 0.7, 0.05
    param = parameter([2.0, -1.0])
    path = descend(
        optim.Momentum([param], lr=eta, momentum=lam), param, valley.gradient, 20
    )

    alpha, beta = eta * (1 - lam), lam
    previous, theta = np.array([2.0, -1.0]), np.array([2.0, -1.0])
    for k in range(1, 21):
        theta, previous = (
            theta - alpha * valley.gradient(theta) + beta * (theta - previous),
            theta,
        )
        np.testing.assert_allclose(path[k], theta, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kappa", [10.0, 100.0, 1000.0])
def test_polyak_settings(kappa):
    valley = Valley(1.0, kappa)
    assert momentum.best_gd(valley) == pytest.approx(2 / (kappa + 1))
    alpha, beta = momentum.best_heavy_ball(valley)
    assert alpha == pytest.approx(4 / (np.sqrt(kappa) + 1) ** 2)
    root = np.sqrt(kappa)
    assert np.sqrt(beta) == pytest.approx((root - 1) / (root + 1))


def test_measured_rate_of_a_geometric_sequence():
    path = np.array([[0.5**k * 3.0, 0.0] for k in range(100)])
    assert momentum.measured_rate(path, np.zeros(2)) == pytest.approx(0.5)


def test_gd_rate_is_exact_and_a_wrong_step_is_slower():
    valley = Valley(1.0, 50.0)
    best = momentum.best_gd(valley)
    rates = []
    for step in (0.5 * best, best):
        param = parameter([-5.0, 0.7])
        path = descend(optim.SGD([param], lr=step), param, valley.gradient, 600)
        rates.append(momentum.measured_rate(path, valley.minimum))
    assert rates[1] == pytest.approx(49 / 51, rel=1e-9)
    assert rates[0] > rates[1]


def test_descend_stops_when_it_diverges():
    valley = Valley(1.0, 100.0)
    param = parameter([1.0, 1.0])
    path = descend(optim.SGD([param], lr=0.05), param, valley.gradient, 10_000)
    assert len(path) < 10_001
    assert np.abs(path[-1]).max() >= 1e6


def test_steps_to_counts_from_where_it_stays_below():
    assert steps_to([5, 3, 0.5, 2, 0.5, 0.1], 1.0) == 4
    assert steps_to([0.5, 0.1], 1.0) == 0
    assert steps_to([5, 3, 0.5, 2], 1.0) is None


def test_rosenbrock_gradient_matches_differences():
    surface = Rosenbrock()
    point = np.array([-0.7, 0.4])
    eps = 1e-6
    numeric = [
        (surface.value(point + eps * e) - surface.value(point - eps * e)) / (2 * eps)
        for e in np.eye(2)
    ]
    np.testing.assert_allclose(surface.gradient(point), numeric, rtol=1e-6)
    assert surface.value(surface.minimum) == 0


def test_contour_map_draws_paths_inside_the_window():
    valley = Valley(1.0, 10.0)
    picture = contour_map(
        valley.value,
        (-2, 2),
        (-1, 1),
        {"g": [[-2, 1], [0, 0], [9, 9]], "*": [[0, 0]]},
        rows=5,
        cols=11,
    )
    lines = picture.plain.split("\n")
    assert len(lines) == 5 and all(len(line) == 11 for line in lines)
    assert lines[0][0] == "g"  # the top-left corner of the window
    assert lines[2][5] == "*"  # the minimum, drawn after the path
    assert "g" not in "".join(lines[1:])  # (9, 9) lies outside
    Console(file=open("/dev/null", "w"), force_terminal=True).print(picture)  # noqa: SIM115


def test_claim_and_figures_with_small_settings():
    lesson = lessons.load(
        "momentum", seed=5, kappas=(10.0, 100.0), max_steps=800, rosenbrock_steps=50
    )
    states = list(lesson.steps())
    assert [s.title for s in states][0] == "The update rules"
    verdict = lesson.check()
    assert verdict.passed, verdict.measured
    for run in lesson.results["valley"].values():
        assert abs(run["gd_ratio"] - 1) < 0.02 and abs(run["hb_ratio"] - 1) < 0.05


def test_figure_renders():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lesson = lessons.load("momentum", seed=1, fast=True, rosenbrock_steps=100)
    lesson.run()
    figure = lesson.figure(plt)
    assert figure is not None
    plt.close(figure)
