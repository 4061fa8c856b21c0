"""Forward-backward propagation on a network small enough to print.

The slide's network: two inputs, a hidden layer of tanh units, one sigmoid
output, and the squared error summed over the training examples::

    forward:   z_k = b_k + w_k1 x_1 + w_k2 x_2       h_k = tanh(z_k)
               s   = c + Σ_k v_k h_k                  f   = σ(s)
    error:     E(w) = Σ_j (y_j − f_w(x_j))²
    backward:  ∂E/∂node = Σ over every node u computed from it of
                          (∂u/∂node) · (∂E/∂u)             (the chain rule)
    update:    w ← w − α ∂E/∂w

Every number is a ``tinycv.Scalar``, so each node of the graph can be shown
with its value (forward) and its gradient (backward). The data is XOR, the
problem a single perceptron cannot solve.

Claim: the gradients backpropagation computes are the derivatives of E. Each
weight's ∂E/∂w and each named node's ∂E/∂node equals the central difference
(E(· + ε) − E(· − ε)) / 2ε of a plain-float copy of the network, to a
relative error below 1e-6, before training and after it.
"""

from __future__ import annotations

import math

import click
import numpy as np
from rich.table import Table

from tinycv import Scalar
from tinycv.lesson import Lesson, Option, Step, Verdict
from tinycv.viz import decision_map, show_graph, sparkline

XOR_INPUTS = ((0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0))
XOR_TARGETS = (0.0, 1.0, 1.0, 0.0)

# A gradient smaller than this is compared in absolute terms: two tiny
# numbers can differ by a large fraction of themselves and still agree.
GRADIENT_FLOOR = 1e-4

ACTIVATIONS = {
    "tanh": (Scalar.tanh, math.tanh),
    "sigmoid": (Scalar.sigmoid, lambda z: 1.0 / (1.0 + math.exp(-z))),
}


def parameter_names(hidden: int) -> list[str]:
    """w_k1, w_k2, b_k for each hidden unit k, then v_k and the output bias c."""
    names = []
    for k in range(1, hidden + 1):
        names += [f"w{k}1", f"w{k}2", f"b{k}"]
    return names + [f"v{k}" for k in range(1, hidden + 1)] + ["c"]


def forward(params: dict, x, y, hidden: int, activation, sigmoid, tap):
    """The network's output f(x) and its squared error (y − f(x))² on one example.

    Written once for both kinds of number: Scalars (to backpropagate) and
    plain floats (for central differences). ``tap(name, value)`` sees every
    named node and returns the value to carry on with: the Scalar version
    labels it, the float version nudges it by ±ε.
    """
    units = []
    for k in range(1, hidden + 1):
        z = params[f"b{k}"] + params[f"w{k}1"] * x[0] + params[f"w{k}2"] * x[1]
        z = tap(f"z{k}", z)
        units.append(tap(f"h{k}", activation(z)))

    s = params["c"]
    for k, h in enumerate(units, start=1):
        s = s + params[f"v{k}"] * h
    s = tap("s", s)
    f = tap("f", sigmoid(s))

    e = tap("e", y - f)
    return f, tap("E", e**2)


class Network:
    """The 2-H-1 network with every weight a Scalar."""

    def __init__(self, hidden: int, activation: str, rng):
        self.hidden = hidden
        self.activation = activation
        # Small random weights break the symmetry between the hidden units.
        self.params = {
            name: Scalar(rng.normal(0.0, 1.0), label=name)
            for name in parameter_names(hidden)
        }

    def values(self) -> dict:
        return {name: p.data for name, p in self.params.items()}

    def error(self, x, y, nodes: list | None = None) -> Scalar:
        """(y − f(x))² as a Scalar graph; named nodes are appended to ``nodes``."""

        def label(name, value):
            value.label = name
            if nodes is not None:
                nodes.append(value)
            return value

        x = [Scalar(v, label=f"x{i + 1}", requires_grad=False) for i, v in enumerate(x)]
        y = Scalar(y, label="y", requires_grad=False)
        scalar_activation = ACTIVATIONS[self.activation][0]
        _, error = forward(
            self.params, x, y, self.hidden, scalar_activation, Scalar.sigmoid, label
        )
        return error

    def total_error(self, inputs, targets) -> Scalar:
        """The slide's E(w) = Σ_j (y_j − f_w(x_j))², one graph for the batch."""
        errors = [self.error(x, y) for x, y in zip(inputs, targets)]
        total = errors[0]
        for error in errors[1:]:
            total = total + error
        return total

    def zero_grad(self) -> None:
        for p in self.params.values():
            p.zero_grad()

    def predict(self, points) -> np.ndarray:
        """f(x) for an (n, 2) array, computed with plain floats."""
        values = self.values()
        activation = ACTIVATIONS[self.activation][1]
        return np.array(
            [
                forward(values, x, 0.0, self.hidden, activation, _sigmoid, _untouched)[
                    0
                ]
                for x in points
            ]
        )


def _untouched(name, value):
    return value


def float_error(values: dict, x, y, hidden, activation, nudge=None) -> float:
    """The same network's error on plain floats; ``nudge`` = (node, δ) adds δ there."""

    def tap(name, value):
        if nudge is not None and nudge[0] == name:
            return value + nudge[1]
        return value

    return forward(values, x, y, hidden, ACTIVATIONS[activation][1], _sigmoid, tap)[1]


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


def point(x) -> str:
    return "(" + ", ".join(f"{v:g}" for v in x) + ")"


def relative_error(analytic: float, numeric: float) -> float:
    return abs(analytic - numeric) / max(abs(analytic), abs(numeric), GRADIENT_FLOOR)


def central_difference(function, epsilon: float) -> float:
    """(F(+ε) − F(−ε)) / 2ε for a function of the nudge δ."""
    return (function(epsilon) - function(-epsilon)) / (2 * epsilon)


class Backprop(Lesson):
    name = "backprop"
    slide = "Forward-Backward Propagation"
    summary = "every node's value and gradient in a small network, checked numerically"
    claim = (
        "backpropagated gradients of E(w) = Σ(y − f(x))² equal central "
        "differences for every weight and named node (relative error < 1e-6)"
    )
    order = 2
    options = (
        Option("hidden", 2, "hidden units", type=click.IntRange(1, 6)),
        Option(
            "activation",
            "tanh",
            "hidden nonlinearity",
            type=click.Choice(sorted(ACTIVATIONS)),
        ),
        Option(
            "learning_rate",
            0.5,
            "α in w ← w − α ∂E/∂w",
            type=click.FloatRange(min=0, min_open=True),
        ),
        Option(
            "iterations",
            1500,
            "gradient-descent steps after the first one",
            fast=150,
            type=click.IntRange(1, 1_000_000),
        ),
        Option(
            "epsilon",
            1e-5,
            "ε of the central differences",
            type=click.FloatRange(1e-9, 1e-2),
        ),
        Option(
            "example",
            2,
            "which XOR example (1-4) to walk through",
            type=click.IntRange(1, 4),
        ),
    )

    tolerance = 1e-6

    def steps(self):
        net = Network(self.hidden, self.activation, self.rng)
        self.net = net
        self.results["worst_relative_error"] = 0.0
        x, y = XOR_INPUTS[self.example - 1], XOR_TARGETS[self.example - 1]

        # 1. Forward: every node of one example's graph, in the order computed.
        named = []
        error = net.error(x, y, named)
        order = graph_nodes(error)
        yield Step(
            f"1. forward pass on example x = {point(x)}, y = {y:g}",
            f"{len(order)} nodes, each computed from nodes above it; E is this "
            "example's share (y − f(x))² of the slide's sum. Unnamed "
            "intermediate results are called t1, t2, ...",
            forward_table(order),
        )

        # 2. Backward: the same nodes in reverse, each gradient by the chain rule.
        consumers = consumers_of(order)
        error.backward(retain_graph=True)
        yield Step(
            "2. backward pass: ∂E/∂node = Σ (∂u/∂node)·(∂E/∂u) over nodes u using it",
            "Each node is visited after every node computed from it, so its "
            "gradient is complete when its turn comes. The weights' gradients, "
            "at the bottom, are what gradient descent needs.",
            backward_table(order, consumers),
            "The same graph as a tree, from E down to the weights and inputs:",
            show_graph(error),
        )
        node_check = self._check_nodes(net, x, y, named)
        net.zero_grad()

        # 3. The whole training set: E(w) = Σ_j, and each ∂E/∂w checked.
        total = net.total_error(XOR_INPUTS, XOR_TARGETS)
        total.backward()
        weight_check = self._check_weights(net)
        yield Step(
            "3. E(w) = Σ_j (y_j − f(x_j))² over the four XOR examples",
            examples_table(net),
            f"E(w) = {total.data:.6f}",
            gradient_table(weight_check),
            node_check_line(node_check),
        )

        # 4. One step of gradient descent.
        before = net.values()
        gradients = {name: p.grad for name, p in net.params.items()}
        for p in net.params.values():
            p.data -= self.learning_rate * p.grad
        after_error = net.total_error(XOR_INPUTS, XOR_TARGETS).data
        self.results["first_step"] = (total.data, after_error)
        yield Step(
            f"4. gradient descent: w ← w − α ∂E/∂w with α = {self.learning_rate}",
            update_table(before, gradients, net.values(), self.learning_rate),
            f"E(w) went from {total.data:.6f} to {after_error:.6f}",
        )

        # 5. Keep descending, then check the gradients again where we end up.
        curve = [total.data]  # E(w) at every point w visited, from the start
        for _ in self.track(
            range(self.iterations), "gradient descent", self.iterations
        ):
            net.zero_grad()
            total = net.total_error(XOR_INPUTS, XOR_TARGETS)
            total.backward()
            curve.append(total.data)
            for p in net.params.values():
                p.data -= self.learning_rate * p.grad
        net.zero_grad()
        final = net.total_error(XOR_INPUTS, XOR_TARGETS)
        final.backward()
        curve.append(final.data)
        final_check = self._check_weights(net)
        self.results["curve"] = curve
        outputs = net.predict(np.array(XOR_INPUTS))
        self.results["outputs"] = outputs

        worst = max(row[-1] for row in final_check)
        yield Step(
            f"5. {self.iterations} more steps of gradient descent",
            f"E(w): {curve[1]:.4f} → {curve[-1]:.4f}   log E(w): "
            f"{sparkline(np.log10(curve[1:]), 40)}",
            "f(x) on the XOR inputs: "
            + "  ".join(f"{point(x)} → {f:.3f}" for x, f in zip(XOR_INPUTS, outputs)),
            f"gradients checked again at the final weights: worst relative "
            f"error {worst:.1e}. Decision regions, class 1 where f(x) ≥ 0.5:",
            decision_map(
                lambda p: net.predict(p) >= 0.5,
                np.array(XOR_INPUTS),
                np.array(XOR_TARGETS, dtype=int),
                (-0.5, 1.5),
                (-0.5, 1.5),
                rows=10,
                cols=26,
            ),
        )

    # ---- the numerical check ------------------------------------------------

    def _record(self, rows) -> list:
        worst = max(row[-1] for row in rows)
        self.results["worst_relative_error"] = max(
            self.results["worst_relative_error"], worst
        )
        self.results.setdefault("checked", 0)
        self.results["checked"] += len(rows)
        return rows

    def _check_weights(self, net: Network) -> list:
        """(name, backprop, central difference, relative error) per weight."""
        values = net.values()
        rows = []
        for name, p in net.params.items():

            def error_at(delta, name=name):
                moved = dict(values, **{name: values[name] + delta})
                return sum(
                    float_error(moved, x, y, net.hidden, net.activation)
                    for x, y in zip(XOR_INPUTS, XOR_TARGETS)
                )

            numeric = central_difference(error_at, self.epsilon)
            rows.append((name, p.grad, numeric, relative_error(p.grad, numeric)))
        return self._record(rows)

    def _check_nodes(self, net: Network, x, y, named: list) -> list:
        """The same comparison for the named nodes of one example's graph."""
        values = net.values()
        rows = []
        for node in named:
            numeric = central_difference(
                lambda delta, name=node.label: float_error(
                    values, x, y, net.hidden, net.activation, nudge=(name, delta)
                ),
                self.epsilon,
            )
            rows.append(
                (node.label, node.grad, numeric, relative_error(node.grad, numeric))
            )
        return self._record(rows)

    def check(self) -> Verdict:
        worst = self.results["worst_relative_error"]
        before, after = self.results["first_step"]
        curve = self.results["curve"]
        measured = (
            f"{self.results['checked']} gradients checked, worst relative error "
            f"{worst:.1e} (tolerance {self.tolerance:.0e}); first step "
            f"E {before:.4f} → {after:.4f}; after {self.iterations} more steps E = "
            f"{curve[-1]:.4f}"
        )
        return Verdict(self.claim, bool(worst < self.tolerance), measured)

    def figure(self, plt):
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
        curve = self.results["curve"]
        left.plot(range(len(curve)), curve)
        left.set_yscale("log")
        left.set_xlabel("gradient-descent step")
        left.set_ylabel("E(w)")
        left.set_title("E(w) = Σ (y − f(x))² on XOR")

        grid = np.linspace(-0.5, 1.5, 120)
        xx, yy = np.meshgrid(grid, grid)
        ff = self.net.predict(np.column_stack([xx.ravel(), yy.ravel()]))
        shading = right.contourf(
            xx, yy, ff.reshape(xx.shape), levels=20, cmap="coolwarm"
        )
        fig.colorbar(shading, ax=right, label="f(x)")
        inputs = np.array(XOR_INPUTS)
        right.scatter(
            inputs[:, 0],
            inputs[:, 1],
            c=XOR_TARGETS,
            cmap="coolwarm",
            s=90,
            edgecolors="k",
        )
        right.set_title(f"f(x) after {len(curve) - 1} steps")
        return fig


# ---- reading the graph ------------------------------------------------------


def graph_nodes(root: Scalar) -> list:
    """Every node ``root`` was computed from, oldest first, with printable names.

    Unnamed intermediate results (a product w·x, a partial sum) are called
    t1, t2, ... in the order they were made.
    """
    found, stack, seen = [], [root], {id(root)}
    while stack:
        node = stack.pop()
        found.append(node)
        for parent in node._parents:
            if id(parent) not in seen:
                seen.add(id(parent))
                stack.append(parent)
    found.sort(key=lambda node: node._created)
    count = 0
    for node in found:
        if not node.label:
            count += 1
            node.label = f"t{count}"
    return found


def consumers_of(nodes: list) -> dict:
    """For each node, the nodes computed from it and ∂(that node)/∂(it).

    ``_chain(1.0)`` returns the local derivatives a node stored when it was
    computed: the factors the chain rule multiplies by on the way back.
    """
    consumers = {id(node): [] for node in nodes}
    for node in nodes:
        for parent, local in zip(node._parents, node._chain(1.0)):
            consumers[id(parent)].append((node, local))
    return consumers


SYMBOLS = {"+": "+", "-": "−", "*": "·", "/": "/"}


def formula(node: Scalar) -> str:
    """How a node was computed, in terms of the names of its inputs."""
    parents = [p.label for p in node._parents]
    if not parents:
        return "weight" if node.requires_grad else "input"
    if len(parents) == 2:
        return f"{parents[0]} {SYMBOLS.get(node.op, node.op)} {parents[1]}"
    if node.op == "neg":
        return f"−{parents[0]}"
    if node.op.startswith("**"):
        return f"{parents[0]}{node.op}"
    return f"{node.op}({parents[0]})"


def forward_table(nodes: list) -> Table:
    table = Table(box=None, show_header=True, pad_edge=False)
    table.add_column("node", style="bold cyan")
    table.add_column("computed as")
    table.add_column("value", justify="right")
    for node in nodes:
        table.add_row(node.label, formula(node), f"{node.data:+.6f}")
    return table


def backward_table(nodes: list, consumers: dict) -> Table:
    table = Table(box=None, show_header=True, pad_edge=False)
    table.add_column("node", style="bold cyan")
    table.add_column("∂E/∂node", justify="right")
    table.add_column("= Σ (∂u/∂node) · (∂E/∂u)")
    for node in reversed(nodes):
        if not node.requires_grad:
            continue
        if not consumers[id(node)]:
            how = "1 (the error itself)"
        else:
            how = "  +  ".join(
                f"({local:+.4f})·∂E/∂{user.label}[dim]={user.grad:+.4f}[/]"
                for user, local in consumers[id(node)]
            )
        table.add_row(node.label, f"{node.grad:+.6f}", how)
    return table


def examples_table(net: Network) -> Table:
    table = Table(box=None, show_header=True, pad_edge=False)
    for column in ("x", "y", "f(x)", "(y − f(x))²"):
        table.add_column(column, justify="right")
    outputs = net.predict(np.array(XOR_INPUTS))
    for x, y, f in zip(XOR_INPUTS, XOR_TARGETS, outputs):
        table.add_row(point(x), f"{y:g}", f"{f:.4f}", f"{(y - f) ** 2:.4f}")
    return table


def gradient_table(rows: list) -> Table:
    table = Table(box=None, show_header=True, pad_edge=False)
    table.add_column("weight", style="bold cyan")
    table.add_column("∂E/∂w backprop", justify="right")
    table.add_column("central difference", justify="right")
    table.add_column("relative error", justify="right")
    for name, analytic, numeric, error in rows:
        table.add_row(name, f"{analytic:+.8f}", f"{numeric:+.8f}", f"{error:.1e}")
    return table


def node_check_line(rows: list) -> str:
    worst = max(rows, key=lambda row: row[-1])
    return (
        f"the {len(rows)} named nodes of step 2 ({', '.join(r[0] for r in rows)}) "
        f"agree too: worst relative error {worst[-1]:.1e} at {worst[0]}"
    )


def update_table(before: dict, gradients: dict, after: dict, rate: float) -> Table:
    table = Table(box=None, show_header=True, pad_edge=False)
    table.add_column("w", style="bold cyan")
    table.add_column("w before", justify="right")
    table.add_column("∂E/∂w", justify="right")
    table.add_column(f"− {rate:g}·∂E/∂w", justify="right")
    table.add_column("w after", justify="right")
    for name in before:
        table.add_row(
            name,
            f"{before[name]:+.5f}",
            f"{gradients[name]:+.5f}",
            f"{-rate * gradients[name]:+.5f}",
            f"{after[name]:+.5f}",
        )
    return table


LESSON = Backprop
