"""Network: what every model of the zoo shares — it knows its input.

A layer checks its own input; a whole network can say more. It knows the
shape of one sample (``input_shape``, also the default of ``summary``),
which of its dimensions are fixed (a fully connected layer after the
convolutions fixes the image size; a fully convolutional network only the
channels), and, when an input is too small for its downsampling, the
smallest one that would fit.
"""

from __future__ import annotations

from tinycv import nn
from tinycv.models import shapes


def scaled(channels: int, width: float) -> int:
    """``channels`` times a width multiplier, never below one."""
    return max(1, int(round(channels * width)))


class Network(nn.Module):
    """Base class of the zoo's models.

    Subclasses set, in ``__init__``:

    - ``title``: the name shown in messages and summaries ("VGG-16");
    - ``input_shape``: one sample's shape, without the batch dimension, or a
      tuple of shapes when ``forward`` takes several inputs;
    - ``fixed_dims``: which dimensions of a sample must match ``input_shape``
      (default: the first, the channels);
    - ``size_option``: the constructor option that sets the fixed size, named
      in the error when an input does not match.
    """

    title = "network"
    input_shape: tuple = ()
    fixed_dims: tuple = (0,)
    size_option: str | None = None

    def __call__(self, *inputs, **kwargs):
        self._check_inputs(inputs)
        try:
            return super().__call__(*inputs, **kwargs)
        except shapes.InputTooSmall:
            raise
        except ValueError as error:
            if shapes.is_tracing() or len(inputs) != 1:
                raise
            self._explain_small_input(inputs[0], error)
            raise

    def _expected_shapes(self) -> list[tuple]:
        shape = self.input_shape
        return [shape] if shape and isinstance(shape[0], int) else list(shape)

    def _check_inputs(self, inputs) -> None:
        expected_shapes = self._expected_shapes()
        if len(inputs) != len(expected_shapes):
            raise TypeError(
                f"{self.title} takes {len(expected_shapes)} input(s) of shapes "
                f"{', '.join('(N, ' + _dims(s) + ')' for s in expected_shapes)}, "
                f"got {len(inputs)}"
            )
        for given, expected in zip(inputs, expected_shapes):
            sample = tuple(given.shape[1:])
            fits = len(sample) == len(expected) and all(
                sample[d] == expected[d] for d in self.fixed_dims
            )
            if fits:
                continue
            if self.fixed_dims == tuple(range(len(expected))):
                hint = "its fully connected layers fix the size"
                if self.size_option:
                    hint += f"; build it with {self.size_option}= to change it"
                raise ValueError(
                    f"{self.title} takes input (N, {_dims(expected)}) ({hint}), "
                    f"got {tuple(given.shape)}"
                )
            pattern = ", ".join(
                str(n) if d in self.fixed_dims else "*" for d, n in enumerate(expected)
            )
            raise ValueError(
                f"{self.title} takes input (N, {pattern}), got {tuple(given.shape)}"
            )

    def _explain_small_input(self, given, error: ValueError) -> None:
        """Raise a clearer error when ``given`` is smaller than anything that fits."""
        sample = tuple(given.shape[1:])
        if shapes.fits(self, sample):
            return
        smallest = shapes.smallest_input(self, sample)
        if smallest is None:
            return
        raise shapes.InputTooSmall(
            f"{self.title}: a {shapes.times(sample)} input is too small for its "
            f"downsampling; the smallest input that fits is {shapes.times(smallest)}"
        ) from error


def _dims(shape: tuple) -> str:
    return ", ".join(str(n) for n in shape)
