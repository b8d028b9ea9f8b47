"""IF and WHILE: ops that run other subgraphs of the model.

Mirrors tensorflow/lite/micro/kernels/if.cc and while.cc, with the copy helpers of
kernels/kernel_util.cc (CopyOpInputsToSubgraphInputs and friends). A subgraph's inputs and
outputs are tensors of that subgraph, with bytes of their own in the one memory plan; the
op copies values in before it runs a subgraph and out after:

  IF     input 0 is a bool condition; the other inputs go into the `then` or the `else`
         subgraph's inputs, that subgraph runs, its outputs are copied to the op's.
  WHILE  the op's inputs go to the `cond` subgraph's inputs and to the op's outputs; while
         cond's output 0 is true: the op's outputs go into `body`'s inputs, body runs, its
         outputs come back to the op's outputs, and cond runs on them again. A loop whose
         values come back unchanged, through subgraphs without state, would run forever
         (TFLM hangs): tflm_edu stops it with a ModelError.

Memory planning (AllocationInfoBuilder) gives each called subgraph scopes inside the op's
step, so its tensors may reuse bytes of the main graph's tensors that are not alive then.
A copy is skipped when both tensors already share their bytes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tflm_edu.errors import ModelError
from tflm_edu.kernels.kernel_api import Registration, ensure
from tflm_edu.kernels.op_spec import ANY_TYPE, ArenaRecipe, OpSpec, nothing
from tflm_edu.memory.layout import BUILTIN, KERNELS, c_struct, m
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType
from tflm_edu.schema.options import IfOptions, WhileOptions


# ----------------------------------------------------------------------------- copies


def _copy(source, destination, what: str) -> None:
    """ValidateAndGetTensorSizes, then memcpy unless the two already share their bytes."""
    if tuple(source.shape) != tuple(destination.shape) or source.type != destination.type:
        raise ModelError(f"{what}: {list(source.shape)} {TensorType(source.type).name} cannot be "
                         f"copied to {list(destination.shape)} "
                         f"{TensorType(destination.type).name}")
    if not np.shares_memory(source.data, destination.data):
        destination.data[...] = source.data


def _subgraph_io(context, index: int, kind: str) -> list:
    sg = context.graph.subgraphs[index]
    indices = sg.subgraph.inputs if kind == "input" else sg.subgraph.outputs
    return [sg.tensors[i] for i in indices]


def copy_to_subgraph_inputs(context, tensors, subgraph: int, what: str) -> None:
    inputs = _subgraph_io(context, subgraph, "input")
    ensure(len(tensors) == len(inputs), f"subgraph {subgraph} has {len(inputs)} inputs; "
                                        f"{what} gives it {len(tensors)}")
    for i, (source, destination) in enumerate(zip(tensors, inputs)):
        _copy(source, destination, f"{what} -> subgraph {subgraph} input {i}")


def copy_subgraph_outputs_to(context, subgraph: int, tensors, what: str) -> None:
    outputs = _subgraph_io(context, subgraph, "output")
    if not outputs:
        return
    ensure(len(tensors) == len(outputs), f"subgraph {subgraph} has {len(outputs)} outputs; "
                                         f"{what} has {len(tensors)}")
    for i, (source, destination) in enumerate(zip(outputs, tensors)):
        _copy(source, destination, f"subgraph {subgraph} output {i} -> {what}")


def _check_subgraph(context, index: int, name: str) -> None:
    count = len(context.graph.subgraphs)
    ensure(0 < index < count and index != context.subgraph_index,
           f"{name} is {index}; the model has subgraphs 0 to {count - 1}, and a control-flow "
           f"op must call another subgraph than 0 or its own")


def _count(context, index: int, kind: str) -> int:
    return len(_subgraph_io(context, index, kind))


# ----------------------------------------------------------------------------- IF


@dataclass
class OpDataIf:
    then_subgraph_index: int = 0
    else_subgraph_index: int = 0


def if_init(context, node):
    return OpDataIf()


def if_prepare(context, node):
    data: OpDataIf = node.user_data
    params = node.builtin_data or IfOptions()
    data.then_subgraph_index = params.then_subgraph_index
    data.else_subgraph_index = params.else_subgraph_index
    ensure(len(node.inputs) > 0, "IF needs a condition (input 0)")
    cond = context.get_input(node, 0)
    ensure(cond is not None and cond.type == TensorType.BOOL,
           "IF's condition (input 0) must be a BOOL tensor")
    ensure(int(np.prod(cond.shape, dtype=np.int64)) == 1,
           f"IF's condition has shape {list(cond.shape)}; it must hold one value")
    _check_subgraph(context, data.then_subgraph_index, "then_subgraph_index")
    _check_subgraph(context, data.else_subgraph_index, "else_subgraph_index")
    for index in (data.then_subgraph_index, data.else_subgraph_index):
        # TFLM checks the then branch at Prepare and the else branch only when it runs -
        # where a branch without outputs copies nothing, and IF's outputs keep whatever
        # bytes the arena held: no value tflm_edu could reproduce, so it refuses that too.
        ensure(_count(context, index, "input") == len(node.inputs) - 1,
               f"subgraph {index} has {_count(context, index, 'input')} inputs; IF passes "
               f"it {len(node.inputs) - 1}")
        ensure(_count(context, index, "output") == len(node.outputs),
               f"subgraph {index} has {_count(context, index, 'output')} outputs; IF has "
               f"{len(node.outputs)}" + (" (TFLM would leave them holding whatever the "
                                         "arena held)" if not _count(context, index, "output")
                                         else ""))


def if_eval(context, node):
    data: OpDataIf = node.user_data
    branch = data.then_subgraph_index if bool(context.get_input(node, 0).data.reshape(-1)[0]) \
        else data.else_subgraph_index
    inputs = [context.get_input(node, i) for i in range(1, len(node.inputs))]
    outputs = [context.get_output(node, i) for i in range(len(node.outputs))]
    copy_to_subgraph_inputs(context, inputs, branch, "IF's inputs")
    context.graph.invoke_subgraph(branch)
    copy_subgraph_outputs_to(context, branch, outputs, "IF's outputs")


def register_if():
    return Registration("IF", prepare=if_prepare, eval=if_eval, init=if_init, max_version=1)


# ----------------------------------------------------------------------------- WHILE


@dataclass
class OpDataWhile:
    cond_subgraph_index: int = 0
    body_subgraph_index: int = 0


def while_init(context, node):
    return OpDataWhile()


def while_prepare(context, node):
    data: OpDataWhile = node.user_data
    params = node.builtin_data or WhileOptions()
    data.cond_subgraph_index = params.cond_subgraph_index
    data.body_subgraph_index = params.body_subgraph_index
    _check_subgraph(context, data.cond_subgraph_index, "cond_subgraph_index")
    _check_subgraph(context, data.body_subgraph_index, "body_subgraph_index")
    n = len(node.inputs)
    ensure(len(node.outputs) == n, f"WHILE has {n} inputs and {len(node.outputs)} outputs; "
                                   f"they must pair up")
    for index, name in ((data.cond_subgraph_index, "cond"), (data.body_subgraph_index, "body")):
        ensure(_count(context, index, "input") == n,
               f"the {name} subgraph ({index}) has {_count(context, index, 'input')} inputs; "
               f"WHILE passes it {n}")
    ensure(_count(context, data.body_subgraph_index, "output") == n,
           f"the body subgraph has {_count(context, data.body_subgraph_index, 'output')} "
           f"outputs; WHILE has {n}")
    cond_outputs = _subgraph_io(context, data.cond_subgraph_index, "output")
    ensure(cond_outputs and cond_outputs[0].type == TensorType.BOOL,
           "the cond subgraph's output 0 must be a BOOL tensor")


def while_eval(context, node):
    data: OpDataWhile = node.user_data
    cond, body = data.cond_subgraph_index, data.body_subgraph_index
    inputs = [context.get_input(node, i) for i in range(len(node.inputs))]
    outputs = [context.get_output(node, i) for i in range(len(node.outputs))]
    copy_to_subgraph_inputs(context, inputs, cond, "WHILE's inputs")
    for i, (source, destination) in enumerate(zip(inputs, outputs)):   # CopyOpInputsToOpOutputs
        _copy(source, destination, f"WHILE input {i} -> output {i}")
    graph = context.graph
    graph.invoke_subgraph(cond)
    state = _loop_state(outputs)
    while bool(_subgraph_io(context, cond, "output")[0].data.reshape(-1)[0]):
        copy_to_subgraph_inputs(context, outputs, body, "WHILE's outputs")
        graph.invoke_subgraph(body)
        copy_subgraph_outputs_to(context, body, outputs, "WHILE's outputs")
        copy_to_subgraph_inputs(context, outputs, cond, "WHILE's outputs")
        graph.invoke_subgraph(cond)
        state, previous = _loop_state(outputs), state
        if state == previous and _stateless(context, (cond, body)):
            raise ModelError("WHILE would loop forever: the body gives back the values it "
                             "was given, and the cond subgraph said true for them - TFLM "
                             "would hang here")


def _loop_state(outputs) -> list:
    return [t.data.tobytes() for t in outputs]


# Ops whose result depends on more than their inputs: state kept across calls.
STATEFUL_OPS = {"VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE", "CALL_ONCE"}


def _stateless(context, subgraphs, seen=None) -> bool:
    """True when running these subgraphs depends on their inputs alone: no variable tensor
    (but their inputs, which each call overwrites), no resource variable or CALL_ONCE, no
    kernel with state to reset (CIRCULAR_BUFFER, the signal ops), and the same for every
    subgraph they call. Then a WHILE whose values come back unchanged will see them
    unchanged forever."""
    seen = set() if seen is None else seen
    for index in subgraphs:
        if index in seen:
            continue
        seen.add(index)
        sg = context.graph.subgraphs[index]
        inputs = set(sg.subgraph.inputs)   # a variable input is overwritten by every call
        if any(t.is_variable and t.index not in inputs for t in sg.tensors):
            return False
        for node, registration in zip(sg.nodes, sg.registrations):
            if node.op_name in STATEFUL_OPS or registration.reset is not None:
                return False
            options = node.builtin_data
            called = [getattr(options, name) for name in
                      ("then_subgraph_index", "else_subgraph_index", "cond_subgraph_index",
                       "body_subgraph_index") if hasattr(options, name)]
            if not _stateless(context, called, seen):
                return False
    return True


def register_while():
    return Registration("WHILE", prepare=while_prepare, eval=while_eval, init=while_init,
                        max_version=1)


c_struct("TfLiteIfParams", BUILTIN, m("then_subgraph_index", "int"),
         m("else_subgraph_index", "int"))
c_struct("OpDataIf", KERNELS + "if.cc", m("then_subgraph_index", "int"),
         m("else_subgraph_index", "int"))
c_struct("TfLiteWhileParams", BUILTIN, m("cond_subgraph_index", "int"),
         m("body_subgraph_index", "int"))
c_struct("OpDataWhile", KERNELS + "while.cc", m("cond_subgraph_index", "int"),
         m("body_subgraph_index", "int"))

SPECS = [
    OpSpec(Op.IF, register_if, IfOptions, ANY_TYPE, None,
           ArenaRecipe("TfLiteIfParams", "OpDataIf", lambda k: k.temp_input(0))),
    OpSpec(Op.WHILE, register_while, WhileOptions, ANY_TYPE, None,
           ArenaRecipe("TfLiteWhileParams", "OpDataWhile", nothing)),
]
