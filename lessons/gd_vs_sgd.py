"""Batch gradient descent, SGD and mini-batches on one regression problem.

The slide's two algorithms differ only in the gradient estimate:

    GD:          ĝ ← (1/N) ∇_θ Σ_i L(f(x_i; θ), y_i)      N examples per update
    SGD:         ĝ ← ∇_θ L(f(x_i; θ), y_i), i sampled    1 example per update
    mini-batch:  ĝ ← (1/B) ∇_θ Σ_{i in batch} L(...)      B examples per update

and all three then step θ ← θ − ε ĝ (``tinycv.optim.SGD``). The problem is
least squares, L = ½(x·θ − y)², on N synthetic examples with 20 features,
so ∇_θ L = x (x·θ − y).

A batch of B examples drawn independently averages B independent
per-example gradients: its variance around the full gradient is
tr(Σ) / B, where Σ is the covariance of one example's gradient. An update
touches B examples whatever N is, so its cost does not grow with the data,
while one GD update touches all N.

Claim: the measured variance falls as 1/B (log-log slope within
[-1.15, -0.85]), and as N grows 100-fold the median time of one SGD update
grows by less than 2x while that of one GD update grows by more than 10x.
Timing is measured as medians of many interleaved repeats, next to the
exact count of examples each update touches.
"""

from __future__ import annotations

import time

import click
import numpy as np
from rich.console import Group
from rich.table import Table

import tinycv
from tinycv import optim
from tinycv.lesson import Lesson, Option, Step, Verdict
from tinycv.viz import sparkline

FEATURES = 20
NOISE = 0.5
SLOPE_RANGE = (-1.15, -0.85)
SGD_RATIO_MAX, GD_RATIO_MIN = 2.0, 10.0
BATCH = 32  # the mini-batch of the race and of the timing


def make_problem(rng, examples: int) -> dict:
    """Features of scales 1 … 0.3, a random true θ, noisy targets."""
    scales = np.linspace(1.0, 0.3, FEATURES)
    inputs = rng.standard_normal((examples, FEATURES)) * scales
    true_theta = rng.standard_normal(FEATURES)
    targets = inputs @ true_theta + NOISE * rng.standard_normal(examples)
    return {"inputs": inputs, "targets": targets}


def gradient(theta, inputs, targets):
    """ĝ = (1/n) Σ x_i (x_i·θ − y_i) over the n examples given (the slide's line 3)."""
    return inputs.T @ (inputs @ theta - targets) / len(targets)


def sgd_update(optimizer, param, inputs, targets) -> None:
    """One step θ ← θ − ε ĝ with tinycv's optimiser."""
    param.grad = tinycv.Tensor(gradient(param.data, inputs, targets))
    optimizer.step()


class GDvsSGD(Lesson):
    name = "gd-vs-sgd"
    slide = "GD versus SGD, Minibatch"
    summary = "the cost and the noise of one update: all N examples, one, or a batch"
    claim = (
        "the variance of the mini-batch gradient falls as 1/B, and the time of "
        "one SGD update does not grow with N while GD's does"
    )
    order = 30
    options = (
        Option(
            "examples",
            (1000, 10000, 100000),
            "training-set sizes N for the timing (smallest to largest)",
            fast=(500, 5000, 50000),
            multiple=True,
        ),
        Option(
            "batches",
            (1, 2, 4, 8, 16, 32, 64, 128, 256),
            "mini-batch sizes B for the variance",
            multiple=True,
        ),
        Option(
            "draws",
            400,
            "mini-batches drawn per B to measure the variance",
            fast=200,
            type=click.IntRange(20, 10**6),
        ),
        Option(
            "repeats",
            25,
            "timed repeats of each update (medians)",
            fast=11,
            type=click.IntRange(3, 10**5),
        ),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if len(set(self.examples)) < 2 or min(self.examples) < 1:
            raise ValueError(
                "gd-vs-sgd: --examples needs two or more sizes >= 1, got "
                f"{self.examples}"
            )
        if len(set(self.batches)) < 2 or min(self.batches) < 1:
            raise ValueError(
                f"gd-vs-sgd: --batches needs two or more sizes >= 1, got {self.batches}"
            )

    def steps(self):
        sizes = sorted(int(n) for n in self.examples)
        problem = make_problem(self.rng, sizes[-1])
        self.problem = problem
        yield Step("Three estimates of the same gradient", self._estimators(sizes[-1]))

        noise = self._noise(problem)
        self.results["noise"] = noise
        yield Step(
            "Noise of the estimate: variance against batch size B",
            self._noise_body(noise),
        )

        cost = self._cost(problem, sizes)
        self.results["cost"] = cost
        yield Step(
            "Cost of one update as the training set grows", self._cost_body(cost)
        )

        race = self._race(problem)
        self.results["race"] = race
        yield Step(
            f"Race to 1% of the initial excess loss, N = {sizes[-1]}",
            self._race_body(race),
        )

    def _estimators(self, examples: int):
        table = Table(show_header=True, box=None)
        for column in ("method", "gradient estimate ĝ", "examples per update"):
            table.add_column(column)
        table.add_row("GD", "(1/N) Σ_i x_i (x_i·θ − y_i)", f"N = {examples}")
        table.add_row("SGD", "x_i (x_i·θ − y_i),  i ~ uniform", "1")
        table.add_row("mini-batch", "(1/B) Σ_{i in batch} x_i (x_i·θ − y_i)", "B")
        rule = "then all three:  θ ← θ − ε ĝ   (tinycv.optim.SGD(lr=ε))"
        return Group(table, rule)

    # ---- noise ----------------------------------------------------------------

    def _noise(self, problem: dict) -> dict:
        """E‖ĝ_B − g‖² at θ = 0, from ``draws`` mini-batches for each B."""
        inputs, targets = problem["inputs"], problem["targets"]
        theta = np.zeros(FEATURES)
        full = gradient(theta, inputs, targets)
        per_example = inputs * (inputs @ theta - targets)[:, None]
        one_example = float(((per_example - full) ** 2).sum(axis=1).mean())

        batches = np.array(sorted(int(b) for b in self.batches))
        variances = []
        for batch in batches:
            deviations = []
            for _ in range(self.draws):
                chosen = self.rng.integers(0, len(targets), batch)
                estimate = gradient(theta, inputs[chosen], targets[chosen])
                deviations.append(((estimate - full) ** 2).sum())
            variances.append(float(np.mean(deviations)))
        variances = np.array(variances)
        slope, intercept = np.polyfit(np.log(batches), np.log(variances), 1)
        return {
            "batches": batches,
            "variances": variances,
            "slope": float(slope),
            "intercept": float(intercept),
            "trace": one_example,
        }

    def _noise_body(self, noise: dict):
        table = Table(show_header=True, box=None)
        for column in ("B", "E‖ĝ_B − g‖²", "tr(Σ)/B", ""):
            table.add_column(column, justify="right" if column else "left")
        logs = np.log(noise["variances"])
        for batch, variance, level in zip(noise["batches"], noise["variances"], logs):
            width = 1 + int(round(30 * (level - logs.min()) / (np.ptp(logs) or 1)))
            table.add_row(
                str(batch),
                f"{variance:.4g}",
                f"{noise['trace'] / batch:.4g}",
                "█" * width,
            )
        fit = (
            f"least-squares fit: log variance = {noise['slope']:.3f}·log B + "
            f"{noise['intercept']:.2f}   (1/B has slope -1; bars are log-scaled)\n"
            f"{self.draws} mini-batches per B, examples drawn with replacement, "
            "at θ = 0"
        )
        return Group(table, fit)

    # ---- cost per update ------------------------------------------------------

    def _cost(self, problem: dict, sizes: list) -> dict:
        """Median seconds per update for GD, SGD and a mini-batch at each N.

        Every repeat times each (method, N) once: the sizes of a method back
        to back in a fresh random order, so a burst of load on the machine
        hits them alike, and the growth is the median over repeats of the
        ratio largest N / smallest N. Each timed block of SGD updates follows
        one untimed update, so it does not pay for the caches that a GD pass
        has just flushed.
        """
        inputs, targets = problem["inputs"], problem["targets"]
        param = tinycv.tensor(np.zeros(FEATURES), dtype=tinycv.float64)
        optimizer = optim.SGD([param], lr=1e-3)

        def gd(n):
            sgd_update(optimizer, param, inputs[:n], targets[:n])

        def stochastic(n, batch):
            chosen = self.rng.integers(0, n, batch)
            sgd_update(optimizer, param, inputs[chosen], targets[chosen])

        # method -> (one update on N examples, updates per timed block, examples)
        methods = {
            "GD": (gd, 1, lambda n: n),
            "SGD": (lambda n: stochastic(n, 1), 20, lambda n: 1),
            f"mini-batch B={BATCH}": (
                lambda n: stochastic(n, BATCH),
                20,
                lambda n: BATCH,
            ),
        }
        names = list(methods)
        seconds = {(method, n): [] for method in methods for n in sizes}
        for _ in self.track(range(self.repeats), "timing updates"):
            # The sizes of one method are timed back to back, in random order,
            # so each repeat compares them under the same load.
            for method in self.rng.permutation(names):
                update, block, _ = methods[method]
                for n in self.rng.permutation(sizes):
                    if block > 1:
                        update(n)  # untimed: warm the caches first
                    started = time.perf_counter()
                    for _ in range(block):
                        update(n)
                    elapsed = (time.perf_counter() - started) / block
                    seconds[(method, int(n))].append(elapsed)

        table = {}
        for method, (_, _, touched) in methods.items():
            medians = [float(np.median(seconds[(method, n)])) for n in sizes]
            paired = np.array(seconds[(method, sizes[-1])]) / np.array(
                seconds[(method, sizes[0])]
            )
            table[method] = {
                "sizes": sizes,
                "median": medians,
                "touched": [touched(n) for n in sizes],
                "ratio": float(np.median(paired)),
            }
        return table

    def _cost_body(self, cost: dict):
        sizes = next(iter(cost.values()))["sizes"]
        table = Table(show_header=True, box=None)
        table.add_column("method")
        for n in sizes:
            table.add_column(f"N={n}", justify="right")
        table.add_column(f"time ratio, N ×{sizes[-1] // sizes[0]}", justify="right")
        for method, row in cost.items():
            table.add_row(
                method,
                *(f"{t * 1e6:,.1f} µs" for t in row["median"]),
                f"×{row['ratio']:.2f}",
            )
        for method, row in cost.items():
            table.add_row(
                f"[dim]{method}: examples[/]",
                *(f"[dim]{k:,}[/]" for k in row["touched"]),
                "",
            )
        note = (
            f"times: medians of {self.repeats} repeats; ratio: median over the "
            "repeats of (time at the largest N) / (time at the smallest N), both "
            "timed back to back. An SGD update costs the same for any N: the "
            "slide's 'computation time per update does not depend on the number "
            "of training examples'."
        )
        return Group(table, note)

    # ---- the race -------------------------------------------------------------

    def _race(self, problem: dict) -> dict:
        inputs, targets = problem["inputs"], problem["targets"]
        examples = len(targets)
        best = np.linalg.lstsq(inputs, targets, rcond=None)[0]
        gram = inputs.T @ inputs / examples

        def excess(theta):
            # L(θ) − L(θ̂) = ½ (θ − θ̂)ᵀ (XᵀX/N) (θ − θ̂): exact, and costs no data pass.
            error = theta - best
            return 0.5 * float(error @ gram @ error)

        target = 0.01 * excess(np.zeros(FEATURES))
        settings = {
            "GD": (None, 1.0, 300),
            "SGD": (1, 0.02, 40000),
            f"mini-batch B={BATCH}": (BATCH, 0.2, 5000),
        }
        results = {}
        for method, (batch, lr, most) in settings.items():
            param = tinycv.tensor(np.zeros(FEATURES), dtype=tinycv.float64)
            optimizer = optim.SGD([param], lr=lr)
            curve, spent, reached = [excess(param.data)], [], None
            for update in range(1, most + 1):
                started = time.perf_counter()
                if batch is None:
                    sgd_update(optimizer, param, inputs, targets)
                else:
                    chosen = self.rng.integers(0, examples, batch)
                    sgd_update(optimizer, param, inputs[chosen], targets[chosen])
                spent.append(time.perf_counter() - started)
                curve.append(excess(param.data))
                if curve[-1] <= target:
                    reached = update
                    break
            per_update = examples if batch is None else batch
            results[method] = {
                "lr": lr,
                "updates": reached,
                "seconds": float(np.sum(spent)),
                "median": float(np.median(spent)),
                "touched": len(curve[1:]) * per_update,
                "curve": np.array(curve),
            }
        return {"target": target, "methods": results}

    def _race_body(self, race: dict):
        table = Table(show_header=True, box=None)
        for column in (
            "method",
            "ε",
            "updates",
            "examples touched",
            "wall time",
            "median per update",
            "log excess loss per update",
        ):
            table.add_column(column, justify="right" if column != "method" else "left")
        for method, run in race["methods"].items():
            updates = "—" if run["updates"] is None else f"{run['updates']:,}"
            table.add_row(
                method,
                f"{run['lr']:g}",
                updates,
                f"{run['touched']:,}",
                f"{run['seconds'] * 1e3:.1f} ms",
                f"{run['median'] * 1e6:,.0f} µs",
                sparkline(np.log10(run["curve"]), 30),
            )
        note = (
            f"target: excess loss ≤ {race['target']:.4g}; the wall time counts "
            "the updates only (on a busy machine a few preempted updates can "
            "dominate it; the median cannot be fooled that way). GD needs few "
            "updates but each reads every example; SGD reads a tiny fraction of "
            "the data, and a mini-batch spreads Python's fixed cost per update "
            "over B examples."
        )
        return Group(table, note)

    # ---- the claim ------------------------------------------------------------

    def check(self) -> Verdict:
        noise, cost = self.results["noise"], self.results["cost"]
        slope = noise["slope"]
        slope_ok = SLOPE_RANGE[0] <= slope <= SLOPE_RANGE[1]
        sgd_ratio, gd_ratio = cost["SGD"]["ratio"], cost["GD"]["ratio"]
        sizes = cost["GD"]["sizes"]
        counts_ok = cost["GD"]["touched"] == sizes and set(cost["SGD"]["touched"]) == {
            1
        }
        passed = slope_ok and sgd_ratio < SGD_RATIO_MAX and gd_ratio > GD_RATIO_MIN
        passed = passed and counts_ok
        measured = (
            f"variance slope {slope:.3f} (allowed {SLOPE_RANGE[0]} to "
            f"{SLOPE_RANGE[1]}); "
            f"N {sizes[0]} -> {sizes[-1]}: SGD update time ×{sgd_ratio:.2f} "
            f"(< {SGD_RATIO_MAX:g}), GD update time ×{gd_ratio:.1f} "
            f"(> {GD_RATIO_MIN:g}); examples per update: GD {sizes[0]} -> "
            f"{sizes[-1]}, SGD 1 -> 1"
        )
        return Verdict(self.claim, bool(passed), measured)

    def figure(self, plt):
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
        noise = self.results["noise"]
        axes[0].loglog(noise["batches"], noise["variances"], "o", label="measured")
        axes[0].loglog(
            noise["batches"], noise["trace"] / noise["batches"], "--", label="tr(Σ)/B"
        )
        axes[0].set_xlabel("batch size B")
        axes[0].set_ylabel("E‖ĝ_B − g‖²")
        axes[0].set_title(f"slope {noise['slope']:.3f}")
        axes[0].legend()

        for method, row in self.results["cost"].items():
            axes[1].loglog(
                row["sizes"], np.array(row["median"]) * 1e6, "o-", label=method
            )
        axes[1].set_xlabel("training examples N")
        axes[1].set_ylabel("median µs per update")
        axes[1].set_title("cost of one update")
        axes[1].legend()

        for method, run in self.results["race"]["methods"].items():
            touched = np.arange(len(run["curve"])) * (
                len(self.problem["targets"])
                if method == "GD"
                else (1 if method == "SGD" else BATCH)
            )
            axes[2].loglog(np.maximum(touched, 1), run["curve"], label=method)
        axes[2].axhline(self.results["race"]["target"], color="grey", ls=":")
        axes[2].set_xlabel("examples touched")
        axes[2].set_ylabel("excess loss")
        axes[2].set_title("race to the target")
        axes[2].legend()
        fig.suptitle("GD vs SGD vs mini-batches")
        return fig


LESSON = GDvsSGD
