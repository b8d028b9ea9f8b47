"""IF and WHILE against the real TFLM: the branch taken, the loop run, the copies in and out
of subgraphs, one memory plan for all subgraphs and TFLM's smallest arena."""
import numpy as np
import pytest

from op_harness import oracle_runtime
from tflm_edu import AllOpsResolver, MicroInterpreter
from tflm_edu.arena_size import estimate_arena_size
from tflm_edu.arena_size.oracle import smallest_arena_tflm
from tflm_edu.errors import ModelError
from tflm_edu.schema import read_model, write_model
from tflm_edu.schema.builder import ModelBuilder
from tflm_edu.schema.enums import BuiltinOperator as Op
from tflm_edu.schema.options import AddOptions, IfOptions, MulOptions, WhileOptions

SHAPE = (1, 4)


def if_model(then_index=1, else_index=2):
    """y = IF(cond, x): the then branch doubles x (x + x), the else branch squares it."""
    b = ModelBuilder()
    cond = b.add_input((1,), np.bool_, "cond")
    x = b.add_input(SHAPE, np.float32, "x")
    y = b.mark_output(b.add_tensor(SHAPE, np.float32, "y"))
    b.add_operator(Op.IF, [cond, x], [y], IfOptions(then_index, else_index))
    for op, options in ((Op.ADD, AddOptions()), (Op.MUL, MulOptions())):
        b.begin_subgraph(op.name.lower())
        a = b.add_input(SHAPE, np.float32, "a")
        out = b.mark_output(b.add_tensor(SHAPE, np.float32, "out"))
        b.add_operator(op, [a, a], [out], options)
    return b.build()


def while_model():
    """(flag, x) = WHILE(flag, x): cond returns the flag, the body doubles x and returns a
    constant false - so the body runs once when flag is true and never when it is false."""
    b = ModelBuilder()
    flag = b.add_input((1,), np.bool_, "flag")
    x = b.add_input(SHAPE, np.float32, "x")
    flag_out = b.add_tensor((1,), np.bool_, "flag_out")
    y = b.mark_output(b.add_tensor(SHAPE, np.float32, "y"))
    b.mark_output(flag_out)
    b.add_operator(Op.WHILE, [flag, x], [flag_out, y], WhileOptions(1, 2))
    b.begin_subgraph("cond")
    f = b.add_input((1,), np.bool_, "f")
    b.add_input(SHAPE, np.float32, "v")
    b.mark_output(f)
    b.begin_subgraph("body")
    b.add_input((1,), np.bool_, "f")
    v = b.add_input(SHAPE, np.float32, "v")
    done = b.add_tensor((1,), np.bool_, "done", data=np.array([False]))
    doubled = b.add_tensor(SHAPE, np.float32, "doubled")
    b.add_operator(Op.ADD, [v, v], [doubled], AddOptions())
    b.mark_output(done)
    b.mark_output(doubled)
    return b.build()


def counting_model(limit=5):
    """(i, x) = WHILE(i < limit) { i = i + 1; x = x + x }: x doubled limit - i times."""
    b = ModelBuilder()
    i = b.add_input((1,), np.int32, "i")
    x = b.add_input(SHAPE, np.float32, "x")
    i_out = b.add_tensor((1,), np.int32, "i_out")
    y = b.mark_output(b.add_tensor(SHAPE, np.float32, "y"))
    b.mark_output(i_out)
    b.add_operator(Op.WHILE, [i, x], [i_out, y], WhileOptions(1, 2))
    b.begin_subgraph("cond")
    k = b.add_input((1,), np.int32, "k")
    b.add_input(SHAPE, np.float32, "v")
    bound = b.add_tensor((1,), np.int32, "limit", data=np.array([limit], np.int32))
    less = b.mark_output(b.add_tensor((1,), np.bool_, "less"))
    b.add_operator(Op.LESS, [k, bound], [less])
    b.begin_subgraph("body")
    k = b.add_input((1,), np.int32, "k")
    v = b.add_input(SHAPE, np.float32, "v")
    one = b.add_tensor((1,), np.int32, "one", data=np.array([1], np.int32))
    k_next = b.add_tensor((1,), np.int32, "k_next")
    doubled = b.add_tensor(SHAPE, np.float32, "doubled")
    b.add_operator(Op.ADD, [k, one], [k_next], AddOptions())
    b.add_operator(Op.ADD, [v, v], [doubled], AddOptions())
    b.mark_output(k_next)
    b.mark_output(doubled)
    return b.build()


def run_both(model, inputs):
    data = write_model(model)
    ours = MicroInterpreter(read_model(data), AllOpsResolver(), None)
    ours.allocate_tensors()
    theirs = oracle_runtime().Interpreter.from_bytes(data, arena_size=1 << 20)
    for i, x in enumerate(inputs):
        ours.input(i).data[...] = x
        theirs.set_input(x, i)
    ours.invoke()
    theirs.invoke()
    return [(ours.output(i).data.copy(), np.asarray(theirs.get_output(i)))
            for i in range(ours.outputs_size)]


X = np.array([[1.5, -2.0, 3.0, 0.25]], np.float32)


@pytest.mark.parametrize("cond, expected", [(True, X + X), (False, X * X)])
def test_if_takes_the_branch_tflm_takes(cond, expected):
    (ours, theirs), = run_both(if_model(), [np.array([cond]), X])
    assert ours.tobytes() == theirs.reshape(ours.shape).tobytes() == expected.tobytes()


@pytest.mark.parametrize("flag, expected", [(True, X + X), (False, X)])
def test_while_runs_the_body_while_cond_says_so(flag, expected):
    (ours, theirs), (flag_ours, flag_theirs) = run_both(while_model(), [np.array([flag]), X])
    assert ours.tobytes() == theirs.reshape(ours.shape).tobytes() == expected.tobytes()
    assert flag_ours.tobytes() == flag_theirs.reshape(flag_ours.shape).tobytes()


@pytest.mark.parametrize("start", [0, 3, 5, 9])
def test_while_counts_as_tflm_does(start):
    (ours, theirs), (i_ours, i_theirs) = run_both(counting_model(5),
                                                  [np.array([start], np.int32), X])
    assert ours.tobytes() == theirs.reshape(ours.shape).tobytes() == \
        (X * np.float32(2 ** max(0, 5 - start))).tobytes()
    assert i_ours.tolist() == [max(start, 5)] and i_ours.tobytes() == i_theirs.tobytes()


@pytest.mark.parametrize("make", [if_model, while_model, counting_model])
def test_arena_equals_tflm(make):
    model = make()
    estimate = estimate_arena_size(model, "host")
    assert estimate.arena_bytes == smallest_arena_tflm(model), estimate.table()


def test_if_subgraphs_are_planned_inside_its_step():
    interpreter = MicroInterpreter(if_model(), AllOpsResolver(), None)
    interpreter.allocate_tensors()
    labels = [None if n is None else (n.subgraph, n.op_name) for n in interpreter.step_nodes]
    assert labels == [None, (0, "IF"), None, (1, "ADD"), None, (2, "MUL")]
    x = next(b for b in interpreter.buffers if b.subgraph == 0 and b.name == "x")
    assert (x.first_created, x.last_used) == (0, 5)   # alive until both branches are done


def test_if_calling_the_main_subgraph_is_refused():
    with pytest.raises(ModelError, match="then_subgraph_index is 0"):
        MicroInterpreter(if_model(then_index=0), AllOpsResolver(), None).allocate_tensors()


def test_if_with_a_branch_of_the_wrong_arity_is_refused():
    model = if_model()
    model.subgraphs[2].inputs = ()
    with pytest.raises(ModelError, match="subgraph 2 has 0 inputs"):
        MicroInterpreter(model, AllOpsResolver(), None).allocate_tensors()
