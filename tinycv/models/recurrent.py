"""Small sequence models: an RNN or an LSTM read a sequence, a linear layer answers.

Batch first: input (N, L, input_size). Many-to-one (the default) answers
once, from the last hidden state, as for the adding problem
(``tinycv.data.sequences.adding_problem``: 2 features a step, one number
out) or for reading an MNIST digit row by row (28 steps of 28 pixels, 10
classes). Many-to-many answers at every step.
"""

from __future__ import annotations

from tinycv import nn
from tinycv.models.network import Network
from tinycv.tensor import Tensor


class SequenceModel(Network):
    """An RNN or LSTM followed by a linear read-out.

    Args:
        cell: ``"rnn"`` (Elman, tanh) or ``"lstm"``.
        input_size: features per step.
        hidden_size: units of the recurrent layer(s).
        output_size: outputs of the read-out.
        num_layers: stacked recurrent layers.
        many_to_many: answer at every step (N, L, output_size) instead of
            once (N, output_size).
        length: the default sequence length, for summaries (any length runs).
    """

    def __init__(
        self,
        cell: str = "lstm",
        input_size: int = 2,
        hidden_size: int = 32,
        output_size: int = 1,
        num_layers: int = 1,
        many_to_many: bool = False,
        length: int = 50,
    ):
        super().__init__()
        layers = {"rnn": nn.RNN, "lstm": nn.LSTM}
        if cell not in layers:
            raise ValueError(
                f"SequenceModel: cell must be 'rnn' or 'lstm', got {cell!r}"
            )
        self.cell = cell
        self.many_to_many = many_to_many
        self.title = f"{cell.upper()} sequence model"
        self.input_shape = (length, input_size)
        self.fixed_dims = (1,)
        self.recurrent = layers[cell](
            input_size, hidden_size, num_layers, batch_first=True
        )
        self.readout = nn.Linear(hidden_size, output_size)

    def forward(self, input: Tensor) -> Tensor:
        outputs, _ = self.recurrent(input)
        if self.many_to_many:
            return self.readout(outputs)
        return self.readout(outputs[:, -1])
