"""One epoch of LeNet-5 on MNIST: tinycv against PyTorch, in the same run.

Trains the same network (conv 5x5 -> tanh -> avg pool -> conv 5x5 -> tanh ->
avg pool -> 120 -> 84 -> 10) on the same batches of the embedded MNIST
subset (10,000 images, batch 64, SGD with momentum) with tinycv and, when it
is installed, with PyTorch on the CPU. Each framework trains a few epochs
after a warm-up; the median epoch time is reported with the ratio.

    python bench/bench_lenet.py [--epochs 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from rich.console import Console
from rich.table import Table

import tinycv
from tinycv import nn, optim
from tinycv.data import MNIST

BATCH = 64


def batches(images, labels, seed):
    order = np.random.default_rng(seed).permutation(len(images))
    for start in range(0, len(order) - BATCH + 1, BATCH):
        pick = order[start : start + BATCH]
        yield images[pick], labels[pick]


def tinycv_lenet():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.Tanh(), nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(400, 120), nn.Tanh(),
        nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, 10),
    )  # fmt: skip


def torch_lenet(torch):
    tnn = torch.nn
    return tnn.Sequential(
        tnn.Conv2d(1, 6, 5, padding=2), tnn.Tanh(), tnn.AvgPool2d(2),
        tnn.Conv2d(6, 16, 5), tnn.Tanh(), tnn.AvgPool2d(2),
        tnn.Flatten(), tnn.Linear(400, 120), tnn.Tanh(),
        tnn.Linear(120, 84), tnn.Tanh(), tnn.Linear(84, 10),
    )  # fmt: skip


def epoch_tinycv(model, optimizer, images, labels, seed):
    for x, y in batches(images, labels, seed):
        loss = nn.functional.cross_entropy(model(tinycv.tensor(x)), tinycv.tensor(y))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return loss.item()


def epoch_torch(torch, model, optimizer, images, labels, seed):
    for x, y in batches(images, labels, seed):
        loss = torch.nn.functional.cross_entropy(
            model(torch.from_numpy(x)), torch.from_numpy(y)
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return loss.item()


def timed_epochs(run_epoch, epochs):
    run_epoch(10_000)  # warm-up: compiles tinycv's kernels, warms torch's caches
    times, loss = [], None
    for seed in range(epochs):
        start = time.perf_counter()
        loss = run_epoch(seed)
        times.append(time.perf_counter() - start)
    return statistics.median(times), loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    console = Console()

    data = MNIST(train=True, subset="embedded")
    images = (data.data[:, None] / 255.0).astype(np.float32)
    labels = data.targets.astype(np.int64)

    results = {}
    tinycv.manual_seed(0)  # the same initial weights on every run
    model = tinycv_lenet()
    sgd = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    results["tinycv"] = timed_epochs(
        lambda s: epoch_tinycv(model, sgd, images, labels, s), args.epochs
    )
    try:
        import torch

        torch.set_num_threads(args.threads)
        torch.manual_seed(0)
        net = torch_lenet(torch)
        tsgd = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
        results["PyTorch"] = timed_epochs(
            lambda s: epoch_torch(torch, net, tsgd, images, labels, s), args.epochs
        )
    except ImportError:
        console.print("[yellow]PyTorch not installed: timing tinycv alone[/]")

    table = Table(
        title=f"LeNet-5, one epoch of {len(images):,} MNIST images, "
        f"batch {BATCH} (median of {args.epochs})"
    )
    for column in ("framework", "epoch (s)", "last loss"):
        table.add_column(column, justify="right")
    for name, (seconds, loss) in results.items():
        table.add_row(name, f"{seconds:.2f}", f"{loss:.3f}")
    console.print(table)
    if "PyTorch" in results:
        ratio = results["tinycv"][0] / results["PyTorch"][0]
        console.print(f"tinycv takes [bold]{ratio:.2f}x[/] PyTorch's time per epoch")


if __name__ == "__main__":
    main()
