"""PRELU: x for x >= 0, alpha * x otherwise, with alpha a second tensor broadcast
against the input (typically one slope per channel).

Mirrors tensorflow/lite/micro/kernels/prelu.cc and prelu_common.cc (PreluParams of
internal/types.h, CalculatePreluParams, BroadcastPrelu4DSlowFloat), with the arithmetic of
reference_ops::BroadcastPrelu4DSlow (int8, and int16 with an int8 alpha).

Quantized, each element takes one of two requantizations by the sign of
(x - input zero point): input_scale / output_scale for the non-negative ones, and
input_scale * alpha_scale / output_scale applied to the product
(x - input zero point) * (alpha - alpha zero point) for the others - both computed in
double.

TFLM checks no shapes: it walks the output's shape and indexes the inputs by the
broadcast rule, so an output that is not the broadcast of the two inputs would be read
out of bounds. This kernel asks for it (leading 1s aside). The float loop extends every
shape to 4-D, so the float kernel takes at most 4 dimensions (the quantized one 8).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tflm_edu.kernels.kernel_api import (Registration, ensure, ensure_quantized,
                                         ensure_type, unsupported_type)
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule, inputs_then_output
from tflm_edu.kernels.quantization_util import (multiply_by_quantized_multiplier,
                                                quantize_multiplier)
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType
from tflm_edu.memory.layout import TYPES, c_struct, m

INPUT, ALPHA, OUTPUT = 0, 1, 0
QUANTIZED_DTYPES = {TensorType.INT8: np.int8, TensorType.INT16: np.int16}
MAX_DIMS = {TensorType.FLOAT32: 4, TensorType.INT8: 8, TensorType.INT16: 8}


@dataclass
class PreluParams:
    input_offset: int = 0  # minus the input zero point
    alpha_offset: int = 0  # minus the alpha zero point
    output_offset: int = 0  # the output zero point
    output_multiplier_1: int = 0  # for x >= 0
    output_shift_1: int = 0
    output_multiplier_2: int = 0  # for x < 0, applied to x * alpha
    output_shift_2: int = 0


def init(context, node):
    return PreluParams()


def prepare(context, node):
    """PreluPrepare and CalculatePreluParams."""
    params: PreluParams = node.user_data
    ensure(len(node.inputs) == 2 and len(node.outputs) == 1,
           f"prelu takes 2 inputs (input, alpha) and 1 output, got {len(node.inputs)} and "
           f"{len(node.outputs)}")
    input, alpha = context.get_input(node, INPUT), context.get_input(node, ALPHA)
    output = context.get_output(node, OUTPUT)
    ensure(input is not None and alpha is not None, "prelu needs an input and an alpha")
    if input.type not in MAX_DIMS:
        raise unsupported_type(node, input)
    ensure(output.type == input.type, "input and output types differ")
    # Eval reads alpha as float32 (float input) or int8: anything else is read wrongly.
    ensure_type(alpha, TensorType.FLOAT32 if input.type == TensorType.FLOAT32
                else TensorType.INT8)
    _check_shapes(input, alpha, output, MAX_DIMS[input.type])
    if input.type == TensorType.FLOAT32:
        return
    ensure_quantized(input, QUANTIZED_DTYPES[input.type])
    ensure_quantized(alpha, np.int8)
    ensure_quantized(output, QUANTIZED_DTYPES[input.type])
    params.output_multiplier_1, params.output_shift_1 = quantize_multiplier(
        input.scale / output.scale)
    params.output_multiplier_2, params.output_shift_2 = quantize_multiplier(
        input.scale * alpha.scale / output.scale)
    # A left shift of 31 or more is undefined in MultiplyByQuantizedMultiplier.
    ensure(params.output_shift_1 <= 30 and params.output_shift_2 <= 30,
           f"the scales (input {input.scale:g}, alpha {alpha.scale:g}, output "
           f"{output.scale:g}) give too large a ratio")
    params.input_offset = -input.zero_point
    params.alpha_offset = -alpha.zero_point
    params.output_offset = output.zero_point


def _check_shapes(input, alpha, output, max_dims):
    shapes = [tuple(t.shape) for t in (input, alpha, output)]
    ensure(all(len(s) <= max_dims for s in shapes),
           f"prelu on {type_label(input)} takes at most {max_dims} dimensions, got "
           f"{[list(s) for s in shapes]}")
    try:
        broadcast = np.broadcast_shapes(shapes[0], shapes[1])
    except ValueError:
        broadcast = None
    ensure(broadcast is not None, f"alpha {list(shapes[1])} does not broadcast against "
                                  f"input {list(shapes[0])}")
    ensure(_without_leading_ones(broadcast) == _without_leading_ones(shapes[2]),
           f"output {list(shapes[2])} should have the broadcast shape {list(broadcast)}")


def type_label(tensor):
    return "float32" if tensor.type == TensorType.FLOAT32 else "integers"


def _without_leading_ones(shape):
    shape = list(shape)
    while shape and shape[0] == 1:
        shape.pop(0)
    return shape


def eval(context, node):
    params: PreluParams = node.user_data
    input, alpha = context.get_input(node, INPUT), context.get_input(node, ALPHA)
    output = context.get_output(node, OUTPUT)
    if input.type == TensorType.FLOAT32:
        result = prelu_float(input.data, alpha.data)
    else:
        result = prelu_quantized(input.data, alpha.data, params)
    output.data.reshape(-1)[...] = result.reshape(-1)


# ----------------------------------------------------------------------------- reference math


def prelu_float(x, alpha):
    """BroadcastPrelu4DSlowFloat: in >= 0 ? in : in * alpha, in float32 (NaN takes the
    alpha branch)."""
    with np.errstate(invalid="ignore", over="ignore"):
        return np.where(x >= 0, x, x * alpha).astype(np.float32)


def prelu_quantized(x, alpha, params: PreluParams):
    """reference_ops::BroadcastPrelu4DSlow: the non-negative inputs rescaled by
    multiplier 1, the negative ones multiplied by (alpha - its zero point) and rescaled
    by multiplier 2; then the output zero point and a clamp to the type."""
    info = np.iinfo(x.dtype)
    input_value = x.astype(np.int64) + params.input_offset
    alpha_value = alpha.astype(np.int64) + params.alpha_offset
    positive = multiply_by_quantized_multiplier(input_value, params.output_multiplier_1,
                                                params.output_shift_1)
    negative = multiply_by_quantized_multiplier(input_value * alpha_value,
                                                params.output_multiplier_2,
                                                params.output_shift_2)
    output = np.where(input_value >= 0, positive, negative) + params.output_offset
    return np.clip(output, info.min, info.max).astype(x.dtype)


def register_prelu():
    return Registration("PRELU", prepare=prepare, eval=eval, init=init, max_version=1)


# The C structs this kernel puts in the arena, member by member as TFLM declares them
# (tflm_edu.memory.layout lays them out for each target).
c_struct("PreluParams", TYPES, m("input_offset", "int32"), m("alpha_offset", "int32"),
         m("output_offset", "int32"), m("output_multiplier_1", "int32"),
         m("output_shift_1", "int"), m("output_multiplier_2", "int32"),
         m("output_shift_2", "int"))

SPEC = OpSpec(Op.PRELU, register_prelu, None, (TensorType.FLOAT32, *QUANTIZED_DTYPES),
              QuantizerRule(int8_version=1),
              ArenaRecipe(None, "PreluParams", inputs_then_output(2)))
