"""Optimisers against their update rules written out by hand, and against torch."""

import math

import numpy as np
import pytest

import tinycv
from tinycv import optim

# f(theta) = 1/2 theta^T A theta + b^T theta, so grad f = A theta + b.
A = np.diag([1.0, 2.0, 3.0])
B = np.array([1.0, -1.0, 0.5])
THETA0 = np.array([1.0, -2.0, 0.5])


def quadratic(theta):
    return (theta @ tinycv.tensor(A) @ theta) * 0.5 + (theta * tinycv.tensor(B)).sum()


def gradient(theta):
    return A @ theta + B


def run(optimizer_class, steps=5, **settings):
    """Positions of theta after each of ``steps`` updates by the optimiser."""
    theta = tinycv.tensor(THETA0, dtype=tinycv.float64, requires_grad=True)
    optimizer = optimizer_class([theta], **settings)
    trajectory = []
    for _ in range(steps):
        optimizer.zero_grad()
        quadratic(theta).backward()
        optimizer.step()
        trajectory.append(theta.data.copy())
    return np.array(trajectory)


def by_hand(rule, steps=5):
    """The same trajectory from ``rule(theta, g, state, t) -> theta``."""
    theta, state, trajectory = THETA0.copy(), {}, []
    for t in range(1, steps + 1):
        theta = rule(theta, gradient(theta), state, t)
        trajectory.append(theta)
    return np.array(trajectory)


# ---- each rule against its formula -------------------------------------------


def test_sgd_plain_is_theta_minus_lr_g():
    expected = by_hand(lambda theta, g, s, t: theta - 0.1 * g)
    np.testing.assert_allclose(run(optim.SGD, lr=0.1), expected, rtol=1e-10, atol=1e-12)


def test_sgd_momentum_nesterov_and_weight_decay():
    def rule(theta, g, state, t, mu=0.9, damp=0.1, wd=0.01, nesterov=False):
        g = g + wd * theta
        state["b"] = g if t == 1 else mu * state["b"] + (1 - damp) * g
        step = g + mu * state["b"] if nesterov else state["b"]
        return theta - 0.05 * step

    ours = run(optim.SGD, lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01)
    np.testing.assert_allclose(ours, by_hand(rule), rtol=1e-10, atol=1e-12)

    def nesterov_rule(theta, g, state, t):
        return rule(theta, g, state, t, damp=0.0, nesterov=True)

    ours = run(optim.SGD, lr=0.05, momentum=0.9, weight_decay=0.01, nesterov=True)
    np.testing.assert_allclose(ours, by_hand(nesterov_rule), rtol=1e-10, atol=1e-12)


def test_momentum_is_the_lectures_moving_average():
    # v <- lambda v - (1 - lambda) g ;  theta <- theta + eta v
    def rule(theta, g, state, t):
        state["v"] = 0.8 * state.get("v", 0.0) - 0.2 * g
        return theta + 0.5 * state["v"]

    np.testing.assert_allclose(
        run(optim.Momentum, lr=0.5, momentum=0.8), by_hand(rule), rtol=1e-10, atol=1e-12
    )


def test_adagrad():
    def rule(theta, g, state, t):
        state["r"] = state.get("r", 0.0) + g * g
        return theta - 0.3 * g / (np.sqrt(state["r"]) + 1e-10)

    np.testing.assert_allclose(
        run(optim.Adagrad, lr=0.3), by_hand(rule), rtol=1e-10, atol=1e-12
    )


def test_rmsprop():
    def rule(theta, g, state, t):
        state["r"] = 0.9 * state.get("r", 0.0) + 0.1 * g * g
        return theta - 0.01 * g / (np.sqrt(state["r"]) + 1e-8)

    ours = run(optim.RMSprop, lr=0.01, alpha=0.9)
    np.testing.assert_allclose(ours, by_hand(rule), rtol=1e-10, atol=1e-12)


def test_adam_is_bias_corrected():
    def rule(theta, g, state, t):
        state["s"] = 0.9 * state.get("s", 0.0) + 0.1 * g
        state["r"] = 0.999 * state.get("r", 0.0) + 0.001 * g * g
        s_hat = state["s"] / (1 - 0.9**t)
        r_hat = state["r"] / (1 - 0.999**t)
        return theta - 0.1 * s_hat / (np.sqrt(r_hat) + 1e-8)

    np.testing.assert_allclose(
        run(optim.Adam, lr=0.1), by_hand(rule), rtol=1e-10, atol=1e-12
    )
    # The first step of Adam moves every coordinate by about lr.
    np.testing.assert_allclose(
        np.abs(run(optim.Adam, steps=1, lr=0.1)[0] - THETA0), 0.1
    )


def test_adam_defaults_follow_pytorch():
    theta = tinycv.tensor([1.0], requires_grad=True)
    group = optim.Adam([theta]).param_groups[0]
    assert (group["lr"], group["betas"], group["eps"]) == (1e-3, (0.9, 0.999), 1e-8)


def test_adamw_decays_the_weights_directly():
    def rule(theta, g, state, t):
        theta = theta * (1 - 0.1 * 0.5)
        state["s"] = 0.9 * state.get("s", 0.0) + 0.1 * g
        state["r"] = 0.999 * state.get("r", 0.0) + 0.001 * g * g
        s_hat = state["s"] / (1 - 0.9**t)
        r_hat = state["r"] / (1 - 0.999**t)
        return theta - 0.1 * s_hat / (np.sqrt(r_hat) + 1e-8)

    ours = run(optim.AdamW, lr=0.1, weight_decay=0.5)
    np.testing.assert_allclose(ours, by_hand(rule), rtol=1e-10, atol=1e-12)


# ---- what every optimiser shares ----------------------------------------------


ALL = [
    (optim.SGD, {"lr": 0.1, "momentum": 0.5}),
    (optim.Momentum, {"lr": 0.5}),
    (optim.Adagrad, {"lr": 0.5}),
    (optim.RMSprop, {"lr": 0.05}),
    (optim.Adam, {"lr": 0.1}),
    (optim.AdamW, {"lr": 0.1}),
]


@pytest.mark.parametrize("optimizer_class, settings", ALL)
def test_every_optimiser_runs_on_scalars_like_on_tensors(optimizer_class, settings):
    # A two-parameter function written with Scalars, as the early lessons do.
    x, y = tinycv.Scalar(1.0), tinycv.Scalar(-2.0)
    optimizer = optimizer_class([x, y], **settings)
    xy = tinycv.tensor([1.0, -2.0], dtype=tinycv.float64, requires_grad=True)
    tensor_optimizer = optimizer_class([xy], **settings)
    for _ in range(4):
        optimizer.zero_grad()
        ((x - 3) ** 2 + 2 * y**2).backward()
        optimizer.step()

        tensor_optimizer.zero_grad()
        (
            ((xy - tinycv.tensor([3.0, 0.0])) ** 2) * tinycv.tensor([1.0, 2.0])
        ).sum().backward()
        tensor_optimizer.step()
    assert isinstance(x.data, float)
    np.testing.assert_allclose([x.data, y.data], xy.data, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("optimizer_class, settings", ALL)
def test_every_optimiser_descends(optimizer_class, settings):
    theta = tinycv.tensor(THETA0, dtype=tinycv.float64, requires_grad=True)
    optimizer = optimizer_class([theta], **settings)
    start = quadratic(theta).item()
    for _ in range(30):
        optimizer.zero_grad()
        quadratic(theta).backward()
        optimizer.step()
    assert quadratic(theta).item() < start


def test_parameters_without_gradient_are_left_alone():
    used = tinycv.tensor([1.0], requires_grad=True)
    unused = tinycv.tensor([5.0], requires_grad=True)
    optimizer = optim.Adam([used, unused], lr=0.1)
    (used * 2).sum().backward()
    optimizer.step()
    assert unused.data[0] == 5.0 and used.data[0] != 1.0
    assert unused not in optimizer.state


def test_param_groups_have_their_own_lr_and_zero_grad_clears():
    a = tinycv.tensor([1.0], requires_grad=True)
    b = tinycv.tensor([1.0], requires_grad=True)
    optimizer = optim.SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    (a + b).sum().backward()
    optimizer.step()
    np.testing.assert_allclose([a.data[0], b.data[0]], [0.9, 0.0])
    optimizer.zero_grad()
    assert a.grad is None and b.grad is None


def test_optimiser_works_with_a_module_and_keeps_parameter_identity():
    model = tinycv.nn.Linear(3, 1)
    weight = model.weight
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    model(tinycv.ones(2, 3)).sum().backward()
    before = weight.data.copy()
    optimizer.step()
    assert model.weight is weight
    assert not np.allclose(before, weight.data)
    assert weight.dtype == np.float32


def test_state_dict_round_trip_continues_the_same_trajectory():
    theta = tinycv.tensor(THETA0, dtype=tinycv.float64, requires_grad=True)
    optimizer = optim.Adam([theta], lr=0.1)
    for _ in range(2):
        optimizer.zero_grad()
        quadratic(theta).backward()
        optimizer.step()

    copy = tinycv.tensor(theta.data, dtype=tinycv.float64, requires_grad=True)
    restored = optim.Adam([copy], lr=0.5)
    restored.load_state_dict(optimizer.state_dict())
    assert restored.param_groups[0]["lr"] == 0.1
    for opt, param in ((optimizer, theta), (restored, copy)):
        opt.zero_grad()
        quadratic(param).backward()
        opt.step()
    np.testing.assert_allclose(copy.data, theta.data, rtol=1e-10, atol=1e-12)


def test_bad_settings_are_refused():
    theta = tinycv.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="lr must be >= 0"):
        optim.SGD([theta], lr=-1)
    with pytest.raises(ValueError, match="nesterov"):
        optim.SGD([theta], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="betas"):
        optim.Adam([theta], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="momentum must be < 1"):
        optim.Momentum([theta], momentum=1.0)
    with pytest.raises(TypeError, match="Tensors or Scalars"):
        optim.SGD([1.0], lr=0.1)


# ---- learning-rate schedules ------------------------------------------------


def lrs(scheduler_class, steps=10, lr=0.5, **settings):
    theta = tinycv.tensor([1.0], requires_grad=True)
    optimizer = optim.SGD([theta], lr=lr)
    scheduler = scheduler_class(optimizer, **settings)
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert scheduler.get_last_lr() == [optimizer.param_groups[0]["lr"]]
    return rates


def test_step_lr():
    rates = lrs(optim.StepLR, step_size=3, gamma=0.1)
    np.testing.assert_allclose(rates, [0.5] * 3 + [0.05] * 3 + [0.005] * 3 + [0.0005])
    assert optim.step_lr(7, 0.5, step_size=3, gamma=0.1) == pytest.approx(0.005)


def test_exponential_lr():
    np.testing.assert_allclose(
        lrs(optim.ExponentialLR, gamma=0.9), 0.5 * 0.9 ** np.arange(10)
    )


def test_cosine_annealing_lr():
    rates = lrs(optim.CosineAnnealingLR, T_max=8, eta_min=0.1)
    expected = [0.1 + 0.4 * (1 + math.cos(math.pi * t / 8)) / 2 for t in range(10)]
    np.testing.assert_allclose(rates, expected)
    assert rates[8] == pytest.approx(0.1)


def test_inverse_time_lr_is_the_perceptron_slides_decay():
    rates = lrs(optim.InverseTimeLR, lr=1.0)
    np.testing.assert_allclose(rates, [1000 / (1000 + t) for t in range(10)])
    assert optim.inverse_time_lr(1000) == 0.5
    # Robbins-Monro: the sum of a/(b+t) grows like a log(t) without bound,
    # while the sum of its squares stays below a^2/(b-1).
    rates = optim.inverse_time_lr(np.arange(1_000_000))
    partial_sums = np.cumsum(rates)
    assert partial_sums[-1] - partial_sums[100_000] > 2000
    assert (rates**2).sum() < 1000**2 / 999


def test_schedulers_are_functions_of_the_step_and_importable_like_torch():
    from tinycv.optim.lr_scheduler import StepLR

    theta = tinycv.tensor([1.0], requires_grad=True)
    scheduler = StepLR(optim.SGD([theta], lr=1.0), step_size=2, gamma=0.5)
    assert scheduler(5) == [0.25]
    assert optim.lr_scheduler.InverseTimeLR is optim.InverseTimeLR


# ---- against PyTorch, when it is installed -------------------------------------


TORCH_CASES = [
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.2, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.1, "initial_accumulator_value": 0.2}),
    ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.9, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.1, "betas": (0.8, 0.9), "weight_decay": 0.1, "amsgrad": True}),
    ("AdamW", {"lr": 0.1, "weight_decay": 0.3}),
]


@pytest.mark.parametrize("name, settings", TORCH_CASES)
def test_matches_torch_optim(name, settings):
    torch = pytest.importorskip("torch")
    theirs = torch.tensor(THETA0, dtype=torch.float64, requires_grad=True)
    optimizer = getattr(torch.optim, name)([theirs], **settings)
    trajectory = []
    for _ in range(6):
        optimizer.zero_grad()
        loss = (theirs @ torch.tensor(A) @ theirs) * 0.5 + (
            theirs * torch.tensor(B)
        ).sum()
        loss.backward()
        optimizer.step()
        trajectory.append(theirs.detach().numpy().copy())
    ours = run(getattr(optim, name), steps=6, **settings)
    np.testing.assert_allclose(ours, np.array(trajectory), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "name, settings",
    [
        ("StepLR", {"step_size": 3, "gamma": 0.5}),
        ("ExponentialLR", {"gamma": 0.8}),
        ("CosineAnnealingLR", {"T_max": 6, "eta_min": 0.01}),
    ],
)
def test_schedules_match_torch(name, settings):
    torch = pytest.importorskip("torch")
    theirs = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.5)
    scheduler = getattr(torch.optim.lr_scheduler, name)(theirs, **settings)
    expected = []
    for _ in range(10):
        expected.append(theirs.param_groups[0]["lr"])
        theirs.step()
        scheduler.step()
    np.testing.assert_allclose(lrs(getattr(optim, name), **settings), expected)
