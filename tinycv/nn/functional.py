"""The functions behind the layers, with ``torch.nn.functional``'s names.

Convolution and pooling come from ``tinycv.ops`` (they have their own
kernels). Everything else here is composed of Tensor operations, so its
backward comes for free from autograd; only ``gelu``'s exact form, which
needs the error function, is a Function of its own.

Sections: linear and activations, softmax, dropout, normalisation,
resizing, losses.
"""

from __future__ import annotations

import math

import numpy as np

from tinycv import random as tc_random
from tinycv.autograd import Function
from tinycv.device import array_module, device_of, to_device
from tinycv.ops.conv import conv2d, conv3d, conv_transpose2d
from tinycv.ops.pool import (
    adaptive_avg_pool2d,
    avg_pool2d,
    avg_pool3d,
    max_pool2d,
    max_pool3d,
)
from tinycv.tensor import Tensor, cat, where, zeros

__all__ = [
    "conv2d",
    "conv3d",
    "conv_transpose2d",
    "max_pool2d",
    "avg_pool2d",
    "max_pool3d",
    "avg_pool3d",
    "adaptive_avg_pool2d",
    "linear",
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "elu",
    "gelu",
    "softplus",
    "silu",
    "softmax",
    "log_softmax",
    "dropout",
    "batch_norm",
    "layer_norm",
    "group_norm",
    "instance_norm",
    "local_response_norm",
    "interpolate",
    "upsample",
    "mse_loss",
    "sum_squared_error",
    "cross_entropy",
    "nll_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
]


def _constant(array: np.ndarray, like: Tensor) -> Tensor:
    """A numpy array as a Tensor with ``like``'s dtype and device, no grad."""
    return Tensor(to_device(array.astype(like.dtype), like.device))


# ---- linear and activations -----------------------------------------------


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``y = x W^T + b`` over the last dim of ``input`` (shape (*, in))."""
    if input.ndim > 2:
        # One 2-D product instead of a batched one that would copy W per row.
        flat = input.reshape(-1, input.shape[-1]) @ weight.T
        out = flat.reshape(input.shape[:-1] + (weight.shape[0],))
    else:
        out = input @ weight.T
    return out if bias is None else out + bias


def sigmoid(input: Tensor) -> Tensor:
    """``1 / (1 + e^-x)``."""
    return input.sigmoid()


def tanh(input: Tensor) -> Tensor:
    return input.tanh()


def relu(input: Tensor) -> Tensor:
    """``max(0, x)``."""
    return input.relu()


def leaky_relu(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    """``x`` where positive, ``negative_slope * x`` elsewhere."""
    return where(input.data > 0, input, input * negative_slope)


def elu(input: Tensor, alpha: float = 1.0) -> Tensor:
    """``x`` where positive, ``alpha * (e^x - 1)`` elsewhere."""
    # exp of the clamped input: the unused branch must not overflow to inf.
    negative_part = alpha * (input.clamp(max=0.0).exp() - 1)
    return where(input.data > 0, input, negative_part)


class _NormalCDF(Function):
    """Phi(x) = (1 + erf(x / sqrt 2)) / 2, the standard normal CDF."""

    def forward(self, x):
        self.save_for_backward(x)
        return 0.5 * (1 + _erf(x / math.sqrt(2.0)))

    def backward(self, grad):
        (x,) = self.saved_tensors
        density = array_module(x).exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
        return (grad * density,)


_erf_elementwise = np.frompyfunc(math.erf, 1, 1)


def _erf(array):
    # numpy has no erf; math.erf one element at a time is exact, if slow.
    host = array if isinstance(array, np.ndarray) else array.to_host()
    values = np.asarray(_erf_elementwise(host), dtype=host.dtype)
    return to_device(values, device_of(array))


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """``x * Phi(x)``, Phi the standard normal CDF.

    ``approximate="tanh"`` uses
    ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``, as PyTorch does.
    """
    if approximate == "none":
        return input * _NormalCDF.apply(input)
    if approximate == "tanh":
        inner = math.sqrt(2.0 / math.pi) * (input + 0.044715 * input**3)
        return 0.5 * input * (1 + inner.tanh())
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """``log(1 + e^(beta x)) / beta``, a smooth ReLU; linear above ``threshold``."""
    scaled = input * beta
    # Clamp before exp so the branch where() discards cannot overflow.
    smooth = (scaled.clamp(max=threshold).exp() + 1).log() / beta
    return where(scaled.data > threshold, input, smooth)


def silu(input: Tensor) -> Tensor:
    """``x * sigmoid(x)`` (also called swish)."""
    return input * input.sigmoid()


# ---- softmax ---------------------------------------------------------------


def _softmax_dim(ndim: int) -> int:
    # PyTorch's legacy choice when no dim is given; passing dim is clearer.
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input: Tensor, dim: int | None = None) -> Tensor:
    """``e^x_i / sum_j e^x_j`` along ``dim``.

    The max along ``dim`` is subtracted first: the result does not change,
    and exp cannot overflow. Without ``dim`` PyTorch's legacy rule picks one
    (1 for 2-D and 4-D input); pass it explicitly.
    """
    dim = _softmax_dim(input.ndim) if dim is None else dim
    shifted = input - input.amax(dim, keepdim=True).detach()
    exps = shifted.exp()
    return exps / exps.sum(dim, keepdim=True)


def log_softmax(input: Tensor, dim: int | None = None) -> Tensor:
    """``x_i - log sum_j e^x_j`` along ``dim``, computed without overflow."""
    dim = _softmax_dim(input.ndim) if dim is None else dim
    shifted = input - input.amax(dim, keepdim=True).detach()
    return shifted - shifted.exp().sum(dim, keepdim=True).log()


# ---- dropout ---------------------------------------------------------------


def _keep_probability(p: float | None, keep_prob: float | None, where_: str) -> float:
    if keep_prob is not None:
        if p is not None:
            raise ValueError(f"{where_}: give either p or keep_prob, not both")
        p = 1.0 - keep_prob
    p = 0.5 if p is None else p
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{where_}: the drop probability must lie in [0, 1], got {p}")
    return 1.0 - p


def dropout(
    input: Tensor,
    p: float | None = None,
    training: bool = True,
    inplace: bool = False,
    *,
    keep_prob: float | None = None,
) -> Tensor:
    """Zero each unit with probability ``p`` (keep it with ``keep_prob = 1 - p``).

    Inverted dropout: kept units are divided by ``keep_prob`` while
    training, so their expected value is unchanged and evaluation uses the
    network as it is. ``p`` defaults to 0.5. ``inplace`` is accepted for
    PyTorch's signature and ignored.
    """
    keep = _keep_probability(p, keep_prob, "dropout")
    if not training or keep == 1.0:
        return input
    if keep == 0.0:
        return input * 0.0
    mask = tc_random.generator().random(input.shape) < keep
    return input * _constant(mask / keep, input)


# ---- normalisation ---------------------------------------------------------


def _standardize(x: Tensor, dims: tuple, eps: float):
    """``(x - mean) / sqrt(var + eps)`` over ``dims``, with the biased variance.

    Returns the normalised tensor and the mean and variance (keepdim shape).
    """
    mean = x.mean(dim=dims, keepdim=True)
    centred = x - mean
    var = (centred * centred).mean(dim=dims, keepdim=True)
    return centred / (var + eps).sqrt(), mean, var


def _affine(x: Tensor, weight, bias, shape: tuple) -> Tensor:
    if weight is not None:
        x = x * weight.reshape(shape)
    if bias is not None:
        x = x + bias.reshape(shape)
    return x


def _update_running(running: Tensor, batch_value, momentum: float) -> None:
    """``running <- (1 - momentum) * running + momentum * batch_value``."""
    batch_value = batch_value.astype(running.dtype)
    running.data = (1 - momentum) * running.data + momentum * batch_value


def batch_norm(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalisation (Ioffe and Szegedy, 2015), per channel (dim 1).

    Training: normalise with the mini-batch mean and biased variance
    (divide by m), and move the running averages towards them with
    ``momentum``, the variance there being the unbiased one (m - 1).
    Evaluation: normalise with the running averages. Then scale by gamma
    (``weight``) and shift by beta (``bias``).
    """
    channels = input.shape[1]
    dims = (0,) + tuple(range(2, input.ndim))
    shape = (1, channels) + (1,) * (input.ndim - 2)

    if training:
        count = input.numel() // channels
        if count <= 1:
            raise ValueError(
                f"batch_norm: expected more than 1 value per channel when "
                f"training, got input of shape {input.shape}"
            )
        normalised, mean, var = _standardize(input, dims, eps)
        if running_mean is not None:
            _update_running(running_mean, mean.data.reshape(channels), momentum)
        if running_var is not None:
            unbiased = var.data.reshape(channels) * (count / (count - 1))
            _update_running(running_var, unbiased, momentum)
    else:
        if running_mean is None or running_var is None:
            raise ValueError(
                "batch_norm: evaluation needs running_mean and running_var "
                "(or training=True to use the batch statistics)"
            )
        mean = running_mean.reshape(shape)
        var = running_var.reshape(shape)
        normalised = (input - mean) / (var + eps).sqrt()

    return _affine(normalised, weight, bias, shape)


def instance_norm(
    input: Tensor,
    running_mean: Tensor | None = None,
    running_var: Tensor | None = None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    use_input_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise each channel of each sample over its spatial dims alone.

    With running statistics, they move towards the batch average of the
    per-sample mean and unbiased variance, as PyTorch's do.
    """
    channels = input.shape[1]
    shape = (1, channels) + (1,) * (input.ndim - 2)
    dims = tuple(range(2, input.ndim))

    if use_input_stats:
        count = int(np.prod(input.shape[2:], dtype=np.int64))
        if count <= 1:
            raise ValueError(
                f"instance_norm: expected more than 1 spatial element per "
                f"channel, got input of shape {input.shape}"
            )
        normalised, mean, var = _standardize(input, dims, eps)
        if running_mean is not None:
            batch_mean = mean.data.reshape(input.shape[:2]).mean(axis=0)
            _update_running(running_mean, batch_mean, momentum)
        if running_var is not None:
            batch_var = var.data.reshape(input.shape[:2]).mean(axis=0)
            _update_running(running_var, batch_var * (count / (count - 1)), momentum)
    else:
        if running_mean is None or running_var is None:
            raise ValueError("instance_norm: use_input_stats=False needs running stats")
        normalised = (input - running_mean.reshape(shape)) / (
            running_var.reshape(shape) + eps
        ).sqrt()

    return _affine(normalised, weight, bias, shape)


def layer_norm(
    input: Tensor,
    normalized_shape,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise each sample over its last ``len(normalized_shape)`` dims."""
    normalized_shape = _as_shape(normalized_shape)
    if input.shape[input.ndim - len(normalized_shape) :] != normalized_shape:
        raise ValueError(
            f"layer_norm: input of shape {input.shape} does not end in "
            f"normalized_shape {normalized_shape}"
        )
    dims = tuple(range(input.ndim - len(normalized_shape), input.ndim))
    normalised, _, _ = _standardize(input, dims, eps)
    return _affine(normalised, weight, bias, normalized_shape)


def group_norm(
    input: Tensor,
    num_groups: int,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Split the channels into ``num_groups`` groups; normalise each group of
    each sample over its channels and spatial dims."""
    batch, channels = input.shape[:2]
    if channels % num_groups:
        raise ValueError(
            f"group_norm: {channels} channels do not split into {num_groups} groups"
        )
    grouped = input.reshape(batch, num_groups, -1)
    normalised, _, _ = _standardize(grouped, (2,), eps)
    shape = (1, channels) + (1,) * (input.ndim - 2)
    return _affine(normalised.reshape(input.shape), weight, bias, shape)


def local_response_norm(
    input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0
) -> Tensor:
    """AlexNet's normalisation across neighbouring channels.

    ``b_c = a_c / (k + alpha / size * sum_{c' near c} a_c'^2) ^ beta``, the
    sum running over ``size`` channels centred on c (zero beyond the edges).
    """
    if input.ndim < 3:
        raise ValueError(
            f"local_response_norm: expected input (N, C, ...) with at least 3 "
            f"dims, got {input.shape}"
        )
    batch, channels = input.shape[:2]
    rest = input.shape[2:]
    squares = input * input
    before, after = size // 2, (size - 1) // 2
    padded = cat(
        [
            zeros(batch, before, *rest, dtype=input.dtype, device=input.device),
            squares,
            zeros(batch, after, *rest, dtype=input.dtype, device=input.device),
        ],
        dim=1,
    )
    window_sum = padded[:, 0:channels]
    for offset in range(1, size):
        window_sum = window_sum + padded[:, offset : offset + channels]
    return input / (k + alpha / size * window_sum) ** beta


def _as_shape(value) -> tuple:
    return (int(value),) if isinstance(value, (int, np.integer)) else tuple(value)


# ---- resizing --------------------------------------------------------------

_SPATIAL_DIMS = {"linear": 1, "bilinear": 2, "trilinear": 3}


def _resize_matrix(
    in_size: int, out_size: int, mode: str, align_corners: bool, scale: float
) -> np.ndarray:
    """The (out_size, in_size) matrix that resizes one axis.

    Resizing is linear in the pixels, so along each axis it is a matrix:
    for nearest each row picks one source pixel, for linear it mixes the
    two nearest with weights 1 - t and t. An image is resized by applying
    the matrix of each axis in turn.
    """
    matrix = np.zeros((out_size, in_size))
    rows = np.arange(out_size)
    if mode == "nearest":
        source = np.minimum(np.floor(rows * scale).astype(np.int64), in_size - 1)
        matrix[rows, source] = 1.0
        return matrix

    if align_corners:
        step = (in_size - 1) / (out_size - 1) if out_size > 1 else 0.0
        position = rows * step
    else:
        position = np.maximum((rows + 0.5) * scale - 0.5, 0.0)
    low = np.minimum(np.floor(position).astype(np.int64), in_size - 1)
    high = np.minimum(low + 1, in_size - 1)
    fraction = position - low
    np.add.at(matrix, (rows, low), 1.0 - fraction)
    np.add.at(matrix, (rows, high), fraction)
    return matrix


def interpolate(
    input: Tensor,
    size=None,
    scale_factor=None,
    mode: str = "nearest",
    align_corners: bool | None = None,
) -> Tensor:
    """Resize the spatial dims of (N, C, ...) input, as PyTorch's interpolate.

    Modes: ``"nearest"`` (any number of spatial dims), ``"linear"`` (N, C, L),
    ``"bilinear"`` (N, C, H, W), ``"trilinear"`` (N, C, D, H, W). Give
    either ``size`` or ``scale_factor``.
    """
    spatial = input.ndim - 2
    if mode != "nearest" and _SPATIAL_DIMS.get(mode) != spatial:
        if mode not in _SPATIAL_DIMS:
            raise ValueError(
                f"interpolate: unknown mode {mode!r}; tinycv has nearest, "
                "linear, bilinear and trilinear"
            )
        raise ValueError(
            f"interpolate: mode {mode!r} needs {_SPATIAL_DIMS[mode] + 2}-D input, "
            f"got shape {input.shape}"
        )
    if spatial < 1:
        raise ValueError(f"interpolate: expected (N, C, ...) input, got {input.shape}")
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor")
    if align_corners is not None and mode == "nearest":
        raise ValueError("interpolate: align_corners applies to linear modes only")

    in_sizes = input.shape[2:]
    if size is not None:
        out_sizes = _per_axis(size, spatial)
        scales = [n_in / n_out for n_in, n_out in zip(in_sizes, out_sizes)]
    else:
        factors = _per_axis(scale_factor, spatial)
        out_sizes = [int(math.floor(n * f)) for n, f in zip(in_sizes, factors)]
        scales = [1.0 / f for f in factors]

    out = input
    for axis, n_in, n_out, scale in zip(
        range(2, input.ndim), in_sizes, out_sizes, scales
    ):
        matrix = _resize_matrix(n_in, n_out, mode, bool(align_corners), scale)
        # Resizing one axis is a linear layer with fixed weights along it.
        out = linear(out.transpose(axis, -1), _constant(matrix, input))
        out = out.transpose(axis, -1)
    return out


upsample = interpolate


def _per_axis(value, count: int) -> list:
    if isinstance(value, (tuple, list)):
        if len(value) != count:
            raise ValueError(f"interpolate: expected {count} sizes, got {value}")
        return list(value)
    return [value] * count


# ---- losses ----------------------------------------------------------------


def _reduce(loss: Tensor, reduction: str, name: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(
        f"{name}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}"
    )


def _same_shape(input: Tensor, target, name: str) -> Tensor:
    if not isinstance(target, Tensor):
        target = _constant(np.asarray(target), input)
    if target.shape != input.shape:
        raise ValueError(
            f"{name}: input has shape {input.shape} but target has shape "
            f"{target.shape}; they must match (reshape the target)"
        )
    return target


def mse_loss(input: Tensor, target, reduction: str = "mean") -> Tensor:
    """Mean squared error ``mean((x - y)^2)``."""
    target = _same_shape(input, target, "mse_loss")
    difference = input - target
    return _reduce(difference * difference, reduction, "mse_loss")


def sum_squared_error(input: Tensor, target) -> Tensor:
    """The lecture's ``E(w) = sum_j (y_j - f_w(x_j))^2`` (a sum, not a mean)."""
    target = _same_shape(input, target, "sum_squared_error")
    difference = target - input
    return (difference * difference).sum()


def _index_targets(input: Tensor, target, name: str):
    """Class-index targets as a numpy array, checked against ``input``.

    Unbatched input (C,) with a single target becomes a batch of one.
    Returns the (possibly batched) input and the int64 indices.
    """
    indices = _host(target).astype(np.int64)
    if input.ndim == 1:
        input, indices = input.unsqueeze(0), indices.reshape(1)
    expected = (input.shape[0],) + input.shape[2:]
    if input.ndim < 2 or tuple(indices.shape) != expected:
        raise ValueError(
            f"{name}: input of shape {input.shape} needs class targets of shape "
            f"{expected}, got {tuple(indices.shape)}"
        )
    classes = input.shape[1]
    bad = (indices < 0) | (indices >= classes)
    return input, indices, bad


def _smoothed_nll(
    log_probs: Tensor,
    target,
    weight,
    ignore_index: int,
    reduction: str,
    smoothing: float,
    name: str,
) -> Tensor:
    """``-sum_c w_c t_c log p_c`` per sample, t the (smoothed) one-hot target.

    With smoothing s the target is ``(1 - s) one_hot + s / C``; s = 0 is the
    plain negative log-likelihood. Samples whose target is ``ignore_index``
    count for nothing, and the mean divides by the summed weights ``w_y`` of
    the counted targets, as PyTorch does.
    """
    unbatched_shape = tuple(np.shape(_host(target)))
    log_probs, indices, bad = _index_targets(log_probs, target, name)
    classes = log_probs.shape[1]
    valid = indices != ignore_index
    if (bad & valid).any():
        value = int(indices[bad & valid][0])
        raise ValueError(
            f"{name}: target {value} is out of range for {classes} classes"
        )

    safe = np.where(valid, indices, 0)
    class_axis = np.arange(classes).reshape((1, classes) + (1,) * (safe.ndim - 1))
    one_hot = safe[:, None] == class_axis
    target_dist = ((1 - smoothing) * one_hot + smoothing / classes) * valid[:, None]

    class_weight = np.ones(classes) if weight is None else _host(weight)
    weighted = target_dist * class_weight.reshape(class_axis.shape)
    losses = -(log_probs * _constant(weighted, log_probs)).sum(1)

    if reduction == "mean":
        counted = np.where(valid, class_weight[safe], 0.0).sum()
        return losses.sum() / float(counted)
    if reduction == "none" and unbatched_shape == ():
        losses = losses.reshape(())
    return _reduce(losses, reduction, name)


def nll_loss(
    input: Tensor,
    target,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood ``-input[n, target[n]]`` of log-probabilities.

    Input (N, C) or (N, C, d1, ...), target (N,) or (N, d1, ...) class
    indices. Targets equal to ``ignore_index`` count for nothing. With
    per-class ``weight`` the mean divides by the summed weights of the
    targets, as PyTorch does.
    """
    return _smoothed_nll(
        input, target, weight, ignore_index, reduction, 0.0, "nll_loss"
    )


def cross_entropy(
    input: Tensor,
    target,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Softmax and negative log-likelihood in one step, from raw scores (logits).

    Computed through ``log_softmax``, so large logits cannot overflow.
    ``target`` holds class indices (N,) or class probabilities shaped like
    ``input`` (a float tensor). ``label_smoothing`` s mixes the target with
    the uniform distribution: ``(1 - s) * target + s / C``.
    """
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(
            f"cross_entropy: label_smoothing must lie in [0, 1], got {label_smoothing}"
        )
    class_dim = 0 if input.ndim == 1 else 1
    log_probs = log_softmax(input, dim=class_dim)

    if not _holds_probabilities(target, input):
        return _smoothed_nll(
            log_probs,
            target,
            weight,
            ignore_index,
            reduction,
            label_smoothing,
            "cross_entropy",
        )

    classes = input.shape[class_dim]
    target = _same_shape(input, target, "cross_entropy")
    if label_smoothing > 0:
        target = target * (1 - label_smoothing) + label_smoothing / classes
    if weight is not None:
        weight_shape = (classes,) + (1,) * (input.ndim - class_dim - 1)
        log_probs = log_probs * weight.reshape(weight_shape)
    losses = -(log_probs * target).sum(class_dim)
    return _reduce(losses, reduction, "cross_entropy")


def _holds_probabilities(target, input: Tensor) -> bool:
    """Float targets shaped like the input are class probabilities."""
    array = _host(target)
    return array.dtype.kind == "f" and tuple(array.shape) == input.shape


def _host(values) -> np.ndarray:
    """A Tensor, array or list as a numpy array on the CPU."""
    array = values.data if isinstance(values, Tensor) else np.asarray(values)
    return array if device_of(array) == "cpu" else array.to_host()


def binary_cross_entropy(
    input: Tensor, target, weight: Tensor | None = None, reduction: str = "mean"
) -> Tensor:
    """``-(y log p + (1 - y) log(1 - p))`` for probabilities ``p`` in [0, 1].

    Each log is clamped at -100, as in PyTorch, so p = 0 or 1 gives a large
    finite loss. From logits, ``binary_cross_entropy_with_logits`` is stabler.
    """
    target = _same_shape(input, target, "binary_cross_entropy")
    values = _host(input)
    if values.size and (values.min() < 0 or values.max() > 1):
        raise ValueError(
            "binary_cross_entropy: input must hold probabilities in [0, 1]; "
            "for raw scores use binary_cross_entropy_with_logits"
        )
    losses = -(target * _clamped_log(input) + (1 - target) * _clamped_log(1 - input))
    if weight is not None:
        losses = losses * weight
    return _reduce(losses, reduction, "binary_cross_entropy")


def _clamped_log(p: Tensor) -> Tensor:
    # Clamp p itself, a little below e^-100, so that p = 0 gives -100 and no
    # 0 * inf = nan in the backward (float32 can hold e^-101 as a subnormal).
    return p.clamp(min=math.exp(-101.0)).log().clamp(min=-100.0)


def binary_cross_entropy_with_logits(
    input: Tensor,
    target,
    weight: Tensor | None = None,
    reduction: str = "mean",
    pos_weight: Tensor | None = None,
) -> Tensor:
    """Sigmoid and binary cross-entropy in one stable step, from logits ``x``.

    ``-(y log sigmoid(x) + (1 - y) log(1 - sigmoid(x)))`` simplifies to
    ``(1 - y) x + softplus(-x)``, which never takes the log of 0.
    ``pos_weight`` multiplies the loss of positive targets.
    """
    target = _same_shape(input, target, "binary_cross_entropy_with_logits")
    log_one_plus = softplus(-input)
    if pos_weight is not None:
        log_one_plus = log_one_plus * (1 + (pos_weight - 1) * target)
    losses = (1 - target) * input + log_one_plus
    if weight is not None:
        losses = losses * weight
    return _reduce(losses, reduction, "binary_cross_entropy_with_logits")
