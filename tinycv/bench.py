"""Benchmarks: tinycv's kernels against what a user would run instead.

``tinycv bench matmul|conv2d|pool|all`` times, in one run on one machine:

- tinycv's Numba kernels (or its CUDA kernels with ``--device cuda``);
- the alternative a user would pick: numpy's BLAS for a matrix product,
  PyTorch (when it is installed; it is never a dependency) for everything;
- tinycv's reference loops at a small size, to show what the kernels buy.

Every figure is the median of ``rounds`` timed calls after a warm-up call
(the JSON also keeps the fastest round).
The warm-up's own time is reported apart as the first call: it includes
Numba compiling the kernel, or loading it from the on-disk cache. One
implementation is timed for all its rounds before the next starts (with a
short pause between), so that one library's idle worker threads, which spin
for a while after a call, do not steal the cores from the next.

On the GPU every timed call ends with ``tinycv.cuda.synchronize()``, since
a kernel launch returns before the kernel has finished; the matmul table
then compares the GPU with the CPU as the matrices grow and names the size
where the GPU takes over.

``sizes`` are the matrix sizes n of the n x n products for ``matmul`` and
the batch size N for ``conv2d`` and ``pool`` (default: each case's own).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass

import numpy as np

from tinycv._console import console, stderr_console

SECTIONS = ("matmul", "conv2d", "pool")
# Environment variables that change the figures; recorded with them.
SETTINGS = (
    "NUMBA_NUM_THREADS",
    "NUMBA_CPU_FEATURES",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
)
CPU_MATMUL_SIZES = (64, 128, 256, 512, 1024)
GPU_MATMUL_SIZES = (64, 128, 256, 512, 1024, 2048)
REFERENCE_MATMUL_SIZE = 32
PAUSE_S = 0.05  # lets idle worker threads of the previous library go to sleep


@dataclass(frozen=True)
class ConvCase:
    """A conv2d layer: input (N, C, H, W) and weight (C_out, C/groups, k, k)."""

    name: str
    batch: int
    channels: int
    size: int
    out_channels: int
    kernel: int
    padding: int = 0
    groups: int = 1

    def shapes(self, batch=None):
        n = self.batch if batch is None else batch
        x = (n, self.channels, self.size, self.size)
        w = (self.out_channels, self.channels // self.groups, self.kernel, self.kernel)
        return x, w

    def label(self, batch=None) -> str:
        """e.g. "VGG 3x3 32x64x32x32*64x64x3x3 p1": input * weight, padding."""
        x, w = self.shapes(batch)
        text = f"{self.name} {_dims(x)}*{_dims(w)}"
        if self.padding:
            text += f" p{self.padding}"
        if self.groups > 1:
            text += f" g{self.groups}"
        return text

    def forward_flops(self, batch=None) -> float:
        """2 x (multiply-adds): one per weight tap per output value."""
        n = self.batch if batch is None else batch
        out = self.size + 2 * self.padding - self.kernel + 1
        taps = (self.channels // self.groups) * self.kernel**2
        return 2.0 * n * self.out_channels * out * out * taps


CONV_CASES = (
    ConvCase("LeNet conv1", 64, 1, 32, 6, 5),
    ConvCase("LeNet conv2", 64, 6, 14, 16, 5),
    ConvCase("VGG 3x3", 32, 64, 32, 64, 3, padding=1),
    ConvCase("depthwise", 32, 128, 28, 128, 3, padding=1, groups=128),
)
REFERENCE_CONV_CASE = ConvCase("LeNet conv1", 2, 1, 12, 6, 5)
POOL_SHAPE = (32, 64, 32, 32)
REFERENCE_POOL_SHAPE = (2, 4, 16, 16)


def _dims(shape) -> str:
    return "x".join(str(size) for size in shape)


@dataclass
class Result:
    """One timed implementation of one case; JSON-ready."""

    section: str
    case: str
    implementation: str
    median_ms: float
    first_call_ms: float
    best_ms: float
    gflops: float | None = None
    ratio: float | None = None  # tinycv's speed over this row's: its ms / tinycv's


@dataclass
class Timing:
    first: float  # seconds of the warm-up call (includes compiling)
    median: float  # seconds, median of the timed rounds
    best: float  # seconds, fastest timed round


class Section:
    """The results of one section, added as they are measured."""

    def __init__(self, name: str):
        self.name = name
        self.results: list[Result] = []

    def add(self, case, implementation, timing, flops=None, tinycv=None) -> Timing:
        """Record ``timing``; ``tinycv`` is the Timing to compare speed with."""
        self.results.append(
            Result(
                self.name,
                case,
                implementation,
                timing.median * 1e3,
                timing.first * 1e3,
                timing.best * 1e3,
                None if flops is None else flops / timing.median / 1e9,
                None if tinycv is None else timing.median / tinycv.median,
            )
        )
        return timing


# --------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------


def _time(fn, *args, rounds: int, synchronize=None) -> Timing:
    """Time ``fn(*args)``: one warm-up call, then ``rounds`` timed calls."""
    laps = []
    for _ in range(rounds + 1):
        start = time.perf_counter()
        fn(*args)
        if synchronize is not None:
            synchronize()
        laps.append(time.perf_counter() - start)
    time.sleep(PAUSE_S)
    return Timing(laps[0], statistics.median(laps[1:]), min(laps[1:]))


def _torch():
    """PyTorch if it can be imported, else None."""
    try:
        import torch
    except Exception:
        return None
    return torch


def _synchronizer(device):
    if device != "cuda":
        return None
    from tinycv import cuda

    return cuda.synchronize


# --------------------------------------------------------------------------
# matmul
# --------------------------------------------------------------------------


def _square_matrices(n, rng):
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    return a, b


def _matmul_cpu(sizes, rounds) -> list[Result]:
    from tinycv.kernels import use_backend
    from tinycv.kernels.matmul import matmul2d

    torch = _torch()
    section = Section("matmul")
    rng = np.random.default_rng(0)
    for n in sizes:
        a, b = _square_matrices(n, rng)
        case, flops = f"n={n}", 2.0 * n**3

        with use_backend("numba"):
            ours = section.add(
                case, "tinycv", _time(matmul2d, a, b, rounds=rounds), flops
            )
        section.add(case, "numpy", _time(np.matmul, a, b, rounds=rounds), flops, ours)
        if torch is not None:
            ta, tb = torch.from_numpy(a), torch.from_numpy(b)
            section.add(
                case, "torch", _time(torch.mm, ta, tb, rounds=rounds), flops, ours
            )

    n = REFERENCE_MATMUL_SIZE
    a, b = _square_matrices(n, rng)
    case, flops = f"n={n}", 2.0 * n**3
    with use_backend("numba"):
        ours = section.add(case, "tinycv", _time(matmul2d, a, b, rounds=rounds), flops)
    with use_backend("reference"):
        loops = _time(matmul2d, a, b, rounds=1)
    section.add(case, "reference", loops, flops, ours)
    return section.results


def _matmul_gpu(sizes, rounds) -> list[Result]:
    from tinycv import cuda
    from tinycv.device import to_device
    from tinycv.kernels import use_backend
    from tinycv.kernels.matmul import matmul2d

    torch = _torch()
    use_torch = torch is not None and torch.cuda.is_available()
    section = Section("matmul")
    rng = np.random.default_rng(0)
    for n in sizes:
        a, b = _square_matrices(n, rng)
        a_gpu, b_gpu = to_device(a, "cuda"), to_device(b, "cuda")
        case, flops = f"n={n}", 2.0 * n**3

        timing = _time(
            matmul2d, a_gpu, b_gpu, rounds=rounds, synchronize=cuda.synchronize
        )
        ours = section.add(case, "tinycv cuda", timing, flops)
        with use_backend("numba"):
            timing = _time(matmul2d, a, b, rounds=rounds)
        section.add(case, "tinycv cpu", timing, flops, ours)
        if use_torch:
            ta, tb = torch.from_numpy(a).cuda(), torch.from_numpy(b).cuda()
            timing = _time(
                torch.mm, ta, tb, rounds=rounds, synchronize=torch.cuda.synchronize
            )
            section.add(case, "torch cuda", timing, flops, ours)
    return section.results


def _crossover(results: list[Result]) -> str:
    """From which n on the GPU beats the CPU at every larger n tried."""
    gpu = {r.case: r.median_ms for r in results if r.implementation == "tinycv cuda"}
    cpu = {r.case: r.median_ms for r in results if r.implementation == "tinycv cpu"}
    winner = None
    for case in reversed([c for c in gpu if c in cpu]):
        if gpu[case] >= cpu[case]:
            break
        winner = case
    if winner is None:
        return "The CPU was faster at the largest size tried; try larger --sizes."
    return f"The GPU overtakes the CPU from {winner} on."


# --------------------------------------------------------------------------
# conv2d
# --------------------------------------------------------------------------


def _conv_arrays(case, batch, rng):
    x_shape, w_shape = case.shapes(batch)
    x = rng.standard_normal(x_shape, dtype=np.float32)
    w = rng.standard_normal(w_shape, dtype=np.float32) * np.float32(0.1)
    bias = rng.standard_normal(case.out_channels, dtype=np.float32)
    return x, w, bias


def _conv_geometry(case):
    """stride, padding, dilation, groups as the conv kernels take them."""
    return (1, 1), (case.padding, case.padding), (1, 1), case.groups


def _conv_forward(case, x, w, bias):
    from tinycv.kernels import conv

    return conv.conv2d_forward(x, w, bias, *_conv_geometry(case))


def _conv_forward_backward(case, x, w, bias):
    from tinycv.kernels import conv

    y = conv.conv2d_forward(x, w, bias, *_conv_geometry(case))
    return conv.conv2d_backward(y, x, w, *_conv_geometry(case), True)


def _torch_conv(torch, case, x, w, bias, backward):
    import torch.nn.functional as F

    if not backward:
        with torch.no_grad():
            return F.conv2d(x, w, bias, padding=case.padding, groups=case.groups)
    x, w, bias = (t.detach().requires_grad_() for t in (x, w, bias))
    y = F.conv2d(x, w, bias, padding=case.padding, groups=case.groups)
    y.backward(y.detach())
    return x.grad


def _conv(sizes, device, rounds) -> list[Result]:
    from tinycv.device import to_device
    from tinycv.kernels import use_backend

    torch = _torch()
    on_gpu = device == "cuda"
    use_torch = torch is not None and (not on_gpu or torch.cuda.is_available())
    sync = _synchronizer(device)
    suffix = " cuda" if on_gpu else ""
    section = Section("conv2d")
    rng = np.random.default_rng(0)
    for case in CONV_CASES:
        for batch in sizes or (case.batch,):
            x, w, bias = _conv_arrays(case, batch, rng)
            label = case.label(batch)
            arrays = [to_device(a, device) for a in (x, w, bias)]
            if use_torch:
                tensors = [torch.from_numpy(a).to(device) for a in (x, w, bias)]
            for backward, fn, work in (
                (False, _conv_forward, case.forward_flops(batch)),
                (True, _conv_forward_backward, 3 * case.forward_flops(batch)),
            ):
                what = f"{label} {'fwd+bwd' if backward else 'fwd'}"
                with use_backend("numba"):
                    timing = _time(fn, case, *arrays, rounds=rounds, synchronize=sync)
                    ours = section.add(what, "tinycv" + suffix, timing, work)
                    if on_gpu:
                        timing = _time(fn, case, x, w, bias, rounds=rounds)
                        section.add(what, "tinycv cpu", timing, work, ours)
                if use_torch:
                    timing = _time(
                        _torch_conv,
                        torch,
                        case,
                        *tensors,
                        backward,
                        rounds=rounds,
                        synchronize=_torch_sync(torch, device),
                    )
                    section.add(what, "torch" + suffix, timing, work, ours)

    if not on_gpu:
        case = REFERENCE_CONV_CASE
        x, w, bias = _conv_arrays(case, case.batch, rng)
        what, work = f"{case.label()} fwd", case.forward_flops()
        with use_backend("numba"):
            timing = _time(_conv_forward, case, x, w, bias, rounds=rounds)
            ours = section.add(what, "tinycv", timing, work)
        with use_backend("reference"):
            timing = _time(_conv_forward, case, x, w, bias, rounds=1)
        section.add(what, "reference", timing, work, ours)
    return section.results


def _torch_sync(torch, device):
    return torch.cuda.synchronize if device == "cuda" else None


# --------------------------------------------------------------------------
# pool
# --------------------------------------------------------------------------


def _max_pool_forward_backward(x):
    """max_pool2d 2x2 stride 2, forward then backward (y as its own gradient)."""
    from tinycv.kernels import pool

    y, argmax = pool.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0))
    return pool.max_pool2d_backward(y, argmax, x.shape)


def _avg_pool_forward_backward(x):
    """avg_pool2d 2x2 stride 2, forward then backward (y as its own gradient)."""
    from tinycv.kernels import pool

    y = pool.avg_pool2d_forward(x, (2, 2), (2, 2), (0, 0))
    return pool.avg_pool2d_backward(y, x.shape, (2, 2), (2, 2), (0, 0))


def _torch_pool_forward_backward(torch, kind, x):
    x = x.detach().requires_grad_()
    y = getattr(torch.nn.functional, f"{kind}_pool2d")(x, 2, 2)
    y.backward(y.detach())
    return x.grad


POOLS = {"max": _max_pool_forward_backward, "avg": _avg_pool_forward_backward}


def _pool(sizes, device, rounds) -> list[Result]:
    from tinycv.device import to_device
    from tinycv.kernels import use_backend

    torch = _torch()
    on_gpu = device == "cuda"
    use_torch = torch is not None and (not on_gpu or torch.cuda.is_available())
    sync = _synchronizer(device)
    suffix = " cuda" if on_gpu else ""
    section = Section("pool")
    rng = np.random.default_rng(0)
    for batch in sizes or (POOL_SHAPE[0],):
        shape = (batch, *POOL_SHAPE[1:])
        x = rng.standard_normal(shape, dtype=np.float32)
        for kind, forward_backward in POOLS.items():
            what = f"{kind} 2x2 fwd+bwd {_dims(shape)}"
            with use_backend("numba"):
                timing = _time(
                    forward_backward,
                    to_device(x, device),
                    rounds=rounds,
                    synchronize=sync,
                )
                ours = section.add(what, "tinycv" + suffix, timing)
                if on_gpu:
                    timing = _time(forward_backward, x, rounds=rounds)
                    section.add(what, "tinycv cpu", timing, None, ours)
            if use_torch:
                timing = _time(
                    _torch_pool_forward_backward,
                    torch,
                    kind,
                    torch.from_numpy(x).to(device),
                    rounds=rounds,
                    synchronize=_torch_sync(torch, device),
                )
                section.add(what, "torch" + suffix, timing, None, ours)

    if not on_gpu:
        x = rng.standard_normal(REFERENCE_POOL_SHAPE, dtype=np.float32)
        for kind, forward_backward in POOLS.items():
            what = f"{kind} 2x2 fwd+bwd {_dims(x.shape)}"
            with use_backend("numba"):
                timing = _time(forward_backward, x, rounds=rounds)
                ours = section.add(what, "tinycv", timing)
            with use_backend("reference"):
                timing = _time(forward_backward, x, rounds=1)
            section.add(what, "reference", timing, None, ours)
    return section.results


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


TITLES = {
    "matmul": "matmul, float32 n x n",
    "conv2d": "conv2d, float32 input*weight (fwd+bwd: 3x the flops)",
    "pool": "max_pool2d and avg_pool2d, float32",
}


def _table(section: str, results: list[Result], device: str):
    """One row per implementation, cases separated by a line."""
    from rich import box
    from rich.table import Table

    table = Table(title=f"{TITLES[section]} on {device}", box=box.SIMPLE_HEAD)
    table.add_column("case")
    table.add_column("impl.")
    for name in ("median ms", "GFLOP/s", "tinycv vs it"):
        table.add_column(name, justify="right")
    previous = None
    for r in results:
        if previous is not None and r.case != previous:
            table.add_section()
        table.add_row(
            r.case if r.case != previous else "",
            r.implementation,
            f"{r.median_ms:.3f}",
            "" if r.gflops is None else f"{r.gflops:.1f}",
            "" if r.ratio is None else f"{r.ratio:.2f}x",
        )
        previous = r.case
    return table


def _compile_table(results: list[Result]):
    """The first call of each kind of tinycv kernel against a warm call."""
    from rich import box
    from rich.table import Table

    table = Table(
        title="first call (compiling, or loading the cache) vs warm",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("section")
    table.add_column("case")
    table.add_column("impl.")
    for name in ("first call ms", "warm ms"):
        table.add_column(name, justify="right")
    for r in _first_calls(results):
        table.add_row(
            r.section,
            r.case,
            r.implementation,
            f"{r.first_call_ms:.1f}",
            f"{r.median_ms:.3f}",
        )
    return table


def _first_calls(results: list[Result]) -> list[Result]:
    """The first result of each kind of tinycv kernel: per section and
    implementation (CPU or GPU), and apart for forward and forward+backward
    convolutions, and for max and average pooling, which compile different
    kernels."""
    seen, first = set(), []
    for r in results:
        if r.section == "conv2d":
            variant = r.case.split()[-1]  # fwd or fwd+bwd
        elif r.section == "pool":
            variant = r.case.split()[0]  # max or avg
        else:
            variant = ""
        kind = (r.section, r.implementation, variant)
        if r.implementation.startswith("tinycv") and kind not in seen:
            seen.add(kind)
            first.append(r)
    return first


def _environment(device: str, rounds: int) -> dict:
    import numba

    import tinycv
    from tinycv import kernels

    torch = _torch()
    return {
        "tinycv": tinycv.__version__,
        "device": device,
        "rounds": rounds,
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "numba_threads": numba.get_num_threads(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "torch": None if torch is None else torch.__version__,
        "settings": {name: os.environ[name] for name in SETTINGS if name in os.environ},
        "freed_memory_kept": kernels.FREED_MEMORY_KEPT,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _write_json(path: str, payload: dict) -> None:
    """Write ``payload`` to ``path`` atomically: a temp file, then os.replace."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=folder, prefix=".bench-", suffix=".json")
    try:
        with os.fdopen(handle, "w") as f:
            json.dump(payload, f, indent=2)
            f.write("\n")
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.remove(temp)
        raise


# --------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------


def main(
    what: str = "all",
    sizes: list[int] | None = None,
    device: str = "cpu",
    json_path: str | None = None,
    rounds: int = 5,
) -> int:
    """Run the benchmarks named by ``what`` and print one table per section.

    Args:
        what: "matmul", "conv2d", "pool" or "all".
        sizes: n for matmul, batch size for conv2d and pool (None: defaults).
        device: "cpu" or "cuda".
        json_path: also write every figure to this JSON file.
        rounds: timed calls per figure, after one warm-up call.

    Returns:
        The exit code: 0, or 2 for bad arguments or a missing GPU.
    """
    sections = SECTIONS if what == "all" else (what,)
    problem = None
    if what != "all" and what not in SECTIONS:
        problem = f"unknown benchmark {what!r}; choose matmul, conv2d, pool or all"
    elif device not in ("cpu", "cuda"):
        problem = f"unknown device {device!r}; choose cpu or cuda"
    elif rounds < 1 or (sizes is not None and min(sizes, default=1) < 1):
        problem = "rounds and sizes must be positive"
    if problem is not None:
        stderr_console.print(f"tinycv bench: {problem}")
        return 2
    if device == "cuda":
        from tinycv import cuda

        if not cuda.is_available():
            stderr_console.print(
                "tinycv bench: no CUDA device is available (needs an NVIDIA GPU "
                "and the cuda extra); run with --device cpu"
            )
            return 2

    runners = {
        "matmul": lambda: (
            _matmul_gpu(sizes or GPU_MATMUL_SIZES, rounds)
            if device == "cuda"
            else _matmul_cpu(sizes or CPU_MATMUL_SIZES, rounds)
        ),
        "conv2d": lambda: _conv(sizes, device, rounds),
        "pool": lambda: _pool(sizes, device, rounds),
    }
    everything = []
    for section in sections:
        with console.status(f"timing {section} on {device}"):
            results = runners[section]()
        console.print(_table(section, results, device))
        if section == "matmul" and device == "cuda":
            console.print(_crossover(results))
        everything.extend(results)

    console.print(_compile_table(everything))
    from tinycv import kernels

    for name in SETTINGS:
        if name == "NUMBA_CPU_FEATURES" and kernels.WIDE_VECTORS_SET:
            console.print(
                "note: kernels compiled for 512-bit vectors (tinycv set "
                "NUMBA_CPU_FEATURES to this CPU's features + -prefer-256-bit; "
                "TINYCV_NUMBA_512=0 turns this off)"
            )
        elif name in os.environ:
            console.print(f"note: {name}={os.environ[name]} is set")
    if kernels.FREED_MEMORY_KEPT:
        console.print(
            "note: freed memory stays in this process for the next arrays, "
            "PyTorch's too (tinycv raised glibc's malloc thresholds; "
            "TINYCV_KEEP_MEMORY=0 turns this off)"
        )
    console.print(
        "tinycv vs it: that row's time over tinycv's (0.60x: tinycv runs at 60% "
        "of its speed; above 1x, tinycv is faster)."
    )
    if json_path is not None:
        payload = {
            "environment": _environment(device, rounds),
            "results": [asdict(r) for r in everything],
        }
        _write_json(json_path, payload)
        console.print(f"wrote {json_path}")
    return 0
