"""Memory planners: where in the arena's head each non-persistent buffer lives.

Mirrors tensorflow/lite/micro/memory_planner/ (MicroMemoryPlanner, GreedyMemoryPlanner,
LinearMemoryPlanner). A planner is given buffers - a size and the first and last time
(op step) they are used - and chooses offsets so that buffers alive at the same time
never overlap. Sizes arrive already rounded up to 16 bytes by the allocator, so offsets
stay 16-byte aligned.
"""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

ONLINE = -1  # kOnlinePlannedBuffer: the planner chooses the offset


@dataclass
class BufferRequirements:
    size: int
    first_time_used: int
    last_time_used: int
    offline_offset: int = ONLINE
    name: str = ""

    def overlaps_in_time(self, other: "BufferRequirements") -> bool:
        return not (self.first_time_used > other.last_time_used
                    or other.first_time_used > self.last_time_used)


class MemoryPlanner:
    """The common interface: add_buffer() each buffer, then read offsets."""

    name = "planner"

    def __init__(self):
        self.buffers: list[BufferRequirements] = []
        self._offsets: list[int] | None = None

    def add_buffer(self, size, first_time_used, last_time_used, offline_offset=ONLINE, name=""):
        self.buffers.append(BufferRequirements(size, first_time_used, last_time_used,
                                               offline_offset, name))
        self._offsets = None

    @property
    def offsets(self) -> list[int]:
        if self._offsets is None:
            self._offsets = self._calculate_offsets()
        return self._offsets

    def get_offset_for_buffer(self, index: int) -> int:
        return self.offsets[index]

    def get_maximum_memory_size(self) -> int:
        """Bytes of arena head the plan needs: the end of the highest buffer."""
        return max((o + b.size for o, b in zip(self.offsets, self.buffers)), default=0)

    def do_any_buffers_overlap(self) -> bool:
        return self.overlapping_pair() is not None

    def overlapping_pair(self) -> tuple[int, int] | None:
        """Two buffers alive at the same time whose bytes overlap, or None. A sweep over
        the buffers in offset order: each is compared only with those whose bytes it
        reaches into."""
        offsets = self.offsets
        order = sorted(range(len(self.buffers)), key=lambda i: offsets[i])
        reaching: list[int] = []   # buffers whose bytes extend past the current offset
        for i in order:
            a = self.buffers[i]
            if a.size == 0:
                continue
            reaching = [j for j in reaching if offsets[j] + self.buffers[j].size > offsets[i]]
            for j in reaching:
                if a.overlaps_in_time(self.buffers[j]):
                    return (j, i) if j < i else (i, j)
            reaching.append(i)
        return None

    def _calculate_offsets(self) -> list[int]:
        raise NotImplementedError

    def __repr__(self):
        return (f"{type(self).__name__}({len(self.buffers)} buffers, "
                f"{self.get_maximum_memory_size():,} bytes)")


class LinearMemoryPlanner(MemoryPlanner):
    """Every buffer gets its own bytes, one after another: simple, and the upper bound."""

    name = "linear"

    def _calculate_offsets(self):
        offsets, end = [], 0
        for buffer in self.buffers:
            offsets.append(end)
            end += buffer.size
        return offsets


class GreedyMemoryPlanner(MemoryPlanner):
    """TFLM's default planner.

    Put the large buffers in place first, then the smaller ones fit in the gaps: buffers are
    taken in decreasing size, and each goes at the lowest offset where it fits between the
    buffers already placed that are alive at the same time. Offline-planned buffers
    (from the model's "OfflineMemoryAllocation" metadata) keep their offsets and are placed
    first. Ties in size are broken exactly as TFLM's bubble sort breaks them, so offsets
    equal TFLM's for the same buffers.
    """

    name = "greedy"

    def _placement_order(self) -> list[int]:
        offline = [i for i, b in enumerate(self.buffers) if b.offline_offset != ONLINE]
        # TFLM fills the online part of its sort array from the back, so online buffers start
        # in reverse order of addition; its bubble sort (descending size) is stable.
        online = [i for i, b in enumerate(self.buffers) if b.offline_offset == ONLINE][::-1]
        online.sort(key=lambda i: -self.buffers[i].size)
        return offline + online

    def _calculate_offsets(self):
        offsets = [ONLINE] * len(self.buffers)
        never_live = self._never_live()
        stacked = 0  # the never-live buffers, stacked in placement order (see _never_live)
        placed: list[int] = []  # buffer ids, kept sorted by offset (TFLM's linked list)
        placed_offsets: list[int] = []
        for buffer_id in self._placement_order():
            wanted = self.buffers[buffer_id]
            if buffer_id in never_live:
                offsets[buffer_id], stacked = stacked, stacked + wanted.size
                continue
            if wanted.offline_offset != ONLINE:
                offset = wanted.offline_offset
            else:
                offset = self._first_gap(wanted, placed, offsets)
            offsets[buffer_id] = offset
            # A new buffer goes after every entry whose offset is <= its own (TFLM inserts
            # before the first entry with a strictly greater offset).
            position = bisect_right(placed_offsets, offset)
            placed.insert(position, buffer_id)
            placed_offsets.insert(position, offset)
        return offsets

    def _never_live(self) -> set:
        """Buffers no op ever touches (lifetime -1..-1: a tensor nothing reads or writes).
        They overlap in time only one another when every other buffer starts at step 0 or
        later - and then TFLM's walk places each one on top of the ones before it, with no
        gap: their offsets are running sums of their sizes in placement order. Computing
        that directly keeps thousands of unused tensors from costing quadratic time."""
        never = {i for i, b in enumerate(self.buffers)
                 if b.last_time_used < 0 and b.offline_offset == ONLINE}
        if any(b.first_time_used < 0 for i, b in enumerate(self.buffers) if i not in never):
            return set()
        return never

    def _first_gap(self, wanted, placed, offsets) -> int:
        """Walk the buffers alive at the same time in offset order; stop at the first gap
        big enough, or after the last of them."""
        candidate = 0
        for other_id in placed:
            other = self.buffers[other_id]
            if not wanted.overlaps_in_time(other):
                continue
            if offsets[other_id] - candidate >= wanted.size:
                break
            candidate = max(candidate, offsets[other_id] + other.size)
        return candidate


PLANNERS = {"greedy": GreedyMemoryPlanner, "linear": LinearMemoryPlanner}


def make_planner(name: str) -> MemoryPlanner:
    try:
        return PLANNERS[name]()
    except KeyError:
        raise ValueError(f"unknown planner {name!r}; choose one of {sorted(PLANNERS)}") from None
