"""Streaming state: VAR_HANDLE, READ_VARIABLE, ASSIGN_VARIABLE and CALL_ONCE with two
subgraphs, against the real TFLM - over several invokes, across reset(), with the same
arena - and what tflm_edu refuses."""
import dataclasses

import numpy as np
import pytest

from op_harness import oracle_runtime
from tflm_edu import AllOpsResolver, MicroInterpreter
from tflm_edu.arena_size import estimate_arena_size
from tflm_edu.arena_size.oracle import smallest_arena_tflm
from tflm_edu.errors import AllocationError, ModelError
from tflm_edu.schema import read_model, write_model
from tflm_edu.schema.builder import ModelBuilder, quantization
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType
from tflm_edu.schema.options import AddOptions, CallOnceOptions, VarHandleOptions

Q = quantization(0.1, 3)


def resource_tensor(b: ModelBuilder, name: str) -> int:
    index = b.add_tensor((), np.int32, name)
    b.tensors[index] = dataclasses.replace(b.tensors[index], type=TensorType.RESOURCE)
    return index


def accumulator_model(dtype=np.int8, init_value=None, shared_name="state", call_once=True,
                      init_subgraph=1):
    """y = x + state; state = y. With call_once, an init subgraph first sets the state to
    `init_value` - the pattern TensorFlow's converter emits for a streaming model."""
    quant = Q if dtype == np.int8 else None
    b = ModelBuilder()
    x = b.add_input((1, 4), dtype, quant=quant)
    if call_once:
        b.add_operator(Op.CALL_ONCE, [], [], CallOnceOptions(init_subgraph))
    handle = resource_tensor(b, "handle")
    b.add_operator(Op.VAR_HANDLE, [], [handle], VarHandleOptions(shared_name=shared_name))
    state = b.add_tensor((1, 4), dtype, "state", quant=quant)
    b.add_operator(Op.READ_VARIABLE, [handle], [state])
    y = b.mark_output(b.add_tensor((1, 4), dtype, "y", quant=quant))
    b.add_operator(Op.ADD, [x, state], [y], AddOptions())
    b.add_operator(Op.ASSIGN_VARIABLE, [handle, y], [])
    if call_once:
        b.begin_subgraph("init")
        handle = resource_tensor(b, "handle")
        b.add_operator(Op.VAR_HANDLE, [], [handle], VarHandleOptions(shared_name=shared_name))
        value = b.add_tensor((1, 4), dtype, "initial", np.asarray(init_value, dtype), quant)
        b.add_operator(Op.ASSIGN_VARIABLE, [handle, value], [])
    return b.build()


def run_both(model, frames, reset_at=None):
    data = write_model(model)
    ours = MicroInterpreter(read_model(data), AllOpsResolver(), None)
    ours.allocate_tensors()
    theirs = oracle_runtime().Interpreter.from_bytes(data, arena_size=1 << 20)
    pairs = []
    for k, x in enumerate(frames):
        if k == reset_at:
            ours.reset()
            theirs.reset()
        ours.input(0).data[...] = x
        theirs.set_input(x, 0)
        ours.invoke()
        theirs.invoke()
        pairs.append((ours.output(0).data.copy(), np.asarray(theirs.get_output(0))))
    return pairs


def frames(dtype, n=6, seed=0):
    rng = np.random.default_rng(seed)
    if dtype == np.int8:
        return [rng.integers(-20, 20, (1, 4)).astype(np.int8) for _ in range(n)]
    return [rng.standard_normal((1, 4)).astype(np.float32) for _ in range(n)]


@pytest.mark.parametrize("dtype", [np.int8, np.float32])
@pytest.mark.parametrize("call_once", [True, False])
def test_state_persists_and_resets_as_in_tflm(dtype, call_once):
    model = accumulator_model(dtype, [[5, -7, 9, 11]], call_once=call_once)
    pairs = run_both(model, frames(dtype), reset_at=4)
    for k, (a, b) in enumerate(pairs):
        assert a.tobytes() == b.reshape(a.shape).astype(a.dtype).tobytes(), f"invoke {k}"
    assert pairs[1][0].tobytes() != pairs[0][0].tobytes() or dtype == np.float32


def test_int8_state_starts_at_its_zero_point():
    """Without an init subgraph the variable holds its default: the zero point (3), which
    in real terms is 0 - so the first output equals the input."""
    model = accumulator_model(np.int8, call_once=False)
    x = np.array([[1, 2, 3, 4]], np.int8)
    (a, b), = run_both(model, [x])
    assert a.tolist() == x.tolist() and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("dtype", [np.int8, np.float32])
def test_arena_equals_tflm(dtype):
    model = accumulator_model(dtype, [[1, 2, 3, 4]])
    estimate = estimate_arena_size(model, "host")
    assert estimate.arena_bytes == smallest_arena_tflm(model), estimate.table()
    buffers = [a for a in estimate.allocations if a.what.startswith("resource variable")]
    assert [a.requested for a in buffers] == [4 * np.dtype(dtype).itemsize]


def test_the_variable_lives_in_the_arena_tail():
    interpreter = MicroInterpreter(accumulator_model(np.int8, [[1, 2, 3, 4]]),
                                   AllOpsResolver(), None)
    interpreter.allocate_tensors()
    variable = interpreter.resource_variables.variables[0]
    assert variable.resource_buffer.base is not None
    interpreter.input(0).data[...] = 0
    interpreter.invoke()
    offset = interpreter.arena.offset_of("resource variable 0 (state)")
    assert offset >= interpreter.arena.size - interpreter.arena.tail_bytes
    assert bytes(interpreter.arena.buffer[offset:offset + 4]) == \
        interpreter.output(0).data.tobytes()


def test_steps_show_the_subgraph_call_on_the_first_invoke_only():
    interpreter = MicroInterpreter(accumulator_model(np.int8, [[1, 2, 3, 4]]),
                                   AllOpsResolver(), None)
    interpreter.allocate_tensors()
    first = list(interpreter.steps())
    assert [e.op_name for e in first] == ["CALL_ONCE", "VAR_HANDLE", "READ_VARIABLE", "ADD",
                                          "ASSIGN_VARIABLE"]
    assert [(e.subgraph, e.op_name) for e in first[0].calls] == [(1, "VAR_HANDLE"),
                                                                 (1, "ASSIGN_VARIABLE")]
    assert "called 2 op(s)" in repr(first[0])
    second = list(interpreter.steps())
    assert second[0].calls == []


def test_the_plan_covers_both_subgraphs():
    """AllocationInfoBuilder: CALL_ONCE (op 0, step 1) opens a scope for the init
    subgraph (step 2) whose ops run at steps 3 and 4; the main graph goes on at 5."""
    interpreter = MicroInterpreter(accumulator_model(np.int8, [[1, 2, 3, 4]]),
                                   AllOpsResolver(), None)
    interpreter.allocate_tensors()
    steps = [None if n is None else (n.subgraph, n.op_name) for n in interpreter.step_nodes]
    assert steps == [None, (0, "CALL_ONCE"), None, (1, "VAR_HANDLE"), (1, "ASSIGN_VARIABLE"),
                     (0, "VAR_HANDLE"), (0, "READ_VARIABLE"), (0, "ADD"),
                     (0, "ASSIGN_VARIABLE")]
    y = next(b for b in interpreter.buffers if b.name == "y")
    assert (y.first_created, y.last_used) == (7, 8)


def test_call_once_of_subgraph_0_is_refused():
    model = accumulator_model(np.int8, [[1, 2, 3, 4]], init_subgraph=0)
    with pytest.raises(ModelError, match="init_subgraph_index is 0"):
        MicroInterpreter(model, AllOpsResolver(), None).allocate_tensors()


def test_var_handle_without_a_name_is_refused():
    model = accumulator_model(np.int8, call_once=False, shared_name=None)
    with pytest.raises(ModelError, match="shared_name"):
        MicroInterpreter(model, AllOpsResolver(), None).allocate_tensors()


def test_every_missing_op_is_named_at_once():
    model = accumulator_model(np.int8, [[1, 2, 3, 4]])
    resolver = AllOpsResolver()
    for op in (Op.VAR_HANDLE, Op.CALL_ONCE):
        del resolver.registrations[op]
    with pytest.raises(AllocationError) as info:
        MicroInterpreter(model, resolver, None).allocate_tensors()
    message = str(info.value)
    assert "needs 2 ops" in message and "'CALL_ONCE' (op 0)" in message
    assert "'VAR_HANDLE' (op 1 and 1 more)" in message


def test_the_step_debugger_says_when_an_op_ran_another_subgraph():
    from tflm_edu.debugger import StepDebugger
    interpreter = MicroInterpreter(accumulator_model(np.int8, [[1, 2, 3, 4]]),
                                   AllOpsResolver(), None)
    interpreter.allocate_tensors()
    debugger = StepDebugger(interpreter)
    debugger.step()
    assert "CALL_ONCE, running 2 op(s) of subgraph 1" in debugger.status_text()
