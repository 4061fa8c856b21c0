"""Backpropagation: the one core that Scalar and Tensor share.

A value in the graph (a Scalar or a Tensor) knows three things:

- ``_parents``: the values it was computed from (a tuple, empty for a leaf);
- ``_chain(grad)``: given dLoss/dSelf, return dLoss/dParent for each parent,
  which is the chain rule applied once;
- ``requires_grad``: whether any gradient should flow into it at all.

``backward`` orders the graph so every value comes after everything computed
from it, then walks it once, handing each value's gradient to its parents.
Nothing is recursive, so a graph thousands of layers deep does not overflow
Python's stack. Edges point only from a result to its inputs (a value never
refers to what was computed from it), so the graph holds no reference cycles:
once ``backward`` drops the edges, plain reference counting frees it and the
cycle collector has nothing to do.
"""

from __future__ import annotations

import functools
import itertools
import operator

_grad_enabled = True


def is_grad_enabled() -> bool:
    """True unless inside a ``no_grad()`` block."""
    return _grad_enabled


class no_grad:
    """Record no graph inside this block (or decorated function).

    Use it for evaluation and for updating parameters by hand::

        with tinycv.no_grad():
            w -= learning_rate * w.grad
    """

    def __enter__(self):
        global _grad_enabled
        self._previous = _grad_enabled
        _grad_enabled = False

    def __exit__(self, *exc_info):
        global _grad_enabled
        _grad_enabled = self._previous

    def __call__(self, fn):
        @functools.wraps(fn)
        def without_grad(*args, **kwargs):
            with no_grad():
                return fn(*args, **kwargs)

        return without_grad


# Every value in a graph is numbered when it is made. A result is always made
# after its inputs, so visiting values from the newest to the oldest visits
# each one after everything that was computed from it: a topological order,
# with no recursion and no second pass.
creation_counter = itertools.count()


def reachable(root) -> list:
    """Every value that ``root`` was computed from and that needs a gradient."""
    found = [root]
    seen = {root}
    stack = [root]
    while stack:
        for parent in stack.pop()._parents:
            if parent is not None and parent.requires_grad and parent not in seen:
                seen.add(parent)
                found.append(parent)
                stack.append(parent)
    return found


def topological_order(root) -> list:
    """The values ``root`` depends on, newest (``root``) first."""
    nodes = reachable(root)
    nodes.sort(key=_creation_number, reverse=True)
    return nodes


_creation_number = operator.attrgetter("_created")


def backward(root, gradient, retain_graph: bool = False) -> None:
    """Propagate ``gradient`` (dLoss/dRoot) from ``root`` to every leaf.

    Leaves (values with no parents) accumulate into ``.grad`` across calls,
    as in PyTorch; so do values that asked to keep their gradient. Unless
    ``retain_graph`` is set, each value drops its edges once its gradient has
    been passed on, which frees the graph as the walk goes.
    """
    pending = {root: gradient}

    for node in topological_order(root):
        grad = pending.pop(node, None)
        if grad is None:
            continue

        parents = node._parents
        if not parents or node._retains_grad:
            node._accumulate_grad(grad)
        if not parents:
            continue

        for parent, parent_grad in zip(parents, node._chain(grad)):
            if parent is None or parent_grad is None or not parent.requires_grad:
                continue
            earlier = pending.get(parent)
            pending[parent] = parent_grad if earlier is None else earlier + parent_grad

        if not retain_graph:
            node._release()


class Function:
    """One differentiable operation on tensors: a forward and its backward.

    Subclasses work on raw arrays (numpy on the CPU, ``CudaArray`` on the
    GPU) and never see a Tensor, so autograd does not know which device ran::

        class Square(Function):
            def forward(self, x):
                self.save_for_backward(x)
                return x * x

            def backward(self, grad):
                (x,) = self.saved_tensors
                return (2 * x * grad,)

        y = Square.apply(x)

    ``apply`` takes tensors (or None, or plain constants) as positional
    inputs and non-tensor settings as keywords; ``backward`` returns one
    gradient (or None) per positional input. A Function keeps what it saved
    and its inputs, never its output tensor, so no reference cycle forms.
    """

    saved_tensors: tuple = ()
    needs_input_grad: tuple = ()

    def save_for_backward(self, *arrays) -> None:
        self.saved_tensors = arrays

    def forward(self, *inputs, **params):
        raise NotImplementedError(f"{type(self).__name__} has no forward")

    def backward(self, grad):
        raise NotImplementedError(
            f"{type(self).__name__} is not differentiable (no backward)"
        )

    @classmethod
    def apply(cls, *inputs, **params):
        from tinycv.tensor import Tensor

        fn = cls()
        arrays = [x.data if isinstance(x, Tensor) else x for x in inputs]
        needs = tuple(isinstance(x, Tensor) and x.requires_grad for x in inputs)
        fn.needs_input_grad = needs

        result = fn.forward(*arrays, **params)

        if not (_grad_enabled and any(needs)):
            return Tensor._wrap(result)
        parents = tuple(x if isinstance(x, Tensor) else None for x in inputs)
        return Tensor._wrap(result, grad_fn=fn, parents=parents)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}Backward>"
