"""tinycv: deep learning for computer vision, small enough to read.

One autograd engine from single numbers (``Scalar``) to arrays (``Tensor``),
with PyTorch's names, so what a student learns here carries over.

    >>> import tinycv
    >>> x = tinycv.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    tensor([2., 4., 6.])
"""

__version__ = "0.1.0"

from tinycv.autograd import Function, is_grad_enabled, no_grad
from tinycv.gradcheck import GradcheckError, gradcheck
from tinycv.kernels import get_backend, set_backend, use_backend
from tinycv.random import manual_seed
from tinycv.scalar import Scalar
from tinycv.tensor import (
    Tensor,
    arange,
    bool_,
    cat,
    eye,
    float32,
    float64,
    full,
    int32,
    int64,
    maximum,
    minimum,
    ones,
    ones_like,
    rand,
    randint,
    randn,
    stack,
    tensor,
    uint8,
    where,
    zeros,
    zeros_like,
)
from tinycv.viz import show_graph

# The larger parts load on first use, so `import tinycv` and `tinycv --help`
# stay quick: tinycv.nn, tinycv.optim, tinycv.data, tinycv.models, tinycv.cuda.
_SUBMODULES = ("nn", "optim", "data", "models", "cuda", "lessons", "kernels")


def __getattr__(name):
    import importlib

    if name in _SUBMODULES:
        return importlib.import_module(f"tinycv.{name}")
    if name in ("save", "load"):
        from tinycv.nn import serialization

        return getattr(serialization, name)
    raise AttributeError(f"module 'tinycv' has no attribute {name!r}")


__all__ = [
    "Function",
    "GradcheckError",
    "Scalar",
    "Tensor",
    "arange",
    "bool_",
    "cat",
    "eye",
    "float32",
    "float64",
    "full",
    "get_backend",
    "gradcheck",
    "int32",
    "int64",
    "is_grad_enabled",
    "manual_seed",
    "maximum",
    "minimum",
    "no_grad",
    "ones",
    "ones_like",
    "save",
    "load",
    "rand",
    "randint",
    "randn",
    "set_backend",
    "show_graph",
    "stack",
    "tensor",
    "uint8",
    "use_backend",
    "where",
    "zeros",
    "zeros_like",
]
