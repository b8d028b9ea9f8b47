"""Text views of a memory plan, after GreedyMemoryPlanner::PrintMemoryPlan.

TFLM prints one line per buffer (its character, size, offset and lifetime), then one line
per time step: the arena head drawn 80 characters wide, each live buffer as its ordinal
character ('0'-'9', 'a'-'z', 'A'-'Z'), '*' for a buffer that lives for one step only, '!'
where two live buffers overlap (a wrong plan), '.' for free bytes. Three changes make it
readable on its own, in a notebook that shows only its last lines:

- each step's bytes in use are exact ("32 B", "55,296 B"), where TFLM prints kilobytes
  rounded up ("(1k)" for 32 bytes);
- the widest row - the step with the most bytes in use - is marked, and the footer says
  what it means: the lower bound of any plan;
- the key (character -> tensor) is printed again at the very end, compactly, so a cut
  output still says which buffer is which.
"""
from __future__ import annotations

LINE_WIDTH = 80
KEY_WIDTH = 120  # characters per line of the compact key at the end


def ordinal_character(i: int) -> str:
    i %= 62
    if i < 10:
        return chr(ord("0") + i)
    if i < 36:
        return chr(ord("a") + i - 10)
    return chr(ord("A") + i - 36)


def buffer_character(index: int, buffer) -> str:
    return "*" if buffer.first_time_used == buffer.last_time_used else ordinal_character(index)


def format_bytes(n: int) -> str:
    """Bytes, exactly: '32 B', '55,296 B'."""
    return f"{n:,} B"


def short_names(names) -> list[str]:
    """Each name cut to its shortest '/'-separated tail that no other name ends with:
    'MobilenetV1/MobilenetV1/Conv2d_1_pointwise/Relu6' -> 'Conv2d_1_pointwise/Relu6'.
    Pictures and the compact key use them; the full names are in the table."""
    parts = [(name or "").split("/") for name in names]
    short = []
    for i, p in enumerate(parts):
        for n in range(1, len(p) + 1):
            tail = p[-n:]
            if not any(j != i and q[-n:] == tail for j, q in enumerate(parts)):
                break
        short.append("/".join(tail) if p != [""] else "")
    return short


def bytes_in_use(planner) -> list[int]:
    """Bytes of the planned buffers alive at each time step (what each chart row sums)."""
    buffers, offsets = planner.buffers, planner.offsets
    last = max([0] + [b.last_time_used for b in buffers])
    return [sum(b.size for b, o in zip(buffers, offsets)
                if b.first_time_used <= t <= b.last_time_used and o != -1)
            for t in range(last + 1)]


def format_memory_plan(planner, names: bool = True) -> str:
    buffers, offsets = planner.buffers, planner.offsets
    max_size = max([LINE_WIDTH] + [o + b.size for o, b in zip(offsets, buffers)])
    head = planner.get_maximum_memory_size()
    lines = [f"{getattr(planner, 'name', 'memory')} plan: {len(buffers)} buffers, "
             f"{head:,} bytes of head (as TFLM's PrintMemoryPlan: one line per buffer, then "
             f"one per step)"]
    for i, (b, offset) in enumerate(zip(buffers, offsets)):
        label = f"  {b.name}" if names and b.name else ""
        lines.append(f"{buffer_character(i, b)} (id={i}): size={b.size}, offset={offset}, "
                     f"first_used={b.first_time_used} last_used={b.last_time_used}{label}")
    in_use = bytes_in_use(planner)
    widest = max(range(len(in_use)), key=in_use.__getitem__) if buffers else 0
    ruler = f" {max_size:,} bytes across, offset 0 at the left ".center(LINE_WIDTH, "-")
    lines.append(f"step  {ruler} {'in use':>10}")
    for t in range(len(in_use)):
        mark = "  <- widest row" if t == widest and buffers else ""
        lines.append(_time_line(t, buffers, offsets, max_size, in_use[t]) + mark)
    if buffers:
        lines += _footer(widest, in_use[widest], head)
        lines += _key(buffers, names)
    return "\n".join(lines)


def _time_line(t, buffers, offsets, max_size, in_use) -> str:
    line = ["."] * LINE_WIDTH
    for i, (b, offset) in enumerate(zip(buffers, offsets)):
        if not b.first_time_used <= t <= b.last_time_used or offset == -1:
            continue
        start, end = offset * LINE_WIDTH // max_size, (offset + b.size) * LINE_WIDTH // max_size
        for n in range(start, end):
            line[n] = buffer_character(i, b) if line[n] == "." else "!"
    return f"{t:4d}: {''.join(line)} {format_bytes(in_use):>10}"


def _footer(widest: int, peak: int, head: int) -> list[str]:
    when = "the graph's inputs, before op 0" if widest == 0 else \
        f"while op {widest - 1} runs (op i runs at step i + 1)"
    verdict = "the plan reaches it" if head == peak else \
        f"this plan's head is {head - peak:,} bytes above it"
    return [f"widest row: step {widest}, {when}: {format_bytes(peak)} alive at once.",
            f"  No plan can use less head than the widest row ({verdict})."]


def _key(buffers, names: bool) -> list[str]:
    """The character -> tensor key again, several per line, short names."""
    short = short_names([b.name for b in buffers]) if names else [""] * len(buffers)
    entries = [f"{buffer_character(i, b)} {s or f'id={i}'}" for i, (b, s) in
               enumerate(zip(buffers, short))]
    width = max(len(e) for e in entries) + 2
    per_line = max(1, KEY_WIDTH // width)
    lines = ["key: one character per buffer ('*' alive for one step, '.' free, '!' two "
             "buffers overlap):"]
    for start in range(0, len(entries), per_line):
        lines.append("  " + "".join(e.ljust(width) for e in entries[start:start + per_line])
                     .rstrip())
    return lines


def print_memory_plan(planner, names: bool = True) -> None:
    print(format_memory_plan(planner, names))
