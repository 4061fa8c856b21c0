"""Momentum in the valley: the lecture's moving average against plain GD.

    GD:        θ ← θ − ε g
    Momentum:  v ← λ v − (1 − λ) g,    θ ← θ + η v       (v starts at 0)

ηv_k is the last move θ_k − θ_{k−1}, so momentum is the heavy ball

    θ_{k+1} = θ_k − α g_k + β (θ_k − θ_{k−1}),    β = λ,  α = η (1 − λ).

On a quadratic whose curvatures lie between μ and L (κ = L / μ) the best
fixed settings and the rates they reach are (Polyak, 1964)

    GD:          ε = 2 / (L + μ)                 rate (κ − 1) / (κ + 1)
    heavy ball:  α = 4 / (√L + √μ)²,
                 β = ((√κ − 1) / (√κ + 1))²     rate (√κ − 1) / (√κ + 1)

so GD needs about κ/2 steps per factor e and momentum √κ/2. The lesson runs
both on the valley ½(x² + κy²) for several κ, measures the rate as the
geometric mean contraction of ‖θ − θ*‖ per step over the second half of the
run, and draws the paths, then races them on Rosenbrock's function.

Claim: for every κ the measured rates match the two formulas within 10%
(compared as steps per factor e, i.e. as log(rate)).
"""

from __future__ import annotations

import click
import numpy as np
from rich.console import Group
from rich.table import Table

from tinycv import optim
from tinycv.lesson import Lesson, Option, Step, Verdict
from tinycv.viz import contour_map

from ._surfaces import Rosenbrock, Valley, descend, parameter, steps_to

TOLERANCE = 0.10
SHOWN_KAPPA = 100.0  # the valley drawn on the map


def best_gd(valley: Valley) -> float:
    """The step that minimises max |1 − ε h| over the curvatures h."""
    mu, big_l = valley.curvatures.min(), valley.curvatures.max()
    return 2 / (big_l + mu)


def best_heavy_ball(valley: Valley) -> tuple[float, float]:
    """Polyak's optimal (α, β) for the heavy ball on this quadratic."""
    mu, big_l = valley.curvatures.min(), valley.curvatures.max()
    root = np.sqrt(valley.kappa)
    return 4 / (np.sqrt(big_l) + np.sqrt(mu)) ** 2, ((root - 1) / (root + 1)) ** 2


def lecture_momentum(param, alpha: float, beta: float) -> optim.Momentum:
    """The lecture's form with λ = β and η = α / (1 − λ)."""
    return optim.Momentum([param], lr=alpha / (1 - beta), momentum=beta)


def measured_rate(path, minimum) -> float:
    """Geometric mean contraction of ‖θ − θ*‖ per step, second half of the run.

    The run is cut where the error has fallen by 1e-150 (far from underflow).
    At Polyak's setting the heavy ball has a double root, so its error is
    (a + b·k)·r^k: over [n/2, n] the factor k adds at most 2^(2/n) to r.
    """
    errors = np.linalg.norm(path - minimum, axis=1)
    alive = np.flatnonzero(errors > 1e-150 * errors[0])
    end = int(alive[-1])
    start = end // 2
    return float((errors[end] / errors[start]) ** (1 / (end - start)))


def start_point(rng, kappa: float) -> np.ndarray:
    """Far along the floor and up a wall, on a random side of the valley."""
    x = -(8.0 + 2.0 * rng.random())
    y = rng.choice([-1.0, 1.0]) * (0.6 + 0.4 * rng.random()) * np.sqrt(100 / kappa)
    return np.array([x, y])


class Momentum(Lesson):
    name = "momentum"
    slide = "Momentum"
    summary = "momentum crosses an ill-conditioned valley in √κ steps, GD in κ"
    claim = (
        "with the best fixed steps, GD converges at (κ−1)/(κ+1) and momentum "
        "at (√κ−1)/(√κ+1) per step, within 10%, for every κ"
    )
    order = 32
    options = (
        Option(
            "kappas",
            (10.0, 100.0, 1000.0),
            "condition numbers κ of the valley",
            multiple=True,
        ),
        Option(
            "max_steps",
            4000,
            "most steps per run when measuring a rate",
            fast=2000,
            type=click.IntRange(200, 10**6),
        ),
        Option(
            "rosenbrock_steps",
            15000,
            "steps on Rosenbrock's function",
            fast=4000,
            type=click.IntRange(10, 10**6),
        ),
        Option(
            "lam",
            0.9,
            "λ of momentum on Rosenbrock",
            type=click.FloatRange(0, 1, max_open=True),
        ),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.kappas or min(self.kappas) <= 1:
            raise ValueError(f"momentum: every κ must be > 1, got {self.kappas}")

    def steps(self):
        yield Step("The update rules", self._rules())

        runs = {}
        for kappa in self.kappas:
            runs[kappa] = self._run_valley(float(kappa))
        self.results["valley"] = runs
        yield Step("Measured rates against Polyak's formulas", self._rates_table(runs))

        shown = self._shown_valley(runs)
        yield Step(f"The valley with κ = {shown['kappa']:g}: paths", *shown["body"])

        sweep = self._sweep()
        self.results["sweep"] = sweep
        yield Step(
            "Is Polyak's λ the best? (κ = 100, α fixed)", self._sweep_table(sweep)
        )

        race = self._rosenbrock()
        self.results["rosenbrock"] = race
        yield Step("Rosenbrock's function", *self._rosenbrock_body(race))

    # ---- the valley ---------------------------------------------------------

    def _rules(self):
        table = Table(box=None, show_header=True)
        table.add_column("method")
        table.add_column("update (as on the slide)")
        table.add_column("tinycv.optim")
        table.add_row("GD", "θ ← θ − ε g", "SGD(lr=ε)")
        table.add_row(
            "Momentum", "v ← λv − (1−λ)g,  θ ← θ + ηv", "Momentum(lr=η, momentum=λ)"
        )
        table.add_row(
            "(heavy ball)", "θ ← θ − αg + β(θ − θ_prev)", "β = λ,  α = η(1−λ)"
        )
        return table

    def _run_valley(self, kappa: float) -> dict:
        valley = Valley(1.0, kappa)
        start = start_point(self.rng, kappa)

        step = best_gd(valley)
        param = parameter(start)
        gd_path = descend(
            optim.SGD([param], lr=step), param, valley.gradient, self.max_steps
        )

        alpha, beta = best_heavy_ball(valley)
        param = parameter(start)
        hb_path = descend(
            lecture_momentum(param, alpha, beta), param, valley.gradient, self.max_steps
        )

        root = np.sqrt(kappa)
        return {
            "kappa": kappa,
            "start": start,
            "gd_step": step,
            "alpha": alpha,
            "beta": beta,
            "gd_path": gd_path,
            "hb_path": hb_path,
            "gd_theory": (kappa - 1) / (kappa + 1),
            "hb_theory": (root - 1) / (root + 1),
            "gd_rate": measured_rate(gd_path, valley.minimum),
            "hb_rate": measured_rate(hb_path, valley.minimum),
        }

    def _rates_table(self, runs: dict):
        table = Table(show_header=True, box=None)
        for column in (
            "κ",
            "GD ε",
            "GD rate",
            "(κ−1)/(κ+1)",
            "λ",
            "η",
            "momentum rate",
            "(√κ−1)/(√κ+1)",
            "steps to 1e-6: GD / mom.",
        ):
            table.add_column(column, justify="right")
        for run in runs.values():
            table.add_row(
                f"{run['kappa']:g}",
                f"{run['gd_step']:.4g}",
                f"{run['gd_rate']:.5f}",
                f"{run['gd_theory']:.5f}",
                f"{run['beta']:.4f}",
                f"{run['alpha'] / (1 - run['beta']):.4g}",
                f"{run['hb_rate']:.5f}",
                f"{run['hb_theory']:.5f}",
                f"{_steps_to_fraction(run['gd_path'])} / "
                f"{_steps_to_fraction(run['hb_path'])}",
            )
        note = (
            "[dim]rate = geometric mean of ‖θ_{k+1} − θ*‖ / ‖θ_k − θ*‖ over the "
            "second half of the run; '—' = not within the run[/]"
        )
        return Group(table, note)

    def _shown_valley(self, runs: dict) -> dict:
        kappa = (
            SHOWN_KAPPA
            if SHOWN_KAPPA in runs
            else min(runs, key=lambda k: abs(k - 100))
        )
        run = runs[kappa]
        valley = Valley(1.0, kappa)
        x_reach = 1.1 * abs(run["start"][0])
        y_reach = 2.6 * abs(run["start"][1])
        shown_steps = 60
        picture = contour_map(
            valley.value,
            (-x_reach, x_reach),
            (-y_reach, y_reach),
            {
                "g": run["gd_path"][:shown_steps],
                "m": run["hb_path"][:shown_steps],
                "*": [valley.minimum],
            },
            rows=17,
            cols=72,
        )
        legend = (
            f"[bold]g[/] GD, ε = {run['gd_step']:.4f}    [bold]m[/] momentum, "
            f"λ = {run['beta']:.3f}, η = {run['alpha'] / (1 - run['beta']):.4f}    "
            f"[bold]*[/] minimum    (first {shown_steps} steps)"
        )
        errors = Table(
            show_header=True,
            box=None,
            title_justify="left",
            title="‖θ − θ*‖ after k steps",
        )
        checkpoints = [
            k
            for k in (0, 10, 25, 50, 100, 200, 400)
            if k < min(len(run["gd_path"]), len(run["hb_path"]))
        ]
        errors.add_column("k", justify="right")
        for k in checkpoints:
            errors.add_column(str(k), justify="right")
        for label, path in (("GD", run["gd_path"]), ("momentum", run["hb_path"])):
            distances = np.linalg.norm(path[checkpoints], axis=1)
            errors.add_row(label, *(f"{d:.1e}" for d in distances))
        story = (
            "GD moves quickly down the walls but slowly along the floor: its "
            "zig-zag across the\nvalley shrinks by only 0.98 a step. Momentum "
            "at Polyak's setting swings further up\nthe walls at first, but it "
            "keeps the push along the floor and every swing shrinks by 0.82."
        )
        return {"kappa": kappa, "body": [picture, legend, errors, story]}

    def _sweep(self) -> list:
        valley = Valley(1.0, 100.0)
        alpha, best = best_heavy_ball(valley)
        rows = []
        for lam in sorted([0.0, 0.3, 0.5, best, 0.8, 0.9]):
            param = parameter(start_point(np.random.default_rng(self.seed), 100.0))
            path = descend(
                lecture_momentum(param, alpha, lam), param, valley.gradient, 2000
            )
            diverged = len(path) < 2001 or np.linalg.norm(path[-1]) > np.linalg.norm(
                path[0]
            )
            rate = None if diverged else measured_rate(path, valley.minimum)
            rows.append({"lam": lam, "rate": rate, "best": lam == best})
        return rows

    def _sweep_table(self, sweep: list):
        table = Table(show_header=True, box=None)
        for column in ("λ", "measured rate", ""):
            table.add_column(column, justify="right")
        for row in sweep:
            rate = "diverges" if row["rate"] is None else f"{row['rate']:.4f}"
            mark = "← Polyak's β" if row["best"] else ""
            table.add_row(f"{row['lam']:.4f}", rate, mark)
        note = (
            "[dim]α = η(1−λ) held at 4/(√L+√μ)²: without momentum (λ = 0) that "
            "step is too long for the walls; too much momentum rings around the "
            "minimum at √λ per step.[/]"
        )
        return Group(table, note)

    # ---- Rosenbrock ---------------------------------------------------------

    def _rosenbrock(self) -> dict:
        surface = Rosenbrock()
        alpha = 1.5e-3  # about the longest stable GD step near the start
        param = parameter(surface.start)
        gd_path = descend(
            optim.SGD([param], lr=alpha), param, surface.gradient, self.rosenbrock_steps
        )
        param = parameter(surface.start)
        hb_path = descend(
            lecture_momentum(param, alpha, self.lam),
            param,
            surface.gradient,
            self.rosenbrock_steps,
        )
        reach = {}
        for name, path in (("GD", gd_path), ("momentum", hb_path)):
            distances = np.linalg.norm(path - surface.minimum, axis=1)
            reach[name] = steps_to(distances, 1e-3)
        return {"alpha": alpha, "gd_path": gd_path, "hb_path": hb_path, "reach": reach}

    def _rosenbrock_body(self, race: dict):
        surface = Rosenbrock()
        picture = contour_map(
            surface.value,
            (-1.6, 1.6),
            (-0.4, 1.6),
            {
                "g": race["gd_path"][::25],
                "m": race["hb_path"][::5],
                "*": [surface.minimum],
            },
            rows=14,
            cols=64,
        )
        eta = race["alpha"] / (1 - self.lam)
        table = Table(show_header=True, box=None)
        for column in ("method", "setting", "steps until ‖θ − (1,1)‖ < 1e-3"):
            table.add_column(column, justify="right")
        for name, setting in (
            ("GD", f"ε = {race['alpha']:g}"),
            ("momentum", f"λ = {self.lam:g}, η = {eta:.4g}"),
        ):
            steps = race["reach"][name]
            shown = "—" if steps is None else str(steps)
            table.add_row(name, setting, shown)
        note = (
            "[dim]Both take the same α = η(1−λ) per gradient; momentum keeps "
            "moving along the curved floor where GD creeps. "
            f"GD drawn every 25th step, momentum every 5th; at most "
            f"{self.rosenbrock_steps} steps.[/]"
        )
        return [picture, table, note]

    # ---- the claim ----------------------------------------------------------

    def check(self) -> Verdict:
        facts, passed = [], True
        for run in self.results["valley"].values():
            for method in ("gd", "hb"):
                ratio = np.log(run[f"{method}_rate"]) / np.log(run[f"{method}_theory"])
                passed &= abs(ratio - 1) <= TOLERANCE
                run[f"{method}_ratio"] = ratio
            facts.append(
                f"κ={run['kappa']:g}: GD {run['gd_rate']:.4f} vs "
                f"{run['gd_theory']:.4f}, momentum {run['hb_rate']:.4f} vs "
                f"{run['hb_theory']:.4f} (log ratios {run['gd_ratio']:.3f}, "
                f"{run['hb_ratio']:.3f})"
            )
        return Verdict(self.claim, bool(passed), "; ".join(facts))

    def figure(self, plt):
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
        runs = self.results["valley"]
        kappa = min(runs, key=lambda k: abs(k - SHOWN_KAPPA))
        run = runs[kappa]
        valley = Valley(1.0, kappa)
        x_reach, y_reach = 1.1 * abs(run["start"][0]), 2.6 * abs(run["start"][1])
        _contours(axes[0], valley, (-x_reach, x_reach), (-y_reach, y_reach))
        axes[0].plot(*run["gd_path"][:60].T, ".-", lw=0.8, label="GD")
        axes[0].plot(*run["hb_path"][:60].T, ".-", lw=0.8, label="momentum")
        axes[0].set_title(f"valley, κ = {kappa:g}: first 60 steps")
        axes[0].legend()

        for index, run in enumerate(runs.values()):
            colour = f"C{index}"
            for method, style in (("gd", "-"), ("hb", "--")):
                errors = np.linalg.norm(run[f"{method}_path"], axis=1)
                axes[1].semilogy(
                    errors,
                    style,
                    color=colour,
                    label=f"κ={run['kappa']:g} {method.upper()}",
                )
        axes[1].set_ylim(1e-12, 20)
        axes[1].set_xlabel("step")
        axes[1].set_ylabel("‖θ − θ*‖")
        axes[1].set_title("GD (solid) against momentum (dashed)")
        axes[1].legend(fontsize=7)

        race = self.results["rosenbrock"]
        surface = Rosenbrock()
        _contours(axes[2], surface, (-2, 2), (-1, 3))
        axes[2].plot(*race["gd_path"].T, "-", lw=1, label="GD")
        axes[2].plot(*race["hb_path"].T, "-", lw=1, label="momentum")
        axes[2].plot(*surface.minimum, "k*", ms=10)
        axes[2].set_title("Rosenbrock")
        axes[2].legend()
        fig.suptitle("Momentum: v ← λv − (1−λ)g,  θ ← θ + ηv")
        return fig


def _steps_to_fraction(path, fraction: float = 1e-6):
    errors = np.linalg.norm(path, axis=1)
    steps = steps_to(errors, fraction * errors[0])
    return "—" if steps is None else str(steps)


def _contours(ax, surface, xlim, ylim):
    xs, ys = np.linspace(*xlim, 200), np.linspace(*ylim, 200)
    grid = np.stack(np.meshgrid(xs, ys), axis=-1)
    values = surface.value(grid)
    ax.contour(
        xs,
        ys,
        np.log(values - values.min() + 1e-3),
        levels=15,
        cmap="viridis",
        linewidths=0.6,
    )


LESSON = Momentum
