"""The SGD-convergence lesson: schedules, noise floors and the mean error."""

import numpy as np
import pytest
from tinycv.lessons import sgd_convergence as lesson_module

import tinycv
from tinycv import lessons, optim


def test_noise_floor_to_first_order_is_step_times_noise_times_dims_over_two():
    for step in (1e-4, 1e-3):
        expected = step * lesson_module.NOISE**2 * len(lesson_module.CURVATURES) / 2
        assert lesson_module.noise_floor(step) == pytest.approx(expected, rel=0.01)
    # larger steps settle a little higher than proportional
    assert lesson_module.noise_floor(0.04) / lesson_module.noise_floor(0.01) > 4


def test_schedules_give_the_slide_rates():
    param = tinycv.tensor([0.0])
    a, b = 2.0, 10.0
    square = lesson_module.InverseSquareLR(optim.SGD([param], lr=1.0), a=a, b=b)
    inverse = optim.InverseTimeLR(optim.SGD([tinycv.tensor([0.0])], lr=1.0), a=a, b=b)
    for k in range(50):
        assert square.get_last_lr()[0] == pytest.approx(a * b / (b + k) ** 2)
        assert inverse.get_last_lr()[0] == pytest.approx(a / (b + k))
        square.step()
        inverse.step()


def test_one_tensor_holds_independent_runs():
    # The update is elementwise, so row i of a (runs, 2) tensor evolves on its own.
    rows = tinycv.tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), dtype=tinycv.float64)
    single = tinycv.tensor(np.array([[3.0, 4.0]]), dtype=tinycv.float64)
    both, alone = optim.SGD([rows], lr=0.1), optim.SGD([single], lr=0.1)
    rows.grad = tinycv.Tensor(np.array([[0.5, -1.0], [2.0, 1.0]]))
    single.grad = tinycv.Tensor(np.array([[2.0, 1.0]]))
    both.step()
    alone.step()
    np.testing.assert_array_equal(rows.data[1], single.data[0])


@pytest.mark.parametrize("seed", [3, 11])
def test_claim_parts_with_small_settings(seed):
    lesson = lessons.load("sgd-convergence", seed=seed, iterations=2000, runs=150)
    list(lesson.steps())
    verdict = lesson.check()
    assert verdict.passed, verdict.measured

    errors = lesson.results["errors"]
    assert errors["a/(b+k)"][-1] < errors["a/(b+k)"][500] / 2
    floors = lesson.results["floors"]
    for step, floor in floors.items():
        assert floor == pytest.approx(lesson_module.noise_floor(step), rel=0.2)
    short = lesson.results["short"]
    np.testing.assert_allclose(short["measured"], short["predicted"], atol=0.6)
    assert np.linalg.norm(short["measured"]) > 2


def test_constant_step_option_changes_the_floors():
    lesson = lessons.load(
        "sgd-convergence",
        seed=0,
        iterations=1500,
        runs=100,
        constant_steps=(0.08, 0.02),
    )
    list(lesson.steps())
    assert set(lesson.results["floors"]) == {0.08, 0.02}
    assert lesson.check().passed
