"""The memory plan as a picture: op step (time) across, arena offset up, one rectangle per
buffer - the same data as MicroInterpreter.memory_plan_text() (GreedyMemoryPlanner::
PrintMemoryPlan draws it in text), taken from interpreter.planner.buffers / .offsets.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import Rectangle

from tflm_edu.arena_size import live_bytes_per_step
from tflm_edu.memory.plan_print import ordinal_character
from tflm_edu.viz.common import PALETTE, allocated_interpreter

LABEL_MIN_FRACTION = 0.04  # rectangles thinner than this share of the arena go unlabelled


def draw_memory_plan(ax, planner, title: str = "", highlight=None):
    """Draw `planner`'s buffers on `ax`. `highlight`: buffer indices drawn in red (the
    debugger marks what the current op writes)."""
    buffers, offsets = planner.buffers, planner.offsets
    head = max(planner.get_maximum_memory_size(), 1)
    last_time = max([0] + [b.last_time_used for b in buffers])
    for i, (b, offset) in enumerate(zip(buffers, offsets)):
        red = highlight is not None and i in highlight
        ax.add_patch(Rectangle((b.first_time_used - 0.45, offset),
                               b.last_time_used - b.first_time_used + 0.9, b.size,
                               facecolor="#c44e52" if red else PALETTE[i % len(PALETTE)],
                               edgecolor="black", linewidth=0.5, alpha=0.85))
        if b.size >= LABEL_MIN_FRACTION * head:
            ax.text((b.first_time_used + b.last_time_used) / 2, offset + b.size / 2,
                    ordinal_character(i), ha="center", va="center", fontsize=8)
    ax.set_xlim(-0.6, last_time + 0.6)
    ax.set_ylim(0, head * 1.02)
    ax.set_xlabel("op step (0 = inputs, op i runs at step i + 1)")
    ax.set_ylabel("arena offset (bytes)")
    ax.set_title(title or f"{planner.name} plan: {head:,} bytes of head")
    return ax


def plot_memory_plan(interpreter, figsize=(9, 5)):
    """One labelled rectangle per planned buffer; the legend maps characters to names,
    as memory_plan_text() does."""
    interpreter = allocated_interpreter(interpreter)
    fig, ax = plt.subplots(figsize=figsize)
    draw_memory_plan(ax, interpreter.planner)
    names = [f"{ordinal_character(i)}: {b.name}" for i, b in enumerate(interpreter.planner.buffers)]
    if len(names) <= 40:
        ax.legend(handles=[Rectangle((0, 0), 0, 0, alpha=0)] * len(names), labels=names,
                  loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=6, frameon=False,
                  handlelength=0)
    fig.tight_layout()
    return fig


def plot_planners(model, planners=("greedy", "linear"), figsize=(12, 4.5)):
    """The same model planned by each planner, side by side on one offset scale."""
    plans = [allocated_interpreter(_model_of(model), planner=p).planner for p in planners]
    fig, axes = plt.subplots(1, len(plans), figsize=figsize, sharey=True, squeeze=False)
    for ax, planner in zip(axes[0], plans):
        draw_memory_plan(ax, planner)
    top = max(p.get_maximum_memory_size() for p in plans)
    axes[0][0].set_ylim(0, max(top, 1) * 1.02)
    fig.tight_layout()
    return fig


def plot_arena_occupancy(interpreter, figsize=(9, 4)):
    """Bytes live at each op step, the lower bound (the most live at once: no plan can do
    better), the plan's head, and head + tail (the arena actually used)."""
    interpreter = allocated_interpreter(interpreter)
    live = live_bytes_per_step(interpreter.buffers)
    lower_bound = max(live, default=0)
    head, tail = interpreter.arena.head_bytes, interpreter.arena.tail_bytes
    fig, ax = plt.subplots(figsize=figsize)
    ax.bar(range(len(live)), live, color="#4c72b0", label="live bytes at this step")
    ax.axhline(lower_bound, color="#55a868", linestyle="--",
               label=f"lower bound {lower_bound:,} (most bytes live at once)")
    ax.axhline(head, color="#c44e52", label=f"planned head {head:,}")
    ax.axhline(head + tail, color="#8172b3", linestyle=":",
               label=f"head + tail {head + tail:,} (tail {tail:,} persistent)")
    ax.set_xlabel("op step")
    ax.set_ylabel("bytes")
    ax.set_title("Arena occupancy over time")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def _model_of(model):
    """Each planner needs its own interpreter: start from the Model, not from one that is
    already allocated with another plan."""
    micro = getattr(model, "micro", None)
    if micro is not None:
        model = micro
    return getattr(model, "model", model) if hasattr(model, "planner") else model
