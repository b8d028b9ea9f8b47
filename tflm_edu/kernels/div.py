"""DIV: output = activation(input1 / input2), with numpy-style broadcasting.

Mirrors tensorflow/lite/micro/kernels/div.cc (OpDataDiv, CalculateOpDataDiv, DivPrepare,
EvalDiv, EvalQuantized), with the arithmetic of reference_ops::Div, DivElementwise,
BroadcastDivSlow and BroadcastDivSlowQuantized (kernels/internal/reference/div.h).

Three types, as TFLM's Eval dispatches on the output's:

  float32  a / b in float32 (x / 0 is +-inf, 0 / 0 NaN), then the fused activation
  int32    a / b as C's integer division - truncated toward zero, as TensorFlow's
           TruncateDiv (the micro_speech audio preprocessor divides its int32 log energies
           by 666 so) - then the fused activation's int32 range. Tensors must not be
           quantized. Dividing by 0 (or INT32_MIN by -1) traps on the host: tflm_edu stops
           the invoke with a ModelError instead.
  int8     no float at all: with value_i = q_i - zero_point_i (both signs flipped when the
           divisor is negative, so that it is positive),
               1 / value2  = input2_inv * 2^-recip_shift      GetReciprocal, a Q0.31 value
               headroom    = CountLeadingSignBits(value1)     value1 << headroom fills int32
               quotient    = SaturatingRoundingDoublingHighMul(value1 << headroom, input2_inv)
               output      = MultiplyByQuantizedMultiplierSmallerThanOneExp(quotient,
                                 output_multiplier, output_shift - recip_shift - headroom)
                             + output zero point, clamped to the fused activation's range
           with output_multiplier = scale1 / (scale2 * scale_out). A divisor equal to its
           zero point (real 0) has no reciprocal, and TFLM only debug-checks it: a release
           build goes on with GetReciprocal(0) - the normalizing shift of 0 by 32 bits
           still gives 0, so the "reciprocal" is 1 / (1 + -1.0) clamped by gemmlowp's
           Newton-Raphson - and answers some saturated value. tflm_edu computes the same.

The final rounding shift of the int8 path is gemmlowp's RoundingDivideByPOT, specified for
shifts up to 31. When value1 is 0 or -1 the head-room is 31 and the shift goes beyond
that: the C++ then shifts an int32 right by 32 or more, which x86 performs modulo 32, and
the rounding mask it builds is all ones. rounding_divide_by_pot_x86 reproduces what the
host build computes there (a 0 / x answers the output zero point plus one, not the zero
point, for most scales). An Arm core shifts by 32 or more to the sign instead: a board
may answer differently for a numerator of real value -1 step (value1 = -1).

The quantized multiplier scale1 / (scale2 * scale_out) is computed in double from the
float32 scales, as the TFLM of the tflite-micro package (0.dev20261023) does. TFLM's
source at commit 90b983c (the tree tflm_edu builds firmware from) still computes it in
float32, `static_cast<double>(input1_scale / (input2_scale * output_scale))`; for some
scales a few of the 65,280 int8 quotients then differ by one (the tests pin such scales).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tflm_edu.kernels.add import binary_op_tensors
from tflm_edu.kernels.fixedpoint import count_leading_zeros_32, fixed_mul, get_reciprocal, wrap32
from tflm_edu.kernels.kernel_api import Registration, ensure, ensure_quantized, unsupported_type
from tflm_edu.kernels.maximum_minimum import ensure_rank_at_most_6
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule, inputs_then_output
from tflm_edu.kernels.quantization_util import (activation_function_with_min_max,
                                                calculate_activation_range_float,
                                                calculate_activation_range_int32,
                                                calculate_activation_range_quantized,
                                                quantize_multiplier)
from tflm_edu.memory.layout import BUILTIN, KERNELS, c_struct, m
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType
from tflm_edu.schema.options import DivOptions

INPUT1, INPUT2, OUTPUT = 0, 1, 0   # kInputTensor1, kInputTensor2, kOutputTensor
SUPPORTED_TYPES = (TensorType.FLOAT32, TensorType.INT32, TensorType.INT8)
INT32_MIN = -(2**31)


@dataclass
class OpDataDiv:
    input1_zero_point: int = 0
    input2_zero_point: int = 0
    output_zero_point: int = 0
    output_activation_min: int = 0
    output_activation_max: int = 0
    output_multiplier: int = 0
    output_shift: int = 0


def init(context, node):
    return OpDataDiv()


def prepare(context, node):
    """DivPrepare and CalculateOpDataDiv."""
    data: OpDataDiv = node.user_data
    params = node.builtin_data or DivOptions()
    input1, input2, output = binary_op_tensors(context, node)
    if output.type not in SUPPORTED_TYPES:
        raise unsupported_type(node, output)
    ensure_rank_at_most_6(node, max(len(input1.shape), len(input2.shape), len(output.shape)))
    if output.type == TensorType.INT8:
        for tensor in (input1, input2, output):
            ensure_quantized(tensor, np.int8)
        data.output_activation_min, data.output_activation_max = \
            calculate_activation_range_quantized(params.fused_activation_function,
                                                 output.scale, output.zero_point, np.int8)
        # In double, as the tflite-micro package (see the module docstring).
        real_multiplier = input1.scale / (input2.scale * output.scale)
        data.output_multiplier, data.output_shift = quantize_multiplier(real_multiplier)
        # The int8 quotient's head-room is at least 23 bits and the reciprocal's shift at
        # least -1: a larger output shift would turn the final rounding divide into a
        # left shift, which it cannot do.
        ensure(data.output_shift <= 22,
               f"the output rescale factor {real_multiplier:g} is too large: the output "
               f"scale {output.scale} is too small for the input scales")
        data.input1_zero_point = input1.zero_point
        data.input2_zero_point = input2.zero_point
        data.output_zero_point = output.zero_point
    elif output.type == TensorType.INT32:
        ensure(input1.quantization is None and input2.quantization is None,
               "int32 DIV does not support quantized inputs")


def eval(context, node):
    """DivEval: EvalDiv for float32 and int32, EvalQuantized for int8."""
    data: OpDataDiv = node.user_data
    params = node.builtin_data or DivOptions()
    input1, input2 = context.get_input(node, INPUT1), context.get_input(node, INPUT2)
    output = context.get_output(node, OUTPUT)
    if output.type == TensorType.FLOAT32:
        act_min, act_max = calculate_activation_range_float(params.fused_activation_function)
        result = div_float(input1.data, input2.data, act_min, act_max)
    elif output.type == TensorType.INT32:
        act_min, act_max = calculate_activation_range_int32(params.fused_activation_function)
        result = div_int32(input1.data, input2.data, act_min, act_max)
    else:
        result = div_quantized(input1.data, input2.data, data)
    output.data[...] = result.reshape(output.shape)


# ----------------------------------------------------------------------------- reference math


def div_float(x1, x2, act_min, act_max):
    """Div / BroadcastDivSlow<float>: one float32 quotient, then the activation."""
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        quotient = np.divide(x1, x2, dtype=np.float32)
    return activation_function_with_min_max(quotient, act_min, act_max)


def div_int32(x1, x2, act_min, act_max):
    """Div / BroadcastDivSlow<int32_t>: C's division, truncated toward zero."""
    a, b = np.broadcast_arrays(x1.astype(np.int64), x2.astype(np.int64))
    traps = (b == 0) | ((a == INT32_MIN) & (b == -1))
    ensure(not traps.any(), "int32 DIV divides by zero (or INT32_MIN by -1): TFLM's "
                            "integer division traps there")
    quotient = np.abs(a) // np.abs(b) * np.sign(a) * np.sign(b)
    return np.clip(quotient, act_min, act_max).astype(np.int32)


def div_quantized(x1, x2, data: OpDataDiv):
    """DivElementwise / BroadcastDivSlowQuantized for int8: steps in the module docstring."""
    input1_val = x1.astype(np.int64) - data.input1_zero_point
    input2_val = x2.astype(np.int64) - data.input2_zero_point
    input1_val, input2_val = np.broadcast_arrays(input1_val, input2_val)
    # Flip both signs where the divisor is negative: the reciprocal must be positive.
    negative = input2_val < 0
    input1_val = np.where(negative, -input1_val, input1_val)
    input2_val = np.where(negative, -input2_val, input2_val)
    input2_inv, recip_shift = get_reciprocal(input2_val, 31)
    headroom = count_leading_sign_bits_32(input1_val)
    unscaled_quotient = fixed_mul(wrap32(input1_val << headroom), input2_inv)
    total_shift = data.output_shift - recip_shift - headroom
    unclamped_result = data.output_zero_point + rounding_divide_by_pot_x86(
        fixed_mul(unscaled_quotient, data.output_multiplier), -total_shift)
    return np.clip(unclamped_result, data.output_activation_min,
                   data.output_activation_max).astype(np.int8)


def count_leading_sign_bits_32(x):
    """CountLeadingSignBits for int32 values: how far x shifts left before its sign bit
    would change - 31 for 0 and -1."""
    return count_leading_zeros_32(np.where(x < 0, ~x, x)) - 1


def rounding_divide_by_pot_x86(x, exponent):
    """gemmlowp's RoundingDivideByPOT, as the x86-64 host computes it for any exponent from
    0 to 63: the mask is the low 32 bits of 2^exponent - 1 (all ones from 32 on) and the
    int32 shift counts modulo 32."""
    exponent = np.asarray(exponent, np.int64)
    mask = wrap32((np.int64(1) << exponent) - 1)
    remainder = wrap32(x & mask)
    threshold = (mask >> 1) + (x < 0)
    return (x >> (exponent & 31)) + (remainder > threshold)


def register_div():
    return Registration("DIV", prepare=prepare, eval=eval, init=init, max_version=2)


# The C structs this kernel puts in the arena, member by member as TFLM declares them
# (tflm_edu.memory.layout lays them out for each target).
c_struct("TfLiteDivParams", BUILTIN, m("activation", "enum"))
c_struct("OpDataDiv", KERNELS + "div.cc", m("input1_zero_point", "int32"),
         m("input2_zero_point", "int32"), m("output_zero_point", "int32"),
         m("output_activation_min", "int32"), m("output_activation_max", "int32"),
         m("output_multiplier", "int32"), m("output_shift", "int"))

# int8, with calibrated input and output scales. TFLite's quantizer rules (operator_property)
# list no DIV; tflm_edu writes it for TFLM's int8 DIV (above) - LiteRT's reference int8 DIV
# gives the same bytes. Version 1, as op_version.cc gives DIV whatever its type.
SPEC = OpSpec(Op.DIV, register_div, DivOptions, SUPPORTED_TYPES,
              QuantizerRule(int8_version=1),
              ArenaRecipe("TfLiteDivParams", "OpDataDiv", inputs_then_output(2)))
