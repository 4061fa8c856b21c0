"""The GPU side, tested without a GPU.

numba reads ``NUMBA_ENABLE_CUDASIM`` only when it is first imported, and
this process has imported numba already, so the kernel tests in
``tests/cuda`` run in a child process with numba's CUDA simulator on.
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _numba_cuda_importable() -> bool:
    try:
        return importlib.util.find_spec("numba.cuda") is not None
    except ImportError:
        return False


def _run(args, **env):
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_importing_tinycv_does_not_import_numba_cuda():
    code = (
        "import sys, tinycv, tinycv.cuda, tinycv.device\n"
        "assert not tinycv.cuda.is_cuda_array(1.0)\n"
        "assert 'numba.cuda' not in sys.modules, 'numba.cuda was imported'\n"
        "assert isinstance(tinycv.cuda.is_available(), bool)\n"
        "assert tinycv.cuda.device_count() >= 0\n"
    )
    result = _run(["-c", code], NUMBA_ENABLE_CUDASIM="0")
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(
    not _numba_cuda_importable(),
    reason="numba.cuda cannot be imported: install numba-cuda to test the GPU side",
)
def test_cuda_kernels_under_the_simulator():
    result = _run(
        ["-m", "pytest", "tests/cuda", "-q", "-p", "no:cacheprovider"],
        NUMBA_ENABLE_CUDASIM="1",
    )
    report = result.stdout[-6000:] + result.stderr[-3000:]
    assert result.returncode == 0, report
    assert " passed" in result.stdout, report
