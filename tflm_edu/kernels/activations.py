"""RELU and RELU6: max(x, 0) and min(max(x, 0), 6).

Mirrors tensorflow/lite/micro/kernels/activations.cc and activations_common.cc
(ReluOpData / CalculateReluOpData, Relu6OpData, ReluFloat, Relu6Float, ReluQuantized,
Relu6Quantized).

The two quantized kernels work differently, as in TFLM:

- RELU requantizes: the output may have its own scale and zero point, so each value is
  moved onto the output's scale (MultiplyByQuantizedMultiplier with the multiplier
  input_scale / output_scale) and then clamped at the output's zero point (real 0).
- RELU6 only clamps, in the input's quantized domain: between the input zero point (real 0)
  and round(6 / input_scale) + zero_point (real 6). It never reads the output's
  quantization: the converter gives RELU6 an output quantized like its input.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tflm_edu.kernels.kernel_api import Registration, ensure, ensure_quantized, unsupported_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule, inputs_then_output
from tflm_edu.kernels.quantization_util import multiply_by_quantized_multiplier, \
    quantize_multiplier
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType
from tflm_edu.memory.layout import KERNELS, TYPES, c_struct, m

INPUT, OUTPUT = 0, 0

QUANTIZED_DTYPES = {TensorType.INT8: np.int8, TensorType.INT16: np.int16}
INT32_MIN = -(2**31)


@dataclass
class ReluParams:
    """tflite::ReluParams (types.h): what ReluQuantized needs."""

    input_offset: int = 0  # the input zero point (subtracted)
    output_offset: int = 0  # the output zero point (added)
    output_multiplier: int = 0
    output_shift: int = 0
    quantized_activation_min: int = 0
    quantized_activation_max: int = 0


@dataclass
class ReluOpData:
    params: ReluParams


@dataclass
class Relu6OpData:
    six: int = 0  # 6.0 quantized with the input's scale and zero point
    zero: int = 0  # 0.0 quantized: the input zero point


# ----------------------------------------------------------------------------- RELU


def relu_init(context, node):
    return ReluOpData(ReluParams())


def relu_prepare(context, node):
    data: ReluOpData = node.user_data
    input, output = _check_io(context, node)
    if input.type in QUANTIZED_DTYPES:
        dtype = QUANTIZED_DTYPES[input.type]
        ensure_quantized(input, dtype)
        ensure_quantized(output, dtype)
        if input.type == TensorType.INT16:
            ensure(input.zero_point == 0 and output.zero_point == 0,
                   "int16 RELU needs zero points of 0")
        _calculate_relu_op_data(data.params, input, output, dtype)
    elif input.type != TensorType.FLOAT32:
        raise unsupported_type(node, input)


def _calculate_relu_op_data(params: ReluParams, input, output, dtype):
    """CalculateReluOpData. The scale ratio is a double division of the two float32
    scales: that is what the tflite-micro build used as the oracle computes (its machine
    code divides with divsd). Some TFLM sources divide the floats first, in float32; the
    two differ when the ratio lands next to a rounding tie (tests pin one such case)."""
    real_multiplier = input.scale / output.scale
    ensure(math.isfinite(real_multiplier) and real_multiplier > 0,
           f"input scale {input.scale} / output scale {output.scale} is not a usable ratio")
    params.output_multiplier, params.output_shift = quantize_multiplier(real_multiplier)
    ensure(params.output_shift <= 30,
           f"input scale {input.scale} / output scale {output.scale} is too large a ratio")
    # The activation range [0, +inf) quantized: real 0 is the output zero point, and
    # roundf(0 / scale) adds nothing; the top is the type's maximum.
    params.quantized_activation_min = max(int(np.iinfo(dtype).min), output.zero_point)
    params.quantized_activation_max = int(np.iinfo(dtype).max)
    params.input_offset = input.zero_point
    params.output_offset = output.zero_point


def relu_eval(context, node):
    data: ReluOpData = node.user_data
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    if input.type == TensorType.FLOAT32:
        result = relu_float(input.data)
    else:
        result = relu_quantized(input.data, data.params, QUANTIZED_DTYPES[input.type])
    output.data.reshape(-1)[...] = result.reshape(-1)


# ----------------------------------------------------------------------------- RELU6


def relu6_init(context, node):
    return Relu6OpData()


def relu6_prepare(context, node):
    data: Relu6OpData = node.user_data
    input, output = _check_io(context, node)
    if input.type in QUANTIZED_DTYPES:
        dtype = QUANTIZED_DTYPES[input.type]
        ensure_quantized(input, dtype)
        data.zero = input.zero_point
        data.six = float_to_quantized(6.0, input.scale, input.zero_point, dtype)
    elif input.type != TensorType.FLOAT32:
        raise unsupported_type(node, input)


def float_to_quantized(value: float, scale: float, zero_point: int, dtype) -> int:
    """FloatToQuantizedType (micro_utils.h): round(value / scale) + zero_point, the
    division in float32, clamped to the type. A sum beyond int32 converts to INT32_MIN
    on the x86-64 host (the C++ conversion is undefined there), which then clamps to the
    type's minimum - mirrored so that absurdly small scales give TFLM's bytes too."""
    quotient = float(np.float32(value) / np.float32(scale))
    result = math.floor(abs(quotient) + 0.5) * (1 if quotient >= 0 else -1) \
        if math.isfinite(quotient) else math.inf
    result = result + zero_point
    if not -(2**31) <= result < 2**31:
        result = INT32_MIN
    info = np.iinfo(dtype)
    return int(min(max(result, info.min), info.max))


def relu6_eval(context, node):
    data: Relu6OpData = node.user_data
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    if input.type == TensorType.FLOAT32:
        result = relu6_float(input.data)
    else:
        result = relu6_quantized(input.data, data.zero, data.six)
    output.data.reshape(-1)[...] = result.reshape(-1)


# ----------------------------------------------------------------------------- shared checks


def _check_io(context, node):
    ensure(len(node.inputs) == 1, f"{node.op_name} takes 1 input, got {len(node.inputs)}")
    ensure(len(node.outputs) == 1, f"{node.op_name} has 1 output, got {len(node.outputs)}")
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    ensure(input is not None, f"{node.op_name} needs an input tensor")
    ensure(input.type == output.type, "input and output types differ")
    ensure(input.num_elements == output.num_elements,
           f"input {list(input.shape)} and output {list(output.shape)} differ in size")
    return input, output


# ----------------------------------------------------------------------------- reference math


def relu_float(x):
    """ReluFloat: val < 0 ? 0 : val (so -0.0 and NaN pass through unchanged)."""
    return np.where(x < 0, np.float32(0.0), x)


def relu6_float(x):
    """Relu6Float: val > 6 ? 6 : (val < 0 ? 0 : val)."""
    return np.where(x > 6, np.float32(6.0),
                    np.where(x < 0, np.float32(0.0), x))


def relu_quantized(x, params: ReluParams, dtype):
    """ReluQuantized: move each value onto the output scale, then clamp from the output
    zero point up."""
    rescaled = params.output_offset + multiply_by_quantized_multiplier(
        x.astype(np.int64) - params.input_offset, params.output_multiplier,
        params.output_shift)
    clamped = np.maximum(params.quantized_activation_min, rescaled)
    clamped = np.minimum(params.quantized_activation_max, clamped)
    return clamped.astype(dtype)


def relu6_quantized(x, lower, upper):
    """Relu6Quantized: val > upper ? upper : (val < lower ? lower : val), in the input's
    integer type. Written as the C++ ternaries, not np.clip, so that even a degenerate
    range (upper below lower) gives TFLM's bytes."""
    lower, upper = x.dtype.type(lower), x.dtype.type(upper)
    return np.where(x > upper, upper, np.where(x < lower, lower, x))


# ----------------------------------------------------------------------------- registration


def register_relu():
    return Registration("RELU", prepare=relu_prepare, eval=relu_eval, init=relu_init,
                        max_version=3)


def register_relu6():
    return Registration("RELU6", prepare=relu6_prepare, eval=relu6_eval, init=relu6_init,
                        max_version=3)


def relu6_arena_prepare(k):
    """Relu6Prepare takes the input only."""
    k.temp_input(0)


# The C structs this kernel puts in the arena, member by member as TFLM declares them
# (tflm_edu.memory.layout lays them out for each target).
c_struct("ActivationParams", TYPES, m("activation_type", "uint8"),
         m("quantized_activation_min", "int32"), m("quantized_activation_max", "int32"))
c_struct("ReluParams", TYPES, m("input_offset", "int32"), m("output_offset", "int32"),
         m("output_multiplier", "int32"), m("output_shift", "int"),
         bases=("ActivationParams",))
c_struct("ReluOpData", KERNELS + "activations.h", m("params", "ReluParams"))
c_struct("Relu6OpData", KERNELS + "activations.h", m("six", "int32"), m("zero", "int32"))

SPECS = [
    OpSpec(Op.RELU, register_relu, None, (TensorType.FLOAT32, *QUANTIZED_DTYPES),
           QuantizerRule(int8_version=2, int16_version=3),
           ArenaRecipe(None, "ReluOpData", inputs_then_output(1))),
    OpSpec(Op.RELU6, register_relu6, None, (TensorType.FLOAT32, *QUANTIZED_DTYPES),
           QuantizerRule(int8_version=2, output="same_as_input", int16_version=3),
           ArenaRecipe(None, "Relu6OpData", relu6_arena_prepare)),
]
