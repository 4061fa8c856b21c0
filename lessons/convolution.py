"""Convolution as feature extraction, and why it needs a fast kernel.

A convolutional layer slides one small filter over the whole image:

    y[c, i, j] = b[c] + Σ_k Σ_u Σ_v  w[c, k, u, v] · x[k, i + u, j + v]

The same few weights look at every position, so a filter that responds to
an edge finds that edge anywhere ("There's an edge!"). The lesson applies
hand-made edge filters to MNIST digits and shows the feature maps.

The loop nest above is what ``tinycv.kernels.conv`` writes out twice: as
plain Python loops to read, and as a Numba kernel. The lesson runs the same
convolution on both (``tinycv.use_backend``) and checks the claim: the fast
kernel computes the same feature maps, many times faster.
"""

from __future__ import annotations

import time

import click
import numpy as np
from rich.columns import Columns
from rich.console import Group
from rich.table import Table

import tinycv
from tinycv.data import MNIST
from tinycv.lesson import Lesson, Option, Step, Verdict
from tinycv.nn import functional as F
from tinycv.viz import heatmap

# Sobel filters: each responds to a change of brightness in one direction.
FILTERS = {
    "vertical edges": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "horizontal edges": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
    "diagonal edges": [[0, 1, 2], [-1, 0, 1], [-2, -1, 0]],
    "blur": [[1, 2, 1], [2, 4, 2], [1, 2, 1]],
}


def timed(fn, repeats: int) -> tuple:
    """(result, seconds) of the fastest of ``repeats`` calls after a warm-up.

    The fastest call is the one least disturbed by whatever else the machine
    was doing, which makes the comparison fair on a busy laptop.
    """
    result = fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return result, min(times)


class Convolution(Lesson):
    name = "convolution"
    slide = "Convolution as feature extraction"
    summary = "edge filters find strokes anywhere; the Numba kernel equals the loops"
    claim = (
        "the Numba conv2d kernel gives the reference loops' feature maps "
        "(max difference < 1e-4) and runs at least 20x faster"
    )
    order = 10
    options = (
        Option(
            "images",
            16,
            "how many MNIST digits to filter",
            fast=4,
            type=click.IntRange(1, 256),
        ),
        Option(
            "repeats",
            5,
            "timed repeats of each kernel",
            fast=3,
            type=click.IntRange(1, 100),
        ),
    )

    def steps(self):
        digits = MNIST(train=False, subset="embedded")
        chosen = self.rng.choice(len(digits.data), size=self.images, replace=False)
        images = tinycv.tensor(digits.data[chosen][:, None] / 255.0).float()
        weight = tinycv.tensor(np.array(list(FILTERS.values()))[:, None] / 4.0).float()

        maps = F.conv2d(images, weight, padding=1)
        yield Step(
            "one digit, four filters: y = w ⋆ x",
            self._gallery(images[0, 0].numpy(), maps[0].numpy()),
            f"input {images.shape} ⋆ weight {weight.shape} → feature maps {maps.shape}",
        )

        with tinycv.use_backend("numba"):
            fast, fast_seconds = timed(
                lambda: F.conv2d(images, weight, padding=1), self.repeats
            )
        with tinycv.use_backend("reference"):
            slow, slow_seconds = timed(
                lambda: F.conv2d(images, weight, padding=1), max(1, self.repeats // 2)
            )

        difference = float(np.abs(fast.numpy() - slow.numpy()).max())
        self.results.update(
            difference=difference,
            numba_ms=fast_seconds * 1e3,
            reference_ms=slow_seconds * 1e3,
            speedup=slow_seconds / fast_seconds,
        )
        table = Table("kernel", "fastest call", "max |difference|", box=None)
        table.add_row("reference loops", f"{slow_seconds * 1e3:.1f} ms", "—")
        table.add_row("Numba", f"{fast_seconds * 1e3:.3f} ms", f"{difference:.2e}")
        yield Step(
            f"the same convolution on {self.images} digits, two kernels",
            table,
            f"speed-up: [bold]{slow_seconds / fast_seconds:.0f}x[/]",
        )

    def _gallery(self, image, maps):
        names = ["input", *FILTERS]
        pictures = [heatmap(image, grey=True)]
        pictures += [
            heatmap(np.abs(m) if "edges" in n else m, grey=True)
            for n, m in zip(FILTERS, maps)
        ]
        # Columns wraps the pictures onto as many rows as the terminal needs.
        return Columns([Group(f"[dim]{n}[/]", p) for p, n in zip(pictures, names)])

    def check(self) -> Verdict:
        r = self.results
        passed = r["difference"] < 1e-4 and r["speedup"] >= 20
        return Verdict(
            self.claim,
            bool(passed),
            f"max difference {r['difference']:.1e}; reference {r['reference_ms']:.1f} "
            f"ms, Numba {r['numba_ms']:.3f} ms ({r['speedup']:.0f}x)",
        )

    def figure(self, plt):
        digits = MNIST(train=False, subset="embedded")
        image = tinycv.tensor(digits.data[:1, None] / 255.0)
        weight = tinycv.tensor(np.array(list(FILTERS.values()))[:, None] / 4.0)
        maps = F.conv2d(image, weight, padding=1).numpy()[0]
        fig, axes = plt.subplots(1, 5, figsize=(12, 2.8))
        axes[0].imshow(image.numpy()[0, 0], cmap="gray")
        axes[0].set_title("input")
        for ax, name, feature in zip(axes[1:], FILTERS, maps):
            ax.imshow(feature, cmap="gray")
            ax.set_title(name)
        for ax in axes:
            ax.axis("off")
        return fig


LESSON = Convolution
