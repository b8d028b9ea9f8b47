"""REVERSE_V2: reverse a tensor along the axes listed in a second, int32 input.

Mirrors tensorflow/lite/micro/kernels/reverse.cc (ReverseV2Prepare, ReverseV2Eval), with
reference_ops::Reverse (kernels/internal/reference/reverse.h).

TFLM reverses only contiguous axes: Eval sorts the axes (a negative one counts from the
end) and refuses a gap ("Non-contiguous `axes` not supported"); it then treats the run of
axes as one flattened dimension and reverses the blocks along it - the same as flipping
each of those axes (np.flip). Bytes are moved: float32, int32, int16, int8, uint8, int64,
bool.

The axes are read at every Eval, so they may come from a non-constant tensor; Prepare
checks constant axes at once, and Eval checks others. tflm_edu also refuses an empty
axis list (the C++ reads axes[-1]), a repeated axis (a gap for TFLM's check too) and an
output shape that is not the input's.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tflm_edu.kernels.kernel_api import Registration, ensure, unsupported_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, inputs_then_output
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType, type_name
from tflm_edu.schema.options import ReverseV2Options

INPUT, AXIS, OUTPUT = 0, 1, 0
MAX_DIMENSIONS = 6   # RuntimeShape::kMaxSmallSize
SUPPORTED_TYPES = (TensorType.INT32, TensorType.FLOAT32, TensorType.UINT8, TensorType.INT8,
                   TensorType.INT16, TensorType.INT64, TensorType.BOOL)


@dataclass
class OpDataReverse:
    """Not in TFLM (its Eval reads the axes every time): the checked axes when constant."""

    axes: tuple | None = None


def init(context, node):
    return OpDataReverse()


def prepare(context, node):
    data: OpDataReverse = node.user_data
    ensure(len(node.inputs) == 2, f"REVERSE_V2 takes 2 inputs, got {len(node.inputs)}")
    ensure(len(node.outputs) == 1, f"REVERSE_V2 has 1 output, got {len(node.outputs)}")
    input, axis = context.get_input(node, INPUT), context.get_input(node, AXIS)
    output = context.get_output(node, OUTPUT)
    ensure(input is not None and axis is not None, "REVERSE_V2 needs an input and axes")
    ensure(len(axis.shape) == 1, f"the axis tensor must be 1-D, got {list(axis.shape)}")
    ensure(len(input.shape) <= MAX_DIMENSIONS,
           f"REVERSE_V2 takes up to {MAX_DIMENSIONS} dimensions")
    ensure(len(input.shape) >= axis.shape[0],
           f"{axis.shape[0]} axes for a {len(input.shape)}-D input")
    if input.type not in SUPPORTED_TYPES:
        raise unsupported_type(node, input)
    ensure(axis.type == TensorType.INT32,
           f"Axis Type '{type_name(axis.type)}' is not supported by reverse.")
    ensure(input.type == output.type,
           f"input is {type_name(input.type)} but the output is {type_name(output.type)}")
    ensure(tuple(output.shape) == tuple(input.shape),
           f"output shape {list(output.shape)} differs from the input's {list(input.shape)}")
    if axis.is_constant and axis.data is not None:
        data.axes = check_axes(axis.data, len(input.shape))


def check_axes(values, rank):
    """ReverseV2Eval's checks: each axis in [-rank, rank), the sorted axes contiguous."""
    axes = [int(v) for v in np.asarray(values).reshape(-1)]
    ensure(len(axes) > 0, "REVERSE_V2 needs at least one axis")
    axes = sorted(a + rank if a < 0 else a for a in axes)
    ensure(all(0 <= a < rank for a in axes), f"axes {axes} out of range for rank {rank}")
    ensure(all(b == a + 1 for a, b in zip(axes, axes[1:])),
           f"Non-contiguous `axes` not supported: {axes}")
    return tuple(axes)


def eval(context, node):
    data: OpDataReverse = node.user_data
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    axes = data.axes
    if axes is None:
        axes = check_axes(context.get_input(node, AXIS).data, len(input.shape))
    output.data[...] = np.flip(input.data, axes)


def register_reverse_v2():
    return Registration("REVERSE_V2", prepare=prepare, eval=eval, init=init, max_version=3)


SPEC = OpSpec(Op.REVERSE_V2, register_reverse_v2, ReverseV2Options, SUPPORTED_TYPES, None,
              ArenaRecipe(None, None, inputs_then_output(2)))
