"""ARG_MAX and ARG_MIN: the index of the largest (smallest) value along one axis.

Mirrors tensorflow/lite/micro/kernels/arg_min_max.cc (Eval, ArgMinMaxHelper), with the
arithmetic of reference_ops::ArgMinMax and the comparators GreaterFn / LessFn of
reference/comparisons.h.

The scan starts at index 0 and moves only to a value strictly greater (smaller), so ties
keep the first index; and, with plain > and <, a NaN never moves it - unless it is the
first value, which then stays (the NaN-aware comparator in arg_min_max.h is not the one
TFLM's kernel passes). 0.0 and -0.0 are equal.

TFLM's kernel has no Init and no Prepare: its Eval takes float32 or int8 input, an int32
axis and an int32 output only (an int64 output, which TFLite's ArgMaxOptions allow, fails
there), reads the axis from the first element of the axis tensor, and checks no shape.
This kernel checks at prepare what Eval would refuse or read out of bounds: the types,
the axis range, and an output holding one index per kept position. The ArgMaxOptions'
output_type is parsed into the arena but never read.
"""
from __future__ import annotations

import numpy as np

from tflm_edu.errors import ModelError
from tflm_edu.kernels.kernel_api import Registration, ensure, ensure_type, unsupported_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule, nothing
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType
from tflm_edu.schema.options import ArgMaxOptions, ArgMinOptions
from tflm_edu.memory.layout import BUILTIN, c_struct, m

INPUT, AXIS, OUTPUT = 0, 1, 0
INPUT_TYPES = (TensorType.FLOAT32, TensorType.INT8)


def prepare(context, node):
    """Not in TFLM (no Prepare): what its Eval would refuse, checked once."""
    name = node.op_name.lower()
    ensure(len(node.inputs) == 2 and len(node.outputs) == 1,
           f"{name} takes 2 inputs (input, axis) and 1 output, got {len(node.inputs)} and "
           f"{len(node.outputs)}")
    input, axis = context.get_input(node, INPUT), context.get_input(node, AXIS)
    output = context.get_output(node, OUTPUT)
    ensure(input is not None and axis is not None, f"{name} needs an input and an axis")
    ensure_type(axis, TensorType.INT32)
    ensure(axis.num_elements >= 1, f"{name} needs an axis value")
    ensure_type(output, TensorType.INT32)
    if input.type not in INPUT_TYPES:
        raise unsupported_type(node, input)
    ensure(len(input.shape) >= 1, f"{name} needs an input of at least 1 dimension")
    if axis.data is not None:
        check_axis(node, input, output, int(axis.data.reshape(-1)[0]))


def check_axis(node, input, output, axis: int) -> int:
    """The axis (negative counts from the end) must name an input dimension, and the
    output must hold one index for each position of the other dimensions."""
    num_dims = len(input.shape)
    resolved = axis + num_dims if axis < 0 else axis
    if not 0 <= resolved < num_dims:
        raise ModelError(f"axis {axis} is out of range for a {num_dims}-D input "
                         f"(valid: {-num_dims} to {num_dims - 1})")
    expected = int(np.prod([d for i, d in enumerate(input.shape) if i != resolved],
                           dtype=np.int64))
    if output.num_elements != expected:
        raise ModelError(f"output {list(output.shape)} does not hold the {expected} indices "
                         f"of input {list(input.shape)} along axis {axis}")
    return resolved


def eval(context, node):
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    axis = check_axis(node, input, output,
                      int(context.get_input(node, AXIS).data.reshape(-1)[0]))
    result = arg_min_max(input.data, axis, is_arg_max=node.op_name == "ARG_MAX")
    output.data.reshape(-1)[...] = result.reshape(-1)


# ----------------------------------------------------------------------------- reference math


def arg_min_max(x, axis: int, is_arg_max: bool):
    """reference_ops::ArgMinMax with GreaterFn (LessFn): for each (outer, inner) position
    the first index whose value beats every earlier one strictly. A NaN never beats
    anything: replaced by -inf (+inf) it never does either, and ties keep the first index;
    a NaN in first place is never beaten, so the answer there is 0."""
    x = np.moveaxis(x, axis, -1)
    if x.dtype.kind == "f":
        never_wins = np.float32(-np.inf if is_arg_max else np.inf)
        first_is_nan = np.isnan(x[..., 0])
        x = np.where(np.isnan(x), never_wins, x)
    index = np.argmax(x, axis=-1) if is_arg_max else np.argmin(x, axis=-1)
    if x.dtype.kind == "f":
        index = np.where(first_is_nan, 0, index)
    return index.astype(np.int32)


def register_arg_max():
    return Registration("ARG_MAX", prepare=prepare, eval=eval, max_version=3)


def register_arg_min():
    return Registration("ARG_MIN", prepare=prepare, eval=eval, max_version=3)


# The C structs this kernel puts in the arena (ParseArgMax / ParseArgMin: a TfLiteType,
# a C enum).
c_struct("TfLiteArgMaxParams", BUILTIN, m("output_type", "enum"))
c_struct("TfLiteArgMinParams", BUILTIN, m("output_type", "enum"))

SPECS = [
    OpSpec(Op.ARG_MAX, register_arg_max, ArgMaxOptions, INPUT_TYPES,
           QuantizerRule(int8_version=2),
           ArenaRecipe("TfLiteArgMaxParams", None, nothing)),
    OpSpec(Op.ARG_MIN, register_arg_min, ArgMinOptions, INPUT_TYPES,
           QuantizerRule(int8_version=2),
           ArenaRecipe("TfLiteArgMinParams", None, nothing)),
]
