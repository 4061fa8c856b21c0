"""Layer tables without weights: shapes, parameters and multiply-adds.

A summary answers, layer by layer, the questions a paper's architecture
table answers (MobileNet's Table 1 is the model here): what kind of layer,
with what stride and filter shape, sees what input, produces what output,
and costs how many parameters and multiply-adds. It works in two steps,
neither of which touches a real weight:

1. Build without weights. Inside ``placeholder_weights()`` a layer's
   parameters are zero-memory placeholders (``np.broadcast_to`` of a single
   zero to the parameter's shape, which has the shape but owns one number)
   and the initialisers leave them alone. VGG-16's 138 million weights then
   cost nothing to "build".

2. Trace without arithmetic. Every layer with a *shape rule*
   (``layer_shapes``) has its ``forward`` replaced, for the length of the
   trace, by its rule: given the input shape, the rule returns the output
   shape, the multiply-adds and the labels of the table row, and the layer
   hands on a placeholder of the output shape. The model's own ``forward``
   runs unchanged, so residual additions, concatenations and crops are
   traced exactly as they run; they only ever see placeholders.

Shapes in the table are one sample's (the batch dimension is left out), in
tinycv's layout: (C, H, W) for images, (C, T, H, W) for video.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass, field

import numpy as np

from tinycv import nn
from tinycv.autograd import no_grad
from tinycv.models.layer_shapes import InputTooSmall, rule_for, times
from tinycv.nn import module as nn_module
from tinycv.tensor import Tensor

__all__ = [
    "InputTooSmall",
    "Summary",
    "Row",
    "placeholder_weights",
    "placeholder",
    "summary",
    "trace",
    "output_shape",
    "checked_output_shape",
    "fits",
    "smallest_input",
    "is_tracing",
    "is_placeholder",
    "times",
]


# ---- step 1: parameters that take no memory --------------------------------------

_INITIALISERS = (
    "constant_",
    "zeros_",
    "ones_",
    "normal_",
    "uniform_",
    "small_random_",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_normal_",
    "kaiming_uniform_",
)


def _placeholder_parameter(*shape, dtype=None, device=None) -> nn.Parameter:
    """A Parameter with ``shape`` that owns a single zero (read-only)."""
    dtype = np.float32 if dtype is None else np.dtype(dtype)
    return nn.Parameter(np.broadcast_to(np.zeros((), dtype), shape))


def _leave_as_is(tensor, *args, **kwargs):
    return tensor


@contextlib.contextmanager
def placeholder_weights():
    """Build models inside this block to get parameters with shapes but no memory.

    Every layer makes its parameters with ``nn.module.empty_parameter`` and
    fills them through ``nn.init``; for the length of the block the first
    returns placeholders and the second does nothing. A model built here can
    be summarised but not run (its weights are all one shared zero), and
    the block is not thread-safe.
    """
    real_empty = nn_module.empty_parameter
    holders = [
        module
        for name, module in list(sys.modules.items())
        if name.startswith("tinycv")
        and vars(module).get("empty_parameter") is real_empty
    ]
    real_init = {name: getattr(nn.init, name) for name in _INITIALISERS}

    for module in holders:
        module.empty_parameter = _placeholder_parameter
    for name in real_init:
        setattr(nn.init, name, _leave_as_is)
    try:
        yield
    finally:
        for module in holders:
            module.empty_parameter = real_empty
        for name, function in real_init.items():
            setattr(nn.init, name, function)


# ---- step 2: the trace ---------------------------------------------------------

_tracing_depth = 0


def is_tracing() -> bool:
    """True while a summary traces a model (models skip size diagnostics then)."""
    return _tracing_depth > 0


def is_placeholder(tensor: Tensor) -> bool:
    """True for a placeholder: a read-only broadcast of one number."""
    data = tensor.data
    return (
        isinstance(data, np.ndarray) and not data.flags.writeable and 0 in data.strides
    )


def placeholder(shape: tuple) -> Tensor:
    """A float32 tensor of ``shape`` that owns one zero: it stands for an activation."""
    return Tensor(np.broadcast_to(np.zeros((), np.float32), shape))


def _placeholders(shapes):
    if shapes and all(isinstance(n, (int, np.integer)) for n in shapes):
        return placeholder(tuple(int(n) for n in shapes))
    return tuple(_placeholders(inner) for inner in shapes)


def _first(outputs):
    return outputs if isinstance(outputs, Tensor) else _first(outputs[0])


@dataclass
class Row:
    """One call of one layer, as a line of the table (shapes per sample)."""

    name: str
    kind: str
    stride: tuple | None
    filter: str
    input_shape: tuple
    output_shape: tuple
    params: int
    trainable_params: int
    macs: int
    connections: int
    elementwise: bool = False
    folded: list = field(default_factory=list)  # kinds of the rows merged into this
    folded_params: int = 0  # their parameters
    folded_into: int | None = None  # the row this one is merged into

    @property
    def type_and_stride(self) -> str:
        if self.stride is None:
            return self.kind
        if len(set(self.stride)) == 1:
            return f"{self.kind} / s{self.stride[0]}"
        return f"{self.kind} / s{times(self.stride)}"


class _Recorder:
    """The rows of one trace, and which row made which placeholder."""

    def __init__(self):
        self.rows: list[Row] = []
        self.maker: dict[int, int] = {}  # id(placeholder) -> index of its row
        self.keep_alive: list = []  # so that ids are not reused during the trace
        self.counted: set[int] = set()  # ids of layers whose parameters are counted
        self.last_visible: int | None = None  # the last row not folded into another

    def traced_forward(self, name: str, layer: nn.Module, rule):
        def forward(*inputs, **kwargs):
            first = inputs[0]
            try:
                layer_shape = rule(layer, tuple(first.shape))
            except InputTooSmall as error:
                raise InputTooSmall(
                    f"{name} ({type(layer).__name__}): {error}"
                ) from None
            outputs = _placeholders(layer_shape.output)
            self.record(name, layer, layer_shape, first, _first(outputs))
            return outputs

        return forward

    def record(self, name, layer, layer_shape, first_input, first_output) -> None:
        params = trainable = 0
        if id(layer) not in self.counted:
            self.counted.add(id(layer))
            for param in layer.parameters():
                params += param.numel()
                trainable += param.numel() if param.requires_grad else 0
        row = Row(
            name=name,
            kind=layer_shape.kind,
            stride=layer_shape.stride,
            filter=layer_shape.filter,
            input_shape=tuple(first_input.shape[1:]),
            output_shape=tuple(first_output.shape[1:]),
            params=params,
            trainable_params=trainable,
            macs=layer_shape.macs,
            connections=layer_shape.connections,
            elementwise=layer_shape.elementwise,
        )
        index = len(self.rows)
        self.rows.append(row)
        self._fold(row, first_input)
        if row.folded_into is None:
            self.last_visible = index
        self.maker[id(first_output)] = index
        self.keep_alive += [first_input, first_output]

    def _fold(self, row: Row, first_input) -> None:
        """Merge a BN/activation row into the row just before, if it takes its output.

        Conv -> BN -> ReLU makes one line; a ReLU after a residual addition
        takes a new tensor and keeps a line of its own.
        """
        if not row.elementwise or id(first_input) not in self.maker:
            return
        source = self.maker[id(first_input)]
        root = self.rows[source].folded_into
        root = source if root is None else root
        if root == self.last_visible:
            row.folded_into = root
            self.rows[root].folded.append(row.kind)
            self.rows[root].folded_params += row.params


@contextlib.contextmanager
def _tracing():
    global _tracing_depth
    _tracing_depth += 1
    try:
        yield
    finally:
        _tracing_depth -= 1


def _shapes_list(input_shape) -> list[tuple]:
    """One shape, or a tuple of shapes for models with several inputs."""
    if input_shape and all(isinstance(n, (int, np.integer)) for n in input_shape):
        return [tuple(int(n) for n in input_shape)]
    return [tuple(int(n) for n in shape) for shape in input_shape]


def trace(model: nn.Module, input_shape) -> tuple[list[Row], object]:
    """Run ``model`` on placeholders of ``input_shape`` (one sample, no batch dim).

    Returns the rows of every layer call and the per-sample output shape(s).
    Raises InputTooSmall when some layer's output would be empty.
    """
    recorder = _Recorder()
    traced = []
    for name, layer in model.named_modules():
        rule = rule_for(layer)
        inside = any(name.startswith(outer + ".") for outer, _ in traced if outer)
        if rule is None or inside:
            continue
        # An instance attribute shadows the class's forward for this trace only.
        layer.__dict__["forward"] = recorder.traced_forward(
            name or "(model)", layer, rule
        )
        traced.append((name, layer))

    inputs = [placeholder((1,) + shape) for shape in _shapes_list(input_shape)]
    try:
        with no_grad(), _tracing():
            outputs = model(*inputs)
    finally:
        for _, layer in traced:
            layer.__dict__.pop("forward", None)
    return recorder.rows, _per_sample(outputs)


def _per_sample(outputs):
    if isinstance(outputs, Tensor):
        return tuple(outputs.shape[1:])
    return tuple(_per_sample(output) for output in outputs)


def output_shape(model: nn.Module, input_shape) -> tuple:
    """The per-sample output shape of ``model`` for a per-sample input shape."""
    return trace(model, input_shape)[1]


def fits(model: nn.Module, input_shape: tuple) -> bool:
    """True when ``model`` accepts one sample of ``input_shape``."""
    try:
        trace(model, input_shape)
    except ValueError:  # too small, or a size its fully connected layers refuse
        return False
    return True


def _smallest_along(model, make_shape, limit: int) -> int | None:
    """The least n in [1, limit] for which ``make_shape(n)`` fits, or None.

    Bigger inputs never make a feature map smaller, so the sizes that fit
    form an interval [n_min, ...): double until one fits, then bisect.
    """
    high = 1
    while not fits(model, make_shape(high)):
        if high >= limit:
            return None
        high = min(2 * high, limit)
    low = high // 2  # did not fit (or is 0)
    while high - low > 1:
        middle = (low + high) // 2
        if fits(model, make_shape(middle)):
            high = middle
        else:
            low = middle
    return high


def smallest_input(model: nn.Module, input_shape: tuple, limit: int = 4096):
    """The smallest per-sample input like ``input_shape`` that ``model`` accepts.

    Images (C, H, W) are searched square; for video (C, T, H, W) first the
    frame size at the given length, then the length at the given frame size.
    Returns None when nothing up to ``limit`` fits.
    """
    input_shape = tuple(input_shape)
    if len(input_shape) < 3:
        return None
    head, spatial = input_shape[:-2], input_shape[-2:]
    size = _smallest_along(model, lambda n: head + (n, n), limit)
    if size is not None:
        return head + (size, size)
    if len(input_shape) == 4:
        channels = input_shape[0]
        length = _smallest_along(model, lambda n: (channels, n) + tuple(spatial), limit)
        if length is not None:
            return (channels, length) + tuple(spatial)
    return None


def checked_output_shape(module: nn.Module, input_shape: tuple, who: str) -> tuple:
    """``output_shape``, or a ValueError that names the smallest input that fits.

    Models call this while they are being built, to size the layers that
    follow their convolutions (VGG's first fully connected layer, say).
    """
    try:
        return output_shape(module, input_shape)
    except InputTooSmall as error:
        smallest = smallest_input(module, input_shape)
        hint = (
            f"; the smallest input that fits is {times(smallest)}"
            if smallest
            else "; no input size fits these settings"
        )
        raise InputTooSmall(
            f"{who}: a {times(input_shape)} input is too small ({error}){hint}"
        ) from None


# ---- the result ------------------------------------------------------------------


@dataclass
class Summary:
    """The rows of a trace and their totals (``summary()`` returns one).

    ``rows`` holds every layer call; ``compact_rows()`` the rows a table
    shows, batch norms and activations folded into the layer they follow.
    ``params`` counts every parameter of the model once, ``trainable_params``
    those with ``requires_grad``, ``macs`` the multiply-adds of one sample.
    """

    title: str
    input_shape: object
    output_shape: object
    rows: list[Row]
    params: int
    trainable_params: int
    allocated: bool = True

    @property
    def macs(self) -> int:
        return sum(row.macs for row in self.rows)

    @property
    def connections(self) -> int:
        return sum(row.connections for row in self.rows)

    def compact_rows(self) -> list[Row]:
        return [row for row in self.rows if row.folded_into is None]

    def row(self, name: str) -> Row:
        """The (first) row of the layer called ``name``."""
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(f"no layer named {name!r} in the summary of {self.title}")

    def table(self, names: bool = True):
        """A rich Table of ``compact_rows()``; ``names=False`` leaves out the names."""
        from rich import box
        from rich.table import Table

        table = Table(
            title=f"{self.title} — input {_shape_text(self.input_shape)}",
            title_justify="left",
            box=box.SIMPLE_HEAD,
            show_footer=True,
            footer_style="bold",
        )
        # Numbers never wrap; when the console is narrow the names fold instead.
        if names:
            table.add_column("layer", style="dim", footer="total", overflow="fold")
        table.add_column(
            "type / stride",
            style="bold cyan",
            overflow="fold",
            footer="" if names else "total",
        )
        table.add_column("filter shape", overflow="fold")
        table.add_column("input size", justify="right", no_wrap=True)
        table.add_column(
            "output size",
            justify="right",
            no_wrap=True,
            footer=_shape_text(self.output_shape),
        )
        table.add_column(
            "params", justify="right", no_wrap=True, footer=f"{self.params:,}"
        )
        table.add_column(
            "mult-adds", justify="right", no_wrap=True, footer=human(self.macs)
        )
        for row in self.compact_rows():
            params = row.params + row.folded_params
            kind = row.type_and_stride
            if row.folded:
                kind += " [dim]+ " + " + ".join(row.folded) + "[/]"
            cells = [row.name] if names else []
            table.add_row(
                *cells,
                kind,
                row.filter,
                times(row.input_shape),
                times(row.output_shape),
                f"{params:,}" if params else "",
                human(row.macs) if row.macs else "",
            )
        return table

    def footnote(self) -> str:
        lines = [
            f"parameters {self.params:,} ({human(self.params)})"
            + (
                f", of which trainable {self.trainable_params:,}"
                if self.trainable_params != self.params
                else ""
            ),
            f"multiply-adds {self.macs:,} ({human(self.macs)}) per sample",
        ]
        if not self.allocated:
            lines.append("shapes only: no weight was allocated for this summary")
        return "\n".join(lines)

    def __rich_console__(self, console, options):
        from rich.text import Text

        # The layer names are the first thing to go on a narrow console.
        yield self.table(names=options.max_width >= 110)
        yield Text(self.footnote(), style="dim")


def _shape_text(shape) -> str:
    if shape and all(isinstance(n, (int, np.integer)) for n in shape):
        return times(shape)
    return ", ".join(_shape_text(inner) for inner in shape)


def human(number: int) -> str:
    """``138357544`` -> ``"138.4M"``; ``1814073344`` -> ``"1.81G"``."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if number >= scale:
            value = number / scale
            return f"{value:.3g}{suffix}" if value < 100 else f"{value:.1f}{suffix}"
    return str(number)


def summary(model: nn.Module, input_shape=None, title: str | None = None) -> Summary:
    """Trace ``model`` on one sample of ``input_shape`` and total its layers.

    ``input_shape`` leaves out the batch dimension; without it the model's
    own ``input_shape`` attribute (every tinycv.models network has one) is
    used. Raises InputTooSmall, naming the smallest input that fits, when
    the input is too small for the network's downsampling.
    """
    if input_shape is None:
        input_shape = getattr(model, "input_shape", None)
        if input_shape is None:
            raise ValueError(
                f"summary: {type(model).__name__} has no input_shape attribute; "
                "pass input_shape=(C, H, W)"
            )
    title = title or getattr(model, "title", None) or type(model).__name__
    try:
        rows, out_shape = trace(model, input_shape)
    except InputTooSmall as error:
        shapes = _shapes_list(input_shape)
        smallest = smallest_input(model, shapes[0]) if len(shapes) == 1 else None
        hint = (
            f"; the smallest input that fits is {times(smallest)}" if smallest else ""
        )
        raise InputTooSmall(
            f"{title}: input {_shape_text(input_shape)} is too small ({error}){hint}"
        ) from None

    parameters = list(model.parameters())
    return Summary(
        title=title,
        input_shape=input_shape,
        output_shape=out_shape,
        rows=rows,
        params=sum(p.numel() for p in parameters),
        trainable_params=sum(p.numel() for p in parameters if p.requires_grad),
        allocated=not any(is_placeholder(p) for p in parameters),
    )
