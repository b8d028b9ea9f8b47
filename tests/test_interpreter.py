"""MicroInterpreter: allocation stages, a real byte arena, steps(), hooks, resolver errors."""
import json

import numpy as np
import pytest

from conftest import reference_model
from models import one_op_model, tensor
from tflm_edu import (AllocationError, AllOpsResolver, InputError, Interpreter, MicroInterpreter,
                      MicroMutableOpResolver, load_model, write_model)
from tflm_edu.arena_size import estimate_arena_size
from tflm_edu.memory import planner as planners
from tflm_edu.schema.builder import ModelBuilder, quantization
from tflm_edu.schema.enums import BuiltinOperator as Op
from tflm_edu.schema.options import AddOptions, Conv2DOptions, FullyConnectedOptions


def chain_model(depth=4, width=8, seed=0):
    """int8 FULLY_CONNECTED chain: each activation dies after the next op, so a correct plan
    reuses bytes and a wrong one corrupts them."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    x = b.add_input((1, width), np.int8, quant=quantization(0.05, 3))
    for layer in range(depth):
        w = b.add_tensor((width, width), np.int8, data=rng.integers(-127, 128, (width, width)),
                         quant=quantization(0.01))
        out = b.add_tensor((1, width), np.int8, quant=quantization(0.2, -2))
        b.add_operator(Op.FULLY_CONNECTED, [x, w, -1], [out], FullyConnectedOptions(), version=4)
        x = out
    b.mark_output(x)
    return b.build()


def run(model, x, planner="greedy", arena_size=None):
    interpreter = MicroInterpreter(model, AllOpsResolver(), arena_size, planner=planner)
    interpreter.allocate_tensors()
    interpreter.input(0).data[...] = x
    interpreter.invoke()
    return interpreter


def test_allocation_stages_are_visible():
    interpreter = MicroInterpreter(chain_model(), AllOpsResolver(), None)
    names = [stage.name for stage in interpreter.allocation_stages()]
    assert names == ["init", "prepare", "plan", "commit"]
    # arena_size=None: the smallest arena TFLM accepts, which arena_size predicts too
    smallest = estimate_arena_size(chain_model(), "host").arena_bytes
    assert interpreter.stages[-1].details["arena_bytes"] == smallest == interpreter.arena.size
    assert interpreter.arena.head_bytes < interpreter.arena_used_bytes() <= smallest


def test_tensors_are_views_of_one_arena():
    interpreter = run(chain_model(), 1)
    arena = np.frombuffer(interpreter.arena.buffer, np.uint8)
    for info in interpreter.buffers:
        if info.tensor_index is not None and info.bytes:
            data = interpreter.tensor(info.tensor_index).data
            assert np.shares_memory(data, arena)


def skip_model():
    """out = x + FC(x): x must stay alive while FC writes its output."""
    b = ModelBuilder()
    x = b.add_input((1, 8), np.float32)
    w = b.add_tensor((8, 8), np.float32, data=np.eye(8) * 2)
    a = b.add_tensor((1, 8), np.float32)
    out = b.add_tensor((1, 8), np.float32)
    b.add_operator(Op.FULLY_CONNECTED, [x, w, -1], [a], FullyConnectedOptions())
    b.add_operator(Op.ADD, [x, a], [out], AddOptions())
    b.mark_output(out)
    return b.build()


def test_plans_agree_and_a_wrong_plan_corrupts(monkeypatch):
    """Greedy and linear plans give identical bytes; a planner that puts every buffer at
    offset 0 makes live tensors overlap and the result changes - the arena is real."""
    x = np.arange(8, dtype=np.float32).reshape(1, 8)
    greedy = run(skip_model(), x).output(0).data.copy()
    linear = run(skip_model(), x, planner="linear").output(0).data.copy()
    assert greedy.tolist() == (3 * x).tolist() and linear.tobytes() == greedy.tobytes()

    class EverythingAtZero(planners.LinearMemoryPlanner):
        def _calculate_offsets(self):
            return [0] * len(self.buffers)
    monkeypatch.setitem(planners.PLANNERS, "zero", EverythingAtZero)
    broken = run(skip_model(), x, planner="zero")
    assert broken.planner.do_any_buffers_overlap()
    assert broken.output(0).data.tolist() == (4 * x).tolist()  # x was overwritten by FC(x)


def test_greedy_reuses_memory_linear_does_not():
    greedy = run(chain_model(depth=6), 0)
    linear = run(chain_model(depth=6), 0, planner="linear")
    assert greedy.arena.head_bytes == 32  # two 16-byte activations live at a time
    assert linear.arena.head_bytes == 7 * 16


def test_steps_equal_invoke_and_report_each_op():
    model = load_model(reference_model("person_detect.tflite"))
    x = np.random.default_rng(1).integers(-128, 128, (1, 96, 96, 1)).astype(np.int8)
    by_invoke = run(model, x).output(0).data.copy()
    interpreter = MicroInterpreter(model, AllOpsResolver(), None)
    interpreter.allocate_tensors()
    interpreter.input(0).data[...] = x
    events = list(interpreter.steps())
    assert [e.op_index for e in events] == list(range(31))
    assert events[0].op_name == "DEPTHWISE_CONV_2D" and events[0].outputs[0].shape == (1, 48, 48, 8)
    assert sum(e.macs for e in events) > 7_000_000  # MobileNet v1 0.25 at 96x96: ~7.5M MACs
    assert interpreter.output(0).data.tobytes() == by_invoke.tobytes()


def test_hooks_run_around_every_op():
    seen = []
    interpreter = MicroInterpreter(chain_model(depth=3), AllOpsResolver(), None)
    interpreter.allocate_tensors()
    interpreter.add_hook(before=lambda it, node: seen.append(("before", node.index)),
                         after=lambda it, event: seen.append(("after", event.op_index)))
    interpreter.invoke()
    assert seen == [("before", 0), ("after", 0), ("before", 1), ("after", 1), ("before", 2),
                    ("after", 2)]


def test_arena_too_small_names_the_bytes_needed():
    needed = run(chain_model(), 0).arena.size               # the smallest that works
    with pytest.raises(AllocationError, match=f"needs {needed:,} bytes"):
        run(chain_model(), 0, arena_size=needed - 1)
    assert run(chain_model(), 0, arena_size=needed).arena.size == needed


def test_an_arena_below_what_tflm_needs_fails_as_tflm_fails():
    # hello_world in 100 bytes: TFLM cannot even create its allocator there
    with pytest.raises(AllocationError, match="fails on 100 bytes at create the allocator"):
        MicroInterpreter(chain_model(), AllOpsResolver(), 100).allocate_tensors()
    cortex_m = MicroInterpreter(chain_model(), AllOpsResolver(), None, target="cortex-m")
    cortex_m.allocate_tensors()
    assert cortex_m.arena.size == estimate_arena_size(chain_model(), "cortex-m").arena_bytes
    assert cortex_m.arena.size < run(chain_model(), 0).arena.size    # 32-bit structs


def test_missing_op_uses_tflm_wording_and_names_the_fix():
    model = one_op_model(Op.CONV_2D,
                         [tensor((1, 4, 4, 1)), tensor((1, 1, 1, 1), data=[[[[1.0]]]]), -1],
                         Conv2DOptions(stride_w=1, stride_h=1), tensor((1, 4, 4, 1)))
    resolver = MicroMutableOpResolver(1).add_fully_connected()
    with pytest.raises(AllocationError, match=r"Didn't find op for builtin opcode 'CONV_2D'.*"
                                              r"resolver\.add_conv_2d\(\)"):
        MicroInterpreter(model, resolver, None).allocate_tensors()


def test_resolver_capacity_is_enforced():
    resolver = MicroMutableOpResolver(1).add_conv_2d()
    with pytest.raises(ValueError, match=r"MicroMutableOpResolver\(2\)"):
        resolver.add_fully_connected()


def test_tflite_micro_interface_matches_the_real_runtime():
    runtime = pytest.importorskip("tflite_micro.python.tflite_micro.runtime")
    data = reference_model("hello_world_int8.tflite").read_bytes()
    ours, theirs = Interpreter.from_bytes(data), runtime.Interpreter.from_bytes(data, arena_size=4096)
    for kind in ("get_input_details", "get_output_details"):
        a, b = getattr(ours, kind)(0), getattr(theirs, kind)(0)
        assert a.keys() == b.keys() and a["dtype"] == b["dtype"]
        assert a["shape"].tolist() == b["shape"].tolist()
        q, r = a["quantization_parameters"], b["quantization_parameters"]
        assert q.keys() == r.keys()
        assert q["scales"].tolist() == r["scales"].tolist()
        assert q["zero_points"].tolist() == r["zero_points"].tolist()
    for interpreter in (ours, theirs):
        interpreter.set_input(np.array([[42]], np.int8), 0)
        interpreter.invoke()
    assert ours.get_output(0).tolist() == theirs.get_output(0).tolist()


@pytest.mark.parametrize("bad, message", [(np.zeros((1, 2), np.int8), r"shape \[1, 1\]"),
                                          (np.zeros((1, 1), np.float32), "must be int8")])
def test_set_input_rejects_wrong_shape_or_dtype(bad, message):
    interpreter = Interpreter.from_bytes(write_model(chain_model(width=1)))
    with pytest.raises(InputError, match=message):
        interpreter.set_input(bad, 0)


def test_memory_plan_text_draws_time_against_offset():
    text = run(chain_model(depth=2), 0).memory_plan_text()
    lines = text.splitlines()
    assert lines[1].startswith("0 (id=0): size=16, offset=")
    step_2 = next(line for line in lines if line.startswith("   2: "))
    assert step_2.endswith(" 32 B")     # exact bytes, where TFLM prints "(1k)"
    json.dumps(text)
