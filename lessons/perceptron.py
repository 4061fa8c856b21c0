"""The perceptron training algorithm, exactly as on the slide.

    for each epoch t, for each example (x, y):
        y' = sgn(w · x)
        if y' != y:  w <- w + α_t (y - y') x,   α_t = 1000 / (1000 + t)

x carries a constant 1 so that w holds the bias, and sgn(z) is +1 for z >= 0
and -1 otherwise, so every mistake moves w by 2·α_t·y·x.

Novikoff's theorem: if some unit vector u separates the data with margin
γ = min y (u · x) > 0, and every |x| <= R, the perceptron started at w = 0
makes at most (R/γ)² mistakes. With a step that shrinks from α_max to α_min
the same proof gives (R/γ)² (α_max/α_min)², which is what we check.
XOR has no separating line, so no epoch can ever be free of mistakes.
"""

from __future__ import annotations

import click
import numpy as np
from rich.console import Group
from rich.table import Table

from tinycv.lesson import Lesson, Option, Step, Verdict
from tinycv.viz import decision_map, sparkline

INPUTS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
GATES = {
    "AND": np.array([-1, -1, -1, 1]),
    "OR": np.array([-1, 1, 1, 1]),
    "XOR": np.array([-1, 1, 1, -1]),
}


def sgn(z: float) -> int:
    return 1 if z >= 0 else -1


def with_bias(x: np.ndarray) -> np.ndarray:
    """Append the constant input 1, whose weight is the bias."""
    return np.hstack([x, np.ones((len(x), 1))])


def train_perceptron(x, y, epochs: int, decay: float, rng) -> dict:
    """Run the slide's algorithm; return the weights and the mistake counts."""
    x = with_bias(x)
    w = np.zeros(x.shape[1])
    mistakes_per_epoch, steps = [], []

    for t in range(epochs):
        alpha = decay / (decay + t)
        mistakes = 0
        for i in rng.permutation(len(x)):
            predicted = sgn(w @ x[i])
            if predicted != y[i]:
                w = w + alpha * (y[i] - predicted) * x[i]
                mistakes += 1
                steps.append(alpha)
        mistakes_per_epoch.append(mistakes)

    return {"w": w, "mistakes_per_epoch": mistakes_per_epoch, "steps": steps}


def best_margin(x, y, directions: int = 20000, seed: int = 0) -> float:
    """The largest margin γ over many unit vectors u (0 if none separates).

    Any u with a positive margin gives a valid Novikoff bound; searching many
    directions only makes the bound tighter.
    """
    x = with_bias(x)
    u = np.random.default_rng(seed).standard_normal((directions, x.shape[1]))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    margins = (y[None, :] * (u @ x.T)).min(axis=1)
    return max(float(margins.max()), 0.0)


class Perceptron(Lesson):
    name = "perceptron"
    slide = "Perceptron training algorithm"
    summary = "the perceptron learns AND and OR but never XOR"
    claim = (
        "converges on AND and OR within the mistake bound of Novikoff, "
        "never reaches zero errors on XOR"
    )
    order = 1
    options = (
        Option(
            "epochs",
            100,
            "passes over the four examples",
            fast=30,
            type=click.IntRange(1, 100000),
        ),
        Option(
            "decay",
            1000.0,
            "α_t = decay / (decay + t)",
            type=click.FloatRange(min=0, min_open=True),
        ),
    )

    def steps(self):
        for gate, y in GATES.items():
            run = train_perceptron(INPUTS, y, self.epochs, self.decay, self.rng)
            gamma = best_margin(INPUTS, y, seed=self.seed)
            radius = float(np.linalg.norm(with_bias(INPUTS), axis=1).max())
            run.update(gamma=gamma, radius=radius)
            self.results[gate] = run
            yield Step(f"{gate}: {self.epochs} epochs", *self._show(gate, run))

    def _show(self, gate: str, run: dict):
        per_epoch = run["mistakes_per_epoch"]
        clean = [t for t, m in enumerate(per_epoch) if m == 0]
        table = Table(show_header=True, box=None)
        for column in ("epoch", "α_t", "mistakes"):
            table.add_column(column, justify="right")
        shown = range(min(len(per_epoch), 6))
        for t in shown:
            table.add_row(
                str(t), f"{self.decay / (self.decay + t):.4f}", str(per_epoch[t])
            )

        w = run["w"]
        line = f"w = ({w[0]:+.3f}, {w[1]:+.3f}), bias {w[2]:+.3f}"
        status = (
            f"first epoch without a mistake: {clean[0]}"
            if clean
            else "[red]every epoch has a mistake[/]"
        )
        curve = sparkline(per_epoch, 50)
        total = f"total mistakes: {sum(per_epoch)}   mistakes/epoch: {curve}"
        picture = Group(
            self._regions(w, gate),
            "[dim]shade: sgn(w·x), dots: the four inputs[/]",
        )
        layout = Table.grid(padding=(0, 4))
        layout.add_row(Group(table, line, status), picture)
        return [layout, total]

    def _regions(self, w, gate):
        def predict(points):
            return (with_bias(points) @ w >= 0).astype(int)

        truth = (GATES[gate] > 0).astype(int)
        return decision_map(
            predict, INPUTS, truth, (-0.5, 1.5), (-0.5, 1.5), rows=10, cols=24
        )

    def check(self) -> Verdict:
        facts, passed = [], True
        for gate in ("AND", "OR"):
            run = self.results[gate]
            per_epoch = run["mistakes_per_epoch"]
            steps = run["steps"]
            bound = (run["radius"] / run["gamma"]) ** 2
            if steps:
                bound *= (max(steps) / min(steps)) ** 2
            converged = 0 in per_epoch and per_epoch[-1] == 0
            within = sum(per_epoch) <= bound
            passed &= converged and within
            facts.append(
                f"{gate}: {sum(per_epoch)} mistakes <= bound {bound:.1f} "
                f"({'converged' if converged else 'NOT converged'})"
            )
        xor = self.results["XOR"]["mistakes_per_epoch"]
        passed &= min(xor) > 0
        facts.append(f"XOR: fewest mistakes in an epoch = {min(xor)}")
        return Verdict(self.claim, bool(passed), "; ".join(facts))

    def figure(self, plt):
        fig, axes = plt.subplots(1, 3, figsize=(11, 3.6))
        grid = np.linspace(-0.5, 1.5, 200)
        xx, yy = np.meshgrid(grid, grid)
        for ax, (gate, y) in zip(axes, GATES.items()):
            w = self.results[gate]["w"]
            zz = w[0] * xx + w[1] * yy + w[2]
            ax.contourf(
                xx,
                yy,
                zz >= 0,
                levels=[-0.5, 0.5, 1.5],
                alpha=0.3,
                colors=["tab:orange", "tab:blue"],
            )
            ax.scatter(
                INPUTS[:, 0], INPUTS[:, 1], c=y, cmap="coolwarm", s=80, edgecolors="k"
            )
            ax.set_title(
                f"{gate}: {sum(self.results[gate]['mistakes_per_epoch'])} mistakes"
            )
            ax.set_xlim(-0.5, 1.5)
            ax.set_ylim(-0.5, 1.5)
        fig.suptitle("Perceptron decision regions")
        return fig


LESSON = Perceptron
