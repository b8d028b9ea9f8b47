"""RESHAPE: the same bytes under another shape.

Mirrors tensorflow/lite/micro/kernels/reshape.cc and reshape_common.cc
(PrepareReshapeReference, EvalReshapeReference).

Where does the new shape come from? In TensorFlow Lite it is the second input (the shape
tensor) or the new_shape option. TFLM reads neither: on a microcontroller every tensor is
sized before the first invoke, so it trusts the shape the converter wrote on the output
tensor. Prepare only checks that shape against the input:

- one dimension may be -1 ("whatever makes the element counts match"): Prepare computes
  it and rewrites the output's shape (TFLM's CreateWritableTensorDimsWithCopy);
- a legacy output shape of [0] with no shape input means a scalar;
- the element counts must then be equal, and the types the same.

That is why the shape input may be a non-constant tensor (the SHAPE -> STRIDED_SLICE ->
PACK chain the converter emits for a dynamic batch): its value is never read.

Eval copies the bytes (TFLM skips the copy when input and output share memory).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tflm_edu.kernels.kernel_api import Registration, ensure
from tflm_edu.kernels.op_spec import ANY_TYPE, ArenaRecipe, OpSpec, QuantizerRule
from tflm_edu.schema.enums import BuiltinOperator as Op
from tflm_edu.schema.options import ReshapeOptions
from tflm_edu.memory.layout import BUILTIN, c_struct, m

INPUT, SHAPE, OUTPUT = 0, 1, 0


@dataclass
class OpDataReshape:
    """TFLM keeps no OpData for RESHAPE; this records what Prepare decided, for learners."""

    output_shape: tuple = ()
    stretch_dim: int = -1  # which output dimension was -1 (-1: none)


def init(context, node):
    return OpDataReshape()


def prepare(context, node):
    data: OpDataReshape = node.user_data
    ensure(len(node.inputs) in (1, 2), f"RESHAPE takes 1 or 2 inputs, got {len(node.inputs)}")
    ensure(len(node.outputs) == 1, f"RESHAPE has 1 output, got {len(node.outputs)}")
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    ensure(input is not None, "RESHAPE needs an input tensor")
    output_shape = [int(d) for d in output.shape]
    if len(node.inputs) == 1 and output_shape == [0]:
        output_shape = []  # legacy converters wrote [0] for a scalar

    ensure(output_shape.count(-1) <= 1,
           f"output shape {output_shape} has more than one -1 dimension")
    ensure(all(d >= -1 for d in output_shape),
           f"output shape {output_shape} has a negative dimension")
    num_input_elements = input.num_elements
    num_output_elements = int(np.prod([d for d in output_shape if d != -1], dtype=np.int64))
    data.stretch_dim = output_shape.index(-1) if -1 in output_shape else -1
    if data.stretch_dim >= 0:
        ensure(num_output_elements > 0,
               f"cannot infer the -1 of output shape {output_shape}: the other dimensions "
               f"hold no elements")
        output_shape[data.stretch_dim] = num_input_elements // num_output_elements
        num_output_elements *= output_shape[data.stretch_dim]

    ensure(input.type == output.type, "input and output types differ")
    ensure(num_input_elements == num_output_elements,
           f"cannot reshape {list(input.shape)} ({num_input_elements} elements) into "
           f"{output_shape} ({num_output_elements} elements)")
    data.output_shape = tuple(output_shape)
    output.shape = data.output_shape  # the planner sizes the output from this shape


def eval(context, node):
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    # Input and output are both alive during this op, so the planner never gives them
    # the same bytes: the copy is always needed here.
    output.data.reshape(-1)[...] = input.data.reshape(-1)


def register_reshape():
    return Registration("RESHAPE", prepare=prepare, eval=eval, init=init, max_version=1)


def arena_prepare(k):
    """PrepareReshapeReference -> ReshapeOutput: a writable copy of the output's dims when
    one of them is -1 (CreateWritableTensorDimsWithCopy)."""
    k.temp_input(0)
    k.temp_output(0)
    if any(d == -1 for d in k.output(0).shape):
        k.persistent(4 + 4 * len(k.output(0).shape), "writable output dims")


# The C structs this kernel puts in the arena, member by member as TFLM declares them
# (tflm_edu.memory.layout lays them out for each target).
c_struct("TfLiteReshapeParams", BUILTIN, m("shape", "int32", 8), m("num_dimensions", "int"))

SPEC = OpSpec(Op.RESHAPE, register_reshape, ReshapeOptions, ANY_TYPE,
              QuantizerRule(int8_version=1, output="same_as_input", int16_version=1),
              ArenaRecipe("TfLiteReshapeParams", None, arena_prepare))
