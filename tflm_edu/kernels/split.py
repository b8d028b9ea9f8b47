"""SPLIT: cut a tensor into num_splits equal pieces along one axis.

Mirrors tensorflow/lite/micro/kernels/split.cc (SplitPrepare, SplitEval, SplitImpl).
The inputs are (axis, input) - the axis first, a constant int32 scalar. With an input of
shape [2, 6] split 3 ways along axis 1, the outputs are three [2, 2] tensors, output i
holding columns 2i and 2i + 1.

SplitImpl walks the input once, in order: for each outer index (the axes before `axis`)
it copies one block of output_dims[axis] * inner elements to each output in turn. That
is np.split.

TFLM's Prepare only checks that the axis is constant; Eval checks its range, and takes
every output's shape from output 0 without checking it. Prepare here checks all of it
before the first invoke: the axis (int32, one value, in range), that num_splits is the
number of outputs, and that every output has the input's shape with the split axis
divided by num_splits (and the input's type). split_v.py reuses this module's
helpers, as TFLM's split_v.cc repeats split.cc's loop.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tflm_edu.kernels.kernel_api import Registration, ensure, unsupported_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType, type_name
from tflm_edu.schema.options import SplitOptions
from tflm_edu.memory.layout import BUILTIN, c_struct, m

AXIS, INPUT = 0, 1
SUPPORTED_TYPES = (TensorType.FLOAT32, TensorType.INT8, TensorType.INT16, TensorType.INT32)


@dataclass
class OpDataSplit:
    """Not in TFLM (its Eval reads the axis tensor on every invoke): the axis made
    non-negative, and where each output's piece ends along it."""

    axis: int = 0
    boundaries: list = field(default_factory=list)


def init(context, node):
    return OpDataSplit()


def prepare(context, node):
    data: OpDataSplit = node.user_data
    ensure(len(node.inputs) == 2, f"SPLIT takes 2 inputs (axis, input), got "
                                  f"{len(node.inputs)}")
    input = context.get_input(node, INPUT)
    ensure(input is not None, "SPLIT needs an input tensor")
    outputs = check_outputs(context, node, input, SUPPORTED_TYPES)
    check_num_splits(node, SplitOptions)
    data.axis = read_axis(context.get_input(node, AXIS), len(input.shape))
    size = input.shape[data.axis]
    ensure(size % len(outputs) == 0,
           f"axis {data.axis} of the input {list(input.shape)} has {size} elements, which "
           f"do not split into {len(outputs)} equal pieces")
    sizes = [size // len(outputs)] * len(outputs)
    check_output_shapes(input, outputs, data.axis, sizes)
    data.boundaries = boundaries(sizes)


def eval(context, node):
    data: OpDataSplit = node.user_data
    pieces = split(context.get_input(node, INPUT).data, data.axis, data.boundaries)
    for i, piece in enumerate(pieces):
        context.get_output(node, i).data[...] = piece


# ----------------------------------------------------------------------------- shared with SPLIT_V


def check_outputs(context, node, input, supported) -> list:
    """Every output exists and has the input's type, which Eval supports."""
    ensure(len(node.outputs) >= 1, f"{node.op_name} needs at least one output")
    if input.type not in supported:
        raise unsupported_type(node, input)
    outputs = [context.get_output(node, i) for i in range(len(node.outputs))]
    for i, output in enumerate(outputs):
        ensure(output.type == input.type, f"output {i} is {type_name(output.type)}, the "
                                          f"input {type_name(input.type)}")
    return outputs


def check_num_splits(node, options_class) -> None:
    """TFLM never reads num_splits (it counts the outputs); TensorFlow Lite requires the
    two to agree, and a model where they differ is malformed."""
    params = node.builtin_data
    if isinstance(params, options_class):
        ensure(params.num_splits == len(node.outputs),
               f"num_splits is {params.num_splits} but the op has {len(node.outputs)} "
               f"outputs")


def read_axis(axis, rank: int) -> int:
    """The split axis from its constant int32 tensor, made non-negative."""
    ensure(axis is not None, "the axis tensor is missing")
    ensure(axis.is_constant and axis.data is not None, "Non-constant axis tensor is not "
                                                       "supported")
    ensure(axis.type == TensorType.INT32, f"the axis must be int32, got "
                                          f"{type_name(axis.type)}")
    ensure(axis.num_elements == 1, f"the axis tensor must hold one value, it holds "
                                   f"{axis.num_elements}")
    value = int(axis.data.reshape(-1)[0])
    ensure(-rank <= value < rank, f"axis {value} is out of range for a {rank}-D input "
                                  f"(valid: {-rank} to {rank - 1})")
    return value + rank if value < 0 else value


def check_output_shapes(input, outputs, axis: int, sizes) -> None:
    """Output i must be the input with `sizes[i]` elements along `axis`."""
    for i, (output, size) in enumerate(zip(outputs, sizes)):
        expected = list(input.shape)
        expected[axis] = size
        ensure(list(output.shape) == expected,
               f"output {i} has shape {list(output.shape)}; the split makes it {expected}")


def boundaries(sizes) -> list:
    """Where each piece ends but the last, as np.split takes them."""
    return [int(b) for b in np.cumsum(sizes)[:-1]]


# ----------------------------------------------------------------------------- reference math


def split(x, axis, boundaries):
    """SplitImpl: for each outer index, copy copy_size = output_dims[axis] * inner
    consecutive elements to each output in turn - np.split at the boundaries."""
    return np.split(x, boundaries, axis=axis)


def register_split():
    return Registration("SPLIT", prepare=prepare, eval=eval, init=init, max_version=4)


def arena_prepare(k):
    """SplitPrepare: a temporary tensor for the axis (input 0), nothing else."""
    k.temp_input(AXIS)


# The C structs this kernel puts in the arena, member by member as TFLM declares them
# (tflm_edu.memory.layout lays them out for each target).
c_struct("TfLiteSplitParams", BUILTIN, m("num_splits", "int"))

SPEC = OpSpec(Op.SPLIT, register_split, SplitOptions, SUPPORTED_TYPES,
              QuantizerRule(int8_version=2, output="same_as_input", int16_version=4),
              ArenaRecipe("TfLiteSplitParams", None, arena_prepare))
