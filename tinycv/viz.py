"""Pictures drawn in the terminal with rich.

Each function returns a rich renderable (print it with ``console.print``):

- ``sparkline``: a loss curve in one line of block characters;
- ``heatmap``: a 2-D array as coloured half-blocks, two pixels per character,
  for images (an MNIST digit) and fields (a loss surface);
- ``region_map``: a grid of class labels as colours with data points on top,
  for decision regions;
- ``contour_map``: a function of two variables as contour bands, with the
  paths of optimisers drawn on top;
- ``line_plot``: curves y(x) drawn in braille dots, e.g. a function and its
  approximation;
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


def sparkline(
    values,
    width: int | None = None,
    low: float | None = None,
    high: float | None = None,
) -> str:
    """``values`` as a row of block characters, low to high.

    ``low`` and ``high`` fix the ends of the scale (default: the curve's own
    min and max), so that several curves drawn one above the other compare.
    """
    values = np.asarray(list(values), dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return ""
    if width is not None and values.size > width:
        # Average consecutive runs so the whole curve fits in ``width``.
        edges = np.linspace(0, values.size, width + 1).astype(int)
        values = np.array([values[a:b].mean() for a, b in zip(edges[:-1], edges[1:])])
    low = values.min() if low is None else low
    high = values.max() if high is None else high
    span = high - low if high > low else 1.0
    scaled = np.clip((values - low) / span, 0, 1)
    levels = (scaled * (len(BLOCKS) - 2)).round().astype(int) + 1
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


def contour_map(
    f,
    xlim,
    ylim,
    paths=None,
    rows: int = 16,
    cols: int = 48,
    levels: int = 12,
    log: bool = True,
) -> Text:
    """A function of two variables as banded contours, with paths drawn on top.

    Each character is one cell of the window, coloured by the band its value
    falls in; the edges between bands are the contour lines. An optimiser's
    iterates are drawn as its mark in its own colour, so a zig-zag down the
    walls of a valley shows as it happens.

    Args:
        f: maps an (n, 2) array of points to n values.
        xlim, ylim: (low, high) of the window drawn; the top row is ylim[1].
        paths: ``{mark: (k, 2) array of points}``; a mark is one character.
            Later paths are drawn over earlier ones; points outside the
            window are skipped.
        rows, cols: the grid; cols = 2.5·rows draws a roughly square window.
        levels: how many colour bands.
        log: shade by log(f - min f) so the floor of a valley shows too.
    """
    xs = np.linspace(xlim[0], xlim[1], cols)
    ys = np.linspace(ylim[1], ylim[0], rows)
    grid_x, grid_y = np.meshgrid(xs, ys)
    values = np.asarray(f(np.column_stack([grid_x.ravel(), grid_y.ravel()])), float)
    values = values.reshape(rows, cols)
    if log:
        spread = values.max() - values.min()
        values = np.log(values - values.min() + 1e-6 * (spread if spread > 0 else 1))
    low, high = values.min(), values.max()
    bands = np.floor((values - low) / (high - low if high > low else 1) * levels)
    shades = np.minimum(bands, levels - 1) / max(levels - 1, 1)

    drawn = {}
    for index, (mark, points) in enumerate((paths or {}).items()):
        colour = CLASS_COLOURS[index % len(CLASS_COLOURS)]
        points = np.asarray(points, dtype=float).reshape(-1, 2)
        points = points[np.isfinite(points).all(axis=1)]
        col = np.round((points[:, 0] - xlim[0]) / (xlim[1] - xlim[0]) * (cols - 1))
        row = np.round((ylim[1] - points[:, 1]) / (ylim[1] - ylim[0]) * (rows - 1))
        inside = (row >= 0) & (row < rows) & (col >= 0) & (col < cols)
        for r, c in zip(row[inside].astype(int), col[inside].astype(int)):
            drawn[(r, c)] = (mark, colour)

    text = Text()
    for r in range(rows):
        if r:
            text.append("\n")
        for c in range(cols):
            background = tuple(int(0.55 * v) for v in _shade(shades[r, c]))
            if (r, c) in drawn:
                mark, colour = drawn[(r, c)]
                bright = tuple(min(255, int(v * 1.2) + 50) for v in colour)
                style = Style(color=_rgb(bright), bgcolor=_rgb(background), bold=True)
                text.append(mark, style)
            else:
                text.append(" ", Style(bgcolor=_rgb(background)))
    return text


# A braille character is a 2 x 4 grid of dots; bit of the dot in (row, column).
BRAILLE_BITS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))


def line_plot(x, curves: dict, rows: int = 12, cols: int = 60, ylim=None) -> Text:
    """Curves y(x) drawn with braille dots, two across and four down a character.

    Args:
        x: (n,) increasing sample points, shared by every curve.
        curves: ``{label: (n,) values}``, each drawn in its own colour and
            named in a legend underneath; where curves meet, the later one
            is drawn over the earlier.
        rows, cols: the size of the plot in characters.
        ylim: (low, high) of the window (default: the curves' range).
    """
    x = np.asarray(x, dtype=float)
    values = {name: np.asarray(y, dtype=float) for name, y in curves.items()}
    if ylim is None:
        everything = np.concatenate([y[np.isfinite(y)] for y in values.values()])
        ylim = (float(everything.min()), float(everything.max()))
    low, high = ylim
    span = high - low if high > low else 1.0
    height, width = 4 * rows, 2 * cols
    columns = np.linspace(x[0], x[-1], width)

    owner = np.full((height, width), -1)  # which curve's dot, -1 for none
    for index, y in enumerate(values.values()):
        dot_rows = np.round((high - np.interp(columns, x, y)) / span * (height - 1))
        dot_rows = dot_rows.astype(int)
        for j, r in enumerate(dot_rows):
            # Fill halfway to each neighbour so steep stretches stay joined up.
            ends = [r] + [
                (r + dot_rows[k]) // 2 for k in (j - 1, j + 1) if 0 <= k < width
            ]
            top, bottom = max(min(ends), 0), min(max(ends), height - 1)
            if top <= bottom:
                owner[top : bottom + 1, j] = index

    labels = [f"{high:.3g}", f"{low:.3g}"]
    margin = max(len(label) for label in labels) + 1
    text = Text()
    for row in range(rows):
        label = labels[0] if row == 0 else labels[1] if row == rows - 1 else ""
        text.append(label.rjust(margin - 1) + "┤", style="dim")
        for col in range(cols):
            cell = owner[4 * row : 4 * row + 4, 2 * col : 2 * col + 2]
            if (cell < 0).all():
                text.append(" ")
                continue
            bits = sum(
                BRAILLE_BITS[r][c]
                for r in range(4)
                for c in range(2)
                if cell[r, c] >= 0
            )
            colour = CLASS_COLOURS[int(cell.max()) % len(CLASS_COLOURS)]
            text.append(chr(0x2800 + bits), style=Style(color=_rgb(colour)))
        text.append("\n")
    axis = f"{x[0]:.3g}".ljust(cols // 2) + f"{x[-1]:.3g}".rjust(cols - cols // 2)
    text.append(" " * margin + axis + "\n", style="dim")
    text.append(" " * margin)
    for index, name in enumerate(values):
        colour = CLASS_COLOURS[index % len(CLASS_COLOURS)]
        text.append("━━ ", style=Style(color=_rgb(colour), bold=True))
        text.append(f"{name}   ")
    text.rstrip()
    return text
