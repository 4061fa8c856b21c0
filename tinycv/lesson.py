"""The lesson runner: one slide's algorithm, run step by step, then its claim.

A lesson is a class with a name, the slide it reproduces, its own options,
a ``steps()`` generator and a ``check()`` of the slide's claim::

    class Perceptron(Lesson):
        name = "perceptron"
        slide = "Perceptron training algorithm"
        claim = "converges on AND and OR, never on XOR"
        options = (Option("epochs", 50, "passes over the data", fast=10),)

        def steps(self):
            ...                       # run the algorithm, keep what check needs
            yield Step("epoch 1", table)

        def check(self):
            return Verdict(self.claim, passed, "what was measured")

The same object serves the terminal (``tinycv lesson perceptron``) and a
notebook (``tinycv.lessons.load("perceptron").run()``): every step is a rich
renderable, and ``run()`` returns the result with the claim's verdict.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rich.console import Group
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

import tinycv


@dataclass(frozen=True)
class Option:
    """A lesson's own parameter, shown as ``--name`` on the command line.

    Args:
        name: the Python name (``hidden_units``; ``--hidden-units`` on the CLI).
        default: the value from the slide.
        help: one line for ``--help``.
        fast: the value under ``--fast`` (None: same as default).
        type: a click type (default: inferred from ``default``), e.g.
            ``click.IntRange(1)`` to reject non-positive values with exit 2.
        multiple: the option takes a list (``--sizes 1 --sizes 3``, or a
            comma-separated ``--sizes 1,3,20``).
    """

    name: str
    default: Any
    help: str
    fast: Any = None
    type: Any = None
    multiple: bool = False


@dataclass
class Verdict:
    """The slide's claim, whether what just ran supports it, and the numbers."""

    claim: str
    passed: bool
    measured: str

    def __rich__(self):
        mark = "[bold green]PASS[/]" if self.passed else "[bold red]FAIL[/]"
        return Group(f"{mark}  {self.claim}", f"[dim]measured:[/] {self.measured}")


@dataclass
class Outcome:
    """What ``Lesson.run()`` returns: the lesson's results and the verdict."""

    result: dict
    verdict: Verdict


@dataclass
class Step:
    """One state of a lesson, as the CLI shows it: a title and renderables."""

    title: str
    body: list = field(default_factory=list)
    data: dict = field(default_factory=dict)

    def __init__(self, title: str, *body, **data):
        self.title = title
        self.body = list(body)
        self.data = data

    def __rich__(self):
        return Panel(Group(*self.body), title=self.title, title_align="left")


class Lesson:
    """Base class of every lesson; see the module docstring for the shape."""

    name: str = ""
    slide: str = ""
    summary: str = ""
    claim: str = ""
    order: float = 100.0
    options: tuple = ()

    def __init__(self, seed: int = 0, fast: bool = False, console=None, **options):
        known = {opt.name: opt for opt in self.options}
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise TypeError(
                f"lesson {self.name}: unknown option(s) {', '.join(unknown)}; "
                f"it takes {', '.join(known) or 'no options'}"
            )
        self.seed = int(seed)
        self.fast = bool(fast)
        self.console = console
        for opt in self.options:
            value = options.get(opt.name)
            if value is None or (opt.multiple and len(value) == 0):
                value = opt.fast if fast and opt.fast is not None else opt.default
            setattr(self, opt.name, value)
        self.rng = np.random.default_rng(self.seed)
        tinycv.manual_seed(self.seed)
        self.results: dict = {}

    def steps(self) -> Iterator[Step]:
        raise NotImplementedError(f"lesson {self.name} has no steps()")

    def check(self) -> Verdict:
        raise NotImplementedError(f"lesson {self.name} has no check()")

    def figure(self, plt):
        """A matplotlib figure of what ran (for ``--save-fig``), or None."""
        return None

    def run(self) -> Outcome:
        """Run every step (printing each when a console was given)."""
        for state in self.steps():
            if self.console is not None:
                self.console.print(state)
        return Outcome(self.results, self.check())

    def track(self, iterable: Iterable, description: str, total: int | None = None):
        """``iterable`` with a progress bar when the lesson prints to a console."""
        if self.console is None or not self.console.is_terminal:
            yield from iterable
            return
        columns = (
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=self.console, transient=True) as progress:
            yield from progress.track(iterable, total=total, description=description)


def save_figure(figure, path: str) -> None:
    """Write a matplotlib figure as PNG to ``path`` atomically."""
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(suffix=".png", dir=folder)
    os.close(handle)
    try:
        figure.savefig(temporary, format="png", dpi=120, bbox_inches="tight")
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
