"""The memory plan as a picture: op step (time) across, arena offset up, one rectangle per
buffer - the same data as MicroInterpreter.memory_plan_text() (GreedyMemoryPlanner::
PrintMemoryPlan draws it in text), taken from interpreter.planner.buffers / .offsets.

A rectangle carries its buffer's key and tensor name when they fit inside it, its key
alone when only that fits; the table beside the plot lists every buffer - key, tensor,
bytes, first and last step - with the same keys as the text chart's characters.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import Rectangle
from matplotlib.transforms import offset_copy

from tflm_edu.arena_size import live_bytes_per_step
from tflm_edu.memory.plan_print import ordinal_character, short_names
from tflm_edu.viz.common import (FONT, PALETTE, SMALL_FONT, allocated_interpreter,
                                 integer_ticks, model_label, text_size, thousands, titled)

LABEL_PADDING = 2          # points between a label and its rectangle's edges
TABLE_ROW = 1.3 * SMALL_FONT   # points from one table row to the next
MAX_TABLE_ROWS = 64
HIGHLIGHT = "#c44e52"


def draw_memory_plan(ax, planner, title: str = "", highlight=None):
    """Draw `planner`'s buffers on `ax` (labels come later, from label_buffers, once the
    figure's layout says how big each rectangle is). `highlight`: buffer indices drawn in
    red (the debugger marks what the current op writes)."""
    buffers, offsets = planner.buffers, planner.offsets
    head = max(planner.get_maximum_memory_size(), 1)
    last_time = max([0] + [b.last_time_used for b in buffers])
    for i, (b, offset) in enumerate(zip(buffers, offsets)):
        red = highlight is not None and i in highlight
        ax.add_patch(Rectangle((b.first_time_used - 0.45, offset),
                               b.last_time_used - b.first_time_used + 0.9, b.size,
                               facecolor=HIGHLIGHT if red else PALETTE[i % len(PALETTE)],
                               edgecolor="black", linewidth=0.5, alpha=0.85))
    ax.set_xlim(-0.6, last_time + 0.6)
    ax.set_ylim(0, head * 1.02)
    ax.set_xlabel("op step (0 = inputs, op i runs at step i + 1)", fontsize=FONT)
    ax.set_ylabel("arena offset (bytes)", fontsize=FONT)
    ax.tick_params(labelsize=FONT)
    integer_ticks(ax.xaxis)
    thousands(ax.yaxis)
    ax.set_title(title or f"{planner.name} plan: {head:,} bytes of head", fontsize=FONT + 1)
    return ax


def label_buffers(ax, planner) -> None:
    """Write each buffer's key and short tensor name inside its rectangle where they fit
    (turned upright in tall, narrow ones), its key alone where only that fits. Call after
    the layout is done: it measures the rectangles in points."""
    fig = ax.figure
    to_points = 72 / fig.dpi
    names = short_names([b.name for b in planner.buffers])
    for i, (b, offset) in enumerate(zip(planner.buffers, planner.offsets)):
        (x0, y0), (x1, y1) = ax.transData.transform(
            [(b.first_time_used - 0.45, offset), (b.last_time_used + 0.45, offset + b.size)])
        width, height = (x1 - x0) * to_points, (y1 - y0) * to_points
        key = ordinal_character(i)
        for text in ([f"{key} {names[i]}"] if names[i] else []) + [key]:
            rotation = _fitting_rotation(text, width, height)
            if rotation is not None:
                ax.text((b.first_time_used + b.last_time_used) / 2, offset + b.size / 2, text,
                        ha="center", va="center", fontsize=SMALL_FONT, rotation=rotation,
                        clip_on=True, in_layout=False, gid=f"buffer {i}")
                break


def _fitting_rotation(text, width, height):
    w, h = text_size(text, SMALL_FONT)
    room_w, room_h = width - 2 * LABEL_PADDING, height - 2 * LABEL_PADDING
    if w <= room_w and h <= room_h:
        return 0
    if len(text) > 1 and h <= room_w and w <= room_h:   # one character upright reads badly
        return 90
    return None


def table_rows(planner) -> list[str]:
    """The legend table, one line per buffer: key, tensor (short name), bytes, steps."""
    names = short_names([b.name for b in planner.buffers])
    width = max([6] + [len(n) for n in names])
    rows = [f"key  {'tensor':{width}s}  {'bytes':>7s}  steps"]
    order = range(len(planner.buffers))
    if len(planner.buffers) > MAX_TABLE_ROWS:   # the biggest ones, in key order
        order = sorted(sorted(order, key=lambda i: -planner.buffers[i].size)[:MAX_TABLE_ROWS])
    for i in order:
        b = planner.buffers[i]
        rows.append(f"{ordinal_character(i):>3}  {names[i] or '(scratch)':{width}s}  "
                    f"{b.size:>7,}  {b.first_time_used}-{b.last_time_used}")
    if len(order) < len(planner.buffers):
        rows.append(f"... and {len(planner.buffers) - len(order)} smaller buffers: "
                    f"memory_plan_text() lists all")
    return rows


def draw_table(ax, rows) -> None:
    """`rows` as monospace lines from the top-left of `ax`, a fixed distance apart (the
    layout makes room for them: they are in it)."""
    ax.axis("off")
    for k, row in enumerate(rows):
        where = offset_copy(ax.transAxes, fig=ax.figure, y=-k * TABLE_ROW, units="points")
        ax.text(0, 1, row, transform=where, ha="left", va="top", family="monospace",
                fontsize=SMALL_FONT, fontweight="bold" if k == 0 else "normal")


def _table_size(rows) -> tuple[float, float]:
    """(width, height) in inches of draw_table's rows."""
    width = max(text_size(r, SMALL_FONT, "monospace")[0] for r in rows)
    return width / 72 + 0.1, (len(rows) * TABLE_ROW + SMALL_FONT) / 72


def _plan_figure(plots: int, rows, figsize, plot_width=5.6):
    """A constrained-layout figure: `plots` plan axes side by side, the table beside."""
    table_w, table_h = _table_size(rows)
    figsize = figsize or (plot_width + table_w + 0.9, max(4.8, table_h + 1.2))
    fig, axes = plt.subplots(1, plots + 1, figsize=figsize, layout="constrained",
                             width_ratios=[plot_width / plots] * plots + [table_w])
    return fig, axes[:plots], axes[plots]


def plot_memory_plan(interpreter, figsize=None, name: str | None = None):
    """One rectangle per planned buffer, labelled where the label fits; the table beside
    maps keys to tensors, as memory_plan_text() does. `name` titles it (default: the
    file's stem when given a path)."""
    label = model_label(interpreter, name)
    interpreter = allocated_interpreter(interpreter)
    planner = interpreter.planner
    rows = table_rows(planner)
    fig, (ax,), table = _plan_figure(1, rows, figsize)
    head = planner.get_maximum_memory_size()
    draw_memory_plan(ax, planner, titled(f"{planner.name} plan: {head:,} bytes of head", label))
    draw_table(table, rows)
    fig.draw_without_rendering()
    label_buffers(ax, planner)
    return fig


def plot_planners(model, planners=("greedy", "linear"), figsize=None, name: str | None = None):
    """The same model planned by each planner, side by side on one offset scale."""
    label = model_label(model, name)
    plans = [allocated_interpreter(_model_of(model), planner=p).planner for p in planners]
    rows = table_rows(plans[0])
    fig, axes, table = _plan_figure(len(plans), rows, figsize, plot_width=3.2 * len(plans))
    top = max(max(p.get_maximum_memory_size() for p in plans), 1)
    for ax, planner in zip(axes, plans):
        draw_memory_plan(ax, planner, f"{planner.name}: "
                                      f"{planner.get_maximum_memory_size():,} bytes of head")
        ax.set_ylim(0, top * 1.02)
    for ax in axes[1:]:
        ax.set_ylabel("")
    draw_table(table, rows)
    if label:
        fig.suptitle(f"{label}: {' vs '.join(planners)}", fontsize=FONT + 2)
    fig.draw_without_rendering()
    for ax, planner in zip(axes, plans):
        label_buffers(ax, planner)
    return fig


def plot_arena_occupancy(interpreter, figsize=(9, 4.5), name: str | None = None):
    """Bytes live at each op step, the lower bound (the most live at once: no plan can do
    better), the plan's head, and head + tail (the arena actually used). The legend sits
    under the plot, clear of the bars."""
    label = model_label(interpreter, name)
    interpreter = allocated_interpreter(interpreter)
    live = live_bytes_per_step(interpreter.buffers)
    lower_bound = max(live, default=0)
    head, tail = interpreter.arena.head_bytes, interpreter.arena.tail_bytes
    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    ax.bar(range(len(live)), live, color="#4c72b0", label="live bytes at this step")
    ax.axhline(lower_bound, color="#55a868", linestyle="--", zorder=3,
               label=f"lower bound {lower_bound:,} (most bytes live at once)")
    ax.axhline(head, color="#c44e52", label=f"planned head {head:,}")
    ax.axhline(head + tail, color="#8172b3", linestyle=":",
               label=f"head + tail {head + tail:,} (tail {tail:,} persistent)")
    ax.set_xlabel("op step (0 = inputs, op i runs at step i + 1)", fontsize=FONT)
    ax.set_ylabel("bytes", fontsize=FONT)
    ax.tick_params(labelsize=FONT)
    integer_ticks(ax.xaxis)
    thousands(ax.yaxis)
    ax.set_xlim(-0.6, len(live) - 0.4)
    ax.set_ylim(0, (head + tail) * 1.05 or 1)
    ax.set_title(titled("arena occupancy over time", label), fontsize=FONT + 1)
    fig.legend(loc="outside lower center", ncols=2, fontsize=FONT, frameon=False)
    return fig


def _model_of(model):
    """Each planner needs its own interpreter: start from the Model, not from one that is
    already allocated with another plan."""
    micro = getattr(model, "micro", None)
    if micro is not None:
        model = micro
    return getattr(model, "model", model) if hasattr(model, "planner") else model
