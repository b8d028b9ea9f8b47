"""Where the time goes: time and MACs per op, from interpreter.profile()."""
from __future__ import annotations

import matplotlib.pyplot as plt

from tflm_edu.viz.common import (FONT, SMALL_FONT, allocated_interpreter, integer_ticks,
                                 model_label, op_color, thousands, titled)


def plot_profile(profile_or_interpreter, runs: int = 1, figsize=(10, 5.5),
                 name: str | None = None):
    """Two bar charts sharing the op axis: milliseconds on this PC (tflm_edu's numpy
    kernels, not a microcontroller) and MACs, coloured by op type. Pass
    interpreter.profile()'s list, or an interpreter (profiled `runs` times)."""
    label = model_label(profile_or_interpreter, name)
    profile = profile_or_interpreter
    if not isinstance(profile, list):
        profile = allocated_interpreter(profile).profile(runs=runs)
    ops = [p["op"] for p in profile]
    colors = [op_color(p["name"]) for p in profile]
    fig, (time_ax, macs_ax) = plt.subplots(2, 1, figsize=figsize, sharex=True,
                                           layout="constrained")
    time_ax.bar(ops, [p["seconds"] * 1e3 for p in profile], color=colors)
    time_ax.set_ylabel("ms on this PC", fontsize=FONT)
    total_ms = sum(p["seconds"] for p in profile) * 1e3
    total_macs = sum(p["macs"] for p in profile)
    time_ax.set_title(titled(f"{len(profile)} ops: {total_ms:.2f} ms on this PC, "
                             f"{total_macs:,} MACs", label), fontsize=FONT + 1)
    macs_ax.bar(ops, [p["macs"] for p in profile], color=colors)
    macs_ax.set_ylabel("MACs", fontsize=FONT)
    macs_ax.set_xlabel("op", fontsize=FONT)
    thousands(macs_ax.yaxis)
    integer_ticks(macs_ax.xaxis)
    for ax in (time_ax, macs_ax):
        ax.tick_params(labelsize=SMALL_FONT)
    names = sorted({p["name"] for p in profile})
    fig.legend(handles=[plt.Rectangle((0, 0), 1, 1, color=op_color(n)) for n in names],
               labels=names, fontsize=SMALL_FONT, loc="outside right upper", frameon=False)
    if len(ops) <= 40:
        macs_ax.set_xticks(ops)
    return fig


def latency_label(info) -> str:
    """What a board's latency really is, from its BoardInfo: QEMU counts instructions (its
    virtual clock runs 1 ns per instruction), the Python VirtualBoard times tflm_edu's
    interpreter on this PC, a real board its own clock."""
    if info.counter == "instructions":
        return "QEMU virtual time (ms)\n= instructions / 1,000,000"
    if info.board == "virtual":
        return "time on this PC (ms)\n(Python VirtualBoard)"
    return f"time on the board (ms)\n({info.board}, counting {info.counter})"


def plot_board_latency(report, info, ax=None):
    """verify()'s report drawn with its latency axis named for what it measured (see
    latency_label) and whole-number input ticks."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.2), layout="constrained")
    report.plot(ax)
    ax.set_ylabel(latency_label(info), fontsize=FONT)
    ax.set_xlabel("input", fontsize=FONT)
    integer_ticks(ax.xaxis)
    ax.ticklabel_format(axis="y", style="plain", useOffset=False)   # 525.846, not +5.258e2
    ax.tick_params(labelsize=SMALL_FONT)
    return ax
