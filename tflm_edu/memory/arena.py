"""The tensor arena: one bytearray, a head that grows up and a tail that grows down.

Mirrors tensorflow/lite/micro/arena_allocator/single_arena_buffer_allocator.cc. The head
holds the memory plan (activations, inputs, outputs, scratch buffers: non-persistent);
the tail holds what lives as long as the interpreter (kernel OpData, variable tensors,
the allocator's own records). TFLM aligns arena buffers to 16 bytes.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tflm_edu.errors import AllocationError

ARENA_ALIGNMENT = 16  # MicroArenaBufferAlignment()
# An automatically sized arena is capped: microcontroller arenas are kilobytes, and a
# hostile model must not make the host allocate gigabytes.
MAX_AUTO_ARENA_BYTES = 256 << 20


def align_up(nbytes: int, alignment: int = ARENA_ALIGNMENT) -> int:
    return (nbytes + alignment - 1) // alignment * alignment


@dataclass
class PersistentAllocation:
    what: str
    bytes: int


@dataclass
class TensorArena:
    """`requested_size` None means: size the arena to exactly what the model needs."""

    requested_size: int | None
    head_bytes: int = 0
    persistent: list = field(default_factory=list)
    buffer: bytearray | None = None

    @property
    def tail_bytes(self) -> int:
        return sum(p.bytes for p in self.persistent)

    @property
    def used_bytes(self) -> int:
        return self.head_bytes + self.tail_bytes

    @property
    def size(self) -> int:
        return len(self.buffer) if self.buffer is not None else (self.requested_size or 0)

    def allocate_persistent(self, nbytes: int, what: str) -> None:
        self.persistent.append(PersistentAllocation(what, align_up(int(nbytes))))

    def commit(self) -> None:
        needed = self.used_bytes
        if self.requested_size is not None and needed > self.requested_size:
            raise AllocationError(
                f"arena too small: this model needs {needed:,} bytes ({self.head_bytes:,} head "
                f"+ {self.tail_bytes:,} tail) but arena_size is {self.requested_size:,}; "
                f"pass arena_size={needed} or more (or arena_size=None to size it automatically)")
        if self.requested_size is None and needed > MAX_AUTO_ARENA_BYTES:
            raise AllocationError(
                f"this model's plan needs {needed:,} bytes of arena, more than the "
                f"{MAX_AUTO_ARENA_BYTES:,} tflm_edu sizes automatically - no microcontroller "
                f"has that much RAM; pass arena_size explicitly if you really mean it")
        self.buffer = bytearray(self.requested_size if self.requested_size is not None else needed)

    def view(self, offset: int, dtype, shape) -> np.ndarray:
        """A numpy array over the arena bytes at `offset`: writes land in the arena."""
        dtype = np.dtype(dtype)
        count = int(np.prod(shape, dtype=np.int64))
        return np.frombuffer(self.buffer, dtype=dtype, count=count, offset=offset).reshape(shape)

    def __repr__(self):
        return (f"TensorArena({self.size:,} bytes: head {self.head_bytes:,}, "
                f"tail {self.tail_bytes:,})")
