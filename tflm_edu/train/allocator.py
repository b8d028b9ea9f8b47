"""Keep the memory of freed arrays in the process while training, instead of handing it back
to the operating system after every array.

A training step makes and frees the same few dozen arrays again and again, the largest a few
megabytes (a MobileNet's first activations: 32 x 48 x 48 x 16 float32 values are 4.7 MB).
glibc's malloc, which numpy allocates through on Linux, serves an allocation above its "mmap
threshold" with fresh pages from the kernel and returns them when the array is freed, and it
also returns free memory at the top of its heap once there is more than its "trim threshold"
of it. Both thresholds adapt as the program runs, so whether a 4.7 MB array reuses memory or
gets fresh pages depends on the order of earlier allocations. Fresh pages cost a page fault
each on the first write: on this project's 2-core virtual machine about 3 us per 4 KiB page,
so making and filling a new 4.7 MB array took 1.2 ms where refilling a kept one took 0.1 ms.
A MobileNet step took 100 to 2,000 faults, by the order of its allocations - up to 6 ms of a
step of 80 ms.

keep_freed_memory() fixes both thresholds (mallopt): arrays up to 32 MiB come from the heap,
and up to 512 MiB of free heap stays with the process. Then every step reuses the memory of
the step before, whatever the order of its allocations. It is called once, by the first
training step, and lasts for the life of the process (glibc cannot be asked for the values it
replaces): a process that has trained keeps up to that much freed memory for its next arrays.
Elsewhere than glibc (macOS, Windows, musl) it does nothing.
"""
from __future__ import annotations

import ctypes

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3        # from glibc's malloc.h
MMAP_THRESHOLD = 32 << 20         # glibc's largest allowed value on 64-bit systems
TRIM_THRESHOLD = 512 << 20

_done: bool | None = None          # None: not tried yet; then whether glibc took the values


def keep_freed_memory() -> bool:
    """Fix glibc's mmap and trim thresholds (see above), once per process; whether it did."""
    global _done
    if _done is None:
        _done = False
        try:
            mallopt = ctypes.CDLL(None).mallopt       # the C library the process runs on
        except (OSError, AttributeError, TypeError):
            return _done                # no C library that has mallopt: not glibc
        mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
        _done = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                     and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _done
