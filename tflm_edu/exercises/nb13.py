"""Checks for the exercises of notebooks/13_memory.ipynb.

13.1 the lower bound of a small plan, from buffer lifetimes (check_lower_bound)
13.2 the greedy planner's head for the same buffers, by hand (check_greedy_head)
13.3 which buffers reuse the bytes of the biggest one (check_shared_bytes)
13.4 the smallest arena with the linear planner (check_linear_arena)

Buffers written by hand are (name, bytes, first step, last step) tuples; a model's are the
interpreter's BufferInfo objects.
"""
from __future__ import annotations

from tflm_edu.exercises.core import Verdict, answered, compare


def _buffer_infos(buffers) -> list:
    """BufferInfo objects for (name, bytes, first, last) tuples (BufferInfos pass through)."""
    from tflm_edu.interpreter import BufferInfo
    return [b if isinstance(b, BufferInfo) else
            BufferInfo(str(b[0]), None, int(b[1]), first_created=int(b[2]), last_used=int(b[3]))
            for b in buffers]


def _plan(buffers, kind: str):
    """The planner `kind` ("greedy", "linear") with `buffers` added, as the allocator adds
    them: sizes rounded up to 16 bytes."""
    from tflm_edu.memory.arena import align_up
    from tflm_edu.memory.planner import make_planner
    planner = make_planner(kind)
    for b in _buffer_infos(buffers):
        planner.add_buffer(align_up(b.bytes), b.first_created, b.last_used, name=b.name)
    return planner


def check_lower_bound(answer, buffers) -> Verdict:
    """The most bytes alive at one step: no plan of `buffers` can use fewer."""
    from tflm_edu.arena_size import live_bytes_per_step
    live = live_bytes_per_step(_buffer_infos(buffers))
    peak = max(range(len(live)), key=live.__getitem__)
    alive = [b.name for b in _buffer_infos(buffers) if b.first_created <= peak <= b.last_used]
    return compare(answer, live[peak],
                   hint="for every step, add up the bytes of the buffers alive at that step "
                        "(first <= step <= last); the largest sum is the bound.",
                   right=f"{live[peak]:,} bytes, at step {peak}, where {' and '.join(alive)} "
                         f"are alive together. Bytes alive per step: {live}.")


def check_greedy_head(answer, buffers) -> Verdict:
    """The head TFLM's greedy planner needs for `buffers`."""
    from tflm_edu.arena_size import live_bytes_per_step
    greedy = _plan(buffers, "greedy")
    expected = greedy.get_maximum_memory_size()
    bound = max(live_bytes_per_step(_buffer_infos(buffers)))
    linear = _plan(buffers, "linear").get_maximum_memory_size()
    places = ", ".join(f"{b.name} at {o}" for b, o in zip(greedy.buffers, greedy.offsets))
    gap = (f" - {expected - bound:,} bytes above the lower bound {bound:,}: placing the "
           f"largest first is a good rule, not a perfect one" if expected > bound else
           " - exactly the lower bound")
    result = compare(answer, expected,
                     hint="take the buffers from largest to smallest; put each at the lowest "
                          "offset where it does not overlap (in bytes) any buffer already "
                          "placed that is alive at the same time (in steps). The head is the "
                          "highest end.",
                     right=f"{expected:,} bytes ({places}){gap}. The linear plan needs "
                           f"{linear:,}.")
    if result.correct is False and _is_number(answer) and answer in (bound, linear):
        which = "the lower bound" if answer == bound else "the linear plan, with no sharing"
        return Verdict(False, f"{answer:,} is {which}. Place the buffers one by one, largest "
                              f"first, each at the lowest offset where it overlaps no buffer "
                              f"already placed that is alive at the same time.")
    return result


def _is_number(value) -> bool:
    import numbers
    return isinstance(value, numbers.Number) and not isinstance(value, bool)


def _shares_bytes(a, b) -> bool:
    """Whether two planned buffers' bytes (rounded up to 16, as planned) overlap."""
    from tflm_edu.memory.arena import align_up
    return a.offset < b.offset + align_up(b.bytes) and b.offset < a.offset + align_up(a.bytes)


def check_shared_bytes(names, buffer, interpreter) -> Verdict:
    """Every buffer of the interpreter's plan, other than `buffer`, whose bytes overlap some
    of `buffer`'s bytes (at other times: the plan never overlaps buffers alive together)."""
    if not answered(names):
        return Verdict(None, f"{buffer.name} sits at offsets {buffer.offset:,} to "
                             f"{buffer.offset + buffer.bytes:,}: list the names of the other "
                             f"buffers whose [offset, offset + bytes) overlaps that.")
    if isinstance(names, str):
        names = [names]
    try:
        names = [getattr(n, "name", n) for n in names]   # BufferInfo objects are fine too
    except TypeError:
        return Verdict(False, "give the buffers' names, as a list of strings (not how many "
                              "there are).")
    planned = {b.name: b for b in interpreter.buffers if b.bytes > 0 and b is not buffer}
    sharing = {name for name, b in planned.items() if _shares_bytes(b, buffer)}
    for name in names:
        if not isinstance(name, str) or name not in planned:
            return Verdict(False, f"{name!r} is not a buffer of this plan (other than the one "
                                  f"asked about); use the names in interpreter.buffers.")
        if name not in sharing:
            b = planned[name]
            return Verdict(False, f"{name} lives at offsets {b.offset:,} to "
                                  f"{b.offset + b.bytes:,}, outside {buffer.name}'s "
                                  f"{buffer.offset:,} to {buffer.offset + buffer.bytes:,}.")
    missing = sharing - set(names)
    if missing:
        return Verdict(False, f"the {len(set(names))} you named do share its bytes, and "
                              f"{len(missing)} more do: compare offsets with a loop over "
                              f"interpreter.buffers.")
    return Verdict(True, f"{len(sharing)} buffers reuse bytes of {buffer.name}: every one of "
                         f"them is alive only before step {buffer.first_created} or after step "
                         f"{buffer.last_used}, while {buffer.name} is not. That reuse is the "
                         f"whole difference between the greedy and the linear plan.")


def smallest_arena(model, planner: str = "greedy") -> int:
    """tflm_edu's smallest arena for `model` with `planner` (what arena_size=None gives)."""
    from tflm_edu.interpreter import MicroInterpreter
    from tflm_edu.op_resolver import AllOpsResolver
    interpreter = MicroInterpreter(model, AllOpsResolver(), None, planner=planner)
    interpreter.allocate_tensors()
    return interpreter.arena.size


def check_linear_arena(answer, model) -> Verdict:
    """The smallest arena in which `model` allocates with the linear planner."""
    expected = smallest_arena(model, "linear")
    greedy = smallest_arena(model, "greedy")
    return compare(answer, expected,
                   hint="MicroInterpreter(model, AllOpsResolver(), n, planner=\"linear\")"
                        ".allocate_tensors() raises AllocationError when n bytes are too few: "
                        "bisect between a size that fails and one that works.",
                   right=f"{expected:,} bytes with the linear plan, {greedy:,} with the greedy "
                         f"one: sharing saves {expected - greedy:,} bytes "
                         f"({expected / greedy:.1f}x). The tail is the same; only the head "
                         f"changes.")
