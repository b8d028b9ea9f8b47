"""Text views of a memory plan, after GreedyMemoryPlanner::PrintMemoryPlan.

One line per time step (op): the arena head drawn 80 characters wide, each live buffer
as its ordinal character ('0'-'9', 'a'-'z', 'A'-'Z'), '*' for a buffer that lives for
one step only, '!' where two live buffers overlap (a wrong plan), '.' for free bytes,
and the kilobytes in use at that step.
"""
from __future__ import annotations

LINE_WIDTH = 80


def ordinal_character(i: int) -> str:
    i %= 62
    if i < 10:
        return chr(ord("0") + i)
    if i < 36:
        return chr(ord("a") + i - 10)
    return chr(ord("A") + i - 36)


def buffer_character(index: int, buffer) -> str:
    return "*" if buffer.first_time_used == buffer.last_time_used else ordinal_character(index)


def format_memory_plan(planner, names: bool = True) -> str:
    buffers, offsets = planner.buffers, planner.offsets
    lines = []
    for i, (b, offset) in enumerate(zip(buffers, offsets)):
        label = f"  {b.name}" if names and b.name else ""
        lines.append(f"{buffer_character(i, b)} (id={i}): size={b.size}, offset={offset}, "
                     f"first_used={b.first_time_used} last_used={b.last_time_used}{label}")
    max_size = max([LINE_WIDTH] + [o + b.size for o, b in zip(offsets, buffers)])
    max_time = max([0] + [b.last_time_used for b in buffers])
    for t in range(max_time + 1):
        lines.append(_time_line(t, buffers, offsets, max_size))
    return "\n".join(lines)


def _time_line(t, buffers, offsets, max_size) -> str:
    line, in_use = ["."] * LINE_WIDTH, 0
    for i, (b, offset) in enumerate(zip(buffers, offsets)):
        if not b.first_time_used <= t <= b.last_time_used or offset == -1:
            continue
        in_use += b.size
        start, end = offset * LINE_WIDTH // max_size, (offset + b.size) * LINE_WIDTH // max_size
        for n in range(start, end):
            line[n] = buffer_character(i, b) if line[n] == "." else "!"
    return f"{t:4d}: {''.join(line)} ({(in_use + 1023) // 1024}k)"


def print_memory_plan(planner, names: bool = True) -> None:
    print(format_memory_plan(planner, names))
