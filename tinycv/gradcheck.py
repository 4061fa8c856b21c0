"""Check a gradient against central differences, element by element.

For a function f of tensors and a random cotangent v of f's output shape,
backpropagation computes d(v·f)/dx for every element of every input. The
same number is approximately (v·f(x + h·e) − v·f(x − h·e)) / 2h, with e the
unit vector of that element; the error of this estimate shrinks as h², so in
float64 both agree to many digits when the backward is right.
"""

from __future__ import annotations

import numpy as np

from tinycv import autograd


class GradcheckError(AssertionError):
    """Raised when an analytic gradient disagrees with central differences."""


def gradcheck(fn, *inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0) -> bool:
    """Compare ``fn``'s backward with central differences over every element.

    Args:
        fn: a function of the tensors in ``inputs`` returning one tensor.
        inputs: float64 tensors; those with ``requires_grad`` are checked.
        eps: the step h of the central difference.
        atol, rtol: tolerances, |analytic − numeric| <= atol + rtol·|numeric|.
        seed: seeds the random output cotangent.

    Returns:
        True when every element agrees; otherwise raises GradcheckError naming
        the worst element.
    """
    from tinycv.tensor import Tensor

    checked = [
        i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad
    ]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise TypeError(
                f"gradcheck: input {i} is {inputs[i].dtype}; central differences "
                "need float64 (call .double())"
            )
        if inputs[i].device != "cpu":
            raise TypeError(f"gradcheck: input {i} must be on the CPU")

    # Check on fresh leaves holding copies of the inputs: an input may itself
    # be computed (``x.double()``), and the user's tensors stay untouched.
    inputs = list(inputs)
    for i in checked:
        inputs[i] = Tensor(inputs[i].data.copy(), requires_grad=True)

    out = fn(*inputs)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    cotangent = np.random.default_rng(seed).standard_normal(out.shape)

    out.backward(cotangent)
    analytic = []
    for i in checked:
        grad = inputs[i].grad
        analytic.append(np.zeros(inputs[i].shape) if grad is None else grad.data)

    def objective() -> float:
        with autograd.no_grad():
            return float(np.sum(fn(*inputs).data * cotangent))

    worst = (0.0, None)
    for k, i in enumerate(checked):
        values = inputs[i].data
        for index in np.ndindex(values.shape):
            original = values[index]
            values[index] = original + eps
            plus = objective()
            values[index] = original - eps
            minus = objective()
            values[index] = original
            numeric = (plus - minus) / (2 * eps)

            error = abs(analytic[k][index] - numeric)
            excess = error - (atol + rtol * abs(numeric))
            if excess > 0 and (worst[1] is None or excess > worst[0]):
                worst = (excess, (i, index, analytic[k][index], numeric))

    if worst[1] is not None:
        i, index, a, n = worst[1]
        raise GradcheckError(
            f"gradcheck: input {i} element {index}: backward gives {a:.8g}, "
            f"central differences give {n:.8g} (difference {abs(a - n):.3g})"
        )
    return True
