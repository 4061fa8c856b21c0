"""One training step of a 2-16-16-1 ReLU MLP on 100 points, Scalar by Scalar.

Times tinycv's Scalar engine against micrograd (``pip install micrograd``,
only for this benchmark) on the same network, data and loss, in the same
run: forward over all points, squared-error loss, backward, SGD update.
Reports the median of several rounds after a warm-up, and the share of the
time spent in Python's cycle collector (measured with gc callbacks).

    python bench/bench_scalar_mlp.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time

import numpy as np
from rich.console import Console
from rich.table import Table

from tinycv import Scalar

SIZES = (2, 16, 16, 1)


def make_data(n: int = 100, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(n, 2))
    y = np.sign(x[:, 0] * x[:, 1])
    return x.tolist(), y.tolist()


def make_weights(seed: int = 1):
    rng = np.random.default_rng(seed)
    return [
        (
            (rng.uniform(-1, 1, size=(fan_out, fan_in)) / np.sqrt(fan_in)).tolist(),
            [0.0] * fan_out,
        )
        for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:])
    ]


def build(value_type, weights):
    return [
        (
            [[value_type(w) for w in row] for row in matrix],
            [value_type(b) for b in bias],
        )
        for matrix, bias in weights
    ]


def forward(layers, x):
    for depth, (matrix, bias) in enumerate(layers):
        x = [sum((w * xi for w, xi in zip(row, x)), b) for row, b in zip(matrix, bias)]
        if depth < len(layers) - 1:
            x = [v.relu() for v in x]
    return x[0]


def parameters(layers):
    return [p for matrix, bias in layers for row in matrix + [bias] for p in row]


def train_step(layers, xs, ys, learning_rate=1e-3):
    params = parameters(layers)
    for p in params:
        p.grad = 0.0
    loss = sum(((forward(layers, x) - y) ** 2 for x, y in zip(xs, ys)), 0.0)
    loss.backward()
    for p in params:
        p.data -= learning_rate * p.grad
    return loss.data


class CollectorClock:
    """Adds up the time Python's cycle collector runs, via gc.callbacks."""

    def __init__(self):
        self.total = 0.0
        self._start = None

    def __call__(self, phase, info):
        if phase == "start":
            self._start = time.perf_counter()
        elif self._start is not None:
            self.total += time.perf_counter() - self._start

    def __enter__(self):
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc):
        gc.callbacks.remove(self)


def time_engine(value_type, rounds: int):
    xs, ys = make_data()
    layers = build(value_type, make_weights())
    train_step(layers, xs, ys)  # warm-up
    times, collector = [], []
    for _ in range(rounds):
        with CollectorClock() as clock:
            start = time.perf_counter()
            loss = train_step(layers, xs, ys)
            times.append(time.perf_counter() - start)
        collector.append(clock.total)
    return statistics.median(times), statistics.median(collector), loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    console = Console()

    engines = {"tinycv.Scalar": Scalar}
    try:
        from micrograd.engine import Value

        engines["micrograd.Value"] = Value
    except ImportError:
        console.print(
            "[yellow]micrograd not installed (pip install micrograd): "
            "timing tinycv alone[/]"
        )

    results = {name: time_engine(kind, args.rounds) for name, kind in engines.items()}
    table = Table(
        title=f"one training step, MLP {SIZES} on 100 points (median of {args.rounds})"
    )
    for column in ("engine", "step (ms)", "in cycle collector", "loss after"):
        table.add_column(column, justify="right")
    for name, (seconds, in_gc, loss) in results.items():
        table.add_row(
            name, f"{seconds * 1e3:.1f}", f"{in_gc / seconds:.0%}", f"{loss:.4f}"
        )
    console.print(table)
    if "micrograd.Value" in results:
        ratio = results["micrograd.Value"][0] / results["tinycv.Scalar"][0]
        console.print(f"tinycv.Scalar is [bold]{ratio:.1f}x[/] faster than micrograd")


if __name__ == "__main__":
    main()
