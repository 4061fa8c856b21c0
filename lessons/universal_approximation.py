"""Neural networks are universal approximators: one hidden layer is enough.

The theorem on the slide: for a nonconstant, bounded, increasing continuous
φ (here the sigmoid), any continuous f on [0, 1] and any ε > 0, there is an
N and numbers v_i, w_i, b_i with

    F(x) = Σ_{i=1..N} v_i φ(w_i x + b_i),      |F(x) − f(x)| < ε  for all x.

The theorem says such weights exist; it says nothing about finding them by
training (the slide's third bullet). So this lesson shows existence the
simplest way: each hidden unit is a soft step, up or down, at a random place
in [0, 1] (w_i and b_i drawn once), and only the output weights v are
solved for. F is linear in v, so that is a linear problem. The theorem
bounds the largest error, so v minimises max_x |F(x) − f(x)| (the minimax
or Chebyshev fit), found by Lawson's algorithm: weighted least squares,
where after each solve every point's weight is multiplied by its error, so
the weight gathers on the points where the fit is worst. Each weighted fit
also proves a lower bound: no v has a max error below its weighted root-mean
error. The iteration stops once the best max error found is within 0.1% of
the best lower bound, so the fit is known to be (almost) the best there is.

The networks are nested: the N-unit network uses the first N units of one
list, so a larger network can always copy a smaller one (v = 0 for the new
units) and its best max error can only be smaller or equal.

Claim: the max error falls as N grows (never rising by more than 1% from one
N to the next, the slack of the iterative fit) and the largest network is at
least 5 times better than N = 1.
"""

from __future__ import annotations

import click
import numpy as np
from rich.table import Table

from tinycv.lesson import Lesson, Option, Step, Verdict
from tinycv.viz import line_plot, sparkline

TARGETS = {
    "wave": (
        "sin(2πx)·x + 0.3·cos(5x)",
        lambda x: np.sin(2 * np.pi * x) * x + 0.3 * np.cos(5 * x),
    ),
    "kink": ("|x − 0.4|", lambda x: np.abs(x - 0.4)),
    "bumps": (
        "exp(−40(x − 0.3)²) − 0.5·exp(−80(x − 0.75)²)",
        lambda x: np.exp(-40 * (x - 0.3) ** 2) - 0.5 * np.exp(-80 * (x - 0.75) ** 2),
    ),
}

# Lawson's algorithm stops once the max error is within GAP of its lower bound.
GAP = 1e-3

# How much the max error may rise from one N to the next and still count as
# "not rising": the fits stop a little short of the exact minimax (by GAP, or
# more if they ran out of iterations), and below ABSOLUTE_SLACK the error is
# rounding noise.
RELATIVE_SLACK = 0.01
ABSOLUTE_SLACK = 1e-8


def sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # the same function, without overflow


def random_units(count: int, steepest: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """w_i, b_i for ``count`` soft steps at random places c_i in [0, 1].

    |w_i| (the steepness) is uniform in [steepest / 5, steepest] and its
    sign random, so a unit steps up or down; b_i = −w_i c_i puts the
    middle of the step at x = c_i.
    """
    centres = rng.uniform(0.0, 1.0, count)
    steepness = rng.uniform(steepest / 5, steepest, count)
    w = steepness * rng.choice([-1.0, 1.0], count)
    return w, -w * centres


def hidden_layer(x, w, b) -> np.ndarray:
    """φ(w_i x + b_i) for every point (rows) and unit (columns)."""
    return sigmoid(np.outer(x, w) + b)


def minimax_fit(phi: np.ndarray, target: np.ndarray, iterations: int) -> dict:
    """Output weights v minimising max |phi @ v − target|, by Lawson's algorithm.

    Returns a dict: ``v``; ``max_error``, the best max error found;
    ``lower_bound``, below which no v can go; and ``iterations`` used.
    """
    # Work in an orthonormal basis of what the units can represent: the sums
    # of nearly identical soft steps are too ill-conditioned to solve for v
    # directly, but F itself is well determined.
    basis, singular, directions = np.linalg.svd(phi, full_matrices=False)
    rank = int((singular > singular[0] * 1e-12).sum())
    basis = basis[:, :rank]

    weights = np.full(len(target), 1.0 / len(target))
    best, best_error, lower_bound = None, np.inf, 0.0
    used = 0
    while used < iterations:
        used += 1
        # The weighted least-squares fit, minimising Σ_k weight_k (F(x_k) − f(x_k))²,
        # through its normal equations (rank x rank).
        gram = basis.T @ (basis * weights[:, None])
        right = basis.T @ (weights * target)
        coefficients = np.linalg.lstsq(gram, right, rcond=1e-13)[0]
        residual = np.abs(basis @ coefficients - target)
        if residual.max() < best_error:
            best, best_error = coefficients, residual.max()

        # The weights sum to 1, so for any v: max error² >= Σ weight·error²,
        # and this fit has the smallest weighted sum of all.
        lower_bound = max(lower_bound, float(np.sqrt(weights @ residual**2)))
        if best_error <= lower_bound * (1 + GAP):
            break
        weights = weights * residual
        weights /= weights.sum()

    v = directions[:rank].T @ (best / singular[:rank])
    return {
        "v": v,
        "max_error": float(best_error),
        "lower_bound": lower_bound,
        "iterations": used,
    }


def least_squares_fit(phi: np.ndarray, target: np.ndarray):
    """Output weights v minimising Σ (phi @ v − target)², for comparison."""
    v = np.linalg.lstsq(phi, target, rcond=None)[0]
    return v, float(np.abs(phi @ v - target).max())


class UniversalApproximation(Lesson):
    name = "universal-approximation"
    slide = "NNs are Universal Approximators (in theory)"
    summary = (
        "Σ v_i σ(w_i x + b_i) approaches a continuous f as the hidden units N grow"
    )
    claim = (
        "the max error |F − f| on [0, 1] falls as N grows (no rise above 1%) "
        "and the largest N is at least 5x better than N = 1"
    )
    order = 4
    options = (
        Option(
            "units",
            (1, 2, 4, 8, 16, 32),
            "hidden-layer sizes N",
            fast=(1, 2, 4, 8, 16),
            multiple=True,
        ),
        Option(
            "function",
            "wave",
            "the continuous f to approximate",
            type=click.Choice(sorted(TARGETS)),
        ),
        Option(
            "steepest",
            15.0,
            "largest |w_i|: how sharp a unit's step can be",
            type=click.FloatRange(min=0, min_open=True),
        ),
        Option(
            "iterations",
            5000,
            "most Lawson iterations per fit",
            fast=1000,
            type=click.IntRange(1, 100_000),
        ),
        Option(
            "points",
            401,
            "grid points on [0, 1] where |F − f| is measured",
            fast=201,
            type=click.IntRange(10, 100_000),
        ),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        units = tuple(int(n) for n in self.units)
        if not units or min(units) < 1:
            raise ValueError("universal-approximation: every --units must be >= 1")
        self.units = tuple(sorted(set(units)))

    def steps(self):
        formula, f = TARGETS[self.function]
        x = np.linspace(0.0, 1.0, self.points)
        target = f(x)
        w, b = random_units(max(self.units), self.steepest, self.rng)
        phi_all = hidden_layer(x, w, b)
        self.results.update(x=x, target=target, formula=formula, fits={})

        shown = min(4, len(w))
        yield Step(
            "the hidden units: soft steps φ(w_i x + b_i) at random places",
            f"The first {shown} of {len(w)} units, drawn once and kept; the "
            "N-unit network uses the first N.",
            unit_table(w[:shown], b[:shown]),
            line_plot(
                x,
                {f"φ{i + 1}": phi_all[:, i] for i in range(shown)},
                rows=6,
                cols=60,
                ylim=(0.0, 1.0),
            ),
        )

        # One window for every N, a little wider than f, so the plots compare.
        margin = 0.2 * (target.max() - target.min())
        window = (target.min() - margin, target.max() + margin)
        for n in self.track(self.units, "fitting v for each N"):
            phi = phi_all[:, :n]
            fit = minimax_fit(phi, target, self.iterations)
            approximation = phi @ fit["v"]
            fit["F"] = approximation
            fit["least_squares_max_error"] = least_squares_fit(phi, target)[1]
            self.results["fits"][n] = fit
            yield Step(
                f"N = {n}: F(x) = Σ_(i≤{n}) v_i φ(w_i x + b_i)",
                line_plot(
                    x,
                    {f"f(x) = {formula}": target, f"F(x), N = {n}": approximation},
                    rows=8,
                    cols=60,
                    ylim=window,
                ),
                f"max |F − f| = {fit['max_error']:.2e}; no choice of v can do "
                f"better than {fit['lower_bound']:.2e} "
                f"({fit['iterations']} Lawson iterations)",
            )

        yield Step("max error against the number of hidden units", *self._summary())

    def _summary(self):
        fits = self.results["fits"]
        table = Table(
            box=None,
            show_header=True,
            pad_edge=False,
            title_justify="left",
            title="max |F − f| on [0, 1] with v chosen by",
        )
        table.add_column("N", justify="right")
        table.add_column("minimax", justify="right")
        table.add_column("best possible ≥", justify="right")
        table.add_column("least squares", justify="right")
        table.add_column("vs N = " + str(self.units[0]), justify="right")
        first = fits[self.units[0]]["max_error"]
        for n in self.units:
            fit = fits[n]
            table.add_row(
                str(n),
                f"{fit['max_error']:.2e}",
                f"{fit['lower_bound']:.2e}",
                f"{fit['least_squares_max_error']:.2e}",
                f"{first / max(fit['max_error'], 1e-300):.3g}x",
            )
        errors = [fits[n]["max_error"] for n in self.units]
        curve = (
            f"log max error over N: {sparkline(np.log10(np.maximum(errors, 1e-12)))}"
        )
        note = (
            "Least squares minimises the average error, not the largest, so "
            "its max error need not fall at every N; the theorem is about the "
            "largest."
        )
        return [table, curve, note]

    def check(self) -> Verdict:
        fits = self.results["fits"]
        errors = [fits[n]["max_error"] for n in self.units]
        rises = [
            (small, large)
            for (small, e_small), (large, e_large) in zip(
                zip(self.units, errors), zip(self.units[1:], errors[1:])
            )
            if e_large > e_small * (1 + RELATIVE_SLACK) + ABSOLUTE_SLACK
        ]
        gain = errors[0] / max(errors[-1], 1e-300)
        passed = not rises and len(self.units) > 1 and gain >= 5
        listed = ", ".join(f"N={n}: {e:.2e}" for n, e in zip(self.units, errors))
        measured = (
            f"max error {listed}; N={self.units[-1]} is {gain:.3g}x better "
            f"than N={self.units[0]}"
        )
        if rises:
            measured += "; rises at " + ", ".join(f"{a}→{b}" for a, b in rises)
        if len(self.units) < 2:
            measured += "; needs at least two values of --units"
        return Verdict(self.claim, bool(passed), measured)

    def figure(self, plt):
        fits = self.results["fits"]
        x, target = self.results["x"], self.results["target"]
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
        left.plot(
            x, target, "k", linewidth=2.5, label=f"f(x) = {self.results['formula']}"
        )
        for n in self.units:
            left.plot(x, fits[n]["F"], linewidth=1, label=f"F, N = {n}")
        left.set_xlabel("x")
        left.legend(fontsize=7)
        left.set_title("f and its one-hidden-layer approximations")

        right.loglog(
            self.units,
            [fits[n]["max_error"] for n in self.units],
            "o-",
            label="minimax v",
        )
        right.loglog(
            self.units,
            [fits[n]["least_squares_max_error"] for n in self.units],
            "s--",
            label="least-squares v",
        )
        right.set_xlabel("hidden units N")
        right.set_ylabel("max |F − f| on [0, 1]")
        right.legend()
        right.set_title("the error falls as N grows")
        return fig


def unit_table(w, b) -> Table:
    table = Table(box=None, show_header=True, pad_edge=False)
    for column in ("unit", "w_i", "b_i", "step at x = −b_i/w_i", "direction"):
        table.add_column(column, justify="right")
    for i, (wi, bi) in enumerate(zip(w, b), start=1):
        table.add_row(
            f"φ{i}",
            f"{wi:+.2f}",
            f"{bi:+.2f}",
            f"{-bi / wi:.3f}",
            "up" if wi > 0 else "down",
        )
    return table


LESSON = UniversalApproximation
