"""Recurrent networks: RNN and LSTM, unrolled through time.

An RNN applies the same cell at every time step, feeding each step the
hidden state of the previous one. Here the loop over time is ordinary
Python, so the graph autograd records *is* the unfolded network, and
backpropagation through time (BPTT) is nothing but ``loss.backward()``:
the gradient of a weight is the sum of its gradients at every step.

Parameter names and shapes are PyTorch's (``weight_ih_l0`` is
(gates * hidden_size, input_size), ``weight_hh_l0`` is
(gates * hidden_size, hidden_size), layer k > 0 takes the hidden states of
layer k - 1 as input), so a state dict loads either way.
"""

from __future__ import annotations

import math

from tinycv.nn import functional as F
from tinycv.nn import init
from tinycv.nn.module import Module, empty_parameter
from tinycv.tensor import Tensor, cat, stack, zeros

# ---- one step of each cell ---------------------------------------------------


def rnn_cell(
    x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh"
):
    """``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)`` (or relu)."""
    pre_activation = F.linear(x, weight_ih, bias_ih) + F.linear(h, weight_hh, bias_hh)
    return pre_activation.tanh() if nonlinearity == "tanh" else pre_activation.relu()


def lstm_cell(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """One LSTM step; gates in PyTorch's order i, f, g, o.

    ::

        i = sigmoid(.)   input gate: how much of the new candidate to write
        f = sigmoid(.)   forget gate: how much of the old cell state to keep
        g = tanh(.)      the candidate values
        o = sigmoid(.)   output gate: how much of the cell state to show
        c' = f * c + i * g
        h' = o * tanh(c')

    The cell state ``c`` is updated by addition, not by repeated
    multiplication through a squashing function, which is why gradients
    survive over many more steps than in a plain RNN.
    """
    h, c = state
    gates = F.linear(x, weight_ih, bias_ih) + F.linear(h, weight_hh, bias_hh)
    size = h.shape[-1]
    i = gates[..., 0 * size : 1 * size].sigmoid()
    f = gates[..., 1 * size : 2 * size].sigmoid()
    g = gates[..., 2 * size : 3 * size].tanh()
    o = gates[..., 3 * size : 4 * size].sigmoid()

    c_next = f * c + i * g
    h_next = o * c_next.tanh()
    return h_next, c_next


def _unroll(step, inputs: list, state: tuple, weights: tuple, reverse: bool):
    """Apply ``step`` along the sequence (backwards if ``reverse``).

    Returns the hidden state at every step, in time order, and the final state.
    """
    outputs = [None] * len(inputs)
    order = reversed(range(len(inputs))) if reverse else range(len(inputs))
    for t in order:
        state = step(inputs[t], state, weights)
        outputs[t] = state[0]
    return outputs, state


def _join(tensors: tuple) -> Tensor:
    return tensors[0] if len(tensors) == 1 else cat(list(tensors), dim=-1)


# ---- the layers ----------------------------------------------------------------


class _RNNBase(Module):
    """Parameters per layer and direction, and the unrolled loop over time."""

    gates = 1

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device=None,
        dtype=None,
    ):
        super().__init__()
        name = type(self).__name__
        if num_layers < 1:
            raise ValueError(f"{name}: num_layers must be at least 1, got {num_layers}")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"{name}: dropout must lie in [0, 1], got {dropout}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = dropout
        self.bidirectional = bidirectional
        self.num_directions = 2 if bidirectional else 1

        rows = self.gates * hidden_size
        for layer in range(num_layers):
            features = input_size if layer == 0 else hidden_size * self.num_directions
            shapes = {"weight_ih": (rows, features), "weight_hh": (rows, hidden_size)}
            if bias:
                shapes.update(bias_ih=(rows,), bias_hh=(rows,))
            for suffix in self._suffixes(layer):
                for name, shape in shapes.items():
                    param = empty_parameter(*shape, dtype=dtype, device=device)
                    setattr(self, name + suffix, param)
        self.reset_parameters()

    def _suffixes(self, layer: int) -> list[str]:
        return [f"_l{layer}", f"_l{layer}_reverse"][: self.num_directions]

    def reset_parameters(self) -> None:
        """Every weight and bias uniform in ±1/sqrt(hidden_size), as PyTorch."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for param in self.parameters():
            init.uniform_(param, -bound, bound)

    def _weights(self, suffix: str) -> tuple:
        return (
            getattr(self, f"weight_ih{suffix}"),
            getattr(self, f"weight_hh{suffix}"),
            getattr(self, f"bias_ih{suffix}") if self.bias else None,
            getattr(self, f"bias_hh{suffix}") if self.bias else None,
        )

    def _check(self, input: Tensor) -> tuple[Tensor, bool]:
        """Return input as (L, N, input_size), and whether it had a batch dim."""
        layout = (
            ("N", "L", self.input_size)
            if self.batch_first
            else ("L", "N", self.input_size)
        )
        self.check_input(input, layout, ("L", self.input_size))
        if input.ndim == 2:
            return input.unsqueeze(1), False
        return (input.transpose(0, 1) if self.batch_first else input), True

    def _initial(
        self, given, batch: int, batched: bool, like: Tensor, what: str
    ) -> Tensor:
        expected = (self.num_layers * self.num_directions, batch, self.hidden_size)
        if given is None:
            return zeros(*expected, dtype=like.dtype, device=like.device)
        if not batched:
            given = given.unsqueeze(1)
        if given.shape != expected:
            raise ValueError(
                f"{type(self).__name__}: expected {what} of shape {expected}, "
                f"got {given.shape}"
            )
        return given

    def _run(self, input: Tensor, states: list, step):
        """Unroll ``step`` over time, layer by layer, in each direction.

        ``states[k]`` is the initial state (a tuple of tensors) of layer and
        direction k. Returns the last layer's outputs (L, N, D * H) and the
        final state of every layer and direction.
        """
        layer_input = list(input)  # one (N, features) tensor per time step
        finals = []
        for layer in range(self.num_layers):
            per_direction = []
            for direction, suffix in enumerate(self._suffixes(layer)):
                state = states[layer * self.num_directions + direction]
                outputs, state = _unroll(
                    step, layer_input, state, self._weights(suffix), direction == 1
                )
                per_direction.append(outputs)
                finals.append(state)

            # A bidirectional layer's output at t is both directions side by side.
            layer_input = [_join(outputs_at_t) for outputs_at_t in zip(*per_direction)]
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_input = [F.dropout(x, self.dropout) for x in layer_input]
        return stack(layer_input, 0), finals

    def _output(self, output: Tensor, batched: bool) -> Tensor:
        if not batched:
            return output.squeeze(1)
        return output.transpose(0, 1) if self.batch_first else output

    def extra_repr(self) -> str:
        parts = [f"{self.input_size}, {self.hidden_size}"]
        if self.num_layers != 1:
            parts.append(f"num_layers={self.num_layers}")
        if not self.bias:
            parts.append("bias=False")
        if self.batch_first:
            parts.append("batch_first=True")
        if self.dropout:
            parts.append(f"dropout={self.dropout}")
        if self.bidirectional:
            parts.append("bidirectional=True")
        return ", ".join(parts)


class RNN(_RNNBase):
    """Elman RNN: ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)``.

    Input (L, N, input_size), or (N, L, input_size) with ``batch_first``, or
    (L, input_size) unbatched. Returns ``(output, h_n)``: the last layer's
    hidden state at every step (L, N, D * hidden_size) and every layer's
    final hidden state (D * num_layers, N, hidden_size), D = 2 if
    bidirectional else 1.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device=None,
        dtype=None,
    ):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(
                f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}"
            )
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            device,
            dtype,
        )
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None):
        input, batched = self._check(input)
        h0 = self._initial(hx, input.shape[1], batched, input, "h_0")

        def step(x, state, weights):
            return (rnn_cell(x, state[0], *weights, nonlinearity=self.nonlinearity),)

        output, finals = self._run(input, [(h,) for h in h0], step)
        h_n = stack([state[0] for state in finals], 0)
        return self._output(output, batched), (h_n if batched else h_n.squeeze(1))


class LSTM(_RNNBase):
    """Long short-term memory (Hochreiter and Schmidhuber, 1997); see ``lstm_cell``.

    Input as for ``RNN``; ``hx`` is ``(h_0, c_0)``. Returns
    ``(output, (h_n, c_n))``. Weights stack the gates i, f, g, o in that
    order: ``weight_ih_l0`` is (4 * hidden_size, input_size).
    """

    gates = 4

    def forward(self, input: Tensor, hx: tuple | None = None):
        input, batched = self._check(input)
        h0, c0 = (None, None) if hx is None else hx
        h0 = self._initial(h0, input.shape[1], batched, input, "h_0")
        c0 = self._initial(c0, input.shape[1], batched, input, "c_0")

        def step(x, state, weights):
            return lstm_cell(x, state, *weights)

        output, finals = self._run(input, list(zip(h0, c0)), step)
        h_n = stack([state[0] for state in finals], 0)
        c_n = stack([state[1] for state in finals], 0)
        if not batched:
            h_n, c_n = h_n.squeeze(1), c_n.squeeze(1)
        return self._output(output, batched), (h_n, c_n)


class RNNCell(Module):
    """One step of ``RNN``, for loops written by hand (e.g. a caption decoder)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device=None,
        dtype=None,
    ):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.nonlinearity = nonlinearity
        _cell_parameters(self, 1, bias, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        self.check_input(input, ("N", self.input_size))
        if hx is None:
            hx = zeros(
                input.shape[0], self.hidden_size, dtype=input.dtype, device=input.device
            )
        return rnn_cell(
            input,
            hx,
            self.weight_ih,
            self.weight_hh,
            self.bias_ih,
            self.bias_hh,
            self.nonlinearity,
        )

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"


class LSTMCell(Module):
    """One step of ``LSTM``: ``(h, c) = cell(x, (h, c))``."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device=None,
        dtype=None,
    ):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        _cell_parameters(self, 4, bias, device, dtype)

    def forward(self, input: Tensor, hx: tuple | None = None) -> tuple:
        self.check_input(input, ("N", self.input_size))
        if hx is None:
            h = zeros(
                input.shape[0], self.hidden_size, dtype=input.dtype, device=input.device
            )
            hx = (h, h)
        return lstm_cell(
            input, hx, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh
        )

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"


def _cell_parameters(cell: Module, gates: int, bias: bool, device, dtype) -> None:
    rows = gates * cell.hidden_size
    cell.weight_ih = empty_parameter(rows, cell.input_size, dtype=dtype, device=device)
    cell.weight_hh = empty_parameter(rows, cell.hidden_size, dtype=dtype, device=device)
    if bias:
        cell.bias_ih = empty_parameter(rows, dtype=dtype, device=device)
        cell.bias_hh = empty_parameter(rows, dtype=dtype, device=device)
    else:
        cell.register_parameter("bias_ih", None)
        cell.register_parameter("bias_hh", None)
    bound = 1.0 / math.sqrt(cell.hidden_size)
    for param in cell.parameters():
        init.uniform_(param, -bound, bound)
