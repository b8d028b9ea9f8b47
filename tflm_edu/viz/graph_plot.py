"""The model as a graph: ops as boxes coloured by op type, activation tensors as the
arrows between them (labelled with shape and dtype), constants listed inside their op.

Layered layout without graphviz: an op's layer is one more than the deepest op that
produces one of its inputs, so the picture reads top to bottom in execution order, and
ops of one layer (branches) sit side by side.
"""
from __future__ import annotations

import matplotlib.pyplot as plt

from tflm_edu.schema.enums import type_name
from tflm_edu.viz.common import allocated_interpreter, op_color

MAX_OPS_DRAWN = 200


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


def plot_graph(interpreter, figsize=None):
    interpreter = allocated_interpreter(interpreter)
    nodes = interpreter.nodes[:MAX_OPS_DRAWN]
    layers = graph_layers(interpreter)[:len(nodes)]
    depth = max(layers, default=0)
    position, per_layer = {}, {}
    for node, layer in zip(nodes, layers):
        column = per_layer.setdefault(layer, 0)
        per_layer[layer] += 1
        position[node.index] = (column * 3.0, -layer)
    for i, index in enumerate(interpreter.subgraph.inputs):  # graph inputs on layer 0
        position[("in", index)] = (i * 3.0, 0)
    width = max(per_layer.values(), default=1)
    fig, ax = plt.subplots(figsize=figsize or (max(6, 3 * width + 3), max(3, 0.9 * depth + 2)))
    producer = {o: n.index for n in nodes for o in n.outputs}
    for i, index in enumerate(interpreter.subgraph.inputs):
        x, y = position[("in", index)]
        ax.text(x, y, f"input {index}\n{_shape_text(interpreter.tensors[index])}",
                ha="center", va="center", fontsize=7,
                bbox=dict(boxstyle="round", facecolor="white", edgecolor="black"))
    for node in nodes:
        x, y = position[node.index]
        constants = [interpreter.tensors[i] for i in node.inputs
                     if i >= 0 and interpreter.tensors[i].is_constant]
        text = f"{node.index}: {node.op_name}"
        text += "".join(f"\n  {_shape_text(t)}" for t in constants[:3])
        ax.text(x, y, text, ha="center", va="center", fontsize=7,
                bbox=dict(boxstyle="round", facecolor=op_color(node.op_name), alpha=0.8,
                          edgecolor="black"))
        for i in node.inputs:
            if i < 0 or interpreter.tensors[i].is_constant:
                continue
            start = position.get(producer[i]) if i in producer else position.get(("in", i))
            if start is None:
                continue
            ax.annotate("", xy=(x, y + 0.25), xytext=(start[0], start[1] - 0.25),
                        arrowprops=dict(arrowstyle="->", color="#555555", lw=0.8))
            ax.text((x + start[0]) / 2 + 0.1, (y + start[1]) / 2,
                    _shape_text(interpreter.tensors[i]), fontsize=6, color="#333333",
                    va="center")
    ax.set_xlim(-1.8, 3.0 * width - 1.2)
    ax.set_ylim(-depth - 0.7, 0.7)
    ax.axis("off")
    title = f"{len(interpreter.nodes)} ops"
    if len(nodes) < len(interpreter.nodes):
        title += f" (first {len(nodes)} drawn)"
    ax.set_title(title)
    fig.tight_layout()
    return fig
