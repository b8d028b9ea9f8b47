"""Tensor arena and memory planners (tensorflow/lite/micro/memory_planner, arena_allocator)."""
from tflm_edu.memory.arena import ARENA_ALIGNMENT, TensorArena, align_up
from tflm_edu.memory.plan_print import format_memory_plan, print_memory_plan
from tflm_edu.memory.planner import (GreedyMemoryPlanner, LinearMemoryPlanner, MemoryPlanner,
                                     make_planner)

__all__ = ["ARENA_ALIGNMENT", "TensorArena", "align_up", "format_memory_plan",
           "print_memory_plan", "GreedyMemoryPlanner", "LinearMemoryPlanner", "MemoryPlanner",
           "make_planner"]
