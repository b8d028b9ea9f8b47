"""SPLIT_V: cut a tensor into pieces of given sizes along one axis.

Mirrors tensorflow/lite/micro/kernels/split_v.cc (SplitVPrepare, SplitVEval, SplitImpl).
The inputs are (input, size_splits, axis). With an input of shape [2, 6], size_splits
[1, -1, 2] and axis 1, the outputs are [2, 1], [2, 3] and [2, 2]: one size may be -1,
"whatever is left".

TFLM never reads size_splits: every tensor is sized before the first invoke, so it takes
each piece's size from its output tensor's shape (SplitImpl is split.cc's loop with a
copy size per output). Its Prepare checks the number of inputs and that the axis is
constant; Eval checks the axis range. Prepare here also checks that the outputs tile
the input along the axis (same type, same shape elsewhere, sizes adding up), that
num_splits is the number of outputs, and - when size_splits is a constant - that it
agrees with the output shapes. A size_splits computed at run time is accepted unread,
as TFLM does.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from tflm_edu.kernels.kernel_api import Registration, ensure
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule
from tflm_edu.kernels.split import (SUPPORTED_TYPES, boundaries, check_num_splits,
                                    check_output_shapes, check_outputs, read_axis, split)
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType, type_name
from tflm_edu.schema.options import SplitVOptions
from tflm_edu.memory.layout import BUILTIN, c_struct, m

INPUT, SIZE_SPLITS, AXIS = 0, 1, 2


@dataclass
class OpDataSplitV:
    """Not in TFLM (its Eval reads the axis and the output shapes on every invoke): the
    axis made non-negative, and where each output's piece ends along it."""

    axis: int = 0
    size_splits: list = field(default_factory=list)
    boundaries: list = field(default_factory=list)


def init(context, node):
    return OpDataSplitV()


def prepare(context, node):
    data: OpDataSplitV = node.user_data
    ensure(len(node.inputs) == 3, f"SPLIT_V takes 3 inputs (input, size_splits, axis), "
                                  f"got {len(node.inputs)}")
    input = context.get_input(node, INPUT)
    ensure(input is not None, "SPLIT_V needs an input tensor")
    outputs = check_outputs(context, node, input, SUPPORTED_TYPES)
    check_num_splits(node, SplitVOptions)
    data.axis = read_axis(context.get_input(node, AXIS), len(input.shape))
    sizes = [output.shape[data.axis] if len(output.shape) > data.axis else -1
             for output in outputs]
    check_output_shapes(input, outputs, data.axis, sizes)
    ensure(sum(sizes) == input.shape[data.axis],
           f"the outputs' sizes {sizes} along axis {data.axis} add up to {sum(sizes)}, "
           f"not to the input's {input.shape[data.axis]}")
    _check_size_splits(context.get_input(node, SIZE_SPLITS), sizes)
    data.size_splits, data.boundaries = sizes, boundaries(sizes)


def _check_size_splits(size_splits, sizes) -> None:
    """A constant size_splits must say what the output shapes say (one -1 allowed)."""
    ensure(size_splits is not None, "SPLIT_V needs a size_splits tensor")
    if not (size_splits.is_constant and size_splits.data is not None):
        return  # read by nobody: TFLM takes the sizes from the output shapes
    ensure(size_splits.type in (TensorType.INT32, TensorType.INT64),
           f"size_splits must be int32 or int64, got {type_name(size_splits.type)}")
    values = [int(v) for v in size_splits.data.reshape(-1)]
    ensure(len(size_splits.shape) == 1 and len(values) == len(sizes),
           f"size_splits {values} must be 1-D with one size per output ({len(sizes)})")
    ensure(values.count(-1) <= 1 and all(v >= -1 for v in values),
           f"size_splits {values} may hold one -1 and otherwise sizes >= 0")
    if -1 in values:
        values[values.index(-1)] = sum(sizes) - (sum(values) + 1)
    ensure(values == sizes, f"size_splits {values} does not match the output sizes "
                            f"{sizes} along the split axis")


def eval(context, node):
    data: OpDataSplitV = node.user_data
    pieces = split(context.get_input(node, INPUT).data, data.axis, data.boundaries)
    for i, piece in enumerate(pieces):
        context.get_output(node, i).data[...] = piece


def register_split_v():
    return Registration("SPLIT_V", prepare=prepare, eval=eval, init=init, max_version=2)


def arena_prepare(k):
    """SplitVPrepare: a temporary tensor for the axis (input 2), nothing else."""
    k.temp_input(AXIS)


# The C structs this kernel puts in the arena, member by member as TFLM declares them
# (tflm_edu.memory.layout lays them out for each target).
c_struct("TfLiteSplitVParams", BUILTIN, m("num_splits", "int"))

SPEC = OpSpec(Op.SPLIT_V, register_split_v, SplitVOptions, SUPPORTED_TYPES,
              QuantizerRule(int8_version=2, output="same_as_input", int16_version=1),
              ArenaRecipe("TfLiteSplitVParams", None, arena_prepare))
