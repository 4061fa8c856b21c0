"""When does SGD converge? The step sizes ε_k of the slide's condition.

SGD on one fresh example per step, as on the slide:

    ĝ ← ∇_θ L(f(x; θ), y),    θ ← θ − ε_k ĝ

converges when Σ ε_k = ∞ and Σ ε_k² < ∞. The problem: linear regression
on a stream of examples, x ~ N(0, diag(h)), y = x·θ* + noise of variance
σ², L = ½(x·θ − y)². The optimum θ* is known and E[ĝ] = H(θ − θ*), so

- the mean error shrinks as Π (1 − ε_k h) per direction: it reaches zero
  only if Σ ε_k = ∞ (the steps can travel any distance);
- the noise each step adds has variance about ε_k² σ² h: it dies out only
  if Σ ε_k² < ∞.

Three kinds of schedule, each run many times at once (the update is
elementwise, so one (runs, 2) Tensor holds independent runs):

    ε_k = a / (b + k)     (InverseTimeLR)   both conditions hold
    ε_k = ε               (constant)        Σ ε_k² = ∞: stalls at a noise floor
    ε_k = a·b / (b + k)²                    Σ ε_k < ∞: stops short

For a constant step the floor of E‖θ − θ*‖² is about ε σ² d / 2 (exactly,
the fixed point of the second-moment recursion: see ``noise_floor``).

Claim: a/(b+k) keeps shrinking the error and ends below the constant
steps' floors; the floors of two constant steps differ by their ratio
(within 25%); a·b/(b+k)², started far away, stops at least 20% of the way
short, where Π (1 − ε_k h) predicts (within 25%).
"""

from __future__ import annotations

import click
import numpy as np
from rich.console import Group
from rich.table import Table

import tinycv
from tinycv import optim
from tinycv.lesson import Lesson, Option, Step, Verdict
from tinycv.viz import contour_map, sparkline

from ._surfaces import parameter

CURVATURES = np.array([1.0, 0.5])  # h: E[x xᵀ] = diag(h)
NOISE = 1.0  # σ
OPTIMUM = np.array([1.0, -0.5])  # θ*
OFFSET = np.array([-6.0, 8.0])  # θ_0 − θ*: far from the optimum
A, B = 2.0, 10.0  # ε_k = a / (b + k): ε_0 = 0.2 and a·h ≥ 1 in each direction
FLOOR_TOLERANCE = 0.25


class InverseSquareLR(optim.LRScheduler):
    """ε_k = base_lr · a·b / (b + k)²: same first step as a / (b + k), but Σ ε_k < ∞."""

    def __init__(self, optimizer, a: float, b: float, last_epoch: int = -1):
        self.a, self.b = a, b
        super().__init__(optimizer, last_epoch)

    def rate(self, base_lr, step):
        return base_lr * self.a * self.b / (self.b + step) ** 2


def noise_floor(step: float, curvatures=CURVATURES, noise: float = NOISE) -> float:
    """Stationary E‖θ − θ*‖² of constant-step SGD on this problem.

    With e = θ − θ* one step is e ← e − ε(x xᵀ e − x ν). For Gaussian x the
    second moment S = E[e eᵀ] obeys S ← S − ε(HS + SH) + ε²(2HSH +
    tr(HS)H + σ²H); its diagonal fixed point is
    s_i = ε(T + σ²) / (2 − 2εh_i) with T = Σ h_i s_i.
    """
    spread = (curvatures / (2 - 2 * step * curvatures)).sum()
    total = step * noise**2 * spread / (1 - step * spread)
    return float((step * (total + noise**2) / (2 - 2 * step * curvatures)).sum())


class SGDConvergence(Lesson):
    name = "sgd-convergence"
    slide = "Stochastic Gradient Descent (SGD)"
    summary = "Σε_k = ∞ and Σε_k² < ∞: why a/(b+k) converges and a constant step stalls"
    claim = (
        "ε_k = a/(b+k) keeps shrinking the error below every constant step's "
        "floor; constant steps stall at floors in the ratio of the steps; "
        "a·b/(b+k)² stops short of the optimum"
    )
    order = 31
    options = (
        Option(
            "iterations",
            6000,
            "SGD steps per run",
            fast=2400,
            type=click.IntRange(400, 10**6),
        ),
        Option(
            "runs",
            400,
            "independent runs averaged",
            fast=200,
            type=click.IntRange(10, 10**5),
        ),
        Option(
            "constant_steps", (0.04, 0.01), "the two constant steps ε", multiple=True
        ),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        steps = sorted(set(self.constant_steps))
        if len(steps) < 2 or steps[0] <= 0 or steps[-1] >= 0.3:
            raise ValueError(
                "sgd-convergence: --constant-steps needs two different steps in "
                f"(0, 0.3), got {self.constant_steps}"
            )

    def steps(self):
        schedules = self._schedules()
        yield Step(
            "The schedules and the slide's condition", self._conditions(schedules)
        )

        traces = self._run(schedules)
        self.results.update(traces)
        yield Step("One run of each on the loss surface", *self._paths(traces))
        yield Step(f"Mean of ‖θ − θ*‖² over {self.runs} runs", self._errors(traces))
        yield Step("Constant steps: a noise floor that scales with ε", self._floors())
        yield Step("a·b/(b+k)²: too little distance to travel", self._short())

    # ---- the schedules ------------------------------------------------------

    def _schedules(self) -> dict:
        """label -> (ε_k as written, ε_k for an array of k, a maker of
        (optimizer, scheduler) for a parameter)."""
        schedules = {
            "a/(b+k)": (
                f"{A:g}/({B:g}+k)",
                lambda k: A / (B + k),
                lambda p: _with(optim.SGD([p], lr=1.0), optim.InverseTimeLR, a=A, b=B),
            ),
        }
        for step in self.constant_steps:
            schedules[_constant(step)] = (
                f"{step:g}",
                lambda k, step=step: np.full(len(k), float(step)),
                lambda p, step=step: (optim.SGD([p], lr=step), None),
            )
        schedules["ab/(b+k)²"] = (
            f"{A * B:g}/({B:g}+k)²",
            lambda k: A * B / (B + k) ** 2,
            lambda p: _with(optim.SGD([p], lr=1.0), InverseSquareLR, a=A, b=B),
        )
        return schedules

    def _conditions(self, schedules: dict):
        table = Table(show_header=True, box=None)
        shown = f"k < {self.iterations}"
        for column in (
            "schedule",
            "ε_k",
            f"Σε_k, {shown}",
            f"Σε_k², {shown}",
            "Σε_k = ∞",
            "Σε_k² < ∞",
        ):
            table.add_column(column, justify="right")
        k = np.arange(self.iterations)
        for label, (formula, rate, _) in schedules.items():
            rates = rate(k)
            travels = "✓" if label != "ab/(b+k)²" else "✗"
            settles = "✗" if label in self._constants() else "✓"
            table.add_row(
                label,
                formula,
                f"{rates.sum():.1f}",
                f"{(rates**2).sum():.3f}",
                travels,
                settles,
            )
        problem = (
            "x ~ N(0, diag(h)), h = (1, 0.5);  y = x·θ* + ν, σ = 1;  "
            "L = ½(x·θ − y)²;  ĝ = x(x·θ − y);  θ ← θ − ε_k ĝ\n"
            f"θ* = {_vector(OPTIMUM)},  θ_0 = θ* + {_vector(OFFSET)},  "
            f"‖θ_0 − θ*‖ = {np.linalg.norm(OFFSET):g}"
        )
        return Group(problem, table)

    def _constants(self) -> dict:
        """label -> ε of the constant-step schedules."""
        return {_constant(step): float(step) for step in self.constant_steps}

    # ---- the runs -----------------------------------------------------------

    def _run(self, schedules: dict) -> dict:
        runs, dims = self.runs, len(OPTIMUM)
        params, optimizers, schedulers = {}, {}, {}
        for label, (_, _, make) in schedules.items():
            params[label] = parameter(np.tile(OPTIMUM + OFFSET, (runs, 1)))
            optimizers[label], schedulers[label] = make(params[label])

        errors = {label: np.empty(self.iterations + 1) for label in schedules}
        first_run = {label: [params[label].data[0].copy()] for label in schedules}
        for label in schedules:
            errors[label][0] = float((OFFSET**2).sum())

        chunk = 500
        for start in self.track(
            range(0, self.iterations, chunk),
            "SGD steps",
            total=-(-self.iterations // chunk),
        ):
            count = min(chunk, self.iterations - start)
            # One stream of examples shared by every schedule (common random numbers).
            inputs = self.rng.standard_normal((count, runs, dims)) * np.sqrt(CURVATURES)
            targets = inputs @ OPTIMUM + NOISE * self.rng.standard_normal((count, runs))
            for i in range(count):
                x, y = inputs[i], targets[i]
                for label, param in params.items():
                    residual = (x * param.data).sum(axis=1) - y
                    param.grad = tinycv.Tensor(x * residual[:, None])
                    optimizers[label].step()
                    if schedulers[label] is not None:
                        schedulers[label].step()
                    error = param.data - OPTIMUM
                    errors[label][start + i + 1] = float((error**2).sum(axis=1).mean())
                    first_run[label].append(param.data[0].copy())

        final_means = {
            label: (p.data - OPTIMUM).mean(axis=0) for label, p in params.items()
        }
        return {
            "errors": errors,
            "paths": {label: np.array(path) for label, path in first_run.items()},
            "final_mean_error": final_means,
        }

    # ---- what the runs show -------------------------------------------------

    def _paths(self, traces: dict):
        constant = list(self._constants())
        marks = {constant[0]: "c", "ab/(b+k)²": "2", "a/(b+k)": "1"}  # drawn in order
        drawn = {marks[label]: traces["paths"][label][::3] for label in marks}
        drawn["*"] = [OPTIMUM]

        def population_loss(points):
            error = points - OPTIMUM
            return 0.5 * (error**2 * CURVATURES).sum(axis=1) + 0.5 * NOISE**2

        low, high = np.minimum(OFFSET, 0) - 1.5, np.maximum(OFFSET, 0) + 1.5
        picture = contour_map(
            population_loss,
            (OPTIMUM[0] + low[0], OPTIMUM[0] + high[0]),
            (OPTIMUM[1] + low[1], OPTIMUM[1] + high[1]),
            drawn,
            rows=22,
            cols=40,
        )
        legend = (
            f"[bold]1[/] a/(b+k)   [bold]c[/] {constant[0]}   [bold]2[/] ab/(b+k)²   "
            "[bold]*[/] θ*   (every 3rd step of run 0)"
        )
        return [picture, legend]

    def _errors(self, traces: dict):
        table = Table(show_header=True, box=None)
        checkpoints = [
            k
            for k in (0, 10, 30, 100, 300, 1000, 3000, 10000, 30000)
            if k < self.iterations
        ] + [self.iterations]
        table.add_column("k", justify="right")
        for k in checkpoints:
            table.add_column(str(k), justify="right")
        table.add_column("log E‖θ−θ*‖², all k, one scale")
        logs = {label: np.log10(errors) for label, errors in traces["errors"].items()}
        low = min(curve.min() for curve in logs.values())
        high = max(curve.max() for curve in logs.values())
        for label, errors in traces["errors"].items():
            curve = sparkline(logs[label], 32, low=low, high=high)
            table.add_row(label, *(f"{errors[k]:.2g}" for k in checkpoints), curve)
        return table

    def _floor_window(self) -> slice:
        return slice(2 * self.iterations // 3, self.iterations + 1)

    def _floors(self):
        table = Table(show_header=True, box=None)
        for column in ("ε", "floor (mean over the last third)", "theory", "≈ εσ²d/2"):
            table.add_column(column, justify="right")
        floors = {}
        for label, errors in self.results["errors"].items():
            if label in self._constants():
                step = self._constants()[label]
                floors[step] = float(errors[self._floor_window()].mean())
                table.add_row(
                    f"{step:g}",
                    f"{floors[step]:.4f}",
                    f"{noise_floor(step):.4f}",
                    f"{step * NOISE**2:.4f}",
                )
        self.results["floors"] = floors
        big, small = max(floors), min(floors)
        ratio = floors[big] / floors[small]
        note = (
            f"floor ratio {ratio:.2f} for a step ratio {big / small:g}: a smaller "
            "step settles lower, but every constant step stalls short of θ*."
        )
        return Group(table, note)

    def _short(self):
        label = "ab/(b+k)²"
        rates = self._schedules()[label][1](np.arange(self.iterations))
        predicted = np.prod(1 - np.outer(rates, CURVATURES), axis=0) * OFFSET
        measured = self.results["final_mean_error"][label]
        self.results["short"] = {"predicted": predicted, "measured": measured}
        table = Table(show_header=True, box=None)
        for column in ("", "mean θ − θ* after the run", "distance"):
            table.add_column(column, justify="right")
        table.add_row("start", _vector(OFFSET), f"{np.linalg.norm(OFFSET):.3f}")
        table.add_row(
            "Π(1 − ε_k h)·(θ_0 − θ*)",
            _vector(predicted),
            f"{np.linalg.norm(predicted):.3f}",
        )
        table.add_row(
            f"measured, mean of {self.runs} runs",
            _vector(measured),
            f"{np.linalg.norm(measured):.3f}",
        )
        note = (
            f"Σε_k = {rates.sum():.2f} and no more: E[θ − θ*] shrinks by "
            "Π(1 − ε_k h), which stays away from 0."
        )
        return Group(table, note)

    # ---- the claim ----------------------------------------------------------

    def check(self) -> Verdict:
        errors = self.results["errors"]
        floors = self.results["floors"]
        k_end = self.iterations
        decaying = errors["a/(b+k)"]
        shrink = decaying[k_end] / decaying[k_end // 4]
        below = decaying[k_end] < min(floors.values())

        big, small = max(floors), min(floors)
        floor_ratio = floors[big] / floors[small]
        scaled = abs(floor_ratio / (big / small) - 1) <= FLOOR_TOLERANCE

        short = self.results["short"]
        distance = np.linalg.norm(short["measured"])
        start = np.linalg.norm(OFFSET)
        predicted = np.linalg.norm(short["predicted"])
        stops_short = distance >= 0.2 * start and abs(distance / predicted - 1) < 0.25

        passed = shrink < 0.5 and below and scaled and stops_short
        measured = (
            f"a/(b+k): E‖θ−θ*‖² {decaying[k_end // 4]:.2g} at k={k_end // 4} -> "
            f"{decaying[k_end]:.2g} at k={k_end} (x{shrink:.2f}), "
            f"{'below' if below else 'NOT below'} the floors; "
            f"floors {', '.join(f'ε={s:g}: {f:.4f}' for s, f in floors.items())}, "
            f"ratio {floor_ratio:.2f} for steps ratio {big / small:g}; "
            f"ab/(b+k)²: still {distance:.2f} of {start:g} away "
            f"(predicted {predicted:.2f})"
        )
        return Verdict(self.claim, bool(passed), measured)

    def figure(self, plt):
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
        for label, errors in self.results["errors"].items():
            axes[0].loglog(np.arange(1, len(errors)), errors[1:], label=label)
        for step in self.results["floors"]:
            axes[0].axhline(noise_floor(step), color="grey", ls=":", lw=0.8)
        axes[0].set_xlabel("step k")
        axes[0].set_ylabel(f"mean ‖θ − θ*‖² over {self.runs} runs")
        axes[0].set_title("dotted: constant-step floors (theory)")
        axes[0].legend()
        for label, path in self.results["paths"].items():
            axes[1].plot(*path.T, lw=0.6, label=label)
        axes[1].plot(*OPTIMUM, "k*", ms=12)
        axes[1].set_aspect("equal")
        axes[1].set_title("one run of each schedule")
        axes[1].legend()
        fig.suptitle("SGD converges when Σε_k = ∞ and Σε_k² < ∞")
        return fig


def _constant(step: float) -> str:
    return f"ε={step:g}"


def _with(optimizer, schedule, **settings):
    return optimizer, schedule(optimizer, **settings)


def _vector(v) -> str:
    return "(" + ", ".join(f"{x:+.3f}" for x in v) + ")"


LESSON = SGDConvergence
