"""CALL_ONCE: run another subgraph, on the first invoke only.

Mirrors tensorflow/lite/micro/kernels/call_once.cc. A converter that meets resource
variables with initial values puts the assignments in an init subgraph and a CALL_ONCE at
the start of the main one: the first invoke() fills the variables, later invokes skip it.
has_run is not cleared by Reset(): after reset() the variables hold their default value
(the zero point), not the init subgraph's values.

Memory planning treats the call as TFLM does (AllocationInfoBuilder): the called subgraph's
tensors live in scopes opened inside this op's step, so they may share bytes with the main
graph's tensors that are not alive then.
"""
from __future__ import annotations

from dataclasses import dataclass

from tflm_edu.kernels.kernel_api import Registration, ensure
from tflm_edu.kernels.op_spec import ANY_TYPE, ArenaRecipe, OpSpec, nothing
from tflm_edu.memory.layout import BUILTIN, KERNELS, c_struct, m
from tflm_edu.schema.enums import BuiltinOperator as Op
from tflm_edu.schema.options import CallOnceOptions


@dataclass
class OpDataCallOnce:
    init_subgraph_index: int = 0
    has_run: bool = False


def init(context, node):
    return OpDataCallOnce()


def prepare(context, node):
    data: OpDataCallOnce = node.user_data
    params = node.builtin_data or CallOnceOptions()
    data.init_subgraph_index, data.has_run = params.init_subgraph_index, False
    ensure(len(node.inputs) == 0, f"CALL_ONCE has no inputs, got {len(node.inputs)}")
    ensure(len(node.outputs) == 0, f"CALL_ONCE has no outputs, got {len(node.outputs)}")
    count = len(context.graph.subgraphs)
    ensure(0 < data.init_subgraph_index < count and
           data.init_subgraph_index != context.subgraph_index,
           f"init_subgraph_index is {data.init_subgraph_index}; the model has subgraphs 0 to "
           f"{count - 1}, and CALL_ONCE must call another subgraph than 0 or its own")


def eval(context, node):
    data: OpDataCallOnce = node.user_data
    if data.has_run:
        return
    context.graph.invoke_subgraph(data.init_subgraph_index)
    data.has_run = True


def register_call_once():
    return Registration("CALL_ONCE", prepare=prepare, eval=eval, init=init, max_version=1)


c_struct("TfLiteCallOnceParams", BUILTIN, m("init_subgraph_index", "int"))
c_struct("OpDataCallOnce", KERNELS + "call_once.cc", m("init_subgraph_index", "int"),
         m("has_run", "bool"))

SPEC = OpSpec(Op.CALL_ONCE, register_call_once, CallOnceOptions, ANY_TYPE, None,
              ArenaRecipe("TfLiteCallOnceParams", "OpDataCallOnce", nothing))
