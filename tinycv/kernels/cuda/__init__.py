"""The CUDA twins of tinycv's kernels, written with ``numba.cuda``.

Each file matches a CPU kernel file by name and functions (``matmul.py``,
``conv.py``, ``pool.py``) and takes and returns ``tinycv.cuda.CudaArray``;
``elementwise.py`` and ``reduce.py`` hold the generic kernels behind
``CudaArray``'s arithmetic and reductions. Imported only when an array is
on the GPU.

numba warns about every launch of fewer than 128 blocks ("grid size will
likely result in GPU under-utilization"). tinycv launches small grids on
purpose: a teaching network's tensors are small, and one block per row of a
ten-class softmax is the right shape. That one warning is silenced here.
"""

import warnings

warnings.filterwarnings(
    "ignore", message=r"Grid size \d+ will likely result in GPU under-utilization"
)
