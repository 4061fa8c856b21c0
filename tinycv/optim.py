"""Optimisers and learning-rate schedules, with PyTorch's names and rules.

Every optimiser is one update rule, written as it appears on the slides::

    SGD:       theta <- theta - lr * g
    Momentum:  v <- lambda * v - (1 - lambda) * g
               theta <- theta + lr * v
    AdaGrad:   r <- r + g * g
               theta <- theta - lr * g / (delta + sqrt(r))
    RMSProp:   r <- rho * r + (1 - rho) * g * g
               theta <- theta - lr * g / (delta + sqrt(r))
    Adam:      s <- b1 * s + (1 - b1) * g;  r <- b2 * r + (1 - b2) * g * g
               theta <- theta - lr * s_hat / (sqrt(r_hat) + delta)

The base class does the bookkeeping once: it walks the parameter groups,
skips parameters that have no gradient, keeps a state dict per parameter
(velocity, running averages, step count) and writes the new value back.
A subclass only writes ``update(value, grad, state, group)``, which returns
the new value. The rules use nothing but ``+ - * / **``, so the same code
updates a numpy array, a GPU array or the plain float inside a
``tinycv.Scalar``: a lesson can run Adam on a two-parameter function.

The learning-rate schedules at the end (StepLR, ExponentialLR,
CosineAnnealingLR, InverseTimeLR) follow ``torch.optim.lr_scheduler``; each
also exists as a plain function of the step, e.g. ``inverse_time_lr(t)``.
"""

from __future__ import annotations

import math
import sys
import types
from collections.abc import Callable, Iterable

from tinycv.tensor import Tensor

__all__ = [
    "Optimizer",
    "SGD",
    "Momentum",
    "Adagrad",
    "RMSprop",
    "Adam",
    "AdamW",
    "LRScheduler",
    "StepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "InverseTimeLR",
    "step_lr",
    "exponential_lr",
    "cosine_annealing_lr",
    "inverse_time_lr",
]


# ---- reading and writing a parameter, whatever it is ------------------------


def _value(param):
    """The raw numbers of a parameter: an array for a Tensor, a float for a Scalar."""
    return param.data


def _grad(param):
    """dLoss/dParam as raw numbers, or None when backward never reached it."""
    grad = param.grad
    if isinstance(grad, Tensor):
        return grad.data
    return grad


def _assign(param, value) -> None:
    if isinstance(param, Tensor):
        param.data = value
    else:
        param.data = float(value)


def _zeros_like(value):
    # ``value * 0`` is a zero array of the same shape, dtype and device for
    # an array, and 0.0 for a float: one expression for every kind of parameter.
    return value * 0


def _sqrt(value):
    return value**0.5


def _maximum(a, b):
    if isinstance(a, float):
        return max(a, b)
    from tinycv.device import array_module

    return array_module(a).maximum(a, b)


# ---- the base class ---------------------------------------------------------


class Optimizer:
    """Holds parameter groups and per-parameter state; subclasses add the rule.

    Args:
        params: an iterable of parameters (Tensors or Scalars), or of dicts
            ``{"params": [...], "lr": ...}`` giving groups their own settings.
        defaults: the settings a group gets unless it names its own.
    """

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self.param_groups: list[dict] = []
        # Keyed by the parameter object; Tensors and Scalars hash by identity.
        self.state: dict = {}

        params = list(params)
        if not params:
            raise ValueError(
                f"{type(self).__name__}: got an empty parameter list "
                "(did the model register its layers as attributes?)"
            )
        if not isinstance(params[0], dict):
            params = [{"params": params}]
        for group in params:
            self.add_param_group(group)

    def add_param_group(self, group: dict) -> None:
        """Add a group of parameters with its own settings (e.g. another lr)."""
        group = dict(group)
        params = group["params"]
        # One Tensor or Scalar on its own makes a group of one.
        group["params"] = [params] if hasattr(params, "grad") else list(params)
        for name, default in self.defaults.items():
            group.setdefault(name, default)

        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for param in group["params"]:
            if not hasattr(param, "data") or not hasattr(param, "grad"):
                raise TypeError(
                    f"{type(self).__name__}: can only optimise Tensors or "
                    f"Scalars, got {type(param).__name__}"
                )
            if id(param) in seen:
                raise ValueError(
                    f"{type(self).__name__}: a parameter appears twice in the groups"
                )
            seen.add(id(param))
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients of the last backward (they would add up)."""
        for group in self.param_groups:
            for param in group["params"]:
                if isinstance(param, Tensor):
                    if set_to_none or param.grad is None:
                        param.grad = None
                    else:
                        param.grad = Tensor._wrap(_zeros_like(param.grad.data))
                else:
                    param.grad = 0.0

    def step(self, closure: Callable | None = None):
        """Apply one update to every parameter that has a gradient.

        ``closure``, if given, re-evaluates the model and returns the loss;
        it is called first and its loss is returned, as in PyTorch.
        """
        loss = closure() if closure is not None else None

        for group in self.param_groups:
            for param in group["params"]:
                grad = _grad(param)
                if grad is None:
                    continue
                state = self.state.setdefault(param, {})
                new_value = self.update(_value(param), grad, state, group)
                _assign(param, new_value)
        return loss

    def update(self, value, grad, state: dict, group: dict):
        """The rule: return the parameter's new value (subclasses write this)."""
        raise NotImplementedError(f"{type(self).__name__} has no update rule")

    def state_dict(self) -> dict:
        """State and settings, with parameters named by their position."""
        index = {}
        for group in self.param_groups:
            for param in group["params"]:
                index[param] = len(index)
        state = {index[p]: dict(s) for p, s in self.state.items() if p in index}
        groups = []
        for group in self.param_groups:
            settings = {k: v for k, v in group.items() if k != "params"}
            settings["params"] = [index[p] for p in group["params"]]
            groups.append(settings)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore what ``state_dict`` saved, for the same parameters in order."""
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups) or any(
            len(saved["params"]) != len(own["params"])
            for saved, own in zip(groups, self.param_groups)
        ):
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: the saved groups do not "
                "match this optimiser's parameter groups"
            )
        params = [p for group in self.param_groups for p in group["params"]]
        for saved, own in zip(groups, self.param_groups):
            own.update({k: v for k, v in saved.items() if k != "params"})
        self.state = {}
        for index, state in state_dict["state"].items():
            param = params[int(index)]
            self.state[param] = {
                name: _like_param(value, param) for name, value in state.items()
            }

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for name in sorted(k for k in group if k != "params"):
                lines.append(f"    {name}: {group[name]}")
        lines.append(")")
        return "\n".join(lines)


def _like_param(value, param):
    """A saved state entry moved back to where the parameter lives."""
    if isinstance(value, Tensor):
        value = value.data
    if not hasattr(value, "shape") or not isinstance(param, Tensor):
        return value
    if value.shape == ():
        return value.item()
    from tinycv.device import to_device

    return to_device(value.astype(param.dtype), param.device)


def _check_positive(optimizer: str, **settings) -> None:
    for name, value in settings.items():
        if value < 0:
            raise ValueError(f"{optimizer}: {name} must be >= 0, got {value}")


# ---- the rules --------------------------------------------------------------


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum: PyTorch's rule.

    With ``g = grad + weight_decay * theta``::

        b <- momentum * b + (1 - dampening) * g      (b = g on the first step)
        g <- g + momentum * b   if nesterov   else   b
        theta <- theta - lr * g

    With ``momentum=0`` this is the slide's ``theta <- theta - lr * g``. For
    the slide's moving-average form of momentum use ``Momentum``.
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ):
        _check_positive("SGD", lr=lr, momentum=momentum, weight_decay=weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: nesterov needs momentum > 0 and dampening = 0")
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
        )
        super().__init__(params, defaults)

    def update(self, value, grad, state, group):
        if group["weight_decay"] != 0:
            grad = grad + group["weight_decay"] * value

        momentum = group["momentum"]
        if momentum != 0:
            if "momentum_buffer" not in state:
                buffer = grad
            else:
                buffer = (
                    momentum * state["momentum_buffer"]
                    + (1 - group["dampening"]) * grad
                )
            state["momentum_buffer"] = buffer
            grad = grad + momentum * buffer if group["nesterov"] else buffer

        return value - group["lr"] * grad


class Momentum(Optimizer):
    """The lecture's momentum: a moving average of the negative gradient.

    ::

        v <- lambda * v - (1 - lambda) * g
        theta <- theta + lr * v

    ``v`` starts at zero and ``momentum`` is lambda. This differs from
    ``SGD(momentum=...)``, which sums gradients (``b <- mu * b + g``) rather
    than averaging them, so its steps are about ``1 / (1 - mu)`` times larger
    for the same lr.
    """

    def __init__(self, params: Iterable, lr: float = 1e-2, momentum: float = 0.9):
        _check_positive("Momentum", lr=lr, momentum=momentum)
        if momentum >= 1:
            raise ValueError(f"Momentum: momentum must be < 1, got {momentum}")
        super().__init__(params, dict(lr=lr, momentum=momentum))

    def update(self, value, grad, state, group):
        decay = group["momentum"]
        velocity = state.get("velocity", _zeros_like(value))

        velocity = decay * velocity - (1 - decay) * grad
        state["velocity"] = velocity

        return value + group["lr"] * velocity


class Adagrad(Optimizer):
    """AdaGrad: divide each step by the root of the summed squared gradients.

    ::

        r <- r + g * g
        theta <- theta - lr_t * g / (sqrt(r) + eps)

    with ``lr_t = lr / (1 + (t - 1) * lr_decay)``, as in PyTorch.
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
    ):
        _check_positive("Adagrad", lr=lr, lr_decay=lr_decay, eps=eps)
        defaults = dict(
            lr=lr,
            lr_decay=lr_decay,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            eps=eps,
        )
        super().__init__(params, defaults)

    def update(self, value, grad, state, group):
        if "sum" not in state:
            state["step"] = 0
            state["sum"] = _zeros_like(value) + group["initial_accumulator_value"]
        state["step"] += 1
        if group["weight_decay"] != 0:
            grad = grad + group["weight_decay"] * value

        state["sum"] = state["sum"] + grad * grad
        lr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])

        return value - lr * grad / (_sqrt(state["sum"]) + group["eps"])


class RMSprop(Optimizer):
    """RMSProp: AdaGrad with a decaying average of squared gradients.

    ::

        r <- alpha * r + (1 - alpha) * g * g
        theta <- theta - lr * g / (sqrt(r) + eps)

    ``alpha`` is the slide's rho. ``centered`` subtracts the squared mean
    gradient from ``r``; ``momentum`` keeps a buffer of the scaled steps.
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ):
        _check_positive("RMSprop", lr=lr, alpha=alpha, eps=eps, momentum=momentum)
        defaults = dict(
            lr=lr,
            alpha=alpha,
            eps=eps,
            weight_decay=weight_decay,
            momentum=momentum,
            centered=centered,
        )
        super().__init__(params, defaults)

    def update(self, value, grad, state, group):
        alpha = group["alpha"]
        if group["weight_decay"] != 0:
            grad = grad + group["weight_decay"] * value

        square_avg = alpha * state.get("square_avg", 0.0) + (1 - alpha) * grad * grad
        state["square_avg"] = square_avg
        if group["centered"]:
            grad_avg = alpha * state.get("grad_avg", 0.0) + (1 - alpha) * grad
            state["grad_avg"] = grad_avg
            square_avg = square_avg - grad_avg * grad_avg
        step = grad / (_sqrt(square_avg) + group["eps"])

        if group["momentum"] > 0:
            step = group["momentum"] * state.get("momentum_buffer", 0.0) + step
            state["momentum_buffer"] = step
        return value - group["lr"] * step


class Adam(Optimizer):
    """Adam: momentum on the gradient and on its square, both bias-corrected.

    ::

        s <- b1 * s + (1 - b1) * g            r <- b2 * r + (1 - b2) * g * g
        s_hat = s / (1 - b1^t)                r_hat = r / (1 - b2^t)
        theta <- theta - lr * s_hat / (sqrt(r_hat) + eps)

    The corrections undo the pull towards zero of averages that start at
    zero. ``weight_decay`` adds ``weight_decay * theta`` to the gradient (an
    L2 penalty); ``AdamW`` decays the weights directly instead.
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ):
        _check_positive(type(self).__name__, lr=lr, eps=eps, weight_decay=weight_decay)
        if not all(0 <= beta < 1 for beta in betas):
            raise ValueError(
                f"{type(self).__name__}: betas must lie in [0, 1), got {betas}"
            )
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
        )
        super().__init__(params, defaults)

    def update(self, value, grad, state, group):
        if group["weight_decay"] != 0:
            grad = grad + group["weight_decay"] * value
        return self._adam_step(value, grad, state, group)

    @staticmethod
    def _adam_step(value, grad, state, group):
        beta1, beta2 = group["betas"]
        step = state.get("step", 0) + 1
        state["step"] = step

        exp_avg = beta1 * state.get("exp_avg", 0.0) + (1 - beta1) * grad
        exp_avg_sq = beta2 * state.get("exp_avg_sq", 0.0) + (1 - beta2) * grad * grad
        state["exp_avg"], state["exp_avg_sq"] = exp_avg, exp_avg_sq
        if group["amsgrad"]:
            exp_avg_sq = _maximum(exp_avg_sq, state.get("max_exp_avg_sq", exp_avg_sq))
            state["max_exp_avg_sq"] = exp_avg_sq

        exp_avg_hat = exp_avg / (1 - beta1**step)
        exp_avg_sq_hat = exp_avg_sq / (1 - beta2**step)
        return value - group["lr"] * exp_avg_hat / (
            _sqrt(exp_avg_sq_hat) + group["eps"]
        )


class AdamW(Adam):
    """Adam with decoupled weight decay: ``theta <- theta - lr * wd * theta``.

    The decay is applied to the weights before the Adam step instead of being
    added to the gradient, so the adaptive scaling does not weaken it.
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
    ):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)

    def update(self, value, grad, state, group):
        value = value * (1 - group["lr"] * group["weight_decay"])
        return self._adam_step(value, grad, state, group)


# ---- learning-rate schedules as plain functions of the step -----------------


def step_lr(step: int, base_lr: float, step_size: int, gamma: float = 0.1) -> float:
    """``base_lr * gamma ** (step // step_size)``: drop by gamma every step_size."""
    return base_lr * gamma ** (step // step_size)


def exponential_lr(step: int, base_lr: float, gamma: float) -> float:
    """``base_lr * gamma ** step``."""
    return base_lr * gamma**step


def cosine_annealing_lr(
    step: int, base_lr: float, T_max: int, eta_min: float = 0.0
) -> float:
    """Half a cosine from base_lr down to eta_min over T_max steps."""
    return eta_min + (base_lr - eta_min) * (1 + math.cos(math.pi * step / T_max)) / 2


def inverse_time_lr(
    step: int, a: float = 1000.0, b: float = 1000.0, base_lr: float = 1.0
) -> float:
    """``base_lr * a / (b + step)``; the defaults give the perceptron's 1000/(1000+t).

    This decay meets the Robbins-Monro conditions under which SGD converges:
    the rates sum to infinity (it can travel any distance) while their
    squares have a finite sum (the noise it adds dies out).
    """
    return base_lr * a / (b + step)


# ---- the same schedules driving an optimiser --------------------------------


class LRScheduler:
    """Sets each group's lr to ``rate(base_lr, step)`` on every ``step()``.

    Call ``scheduler.step()`` once per epoch (or per batch), after
    ``optimizer.step()``. ``scheduler(t)`` gives the learning rates at step
    ``t`` without touching the optimiser.
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()

    def rate(self, base_lr: float, step: int) -> float:
        raise NotImplementedError(f"{type(self).__name__} has no rate")

    def __call__(self, step: int) -> list[float]:
        return [self.rate(base_lr, step) for base_lr in self.base_lrs]

    def step(self) -> None:
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self(self.last_epoch)):
            group["lr"] = lr

    def get_last_lr(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        return {"last_epoch": self.last_epoch, "base_lrs": list(self.base_lrs)}

    def load_state_dict(self, state_dict: dict) -> None:
        self.last_epoch = state_dict["last_epoch"]
        self.base_lrs = list(state_dict["base_lrs"])


class StepLR(LRScheduler):
    """Multiply the lr by ``gamma`` every ``step_size`` steps."""

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1, last_epoch=-1):
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def rate(self, base_lr, step):
        return step_lr(step, base_lr, self.step_size, self.gamma)


class ExponentialLR(LRScheduler):
    """Multiply the lr by ``gamma`` every step."""

    def __init__(self, optimizer, gamma: float, last_epoch=-1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def rate(self, base_lr, step):
        return exponential_lr(step, base_lr, self.gamma)


class CosineAnnealingLR(LRScheduler):
    """Anneal the lr from its base value to ``eta_min`` along a half cosine."""

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0, last_epoch=-1):
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def rate(self, base_lr, step):
        return cosine_annealing_lr(step, base_lr, self.T_max, self.eta_min)


class InverseTimeLR(LRScheduler):
    """``lr_t = base_lr * a / (b + t)``: with lr=1, the perceptron's 1000/(1000+t).

    Not in PyTorch. The rates satisfy the Robbins-Monro conditions
    (sum of lr_t infinite, sum of lr_t squared finite).
    """

    def __init__(self, optimizer, a: float = 1000.0, b: float = 1000.0, last_epoch=-1):
        self.a, self.b = a, b
        super().__init__(optimizer, last_epoch)

    def rate(self, base_lr, step):
        return inverse_time_lr(step, self.a, self.b, base_lr)


# ``tinycv.optim.lr_scheduler.StepLR`` reads as it does in PyTorch; the
# schedules live in this file, so the namespace is a module made here.
lr_scheduler = types.ModuleType(f"{__name__}.lr_scheduler", "Learning-rate schedules.")
lr_scheduler.LRScheduler = LRScheduler
lr_scheduler.StepLR = StepLR
lr_scheduler.ExponentialLR = ExponentialLR
lr_scheduler.CosineAnnealingLR = CosineAnnealingLR
lr_scheduler.InverseTimeLR = InverseTimeLR
sys.modules[lr_scheduler.__name__] = lr_scheduler
