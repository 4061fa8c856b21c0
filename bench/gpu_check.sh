#!/usr/bin/env bash
# For a machine with an NVIDIA GPU: the GPU tests for real, then the benchmark.
#
#   bash bench/gpu_check.sh            (writes $OUT/bench_cuda.json, OUT=./out)
#
# 1. Installs tinycv with its cuda extra (offline-friendly: a machine whose
#    image already has numba-cuda needs no download).
# 2. Runs tests/cuda on the GPU (no simulator).
# 3. Compiles every kernel to PTX, then runs `tinycv bench all --device cuda`.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
OUT="${OUT:-$PWD/out}"
mkdir -p "$OUT"
python_bin="${PYTHON:-python3}"
status=0

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true

if ! "$python_bin" -m pip install -q --no-build-isolation -e '.[cuda]'; then
    echo "gpu_check: no registry here; installing without dependencies"
    "$python_bin" -m pip install -q --no-build-isolation --no-deps -e . \
        || export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
"$python_bin" -c "import numba, numba.cuda as c; print('numba', numba.__version__,
      'cuda target', getattr(c, 'implementation', '?'), 'gpu', c.is_available())"

unset NUMBA_ENABLE_CUDASIM
TINYCV_TEST_GPU=1 "$python_bin" -m pytest tests/cuda -q -p no:cacheprovider \
    2>&1 | tee "$OUT/tests_cuda.log" || status=1
"$python_bin" -m tinycv.cuda.ptx_check 2>&1 | tee "$OUT/ptx_check.log" || status=1
"$python_bin" -m tinycv bench all --device cuda --json "$OUT/bench_cuda.json" \
    2>&1 | tee "$OUT/bench_cuda.log" || status=1

exit "$status"
