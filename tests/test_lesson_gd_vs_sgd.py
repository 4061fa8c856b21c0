"""The GD-vs-SGD lesson: the estimator, its variance, the cost of an update."""

import numpy as np
import pytest
from tinycv.lessons import gd_vs_sgd

from tinycv import lessons, optim


@pytest.fixture(scope="module")
def problem():
    return gd_vs_sgd.make_problem(np.random.default_rng(3), 2000)


def test_gradient_is_the_mean_of_per_example_gradients(problem):
    inputs, targets = problem["inputs"][:50], problem["targets"][:50]
    theta = np.random.default_rng(0).standard_normal(gd_vs_sgd.FEATURES)

    def loss(t):
        return 0.5 * np.mean((inputs @ t - targets) ** 2)

    eps = 1e-6
    numeric = [
        (loss(theta + eps * e) - loss(theta - eps * e)) / (2 * eps)
        for e in np.eye(gd_vs_sgd.FEATURES)
    ]
    np.testing.assert_allclose(
        gd_vs_sgd.gradient(theta, inputs, targets), numeric, rtol=1e-5, atol=1e-7
    )


def test_update_is_the_slide_rule(problem):
    import tinycv

    param = tinycv.tensor(np.ones(gd_vs_sgd.FEATURES), dtype=tinycv.float64)
    before = param.data.copy()
    gd_vs_sgd.sgd_update(
        optim.SGD([param], lr=0.3), param, problem["inputs"], problem["targets"]
    )
    expected = before - 0.3 * gd_vs_sgd.gradient(
        before, problem["inputs"], problem["targets"]
    )
    np.testing.assert_allclose(param.data, expected, rtol=1e-13)


def test_variance_falls_as_one_over_b_and_counts_are_exact():
    lesson = lessons.load(
        "gd-vs-sgd", seed=4, examples=(200, 2000, 20000), draws=150, repeats=5
    )
    states = list(lesson.steps())
    assert len(states) == 4

    noise = lesson.results["noise"]
    assert -1.15 <= noise["slope"] <= -0.85
    # with replacement the variance of one example's gradient is tr(Σ)
    assert noise["variances"][0] == pytest.approx(noise["trace"], rel=0.3)

    cost = lesson.results["cost"]
    assert cost["GD"]["touched"] == [200, 2000, 20000]
    assert cost["SGD"]["touched"] == [1, 1, 1]
    assert cost[f"mini-batch B={gd_vs_sgd.BATCH}"]["touched"] == [gd_vs_sgd.BATCH] * 3
    assert all(t > 0 for row in cost.values() for t in row["median"])

    race = lesson.results["race"]["methods"]
    for method, run in race.items():
        assert run["updates"] is not None, method
        assert run["curve"][-1] <= lesson.results["race"]["target"]
    assert race["GD"]["touched"] == race["GD"]["updates"] * 20000
    assert race["SGD"]["touched"] < race["GD"]["touched"] / 100


def test_verdict_reports_the_numbers():
    lesson = lessons.load("gd-vs-sgd", seed=0, fast=True)
    verdict = lesson.run().verdict
    assert verdict.passed, verdict.measured
    assert (
        "variance slope" in verdict.measured and "SGD update time" in verdict.measured
    )
