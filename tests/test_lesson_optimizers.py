"""The optimizers lesson: each rule against the slide, and the races."""

import numpy as np
import pytest
from tinycv.lessons import optimizers as lesson_module

import tinycv
from tinycv import lessons, optim


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_every_optimiser_matches_its_slide_formula(seed):
    lesson = lessons.load("optimizers", seed=seed, check_steps=25)
    checks = lesson._hand_check()
    assert set(checks) == set(lesson_module.HAND_CHECKS)
    for name, check in checks.items():
        assert check["error"] <= lesson_module.MATCH_TOLERANCE, name


def test_nesterov_keeps_the_look_ahead_point():
    # PyTorch's Nesterov iterate is θ + αv of the slide's, not θ itself.
    hessian = np.diag([1.0, 8.0])

    def grad(theta):
        return hessian @ theta

    start = np.array([1.0, 1.0])
    theta, state = start.copy(), {}
    param = lesson_module.parameter(start)
    optimizer = optim.SGD([param], lr=0.05, momentum=0.9, nesterov=True)
    for _ in range(10):
        theta = lesson_module.slide_nesterov(theta, grad, state, lr=0.05, alpha=0.9)
        param.grad = tinycv.Tensor(grad(param.data))
        optimizer.step()
    np.testing.assert_allclose(param.data, theta + 0.9 * state["v"], rtol=1e-12)
    assert np.abs(param.data - theta).max() > 1e-3


def test_slide_adam_first_step_is_epsilon_times_the_sign():
    # After one step ŝ = g and r̂ = g², so Δθ = −ε g/(|g| + δ).
    theta = lesson_module.slide_adam(
        np.array([1.0, -2.0]),
        lambda t: np.array([3.0, -0.5]),
        {},
        lr=0.1,
        rho1=0.9,
        rho2=0.999,
        delta=0.0,
    )
    np.testing.assert_allclose(theta, [0.9, -1.9])


def test_valley_race_adaptive_reach_and_plain_sgd_does_not():
    lesson = lessons.load("optimizers", seed=9, fast=True, rosenbrock_steps=20)
    list(lesson.steps())
    runs = lesson.results["valley"]["runs"]
    for name in lesson_module.ADAPTIVE:
        assert runs[name]["reached"] is not None, name
    assert runs["SGD ε=0.01"]["reached"] is None
    assert runs["SGD ε=0.001"]["reached"] is None
    assert lesson.results["mnist"] is None  # skipped under --fast
    assert lesson.check().passed


def test_describe_settings():
    assert lesson_module.describe({"kind": "Adam"}) == "defaults"
    assert (
        lesson_module.describe({"kind": "SGD", "lr": 0.01, "momentum": 0.9})
        == "lr=0.01, momentum=0.9"
    )
    assert "betas=(0.9, 0.999)" in lesson_module.describe(
        {"kind": "Adam", "betas": (0.9, 0.999)}
    )


def test_a_short_mnist_race():
    pytest.importorskip("tinycv.nn")
    lesson = lessons.load(
        "optimizers",
        seed=0,
        mnist_steps=8,
        hidden=4,
        rosenbrock_steps=10,
    )
    runs = lesson._race_mnist()
    assert len(runs) == 6
    for run in runs.values():
        assert len(run["losses"]) == 8 and np.isfinite(run["losses"]).all()
        assert 0.0 <= run["accuracy"] <= 1.0
