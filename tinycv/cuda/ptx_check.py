"""Compile every CUDA kernel of tinycv to PTX, without a GPU.

    python -m tinycv.cuda.ptx_check [--cc 9.0]

The CUDA simulator runs kernels as Python, so it accepts code that the real
compiler rejects (a float stored where an int is typed, a call Numba cannot
lower). ``numba.cuda.compile_ptx`` runs the real front end, Numba's typing
and NVVM, for each kernel and each argument signature tinycv launches it
with, and needs only NVVM — shipped by ``pip install 'numba-cuda[cu13]'`` —
not a GPU or a driver.

Prints a table, exits 1 if any kernel fails to compile (or is missing from
the table below), and exits 0 with a "skipped" line when NVVM is not
installed.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time

KERNEL_MODULES = (
    "tinycv.kernels.cuda.elementwise",
    "tinycv.kernels.cuda.reduce",
    "tinycv.kernels.cuda.matmul",
    "tinycv.kernels.cuda.conv",
    "tinycv.kernels.cuda.pool",
)
SKIP_LINE = "skipped: numba-cuda[cu13] not installed (no NVVM to compile PTX with)"


def _array(dtype, ndim: int = 1):
    """The Numba type of a C-contiguous device array."""
    from numba import types

    return types.Array(dtype, ndim, "C")


def launches() -> list:
    """``(module, kernel, argument types)`` for each way tinycv launches a kernel."""
    from numba import types

    i64, b1 = types.int64, types.boolean
    t3, t6 = types.UniTuple(i64, 3), types.UniTuple(i64, 6)
    a = _array
    rows = []
    for f in (types.float32, types.float64):
        rows += [
            ("elementwise", "fill_kernel", (a(f), types.float64)),
            ("elementwise", "fill_kernel", (a(f), i64)),
            ("elementwise", "unary_kernel", (i64, a(f), a(f))),
            ("elementwise", "where_kernel", (a(b1), t6) + (a(f), t6) * 3),
            ("reduce", "reduce_block_kernel", (i64, a(f), a(f), i64)),
            ("reduce", "arg_best_rows_kernel", (a(f), a(i64), i64, b1)),
            ("matmul", "bmm_simple_kernel", (a(f, 3),) * 3),
            ("matmul", "bmm_tiled_kernel", (a(f, 3),) * 3),
            ("conv", "unfold_kernel", (a(f, 5), a(f, 2)) + (t3,) * 5),
            ("conv", "fold_kernel", (a(f, 2), a(f, 5)) + (t3,) * 5),
            ("pool", "max_pool_kernel", (a(f, 5), a(f, 5), a(i64, 5)) + (t3,) * 3),
            ("pool", "max_pool_backward_kernel", (a(f, 5), a(i64, 5), a(f, 3))),
            ("pool", "avg_pool_kernel", (a(f, 5), a(f, 5)) + (t3,) * 3),
            ("pool", "avg_pool_backward_kernel", (a(f, 5), a(f, 5)) + (t3,) * 3),
        ]
    for n in (types.float32, types.float64, types.int64, types.int8, b1):
        rows += [
            ("elementwise", "compare_kernel", (i64, a(n), t6, a(n), t6, a(b1), t6)),
            ("elementwise", "copy_kernel", (a(n), i64, t6, a(n), i64, t6, t6)),
        ]
    for n in (types.float32, types.float64, types.int64, types.int8):
        rows += [
            ("elementwise", "binary_kernel", (i64, a(n), t6, a(n), t6, a(n), t6)),
            ("reduce", "reduce_rows_kernel", (i64, a(n), a(n), i64)),
        ]
    rows.append(("elementwise", "fill_kernel", (a(b1), b1)))
    casts = [
        (types.float64, types.float32),
        (types.float32, types.float64),
        (b1, types.float32),
        (types.float32, i64),
        (types.float32, b1),
        (types.int8, b1),
    ]
    rows += [("elementwise", "cast_kernel", (a(src), a(dst))) for src, dst in casts]
    return rows


def signatures() -> dict:
    """``{(module name, kernel name): [argument types, ...]}``."""
    table = {}
    for module, kernel, sig in launches():
        table.setdefault((f"tinycv.kernels.cuda.{module}", kernel), []).append(sig)
    return table


def kernels_in(module_name: str) -> dict:
    """The CUDA kernels (``*_kernel`` dispatchers) a module defines."""
    module = importlib.import_module(module_name)
    return {
        name: value
        for name, value in vars(module).items()
        if name.endswith("_kernel") and hasattr(value, "py_func")
    }


def _probe_kernel(out):
    out[0] = 1.0


def nvvm_problem(cuda, cc) -> str | None:
    """None when NVVM can compile a trivial kernel; else why not."""
    from numba import types

    try:
        cuda.compile_ptx(_probe_kernel, (types.float32[::1],), cc=cc)
    except Exception as error:
        return f"{type(error).__name__}: {str(error).strip().splitlines()[0]}"
    return None


def _skip(reason: str) -> int:
    """Say on one line why nothing was compiled; a skip is not a failure."""
    from tinycv._console import console

    console.print(f"{SKIP_LINE} ({reason})", markup=False, soft_wrap=True)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tinycv.cuda.ptx_check")
    parser.add_argument("--cc", default="9.0", help="compute capability (9.0)")
    args = parser.parse_args(argv)
    cc = tuple(int(part) for part in args.cc.split("."))

    from rich.markup import escape
    from rich.table import Table

    from tinycv._console import console

    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):
        console.print("ptx_check: unset NUMBA_ENABLE_CUDASIM (it compiles nothing)")
        return 2
    try:
        from numba import cuda
    except Exception as error:
        return _skip(f"{type(error).__name__}: {error}")
    if getattr(cuda, "implementation", "") != "NVIDIA":
        # numba's own, deprecated CUDA target cannot type device functions
        # without a GPU; the NVIDIA package can.
        return _skip("numba.cuda is numba's built-in target")
    problem = nvvm_problem(cuda, cc)
    if problem is not None:
        return _skip(problem)

    table = Table(title=f"CUDA kernels compiled to PTX for sm_{cc[0]}{cc[1]}")
    for column in ("module", "kernel", "signatures", "PTX lines", "seconds"):
        table.add_column(
            column, justify="left" if column in ("module", "kernel") else "right"
        )
    table.add_column("result")

    wanted = signatures()
    failures = []
    for module_name in KERNEL_MODULES:
        for name, kernel in kernels_in(module_name).items():
            short = module_name.rsplit(".", 1)[1]
            sigs = wanted.get((module_name, name))
            if not sigs:
                failures.append(f"{short}.{name}: no signature in ptx_check's table")
                table.add_row(short, name, "0", "", "", "[red]missing[/red]")
                continue
            start = time.perf_counter()
            lines, error = 0, None
            for sig in sigs:
                try:
                    ptx, _ = cuda.compile_ptx(kernel.py_func, sig, cc=cc)
                    lines += ptx.count("\n")
                except Exception as exc:
                    error = f"{short}.{name}{sig}: {type(exc).__name__}: {exc}"
                    break
            seconds = f"{time.perf_counter() - start:.1f}"
            result = "[green]ok[/green]" if error is None else "[red]FAILED[/red]"
            table.add_row(short, name, str(len(sigs)), str(lines), seconds, result)
            if error is not None:
                failures.append(error)

    console.print(table)
    for failure in failures:
        console.print(f"[red]error[/red] {escape(failure)}", highlight=False)
    if failures:
        console.print(f"ptx_check: {len(failures)} kernel(s) failed")
        return 1
    console.print("ptx_check: every kernel compiles")
    return 0


if __name__ == "__main__":
    sys.exit(main())
