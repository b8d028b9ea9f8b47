"""The tensor arena: one bytearray, a head that grows up and a tail that grows down.

Mirrors tensorflow/lite/micro/arena_allocator/single_arena_buffer_allocator.cc. The head
holds the memory plan (activations, inputs, outputs, scratch buffers: non-persistent) at
the start of the arena; the tail holds what lives as long as the interpreter (kernel OpData,
variable tensors, the allocator's own records) at its end; while allocating, temporaries
come and go above the head. Where every byte goes is decided by TFLM's MicroAllocator,
replayed in memory/allocator.py for the target's struct sizes: a TensorArena is that replay
on a real bytearray, so the arena TFLM would reject is rejected here too.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tflm_edu.memory.allocator import (ARENA_ALIGNMENT, TEMPORARY, Allocation,
                                       SimulatedArena)

# An automatically sized arena is capped: microcontroller arenas are kilobytes, and a
# hostile model must not make the host allocate gigabytes.
MAX_AUTO_ARENA_BYTES = 256 << 20


def align_up(nbytes: int, alignment: int = ARENA_ALIGNMENT) -> int:
    return (nbytes + alignment - 1) // alignment * alignment


@dataclass
class TensorArena:
    """An arena of `size` bytes after AllocateTensors: the replayed allocations and the bytes."""

    size: int
    head_bytes: int        # the memory plan, at offset 0
    tail_bytes: int        # persistent data, at the end
    log: list              # every Allocation, in TFLM's order
    buffer: bytearray

    @classmethod
    def from_replay(cls, replayed: SimulatedArena) -> "TensorArena":
        return cls(replayed.size, replayed.head, replayed.tail_bytes, replayed.log,
                   bytearray(replayed.size))

    @property
    def used_bytes(self) -> int:
        """TFLM's arena_used_bytes(): the plan plus everything persistent."""
        return self.head_bytes + self.tail_bytes

    @property
    def temp_bytes(self) -> int:
        """The most room the temporaries of allocation needed above the head."""
        return max((a.used for a in self.log if a.category == TEMPORARY), default=0)

    @property
    def persistent(self) -> list[Allocation]:
        return [a for a in self.log if a.side == "tail"]

    def offset_of(self, what: str) -> int:
        """Where the tail allocation named `what` landed (a variable tensor's buffer,
        a resource variable's buffer)."""
        return next(a.offset for a in self.log if a.side == "tail" and a.what == what)

    def view(self, offset: int, dtype, shape) -> np.ndarray:
        """A numpy array over the arena bytes at `offset`: writes land in the arena."""
        dtype = np.dtype(dtype)
        count = int(np.prod(shape, dtype=np.int64))
        return np.frombuffer(self.buffer, dtype=dtype, count=count, offset=offset).reshape(shape)

    def __repr__(self):
        return (f"TensorArena({self.size:,} bytes: head {self.head_bytes:,}, "
                f"tail {self.tail_bytes:,})")
