"""The optimisers of the slide, checked against their formulas, then raced.

As on the slide (ĝ the gradient, ε the learning rate, δ a small constant):

    SGD:       θ ← θ − ε ĝ
    Momentum:  v ← α v − ε ĝ,                        θ ← θ + v
    Nesterov:  v ← α v − ε ∇_θ L(θ + α v),           θ ← θ + v
    AdaGrad:   r ← r + ĝ⊙ĝ,                          θ ← θ − ε/(δ + √r) ⊙ ĝ
    RMSProp:   r ← ρ r + (1 − ρ) ĝ⊙ĝ,                θ ← θ − ε/(δ + √r) ⊙ ĝ
    Adam:      s ← ρ₁ s + (1 − ρ₁) ĝ,  r ← ρ₂ r + (1 − ρ₂) ĝ⊙ĝ,
               ŝ = s/(1 − ρ₁ᵗ),  r̂ = r/(1 − ρ₂ᵗ),    θ ← θ − ε ŝ/(√r̂ + δ)

First each formula is computed in numpy next to ``tinycv.optim`` for a
few steps on a random quadratic. ``SGD(momentum=α, nesterov=True)``
(PyTorch's rule) keeps the look-ahead point θ + αv as its parameter, so
that is what it is compared with.

Then they race: on a badly scaled valley ½(0.1·x² + 50·y²), where no
single step of plain SGD suits both directions (stable needs ε < 2/50,
the flat direction then needs over ln(100)/(0.1 ε) steps), while the
adaptive methods divide each coordinate by the size of its own gradients;
on Rosenbrock's curved valley; and on a small network on MNIST.

Claim: every implementation matches its slide formula to 1e-12 at each
step, and AdaGrad, RMSProp and Adam with their default settings reach
the target on the badly scaled valley, where plain SGD with the same
learning rates (0.01 and 0.001) does not.
"""

from __future__ import annotations

import time

import click
import numpy as np
from rich.columns import Columns
from rich.console import Group
from rich.table import Table

import tinycv
from tinycv import optim
from tinycv.lesson import Lesson, Option, Step, Verdict
from tinycv.viz import contour_map, sparkline

from ._surfaces import Rosenbrock, Valley, descend, parameter

MATCH_TOLERANCE = 1e-12
VALLEY = (0.1, 50.0)  # curvatures along x and y
VALLEY_TARGET = 0.01  # reach 1% of the starting distance to the minimum
ROSENBROCK_TARGET = 0.01
ADAPTIVE = ("AdaGrad", "RMSProp", "Adam")


# ---- the slide's formulas, in numpy ------------------------------------------
# Each takes θ, a gradient function and a dict of state, and returns the new θ.


def slide_sgd(theta, grad, state, lr):
    return theta - lr * grad(theta)


def slide_momentum(theta, grad, state, lr, alpha):
    state["v"] = alpha * state.get("v", 0.0) - lr * grad(theta)
    return theta + state["v"]


def slide_nesterov(theta, grad, state, lr, alpha):
    velocity = state.get("v", 0.0)
    state["v"] = alpha * velocity - lr * grad(theta + alpha * velocity)
    return theta + state["v"]


def slide_adagrad(theta, grad, state, lr, delta):
    g = grad(theta)
    state["r"] = state.get("r", 0.0) + g * g
    return theta - lr / (delta + np.sqrt(state["r"])) * g


def slide_rmsprop(theta, grad, state, lr, rho, delta):
    g = grad(theta)
    state["r"] = rho * state.get("r", 0.0) + (1 - rho) * g * g
    return theta - lr / (delta + np.sqrt(state["r"])) * g


def slide_adam(theta, grad, state, lr, rho1, rho2, delta):
    g = grad(theta)
    state["t"] = state.get("t", 0) + 1
    state["s"] = rho1 * state.get("s", 0.0) + (1 - rho1) * g
    state["r"] = rho2 * state.get("r", 0.0) + (1 - rho2) * g * g
    s_hat = state["s"] / (1 - rho1 ** state["t"])
    r_hat = state["r"] / (1 - rho2 ** state["t"])
    return theta - lr * s_hat / (np.sqrt(r_hat) + delta)


def lecture_momentum(theta, grad, state, lr, lam):
    """The Momentum slide's moving average: v ← λv − (1−λ)g, θ ← θ + ηv."""
    state["v"] = lam * state.get("v", 0.0) - (1 - lam) * grad(theta)
    return theta + lr * state["v"]


# name -> (slide formula, its settings, tinycv's optimiser, what tinycv holds
# as the parameter when that is not the slide's θ)
HAND_CHECKS = {
    "SGD": (slide_sgd, dict(lr=0.1), dict(kind="SGD", lr=0.1), None),
    "Momentum": (
        slide_momentum,
        dict(lr=0.1, alpha=0.9),
        dict(kind="SGD", lr=0.1, momentum=0.9),
        None,
    ),
    "Nesterov": (
        slide_nesterov,
        dict(lr=0.1, alpha=0.9),
        dict(kind="SGD", lr=0.1, momentum=0.9, nesterov=True),
        lambda theta, state: theta + 0.9 * state.get("v", 0.0),
    ),
    "AdaGrad": (
        slide_adagrad,
        dict(lr=0.1, delta=1e-7),
        dict(kind="Adagrad", lr=0.1, eps=1e-7),
        None,
    ),
    "RMSProp": (
        slide_rmsprop,
        dict(lr=0.01, rho=0.9, delta=1e-6),
        dict(kind="RMSprop", lr=0.01, alpha=0.9, eps=1e-6),
        None,
    ),
    "Adam": (
        slide_adam,
        dict(lr=0.01, rho1=0.9, rho2=0.999, delta=1e-8),
        dict(kind="Adam", lr=0.01, betas=(0.9, 0.999), eps=1e-8),
        None,
    ),
    "Momentum (λ form)": (
        lecture_momentum,
        dict(lr=0.5, lam=0.8),
        dict(kind="Momentum", lr=0.5, momentum=0.8),
        None,
    ),
}

SLIDE_RULES = """\
SGD:       θ ← θ − ε ĝ
Momentum:  v ← α v − ε ĝ,                  θ ← θ + v
Nesterov:  v ← α v − ε ∇L(θ + α v),        θ ← θ + v
AdaGrad:   r ← r + ĝ⊙ĝ,                    θ ← θ − ε/(δ + √r) ⊙ ĝ
RMSProp:   r ← ρ r + (1 − ρ) ĝ⊙ĝ,          θ ← θ − ε/(δ + √r) ⊙ ĝ
Adam:      s ← ρ₁s + (1 − ρ₁)ĝ,  r ← ρ₂r + (1 − ρ₂)ĝ⊙ĝ,
           ŝ = s/(1 − ρ₁ᵗ),  r̂ = r/(1 − ρ₂ᵗ),   θ ← θ − ε ŝ/(√r̂ + δ)
Momentum (λ form, the Momentum slide):  v ← λv − (1 − λ)ĝ,  θ ← θ + ηv
"""


# ---- the race -----------------------------------------------------------------
# name -> (mark on the maps, settings on the valley, Rosenbrock, MNIST)
RACERS = {
    "SGD ε=0.01": ("s", dict(kind="SGD", lr=0.01), None, None),
    "SGD ε=0.001": ("S", dict(kind="SGD", lr=0.001), None, None),
    "SGD": (None, None, dict(kind="SGD", lr=1e-3), dict(kind="SGD", lr=0.1)),
    "Momentum": (
        "m",
        dict(kind="SGD", lr=0.01, momentum=0.9),
        dict(kind="SGD", lr=1e-3, momentum=0.9),
        dict(kind="SGD", lr=0.01, momentum=0.9),
    ),
    "Nesterov": (
        "n",
        dict(kind="SGD", lr=0.01, momentum=0.9, nesterov=True),
        dict(kind="SGD", lr=1e-3, momentum=0.9, nesterov=True),
        dict(kind="SGD", lr=0.01, momentum=0.9, nesterov=True),
    ),
    "AdaGrad": (
        "a",
        dict(kind="Adagrad"),
        dict(kind="Adagrad", lr=0.5),
        dict(kind="Adagrad", lr=0.05),
    ),
    "RMSProp": (
        "r",
        dict(kind="RMSprop"),
        dict(kind="RMSprop", lr=3e-3),
        dict(kind="RMSprop", lr=1e-3),
    ),
    "Adam": (
        "d",
        dict(kind="Adam"),
        dict(kind="Adam", lr=0.02),
        dict(kind="Adam", lr=1e-3),
    ),
}


def make_optimizer(params, settings: dict):
    """``{"kind": "Adam", "lr": 0.01}`` -> ``optim.Adam(params, lr=0.01)``."""
    settings = dict(settings)
    return getattr(optim, settings.pop("kind"))(params, **settings)


def describe(settings: dict | None) -> str:
    """The settings as written in the call: ``lr=0.01, momentum=0.9``."""
    if settings is None:
        return ""
    shown = [f"{k}={_number(v)}" for k, v in settings.items() if k != "kind"]
    return ", ".join(shown) if shown else "defaults"


class Optimizers(Lesson):
    name = "optimizers"
    slide = "Adaptive Learning Rate Optimization"
    summary = "SGD, momentum, Nesterov, AdaGrad, RMSProp and Adam, checked and raced"
    claim = (
        "each optimiser matches its slide formula step by step, and AdaGrad, "
        "RMSProp and Adam with default settings reach the target on the badly "
        "scaled valley where plain SGD with the same learning rate does not"
    )
    order = 33
    options = (
        Option(
            "check_steps", 5, "steps of the hand check", type=click.IntRange(1, 1000)
        ),
        Option(
            "valley_steps",
            3000,
            "step budget on the valley (plain SGD at ε=0.01 would need ~4600)",
            type=click.IntRange(1000, 4000),
        ),
        Option(
            "rosenbrock_steps",
            6000,
            "step budget on Rosenbrock",
            fast=3000,
            type=click.IntRange(10, 10**6),
        ),
        Option(
            "mnist_steps",
            200,
            "mini-batch steps on MNIST (0: skip)",
            fast=0,
            type=click.IntRange(0, 10**6),
        ),
        Option(
            "hidden",
            32,
            "hidden units of the MNIST network",
            type=click.IntRange(1, 4096),
        ),
    )

    def steps(self):
        checks = self._hand_check()
        self.results["hand_check"] = checks
        yield Step(
            "Each optimiser against its slide formula", self._check_table(checks)
        )

        valley = self._race_valley()
        self.results["valley"] = valley
        yield Step(
            "Race 1: the badly scaled valley ½(0.1·x² + 50·y²)",
            *self._valley_body(valley),
        )

        rosenbrock = self._race_rosenbrock()
        self.results["rosenbrock"] = rosenbrock
        yield Step("Race 2: Rosenbrock's function", *self._rosenbrock_body(rosenbrock))

        mnist = self._race_mnist() if self.mnist_steps > 0 else None
        self.results["mnist"] = mnist
        yield Step("Race 3: a small network on MNIST", self._mnist_body(mnist))
        yield Step("Steps to the target", self._summary())

    # ---- the hand check -------------------------------------------------------

    def _hand_check(self) -> dict:
        """Both versions for ``check_steps`` steps on ½θᵀAθ − bᵀθ, A random SPD."""
        factor = self.rng.standard_normal((3, 3))
        hessian = factor.T @ factor + np.eye(3)
        offset = self.rng.standard_normal(3)
        start = self.rng.standard_normal(3)

        def grad(theta):
            return hessian @ theta - offset

        results = {}
        for name, (formula, settings, built, held) in HAND_CHECKS.items():
            theta, state = start.copy(), {}
            param = parameter(start)
            optimizer = make_optimizer([param], built)
            worst = 0.0
            for _ in range(self.check_steps):
                theta = formula(theta, grad, state, **settings)
                param.grad = tinycv.Tensor(grad(param.data))
                optimizer.step()
                expected = theta if held is None else held(theta, state)
                scale = max(1.0, float(np.abs(expected).max()))
                worst = max(worst, float(np.abs(param.data - expected).max()) / scale)
            results[name] = {
                "slide": expected,
                "tinycv": param.data.copy(),
                "error": worst,
                "call": f"{built['kind']}({describe(built)})",
            }
        return results

    def _check_table(self, checks: dict):
        table = Table(show_header=True, box=None)
        for column in (
            "rule",
            "tinycv.optim",
            f"θ after {self.check_steps} steps",
            "max |slide − tinycv|",
        ):
            table.add_column(
                column, justify="left" if column != "max |slide − tinycv|" else "right"
            )
        for name, check in checks.items():
            table.add_row(
                name, check["call"], _vector(check["tinycv"]), f"{check['error']:.1e}"
            )
        note = (
            "[dim]On ½θᵀAθ − bᵀθ with a random A, from a random θ; the differences "
            "are relative to max(1, |θ|). Nesterov's row compares the look-ahead "
            "point θ + αv: PyTorch's rule (and so tinycv's) keeps that point as "
            "the parameter.[/]"
        )
        return Group(SLIDE_RULES, table, note)

    # ---- race 1: the valley -----------------------------------------------------

    def _race_valley(self) -> dict:
        valley = Valley(*VALLEY)
        side = self.rng.choice([-1.0, 1.0])
        start = np.array([-0.3, 0.1 * side]) * self.rng.uniform(0.6, 1.0, 2)
        runs = {}
        for name, (mark, settings, _, _) in RACERS.items():
            if settings is None:
                continue
            param = parameter(start)
            path = descend(
                make_optimizer([param], settings),
                param,
                valley.gradient,
                self.valley_steps,
            )
            distances = np.linalg.norm(path - valley.minimum, axis=1)
            hit = np.flatnonzero(distances <= VALLEY_TARGET * distances[0])
            runs[name] = {
                "mark": mark,
                "settings": settings,
                "path": path,
                "reached": int(hit[0]) if hit.size else None,
                "final": float(distances[-1] / distances[0]),
                "diverged": len(path) <= self.valley_steps,
            }
        return {"start": start, "runs": runs}

    def _valley_body(self, race: dict):
        valley = Valley(*VALLEY)
        start = race["start"]
        xlim = (-1.15 * abs(start[0]), 0.4 * abs(start[0]))
        ylim = (-1.5 * abs(start[1]), 1.5 * abs(start[1]))
        shown = ("SGD ε=0.01", "Momentum", "Nesterov", "AdaGrad", "RMSProp", "Adam")
        maps = _small_maps(
            valley, {n: race["runs"][n] for n in shown}, xlim, ylim, first=400
        )

        table = Table(show_header=True, box=None)
        for column in (
            "method",
            "settings",
            "steps to 1%",
            "distance at the end",
            "log distance",
        ):
            table.add_column(column, justify="left" if column == "method" else "right")
        for name, run in race["runs"].items():
            reached = "—" if run["reached"] is None else str(run["reached"])
            final = "diverged" if run["diverged"] else f"{run['final']:.1e}"
            distances = np.linalg.norm(run["path"], axis=1)
            table.add_row(
                name,
                describe(run["settings"]),
                reached,
                final,
                sparkline(np.log10(distances + 1e-300), 24),
            )
        note = (
            f"start {_vector(start)}; distances relative to the start; budget "
            f"{self.valley_steps} steps; the maps show the first 400. RMSProp has "
            "no bias correction: r starts at 0, so its first steps are 10ε long. "
            "Near the minimum AdaGrad's steps shrink, RMSProp and Adam keep "
            "steps of about ε and may rattle there."
        )
        return [maps, table, note]

    # ---- race 2: Rosenbrock -----------------------------------------------------

    def _race_rosenbrock(self) -> dict:
        surface = Rosenbrock()
        runs = {}
        for name, (mark, _, settings, _) in RACERS.items():
            if settings is None:
                continue
            mark = mark or name[0].lower()
            param = parameter(surface.start)
            path = descend(
                make_optimizer([param], settings),
                param,
                surface.gradient,
                self.rosenbrock_steps,
            )
            distances = np.linalg.norm(path - surface.minimum, axis=1)
            hit = np.flatnonzero(distances <= ROSENBROCK_TARGET)
            runs[name] = {
                "mark": mark,
                "settings": settings,
                "path": path,
                "reached": int(hit[0]) if hit.size else None,
                "final": float(distances[-1]),
            }
        return runs

    def _rosenbrock_body(self, runs: dict):
        surface = Rosenbrock()
        maps = _small_maps(surface, runs, (-1.6, 1.6), (-0.4, 1.6))
        table = Table(show_header=True, box=None)
        for column in (
            "method",
            "settings",
            "steps to ‖θ − (1,1)‖ < 0.01",
            "distance at the end",
        ):
            table.add_column(column, justify="left" if column == "method" else "right")
        for name, run in runs.items():
            reached = "—" if run["reached"] is None else str(run["reached"])
            table.add_row(
                name, describe(run["settings"]), reached, f"{run['final']:.1e}"
            )
        note = (
            f"from (-1.2, 1), budget {self.rosenbrock_steps} steps; learning "
            "rates picked by hand per method. The floor "
            "curves, so no per-coordinate scale fits it for long: momentum's "
            "memory of the direction helps more here than adaptivity."
        )
        return [maps, table, note]

    # ---- race 3: MNIST ----------------------------------------------------------

    def _race_mnist(self) -> dict:
        from tinycv import nn
        from tinycv.data import MNIST

        train, test = (
            MNIST(train=True, subset="embedded"),
            MNIST(train=False, subset="embedded"),
        )
        images = train.data.reshape(len(train), -1).astype(np.float32) / 255
        labels = train.targets
        test_images = test.data.reshape(len(test), -1).astype(np.float32) / 255
        batches = np.random.default_rng(self.seed).integers(
            0, len(labels), (self.mnist_steps, 64)
        )
        criterion = nn.CrossEntropyLoss()
        runs = {}
        racers = [(n, s) for n, (_, _, _, s) in RACERS.items() if s is not None]
        for name, settings in self.track(racers, "MNIST races"):
            tinycv.manual_seed(self.seed)  # the same initial weights for everyone
            model = nn.Sequential(
                nn.Linear(784, self.hidden), nn.ReLU(), nn.Linear(self.hidden, 10)
            )
            optimizer = make_optimizer(model.parameters(), settings)
            losses, started = [], time.perf_counter()
            for chosen in batches:
                loss = criterion(
                    model(tinycv.tensor(images[chosen])), tinycv.tensor(labels[chosen])
                )
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
            with tinycv.no_grad():
                scores = model(tinycv.tensor(test_images)).numpy()
            accuracy = float((scores.argmax(axis=1) == test.targets).mean())
            smooth = np.convolve(losses, np.ones(20) / 20, mode="valid")
            hit = np.flatnonzero(smooth <= 0.5)
            runs[name] = {
                "settings": settings,
                "losses": np.array(losses),
                "reached": int(hit[0]) + 20 if hit.size else None,
                "accuracy": accuracy,
                "seconds": time.perf_counter() - started,
            }
        return runs

    def _mnist_body(self, runs):
        if runs is None:
            return (
                "[dim]skipped (--fast, or --mnist-steps 0): run without --fast "
                f"to train a 784-{self.hidden}-10 network with each optimiser.[/]"
            )
        table = Table(show_header=True, box=None)
        for column in (
            "method",
            "settings",
            "steps to loss 0.5",
            "test accuracy",
            "batch loss (one scale)",
        ):
            table.add_column(column, justify="left" if column == "method" else "right")
        high = max(run["losses"].max() for run in runs.values())
        for name, run in runs.items():
            reached = "—" if run["reached"] is None else str(run["reached"])
            table.add_row(
                name,
                describe(run["settings"]),
                reached,
                f"{run['accuracy']:.1%}",
                sparkline(run["losses"], 30, low=0.0, high=high),
            )
        note = (
            f"784-{self.hidden}-10 ReLU network, batches of 64 from the embedded "
            f"MNIST subset, {self.mnist_steps} steps, the same initial weights and "
            "batches for every optimiser; 'steps to loss 0.5' uses the mean of "
            "the last 20 batch losses; accuracy on the 2,000 test digits. "
            "Momentum with ε and α moves like SGD with ε/(1 − α) once v has "
            "built up, hence the same pace as SGD at 0.1."
        )
        return Group(table, note)

    def _summary(self):
        table = Table(show_header=True, box=None)
        for column in ("method", "valley", "Rosenbrock", "MNIST"):
            table.add_column(column, justify="left" if column == "method" else "right")
        mnist = self.results["mnist"] or {}
        for name in RACERS:
            cells = []
            for race in (
                self.results["valley"]["runs"],
                self.results["rosenbrock"],
                mnist,
            ):
                run = race.get(name)
                if run is None:
                    cells.append("")
                else:
                    cells.append("—" if run["reached"] is None else str(run["reached"]))
            table.add_row(name, *cells)
        return Group(
            table, "[dim]'—': not within the budget; blank: not raced there[/]"
        )

    # ---- the claim ----------------------------------------------------------------

    def check(self) -> Verdict:
        checks = self.results["hand_check"]
        worst = max(check["error"] for check in checks.values())
        matches = worst <= MATCH_TOLERANCE

        runs = self.results["valley"]["runs"]
        adaptive = {name: runs[name]["reached"] for name in ADAPTIVE}
        plain = {name: runs[name]["reached"] for name in ("SGD ε=0.01", "SGD ε=0.001")}
        adaptive_ok = all(steps is not None for steps in adaptive.values())
        plain_fails = all(steps is None for steps in plain.values())

        passed = matches and adaptive_ok and plain_fails
        shown = ", ".join(
            f"{name} {'—' if steps is None else steps}"
            for name, steps in {**adaptive, **plain}.items()
        )
        measured = (
            f"largest difference from the slide formulas {worst:.1e} (allowed "
            f"{MATCH_TOLERANCE:g}); steps to 1% on the valley (budget "
            f"{self.valley_steps}): {shown}"
        )
        return Verdict(self.claim, bool(passed), measured)

    def figure(self, plt):
        fig, axes = plt.subplots(1, 3, figsize=(16, 4.4))
        valley = Valley(*VALLEY)
        start = self.results["valley"]["start"]
        xs = np.linspace(-1.15 * abs(start[0]), 0.4 * abs(start[0]), 200)
        ys = np.linspace(-1.5 * abs(start[1]), 1.5 * abs(start[1]), 200)
        grid = np.stack(np.meshgrid(xs, ys), axis=-1)
        axes[0].contour(
            xs,
            ys,
            np.log(valley.value(grid) + 1e-6),
            levels=15,
            cmap="viridis",
            linewidths=0.6,
        )
        for name, run in self.results["valley"]["runs"].items():
            axes[0].plot(*run["path"][:400].T, lw=1, label=name)
        axes[0].set_title("badly scaled valley (first 400 steps)")
        axes[0].legend(fontsize=7)

        surface = Rosenbrock()
        xs, ys = np.linspace(-1.6, 1.6, 200), np.linspace(-0.4, 1.6, 200)
        grid = np.stack(np.meshgrid(xs, ys), axis=-1)
        axes[1].contour(
            xs,
            ys,
            np.log(surface.value(grid) + 1e-3),
            levels=15,
            cmap="viridis",
            linewidths=0.6,
        )
        for name, run in self.results["rosenbrock"].items():
            axes[1].plot(*run["path"].T, lw=1, label=name)
        axes[1].plot(*surface.minimum, "k*", ms=10)
        axes[1].set_title("Rosenbrock")
        axes[1].legend(fontsize=7)

        if self.results["mnist"]:
            for name, run in self.results["mnist"].items():
                smooth = np.convolve(run["losses"], np.ones(20) / 20, mode="valid")
                axes[2].plot(smooth, label=name)
            axes[2].set_xlabel("step")
            axes[2].set_ylabel("training loss (mean of 20 batches)")
            axes[2].set_title(f"MNIST, 784-{self.hidden}-10")
            axes[2].legend(fontsize=7)
        else:
            axes[2].set_axis_off()
            axes[2].text(0.5, 0.5, "MNIST skipped", ha="center")
        fig.suptitle("The slide's optimisers")
        return fig


def _small_maps(surface, runs: dict, xlim, ylim, first=None) -> Columns:
    """One contour map per optimiser, its path drawn with its mark."""
    maps = []
    for name, run in runs.items():
        path = run["path"] if first is None else run["path"][:first]
        paths = {run["mark"]: path, "*": [surface.minimum]}
        picture = contour_map(surface.value, xlim, ylim, paths, rows=9, cols=34)
        maps.append(Group(f"[bold]{run['mark']}[/] {name}", picture))
    return Columns(maps, padding=(0, 2))


def _number(value) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(_number(v) for v in value) + ")"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _vector(v) -> str:
    return "(" + ", ".join(f"{x:+.4f}" for x in np.asarray(v)) + ")"


LESSON = Optimizers
