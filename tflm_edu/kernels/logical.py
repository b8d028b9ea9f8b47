"""LOGICAL_AND and LOGICAL_OR: x && y and x || y on bool tensors, with broadcasting.

Mirrors tensorflow/lite/micro/kernels/logical.cc and logical_common.cc (LogicalImpl,
LogicalAnd, LogicalOr), with reference_ops::BinaryFunction / BroadcastBinaryFunction4DSlow
(kernels/internal/reference/binary_function.h; the broadcast walks the pairs with
BroadcastBinaryOpSimple: numpy's broadcasting, up to rank 8).

TFLM registers these two ops with neither Init nor Prepare: nothing is checked, nothing
is put in the arena, and Eval reads both inputs and writes the output as bool whatever
their declared types. The Prepare here checks what that Eval takes for granted: two bool
inputs, a bool output of the broadcast shape.
"""
from __future__ import annotations

import numpy as np

from tflm_edu.kernels.add import check_broadcast_shapes
from tflm_edu.kernels.kernel_api import Registration, ensure
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, nothing
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType, type_name
from tflm_edu.schema.options import LogicalAndOptions, LogicalOrOptions

INPUT1, INPUT2, OUTPUT = 0, 1, 0   # kLogicalInputTensor1, kLogicalInputTensor2, ...
MAX_RANK = 8                       # BroadcastBinaryOpSimple's kMaxRank
TYPES = (TensorType.BOOL,)


def prepare(context, node):
    ensure(len(node.inputs) == 2, f"{node.op_name} takes 2 inputs, got {len(node.inputs)}")
    ensure(len(node.outputs) == 1, f"{node.op_name} has 1 output, got {len(node.outputs)}")
    input1, input2 = context.get_input(node, INPUT1), context.get_input(node, INPUT2)
    output = context.get_output(node, OUTPUT)
    ensure(input1 is not None and input2 is not None, f"{node.op_name} needs both inputs")
    for what, tensor in (("input 1", input1), ("input 2", input2), ("the output", output)):
        ensure(tensor.type == TensorType.BOOL,
               f"{what} of {node.op_name} must be bool (TFLM reads it as bool), got "
               f"{type_name(tensor.type)}")
    ensure(max(len(input1.shape), len(input2.shape), len(output.shape)) <= MAX_RANK,
           f"{node.op_name} broadcasts up to rank {MAX_RANK}")
    check_broadcast_shapes(input1, input2, output)


def make_eval(func):
    def eval(context, node):
        """LogicalImpl: BinaryFunction when the shapes match, else the broadcast."""
        input1, input2 = context.get_input(node, INPUT1), context.get_input(node, INPUT2)
        output = context.get_output(node, OUTPUT)
        output.data[...] = func(input1.data, input2.data).reshape(output.shape)
    return eval


def register_logical_and():
    return Registration("LOGICAL_AND", prepare=prepare, eval=make_eval(np.logical_and))


def register_logical_or():
    return Registration("LOGICAL_OR", prepare=prepare, eval=make_eval(np.logical_or))


# No Parse params, no Init, no Prepare in TFLM: nothing in the arena.
SPECS = [
    OpSpec(Op.LOGICAL_AND, register_logical_and, LogicalAndOptions, TYPES, None,
           ArenaRecipe(None, None, nothing)),
    OpSpec(Op.LOGICAL_OR, register_logical_or, LogicalOrOptions, TYPES, None,
           ArenaRecipe(None, None, nothing)),
]
