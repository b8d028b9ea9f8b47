"""FLOOR_DIV and FLOOR_MOD: floor(x / y) and x - floor(x / y) * y, float32, broadcasting.

Mirrors tensorflow/lite/micro/kernels/floor_div.cc and floor_mod.cc (CalculateOpData,
EvalFloorDiv, EvalFloorMod), with reference_ops::FloorDiv and FloorMod
(kernels/internal/reference/floor_div.h, floor_mod.h) applied by BinaryFunction or
BroadcastBinaryFunction4DSlow (numpy's broadcasting, up to rank 8). TFLM's Eval computes
float32 only (the int32 of TFLite's kernels is not there).

FloorDiv divides in double: floor(double(x) / double(y)), rounded back to float32. Eval
first looks for a zero anywhere in y and then fails ("Division by 0"): an invoke error,
not a NaN or an inf.

FloorMod takes the C remainder fmodf(x, y) (exact, with the sign of x) and moves it into
y's sign when the two differ and it is not zero: r + y. y = 0 is not checked here:
fmodf gives NaN.
"""
from __future__ import annotations

import numpy as np

from tflm_edu.errors import ModelError
from tflm_edu.kernels.add import check_broadcast_shapes
from tflm_edu.kernels.kernel_api import Registration, ensure, unsupported_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, inputs_then_output
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType, type_name
from tflm_edu.schema.options import FloorDivOptions, FloorModOptions

INPUT1, INPUT2, OUTPUT = 0, 1, 0
MAX_RANK = 8
TYPES = (TensorType.FLOAT32,)


def prepare(context, node):
    """CalculateOpData: two inputs and an output of one type (and, here, of a type Eval
    computes, with shapes that broadcast to the output's)."""
    ensure(len(node.inputs) == 2, f"{node.op_name} takes 2 inputs, got {len(node.inputs)}")
    ensure(len(node.outputs) == 1, f"{node.op_name} has 1 output, got {len(node.outputs)}")
    input1, input2 = context.get_input(node, INPUT1), context.get_input(node, INPUT2)
    output = context.get_output(node, OUTPUT)
    ensure(input1 is not None and input2 is not None, f"{node.op_name} needs both inputs")
    ensure(input1.type == input2.type == output.type,
           f"{node.op_name} needs inputs and output of one type; got "
           f"{type_name(input1.type)}, {type_name(input2.type)} -> {type_name(output.type)}")
    if input1.type not in TYPES:
        raise unsupported_type(node, input1)
    ensure(max(len(input1.shape), len(input2.shape), len(output.shape)) <= MAX_RANK,
           f"{node.op_name} broadcasts up to rank {MAX_RANK}")
    check_broadcast_shapes(input1, input2, output)


def eval_floor_div(context, node):
    input1, input2 = context.get_input(node, INPUT1), context.get_input(node, INPUT2)
    output = context.get_output(node, OUTPUT)
    if np.any(input2.data == 0):
        raise ModelError("Division by 0: the divisor of FLOOR_DIV holds a zero")
    output.data[...] = floor_div(input1.data, input2.data).reshape(output.shape)


def eval_floor_mod(context, node):
    input1, input2 = context.get_input(node, INPUT1), context.get_input(node, INPUT2)
    output = context.get_output(node, OUTPUT)
    output.data[...] = floor_mod(input1.data, input2.data).reshape(output.shape)


# ----------------------------------------------------------------------------- reference math


def floor_div(x, y):
    """reference_ops::FloorDiv<float>: the quotient in double, floored, back to float32."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.floor(x.astype(np.float64) / y.astype(np.float64)).astype(np.float32)


def floor_mod(x, y):
    """reference_ops::FloorMod<float>: fmodf, then into the divisor's sign."""
    with np.errstate(invalid="ignore", divide="ignore"):
        trunc_mod = np.fmod(x, y)
        moved = (trunc_mod != 0) & ((y < 0) != (trunc_mod < 0))
        return np.where(moved, trunc_mod + y, trunc_mod).astype(np.float32)


def register_floor_div():
    return Registration("FLOOR_DIV", prepare=prepare, eval=eval_floor_div, max_version=3)


def register_floor_mod():
    return Registration("FLOOR_MOD", prepare=prepare, eval=eval_floor_mod, max_version=2)


# No Parse params; Init returns nullptr (no OpData); Prepare fetches both inputs and the
# output.
SPECS = [
    OpSpec(Op.FLOOR_DIV, register_floor_div, FloorDivOptions, TYPES, None,
           ArenaRecipe(None, None, inputs_then_output(2))),
    OpSpec(Op.FLOOR_MOD, register_floor_mod, FloorModOptions, TYPES, None,
           ArenaRecipe(None, None, inputs_then_output(2))),
]
