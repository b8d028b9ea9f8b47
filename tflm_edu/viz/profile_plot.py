"""Where the time goes: time and MACs per op, from interpreter.profile()."""
from __future__ import annotations

import matplotlib.pyplot as plt

from tflm_edu.viz.common import allocated_interpreter, op_color


def plot_profile(profile_or_interpreter, runs: int = 1, figsize=(10, 5)):
    """Two bar charts sharing the op axis: milliseconds and MACs, coloured by op type.
    Pass interpreter.profile()'s list, or an interpreter (profiled `runs` times)."""
    profile = profile_or_interpreter
    if not isinstance(profile, list):
        profile = allocated_interpreter(profile).profile(runs=runs)
    ops = [p["op"] for p in profile]
    colors = [op_color(p["name"]) for p in profile]
    fig, (time_ax, macs_ax) = plt.subplots(2, 1, figsize=figsize, sharex=True)
    time_ax.bar(ops, [p["seconds"] * 1e3 for p in profile], color=colors)
    time_ax.set_ylabel("ms")
    total_ms = sum(p["seconds"] for p in profile) * 1e3
    total_macs = sum(p["macs"] for p in profile)
    time_ax.set_title(f"{len(profile)} ops: {total_ms:.2f} ms, {total_macs:,} MACs")
    macs_ax.bar(ops, [p["macs"] for p in profile], color=colors)
    macs_ax.set_ylabel("MACs")
    macs_ax.set_xlabel("op")
    names = sorted({p["name"] for p in profile})
    macs_ax.legend(handles=[plt.Rectangle((0, 0), 1, 1, color=op_color(n)) for n in names],
                   labels=names, fontsize=7, loc="upper right")
    if len(ops) <= 40:
        macs_ax.set_xticks(ops)
    fig.tight_layout()
    return fig
