"""A picture of the arena: the head's memory plan, the temporaries, the tail's structs.

Top: the arena as one bar, address 0 at the left - the head (the plan) grows up from the
start, the tail (persistent structs) grows down from the end, and the gap between them is
the room that only temporaries need while allocating. Bottom: the memory plan of the head,
op step against offset, the same data print_memory_plan() draws in text.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import Patch, Rectangle

from tflm_edu.memory import allocator as rp
from tflm_edu.memory.plan_print import ordinal_character

HEAD_COLOR, TEMP_COLOR = "#4c72b0", "#dddddd"
TAIL_COLORS = {rp.EVAL_TENSORS: "#dd8452", rp.PERSISTENT_TENSORS: "#c44e52",
               rp.PERSISTENT_QUANTIZATION: "#da8bc3", rp.PERSISTENT_BUFFERS: "#55a868",
               rp.VARIABLES: "#8c8c8c", rp.NODES: "#937860", rp.BUILTIN_DATA: "#ccb974",
               rp.ALLOCATOR_OBJECTS: "#64b5cd", rp.SCRATCH_HANDLES: "#8172b3"}


def plot_estimate(estimate, figsize=(10, 5.5)):
    fig, (bar, plan) = plt.subplots(2, 1, figsize=figsize,
                                    gridspec_kw={"height_ratios": [1, 2.2]})
    _draw_arena_bar(bar, estimate)
    _draw_plan(plan, estimate)
    fig.tight_layout()
    return fig


def _draw_arena_bar(ax, estimate):
    total = estimate.arena_bytes
    ax.add_patch(Rectangle((0, 0), estimate.head_bytes, 1, color=HEAD_COLOR))
    ax.add_patch(Rectangle((estimate.head_bytes, 0), estimate.temp_bytes, 1, facecolor=TEMP_COLOR,
                           hatch="//", edgecolor="#999999", linewidth=0))
    end = total  # the tail is allocated from the end of the arena downwards
    for a in estimate.allocations:
        if a.side == "tail":
            ax.add_patch(Rectangle((end - a.used, 0), a.used, 1,
                                   color=TAIL_COLORS.get(a.category, "#999999")))
            end -= a.used
    ax.set_xlim(0, total)
    ax.set_ylim(0, 1)
    ax.set_yticks([])
    ax.set_xlabel("arena offset (bytes)")
    ax.set_title(f"{estimate.model_name} on {estimate.target.name}: {total:,} bytes "
                 f"= head {estimate.head_bytes:,} + temporary {estimate.temp_bytes:,} "
                 f"+ tail {estimate.tail_bytes:,}", fontsize=10)
    present = [c for c in TAIL_COLORS if c in estimate.tail_categories()]
    handles = [Patch(color=HEAD_COLOR, label="head: memory plan"),
               Patch(facecolor=TEMP_COLOR, hatch="//", edgecolor="#999999",
                     label="temporary while allocating")]
    handles += [Patch(color=TAIL_COLORS[c], label=c) for c in present]
    ax.legend(handles=handles, fontsize=7, ncol=3, loc="upper center",
              bbox_to_anchor=(0.5, -0.55), frameon=False)


def _draw_plan(ax, estimate):
    planner = estimate.planner
    buffers, offsets = (planner.buffers, planner.offsets) if planner is not None else ([], [])
    cmap = plt.get_cmap("tab20")
    for i, (b, offset) in enumerate(zip(buffers, offsets)):
        first, last = max(b.first_time_used, 0), max(b.last_time_used, 0)
        ax.add_patch(Rectangle((first - 0.45, offset), last - first + 0.9, b.size,
                               facecolor=cmap(i % 20), edgecolor="black", linewidth=0.5))
        if b.size >= 0.04 * max(estimate.head_bytes, 1):
            ax.text((first + last) / 2, offset + b.size / 2, ordinal_character(i),
                    ha="center", va="center", fontsize=7)
    steps = max([b.last_time_used for b in buffers] + [1])
    ax.set_xlim(-0.6, steps + 0.6)
    ax.set_ylim(0, max(estimate.head_bytes, 16) * 1.05)
    ax.axhline(estimate.head_bytes, color="black", linestyle="--", linewidth=0.8)
    ax.set_xlabel("op step (0: graph inputs; op i runs at step i + 1)")
    ax.set_ylabel("head offset (bytes)")
    ax.set_title(f"the head: greedy memory plan of {len(buffers)} buffers", fontsize=10)
