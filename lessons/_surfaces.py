"""Test surfaces for the optimisation lessons, and the loop that walks them.

A surface knows its value (for contour maps, on many points at once), its
gradient (written out by hand, so thousands of steps stay fast) and where
its minimum is. ``descend`` runs one of tinycv's optimisers on it:

    param.grad = ∇f(param);  optimizer.step()

which is the training loop of every network with the backward pass done
on paper.
"""

from __future__ import annotations

import numpy as np

import tinycv


class Valley:
    """The quadratic f(x, y) = ½(h_x·x² + h_y·y²), minimum at the origin.

    With h_y ≫ h_x it is a long valley: steep walls across y, an almost
    flat floor along x. The condition number is κ = h_y / h_x.
    """

    name = "valley"

    def __init__(self, h_x: float, h_y: float):
        self.curvatures = np.array([h_x, h_y], dtype=float)
        self.minimum = np.zeros(2)

    @property
    def kappa(self) -> float:
        return self.curvatures.max() / self.curvatures.min()

    def value(self, points):
        points = np.asarray(points, dtype=float)
        return 0.5 * (points**2 * self.curvatures).sum(axis=-1)

    def gradient(self, theta):
        return self.curvatures * theta


class Rosenbrock:
    """f(x, y) = (1 - x)² + 100·(y - x²)²: a curved, narrow valley to (1, 1)."""

    name = "Rosenbrock"
    minimum = np.array([1.0, 1.0])
    start = np.array([-1.2, 1.0])  # the classic starting point

    def value(self, points):
        points = np.asarray(points, dtype=float)
        x, y = points[..., 0], points[..., 1]
        return (1 - x) ** 2 + 100 * (y - x**2) ** 2

    def gradient(self, theta):
        x, y = theta
        return np.array([-2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)])


def parameter(start) -> tinycv.Tensor:
    """A float64 parameter Tensor at ``start`` (float64 keeps the tails exact)."""
    return tinycv.tensor(np.asarray(start, dtype=float), dtype=tinycv.float64)


def descend(
    optimizer, param, gradient, steps: int, scheduler=None, blow_up: float = 1e6
) -> np.ndarray:
    """Run ``steps`` updates of ``optimizer`` on ``param``; return the path.

    Args:
        optimizer: a tinycv.optim optimiser holding ``param``.
        param: the Tensor being optimised.
        gradient: maps the raw parameter array to ∇f there.
        steps: how many updates.
        scheduler: a learning-rate schedule stepped after every update.
        blow_up: stop early once any coordinate exceeds this (divergence).

    Returns:
        the iterates θ_0 … θ_k stacked along a new first axis (fewer than
        ``steps + 1`` when the run diverged).
    """
    path = [param.data.copy()]
    for _ in range(steps):
        param.grad = tinycv.Tensor(gradient(param.data))
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        path.append(param.data.copy())
        if not np.all(np.abs(param.data) < blow_up):
            break
    return np.array(path)


def steps_to(distances, target: float) -> int | None:
    """The first step after which ``distances`` stays below ``target``."""
    above = np.flatnonzero(~(np.asarray(distances) < target))
    if above.size == 0:
        return 0
    first_after = int(above[-1]) + 1
    return first_after if first_after < len(distances) else None
