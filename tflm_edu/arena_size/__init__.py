"""How big must the tensor arena be? The smallest arena TFLM accepts, predicted and explained.

    from tflm_edu.arena_size import estimate_arena_size
    estimate = estimate_arena_size("person_detect.tflite", target="cortex-m")
    print(estimate.table())

layout.py   sizeof/alignof of TFLM's structs for a target (host x86-64, 32-bit Cortex-M)
kernels.py  what each TFLM kernel allocates while the interpreter prepares it
replay.py   TFLM's allocation sequence on a simulated arena; the smallest arena by bisection
estimate.py ArenaEstimate: numbers, breakdown table, contributors, JSON, CLI hook
plot.py     a picture of the arena
oracle.py   the same question put to the real TFLM (tflite-micro), by bisection
examples.py small models built with ModelBuilder, for when the reference models are absent

docs/arena_size.md says where every struct size comes from, and what was checked how.
"""
from tflm_edu.arena_size.estimate import (ArenaEstimate, estimate_arena_size,
                                          live_bytes_per_step, main_arena_size)
from tflm_edu.memory.layout import (CORTEX_M, CORTEX_M_INT_ENUMS, HOST, TARGETS, Target,
                                        get_target)

__all__ = ["ArenaEstimate", "estimate_arena_size", "live_bytes_per_step", "main_arena_size",
           "Target", "TARGETS", "HOST", "CORTEX_M", "CORTEX_M_INT_ENUMS", "get_target"]
