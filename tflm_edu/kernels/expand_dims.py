"""EXPAND_DIMS: insert an axis of size 1 at a given position.

Mirrors tensorflow/lite/micro/kernels/expand_dims.cc (ExpandDimsPrepare, VerifyTensorDim,
ExpandDimsEval). The inputs are (input, axis), the axis a constant int32 with one value:
[3, 4] expanded at axis 0 is [1, 3, 4], at axis 2 or -1 it is [3, 4, 1] (a negative
axis counts from the end of the output, so -1 appends). The bytes do not move: Eval
copies them.

TFLM's Prepare checks the axis (constant, int32, at most 1-D, not above the input's
rank) and that the output tensor has exactly the expanded shape. It does not check a
negative axis below -(rank + 1) (it then reads the input's dims out of bounds), nor the
output's type (Eval copies input-typed elements into it): Prepare here refuses both,
and an axis tensor that does not hold exactly one value (TFLM reads the first).
Eval supports float32, int8 and int16 only, as TFLM's does.
"""
from __future__ import annotations

from dataclasses import dataclass

from tflm_edu.kernels.kernel_api import Registration, ensure, unsupported_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule, inputs_then_output
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType, type_name
from tflm_edu.schema.options import ExpandDimsOptions

INPUT, AXIS, OUTPUT = 0, 1, 0
SUPPORTED_TYPES = (TensorType.FLOAT32, TensorType.INT8, TensorType.INT16)


@dataclass
class OpDataExpandDims:
    """Not in TFLM (it keeps no OpData for EXPAND_DIMS): the axis made non-negative."""

    axis: int = 0


def init(context, node):
    return OpDataExpandDims()


def prepare(context, node):
    data: OpDataExpandDims = node.user_data
    ensure(len(node.inputs) == 2, f"EXPAND_DIMS takes 2 inputs (input, axis), got "
                                  f"{len(node.inputs)}")
    ensure(len(node.outputs) == 1, f"EXPAND_DIMS has 1 output, got {len(node.outputs)}")
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    ensure(input is not None, "EXPAND_DIMS needs an input tensor")
    ensure(input.type == output.type, f"input is {type_name(input.type)} but the output "
                                      f"is {type_name(output.type)}")
    if input.type not in SUPPORTED_TYPES:
        raise unsupported_type(node, input)
    rank = len(input.shape)
    data.axis = _read_axis(context.get_input(node, AXIS), rank)
    expected = list(input.shape[:data.axis]) + [1] + list(input.shape[data.axis:])
    ensure(list(output.shape) == expected,
           f"output shape {list(output.shape)} should be {expected}: the input "
           f"{list(input.shape)} with an axis of size 1 at {data.axis}")


def _read_axis(axis, rank: int) -> int:
    """GetAxisValueFromTensor and VerifyTensorDim's range: -(rank + 1) <= axis <= rank."""
    ensure(axis is not None, "EXPAND_DIMS needs an axis tensor")
    ensure(axis.is_constant and axis.data is not None, "Non-constant axis tensor is not "
                                                       "supported")
    ensure(axis.type == TensorType.INT32, f"the axis must be int32, got "
                                          f"{type_name(axis.type)}")
    ensure(len(axis.shape) <= 1 and axis.num_elements == 1,
           f"the axis tensor must hold one value, it has shape {list(axis.shape)}")
    value = int(axis.data.reshape(-1)[0])
    ensure(-(rank + 1) <= value <= rank,
           f"axis {value} is out of range for a {rank}-D input (valid: {-(rank + 1)} to "
           f"{rank})")
    return value + rank + 1 if value < 0 else value


def eval(context, node):
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    # ExpandDimsEval: memCopyN of every element (the shapes only differ by one 1).
    output.data.reshape(-1)[...] = input.data.reshape(-1)


def register_expand_dims():
    return Registration("EXPAND_DIMS", prepare=prepare, eval=eval, init=init, max_version=1)


# TFLM's ParseExpandDims allocates no params struct and EXPAND_DIMS has no Init; Prepare
# takes temporary tensors for the input, the axis and the output.
SPEC = OpSpec(Op.EXPAND_DIMS, register_expand_dims, ExpandDimsOptions, SUPPORTED_TYPES,
              QuantizerRule(int8_version=1, output="same_as_input", int16_version=1),
              ArenaRecipe(None, None, inputs_then_output(2)))
