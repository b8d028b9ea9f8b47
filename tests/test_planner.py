"""Memory planners: hand-worked cases of the greedy rule, and the text chart."""
import numpy as np
import pytest

from tflm_edu.memory import GreedyMemoryPlanner, LinearMemoryPlanner, format_memory_plan


def plan(planner_class, *buffers):
    planner = planner_class()
    for size, first, last, *offline in buffers:
        planner.add_buffer(size, first, last, *offline)
    return planner


def test_buffers_alive_at_different_times_share_offset_zero():
    planner = plan(GreedyMemoryPlanner, (10, 0, 1), (20, 2, 3))
    assert planner.offsets == [0, 0] and planner.get_maximum_memory_size() == 20


def test_largest_first_then_smaller_ones_fill_the_gaps():
    # By hand: 50 goes to 0; 40 (steps 3-4) meets nothing live -> 0; 30 (2-3) sits above the
    # 40 -> 40; 20 (1-2) clears the 50 and the 30 -> 70; 10 (0-1) fits in the gap 50..70.
    planner = plan(GreedyMemoryPlanner, (10, 0, 1), (20, 1, 2), (30, 2, 3), (40, 3, 4),
                   (50, 0, 1))
    assert planner.offsets == [50, 70, 40, 0, 0]
    assert planner.get_maximum_memory_size() == 90
    assert not planner.do_any_buffers_overlap()


def test_equal_sizes_are_placed_in_reverse_order_of_addition():
    """TFLM fills its sort array from the back, and its bubble sort is stable."""
    planner = plan(GreedyMemoryPlanner, (16, 0, 1), (16, 0, 1), (16, 0, 1))
    assert planner.offsets == [32, 16, 0]


def test_offline_offsets_are_kept_and_placed_first():
    planner = plan(GreedyMemoryPlanner, (32, 0, 1, 64), (16, 0, 1), (16, 1, 2))
    assert planner.offsets[0] == 64
    assert planner.offsets[1:] == [16, 0]
    assert not planner.do_any_buffers_overlap()


def test_linear_planner_never_reuses():
    planner = plan(LinearMemoryPlanner, (10, 0, 1), (20, 2, 3), (30, 4, 5))
    assert planner.offsets == [0, 10, 30] and planner.get_maximum_memory_size() == 60


@pytest.mark.parametrize("seed", range(20))
def test_random_plans_never_overlap_and_beat_linear(seed):
    rng = np.random.default_rng(seed)
    buffers = []
    for _ in range(rng.integers(1, 40)):
        first = int(rng.integers(0, 20))
        buffers.append((16 * int(rng.integers(1, 100)), first, first + int(rng.integers(0, 5))))
    greedy, linear = plan(GreedyMemoryPlanner, *buffers), plan(LinearMemoryPlanner, *buffers)
    assert not greedy.do_any_buffers_overlap()
    assert all(offset % 16 == 0 for offset in greedy.offsets)
    lower_bound = max(sum(s for s, f, l in buffers if f <= t <= l) for t in range(25))
    assert lower_bound <= greedy.get_maximum_memory_size() <= linear.get_maximum_memory_size()


def test_text_chart_marks_each_buffer_over_its_lifetime():
    text = format_memory_plan(plan(GreedyMemoryPlanner, (40, 0, 1), (40, 1, 2), (40, 2, 2)))
    rows = text.splitlines()
    assert rows[3].startswith("* (id=2)")  # alive for one step only
    chart = [row[6:86] for row in rows[5:8]]  # the 80 characters of arena per step
    assert chart[0] == "0" * 40 + "." * 40
    assert chart[1] == "0" * 40 + "1" * 40
    assert chart[2] == "*" * 40 + "1" * 40


def unused_tensors_model(count, seed=0):
    """A FULLY_CONNECTED with `count` extra tensors no op touches (lifetime -1..-1), of
    random sizes: TFLM still plans each of them."""
    from tflm_edu.schema.builder import ModelBuilder
    from tflm_edu.schema.enums import BuiltinOperator as Op
    from tflm_edu.schema.options import FullyConnectedOptions
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    x = b.add_input((1, 8), np.float32)
    w = b.add_tensor((4, 8), np.float32, data=rng.standard_normal((4, 8)))
    y = b.mark_output(b.add_tensor((1, 4), np.float32))
    b.add_operator(Op.FULLY_CONNECTED, [x, w, -1], [y], FullyConnectedOptions())
    for size in rng.integers(1, 40, count):
        b.add_tensor((int(size),), np.float32)
    return b.build()


@pytest.mark.parametrize("seed", range(4))
def test_never_live_buffers_take_the_same_offsets_as_the_full_walk(seed, monkeypatch):
    rng = np.random.default_rng(seed)
    fast, walked = GreedyMemoryPlanner(), GreedyMemoryPlanner()
    for _ in range(60):
        first = int(rng.integers(-1, 6))
        last = -1 if first < 0 else int(rng.integers(first, 8))
        size = int(rng.integers(1, 8)) * 16
        for planner in (fast, walked):
            planner.add_buffer(size, first, last)
    monkeypatch.setattr(walked, "_never_live", lambda: set())
    assert fast.offsets == walked.offsets
    assert not fast.do_any_buffers_overlap()


def test_unused_tensors_are_planned_as_tflm_plans_them():
    from tflm_edu.arena_size import estimate_arena_size
    from tflm_edu.arena_size.oracle import smallest_arena_tflm
    model = unused_tensors_model(300)
    estimate = estimate_arena_size(model, "host")
    assert estimate.arena_bytes == smallest_arena_tflm(model)


def test_overlap_check_finds_a_clash():
    planner = GreedyMemoryPlanner()
    planner.add_buffer(32, 0, 2, offline_offset=0)
    planner.add_buffer(32, 1, 3, offline_offset=16)   # alive together, bytes 16-32 shared
    planner.add_buffer(64, 4, 5, offline_offset=0)    # same bytes, other time: fine
    assert planner.do_any_buffers_overlap()
    planner.buffers[1].first_time_used = 3            # now apart in time
    planner._offsets = None
    assert not planner.do_any_buffers_overlap()
