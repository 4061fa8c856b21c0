"""How tinycv sets Numba up: the kernel family switch, lazy imports, 512-bit
code, and malloc keeping freed memory."""

import os
import subprocess
import sys

import numpy as np
import pytest

import tinycv
from tinycv.kernels import matmul


def run_python(code: str, **env) -> str:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_CPU")}
    environment.pop("TINYCV_NUMBA_512", None)
    environment.pop("TINYCV_KEEP_MEMORY", None)
    environment.update(env)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environment
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_import_tinycv_does_not_import_numba():
    assert run_python("import sys, tinycv; print('numba' in sys.modules)") == "False"


def test_512_bit_vectors_are_preferred_only_where_avx512_exists():
    code = (
        "import tinycv.kernels.matmul, numba, llvmlite.binding as llvm;"
        "print(bool(llvm.get_host_cpu_features().get('avx512f')),"
        " numba.config.CPU_FEATURES)"
    )
    has_avx512, features = run_python(code).split(" ", 1)
    if has_avx512 == "True":
        assert features.endswith("-prefer-256-bit")
    else:
        assert features == "None"
    opted_out = run_python(code, TINYCV_NUMBA_512="0").split(" ", 1)[1]
    assert opted_out == "None"


def test_backend_switch_runs_the_reference_loops():
    a = np.random.default_rng(0).standard_normal((5, 7)).astype(np.float32)
    b = np.random.default_rng(1).standard_normal((7, 3)).astype(np.float32)
    fast = matmul.matmul2d(a, b)
    with tinycv.use_backend("reference"):
        assert tinycv.get_backend() == "reference"
        slow = matmul.matmul2d(a, b)
    assert tinycv.get_backend() == "numba"
    np.testing.assert_allclose(fast, slow, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="unknown backend 'fortran'"):
        tinycv.set_backend("fortran")


def test_backend_environment_variable_is_checked():
    out = run_python(
        "import tinycv; print(tinycv.get_backend())", TINYCV_BACKEND="reference"
    )
    assert out == "reference"
    result = subprocess.run(
        [sys.executable, "-c", "import tinycv; print(tinycv.get_backend())"],
        capture_output=True,
        text=True,
        env={**os.environ, "TINYCV_BACKEND": "fast"},
    )
    assert result.returncode == 0 and result.stdout.strip() == "numba"
    assert "TINYCV_BACKEND='fast' is not a kernel backend" in result.stderr
    assert "Traceback" not in result.stderr


# Allocate and free 48 MiB in three 16 MiB arrays, ten times; count the page
# faults of the last five rounds.
FAULTS_CODE = """
import resource, numpy as np, tinycv.kernels as kernels
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for round in range(10):
    if round == 5:
        start = faults()
    arrays = [np.ones(4 << 20, np.float32) for _ in range(3)]
    del arrays
print(kernels.FREED_MEMORY_KEPT, faults() - start)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_arrays_leave_their_memory_for_the_next_ones():
    kept, faults = run_python(FAULTS_CODE).split()
    if kept == "False":
        pytest.skip("this C library has no mallopt (not glibc)")
    # Fresh pages for every array would be 5 * 3 * 4096 faults.
    assert int(faults) < 500
    assert run_python(FAULTS_CODE, TINYCV_KEEP_MEMORY="0").split()[0] == "False"
