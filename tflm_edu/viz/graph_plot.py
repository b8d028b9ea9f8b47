"""The model as a graph: ops as boxes coloured by op type (op_color), each box naming its
op, the shape of what it writes and the shape of its weights; arrows are the activations
that flow from op to op - the only tensors that need arena bytes.

Layered layout without graphviz: an op's layer is one more than the deepest op that
produces one of its inputs, so layers follow execution order and the ops of one layer
(branches) sit side by side. A long chain would be one column several screens tall, so the
layers are wrapped into columns, newspaper-style: each column reads top to bottom, and an
arrow that continues in the next column runs up the gutter between them. The number of
columns is chosen for a landscape figure; everything is laid out in inches, so the text
keeps its size (FONT points) whatever the model.
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
from matplotlib.colors import to_rgb
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from tflm_edu.schema.enums import type_name
from tflm_edu.viz.common import (FONT, allocated_interpreter, model_label, op_color,
                                 text_size, titled)

MAX_OPS_DRAWN = 200
TARGET_ASPECT = 1.6       # width / height the column count aims for
MAX_WIDTH = 10.0          # inches: about a JupyterLab output area at 100 dpi
PAD = 0.07                # inches of box padding around the text
ROW_GAP, SUB_GAP, GUTTER = 0.34, 0.12, 0.42   # inches between rows, branches, columns
TITLE_HEIGHT = 0.5


def graph_layers(interpreter) -> list[int]:
    """Layer of every op (graph inputs are layer 0, the first op layer 1)."""
    producer, layers = {}, []
    for node in interpreter.nodes:
        inputs = [i for i in node.inputs if i >= 0 and i in producer]
        layers.append(1 + max([layers[producer[i]] for i in inputs], default=0))
        for o in node.outputs:
            producer[o] = node.index
    return layers


def _shape_text(t) -> str:
    return f"{'x'.join(map(str, t.shape)) or 'scalar'} {type_name(t.type).lower()}"


def _box_text(interpreter, node) -> str:
    """'2 CONV_2D' / what it writes / its weights' shape."""
    outputs = [_shape_text(interpreter.tensors[o]) for o in node.outputs if o >= 0]
    lines = [f"{node.index} {node.op_name}",
             ", ".join(outputs[:2]) + (f" +{len(outputs) - 2}" if len(outputs) > 2 else "")]
    constants = [interpreter.tensors[i] for i in node.inputs
                 if i >= 0 and interpreter.tensors[i].is_constant
                 and len(interpreter.tensors[i].shape) > 1]
    if constants:
        lines.append("weights " + "x".join(map(str, constants[0].shape)))
    return "\n".join(lines)


class GraphLayout:
    """Where every box goes, in inches from the figure's bottom-left corner."""

    def __init__(self, items_per_layer: list[list], texts: dict):
        self.layers = items_per_layer
        sizes = [text_size(t, FONT) for t in texts.values()]
        self.box_w = max(w for w, _ in sizes) / 72 + 2 * PAD
        self.box_h = max(h for _, h in sizes) / 72 + 2 * PAD
        self.branches = max(len(items) for items in items_per_layer)
        self.band = self.branches * self.box_w + (self.branches - 1) * SUB_GAP
        self.rows = self._choose_rows()
        self.columns = math.ceil(len(items_per_layer) / self.rows)
        self.width = self.columns * (self.band + GUTTER) + GUTTER
        self.height = self.rows * (self.box_h + ROW_GAP) + ROW_GAP + TITLE_HEIGHT
        self.centre = {}
        for layer, items in enumerate(items_per_layer):
            column, row = divmod(layer, self.rows)
            left = self.column_left(column) + (self.band - self._span(len(items))) / 2
            for k, item in enumerate(items):
                self.centre[item] = (left + k * (self.box_w + SUB_GAP) + self.box_w / 2,
                                     self.row_centre(row))
        self.row_of = {item: layer % self.rows for layer, items in enumerate(items_per_layer)
                       for item in items}
        self.column_of = {item: layer // self.rows
                          for layer, items in enumerate(items_per_layer) for item in items}

    def _span(self, n: int) -> float:
        return n * self.box_w + (n - 1) * SUB_GAP

    def _size(self, rows: int) -> tuple[float, float]:
        columns = math.ceil(len(self.layers) / rows)
        return (columns * (self.band + GUTTER) + GUTTER,
                rows * (self.box_h + ROW_GAP) + ROW_GAP + TITLE_HEIGHT)

    def _choose_rows(self) -> int:
        """Rows per column: the most landscape-like figure no wider than MAX_WIDTH (one
        column when even that is wider)."""
        candidates = [r for r in range(1, len(self.layers) + 1)
                      if self._size(r)[0] <= MAX_WIDTH] or [len(self.layers)]
        return min(candidates, key=lambda r: (abs(math.log(self._size(r)[0] / self._size(r)[1]
                                                           / TARGET_ASPECT)), -r))

    def column_left(self, column: int) -> float:
        return GUTTER + column * (self.band + GUTTER)

    def row_centre(self, row: int) -> float:
        top = self.height - TITLE_HEIGHT - ROW_GAP
        return top - row * (self.box_h + ROW_GAP) - self.box_h / 2

    def route(self, source, target, lane: float) -> list[tuple[float, float]]:
        """The arrow's corners: straight down to the next row of the same column;
        otherwise along the corridor under the source's row, up or down the gutter left of
        the target's column (offset by `lane`), and along the corridor above the target."""
        (sx, sy), (tx, ty) = self.centre[source], self.centre[target]
        start, end = (sx, sy - self.box_h / 2), (tx, ty + self.box_h / 2)
        below, above = start[1] - ROW_GAP / 2, end[1] + ROW_GAP / 2
        same_column = self.column_of[source] == self.column_of[target]
        if same_column and self.row_of[target] == self.row_of[source] + 1:
            return [start, end] if abs(sx - tx) < 1e-9 else \
                [start, (sx, below), (tx, below), end]
        gutter = self.column_left(self.column_of[target]) - GUTTER / 2 + lane
        return [start, (sx, below), (gutter, below), (gutter, above), (tx, above), end]


def plot_graph(interpreter, figsize=None, name: str | None = None):
    """The graph of subgraph 0. `name` titles it (default: the file's stem when given a
    path). figsize: the layout's own size by default; another size scales the text."""
    label = model_label(interpreter, name)
    interpreter = allocated_interpreter(interpreter)
    nodes = interpreter.nodes[:MAX_OPS_DRAWN]
    layers = graph_layers(interpreter)[:len(nodes)]
    inputs = [("in", i) for i in interpreter.subgraph.inputs]
    per_layer = [list(inputs)] + [[] for _ in range(max(layers, default=0))]
    for node, layer in zip(nodes, layers):
        per_layer[layer].append(node.index)
    per_layer = [items for items in per_layer if items]
    texts = {item: f"input {item[1]}\n{_shape_text(interpreter.tensors[item[1]])}"
             for item in inputs}
    texts.update({node.index: _box_text(interpreter, node) for node in nodes})
    layout = GraphLayout(per_layer, texts)

    scale = 1.0 if figsize is None else min(figsize[0] / layout.width,
                                            figsize[1] / layout.height)
    fig = plt.figure(figsize=figsize or (layout.width, layout.height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, layout.width)
    ax.set_ylim(0, layout.height)
    ax.axis("off")
    for item, text in texts.items():
        _draw_box(ax, layout, item, text, "white" if item in inputs else
                  op_color(interpreter.nodes[item].op_name), FONT * scale)
    _draw_edges(ax, layout, interpreter, nodes, scale)
    title = f"{len(interpreter.nodes)} ops"
    if len(nodes) < len(interpreter.nodes):
        title += f" (first {len(nodes)} drawn)"
    ax.text(layout.width / 2, layout.height - TITLE_HEIGHT / 2, titled(title, label),
            ha="center", va="center", fontsize=(FONT + 3) * scale)
    return fig


def _draw_box(ax, layout, item, text, colour, fontsize):
    x, y = layout.centre[item]
    ax.add_patch(FancyBboxPatch((x - layout.box_w / 2, y - layout.box_h / 2), layout.box_w,
                                layout.box_h, boxstyle="round,pad=0,rounding_size=0.06",
                                facecolor=colour, edgecolor="#333333", linewidth=0.8))
    dark = sum(c * w for c, w in zip(to_rgb(colour), (0.299, 0.587, 0.114))) < 0.5
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize,
            color="white" if dark else "black", linespacing=1.2)


def _draw_edges(ax, layout, interpreter, nodes, scale):
    producer = {o: n.index for n in nodes for o in n.outputs}
    producer.update({i: ("in", i) for i in interpreter.subgraph.inputs})
    lanes = {}   # edges sharing a gutter are spread a little apart
    for node in nodes:
        for i in node.inputs:
            if i < 0 or interpreter.tensors[i].is_constant or producer.get(i) not in layout.centre:
                continue
            source = producer[i]
            gutter = layout.column_of[node.index]
            lane = lanes.setdefault(gutter, [])
            lane.append(node.index)
            k = (len(lane) - 1) % 9
            offset = (k + 1) // 2 * (0.05 if k % 2 else -0.05)
            points = layout.route(source, node.index, offset)
            if len(points) > 2:
                xs, ys = zip(*points[:-1])
                ax.add_line(Line2D(xs, ys, color="#555555", lw=0.9 * scale))
            ax.add_patch(FancyArrowPatch(points[-2], points[-1], arrowstyle="-|>",
                                         mutation_scale=9 * scale, color="#555555",
                                         lw=0.9 * scale, shrinkA=0, shrinkB=0))
