"""Pictures drawn in the terminal with rich.

Each function returns a rich renderable (print it with ``console.print``):

- ``sparkline``: a loss curve in one line of block characters;
- ``heatmap``: a 2-D array as coloured half-blocks, two pixels per character,
  for images (an MNIST digit) and fields (a loss surface);
- ``region_map``: a grid of class labels as colours with data points on top,
  for decision regions;
- ``show_graph``: the computation graph of a Scalar or Tensor as a tree;
- ``tensor_panel``: how a Tensor shows itself in a rich console.
"""

from __future__ import annotations

import numpy as np
from rich.panel import Panel
from rich.style import Style
from rich.text import Text
from rich.tree import Tree

BLOCKS = " ▁▂▃▄▅▆▇█"

# Colours that stay distinct on dark and light terminals, one per class.
CLASS_COLOURS = [
    (230, 97, 0),
    (93, 58, 155),
    (26, 133, 255),
    (212, 17, 89),
    (64, 176, 166),
    (254, 190, 106),
    (153, 153, 153),
    (0, 158, 115),
    (204, 121, 167),
    (86, 180, 233),
]


def sparkline(values, width: int | None = None) -> str:
    """``values`` as a row of block characters, low to high."""
    values = np.asarray(list(values), dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return ""
    if width is not None and values.size > width:
        # Average consecutive runs so the whole curve fits in ``width``.
        edges = np.linspace(0, values.size, width + 1).astype(int)
        values = np.array([values[a:b].mean() for a, b in zip(edges[:-1], edges[1:])])
    low, high = values.min(), values.max()
    span = high - low if high > low else 1.0
    levels = ((values - low) / span * (len(BLOCKS) - 2)).round().astype(int) + 1
    return "".join(BLOCKS[i] for i in levels)


def _shade(value: float) -> tuple:
    """A colour from dark blue (0) through teal to yellow (1): viridis-like."""
    stops = np.array(
        [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)],
        dtype=float,
    )
    position = float(np.clip(value, 0, 1)) * (len(stops) - 1)
    low = int(np.floor(position))
    high = min(low + 1, len(stops) - 1)
    mix = position - low
    r, g, b = stops[low] * (1 - mix) + stops[high] * mix
    return int(r), int(g), int(b)


def _rgb(colour) -> str:
    return f"rgb({colour[0]},{colour[1]},{colour[2]})"


def heatmap(
    array, low: float | None = None, high: float | None = None, grey: bool = False
) -> Text:
    """A 2-D array as coloured half-blocks: each character is two rows.

    Args:
        array: shape (H, W); row 0 is drawn at the top.
        low, high: the values mapped to the two ends of the colour scale
            (default: the array's min and max).
        grey: black-to-white instead of the viridis-like scale (for images).
    """
    array = np.asarray(array, dtype=float)
    if array.ndim != 2:
        raise ValueError(f"heatmap: expected a 2-D array, got shape {array.shape}")
    low = np.nanmin(array) if low is None else low
    high = np.nanmax(array) if high is None else high
    scaled = (array - low) / (high - low if high > low else 1.0)
    if scaled.shape[0] % 2:
        scaled = np.vstack([scaled, np.full((1, scaled.shape[1]), np.nan)])

    def colour(v):
        if np.isnan(v):
            return None
        if grey:
            level = int(np.clip(v, 0, 1) * 255)
            return (level, level, level)
        return _shade(v)

    text = Text()
    for top, bottom in zip(scaled[0::2], scaled[1::2]):
        for a, b in zip(top, bottom):
            up, down = colour(a), colour(b)
            style = Style(
                color=_rgb(up) if up else None, bgcolor=_rgb(down) if down else None
            )
            text.append("▀", style=style)
        text.append("\n")
    text.rstrip()
    return text


def region_map(labels, points=None, point_labels=None, marks: str = "●") -> Text:
    """Class labels on a grid as colours, with data points drawn on top.

    Args:
        labels: int array (rows, cols), the predicted class of each cell;
            row 0 is the top of the picture.
        points: optional int array (n, 2) of (row, col) cells holding a point.
        point_labels: the true class of each point (its colour).
        marks: the character drawn for a point.
    """
    labels = np.asarray(labels)
    placed = {}
    if points is not None:
        for (r, c), k in zip(np.asarray(points), np.asarray(point_labels)):
            if 0 <= r < labels.shape[0] and 0 <= c < labels.shape[1]:
                placed[(int(r), int(c))] = int(k)

    text = Text()
    for r, row in enumerate(labels):
        for c, k in enumerate(row):
            background = CLASS_COLOURS[int(k) % len(CLASS_COLOURS)]
            faded = tuple(int(0.45 * v) for v in background)
            if (r, c) in placed:
                ink = CLASS_COLOURS[placed[(r, c)] % len(CLASS_COLOURS)]
                bright = tuple(min(255, int(v * 1.3) + 40) for v in ink)
                text.append(
                    marks, Style(color=_rgb(bright), bgcolor=_rgb(faded), bold=True)
                )
            else:
                text.append(" ", Style(bgcolor=_rgb(faded)))
        text.append("\n")
    text.rstrip()
    return text


def show_graph(value, max_nodes: int = 200) -> Tree:
    """The graph that computed ``value``, as a tree from the result down.

    Works for Scalars (each node shows its value and gradient) and Tensors
    (each node shows its op, shape and dtype). A node reached a second time
    is shown once and then referred to as "(see above)". Call backward with
    ``retain_graph=True`` first if the graph should still be there.
    """

    def label(node) -> str:
        if hasattr(node, "_da"):  # a Scalar
            name = f"{node.label} " if node.label else ""
            op = f"[bold]{node.op}[/] " if node.op else ""
            return f"{op}{name}data={node.data:.4g} grad={node.grad:.4g}"
        op = type(node.grad_fn).__name__ if node.grad_fn is not None else "leaf"
        grad = " requires_grad" if node.requires_grad and node.is_leaf else ""
        return f"[bold]{op}[/] {tuple(node.shape)} {node.dtype}{grad}"

    tree = Tree(label(value))
    seen = {id(value)}
    stack = [(parent, tree) for parent in reversed(value._parents)]
    while stack:
        node, branch = stack.pop()
        if node is None:
            continue
        if id(node) in seen:
            branch.add(label(node) + " [dim](see above)[/]")
            continue
        if len(seen) >= max_nodes:
            branch.add("[dim]…[/]")
            break
        seen.add(id(node))
        child = branch.add(label(node))
        stack.extend((parent, child) for parent in reversed(node._parents))
    return tree


def tensor_panel(t) -> Panel:
    """Shape, dtype, device, grad_fn and a short preview of a Tensor."""
    host = t.data if t.device == "cpu" else t.data.to_host()
    preview = np.array2string(host, precision=4, threshold=40, edgeitems=2)
    fn = type(t.grad_fn).__name__ if t.grad_fn is not None else None
    facts = [f"shape={t.shape}", str(t.dtype), t.device]
    if fn:
        facts.append(f"grad_fn={fn}")
    elif t.requires_grad:
        facts.append("requires_grad")
    return Panel(preview, title="Tensor " + "  ".join(facts), expand=False)


def decision_map(
    predict, points, point_labels, xlim, ylim, rows: int = 16, cols: int = 40
) -> Text:
    """Decision regions of a 2-D classifier with its training points on top.

    Args:
        predict: maps an (n, 2) array of inputs to n integer classes.
        points: (m, 2) training inputs; point_labels: their m classes.
        xlim, ylim: (low, high) of the window drawn.
        rows, cols: the grid; a character is about twice as tall as wide,
            so cols = 2.5·rows draws a roughly square window.
    """
    xs = np.linspace(xlim[0], xlim[1], cols)
    ys = np.linspace(ylim[1], ylim[0], rows)  # top row = largest y
    grid_x, grid_y = np.meshgrid(xs, ys)
    cells = np.column_stack([grid_x.ravel(), grid_y.ravel()])
    labels = np.asarray(predict(cells)).astype(int).reshape(rows, cols)

    points = np.asarray(points, dtype=float)
    where = np.column_stack(
        [
            np.round((ylim[1] - points[:, 1]) / (ylim[1] - ylim[0]) * (rows - 1)),
            np.round((points[:, 0] - xlim[0]) / (xlim[1] - xlim[0]) * (cols - 1)),
        ]
    ).astype(int)
    return region_map(labels, where, point_labels)
