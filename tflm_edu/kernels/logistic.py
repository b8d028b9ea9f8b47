"""LOGISTIC: output = 1 / (1 + exp(-input)), element by element.

Mirrors tensorflow/lite/micro/kernels/logistic.cc and logistic_common.cc
(CalculateArithmeticOpDataLogistic), with the arithmetic of reference_ops::Logistic
(float) and reference_integer_ops::Logistic (int8): gemmlowp's fixed-point logistic on
the input rescaled to Q4.27, then a rounding shift to 8 bits.

The int8 output is always read as scale 1/256, zero point -128 (TFLM checks the zero
point only): byte -128 means 0.0 and 127 means 255/256. Inputs farther than
input_range_radius from the zero point saturate to -128 or 127 without any arithmetic.

An int8 input has only 256 values, so prepare runs the reference function once on all of
them and eval looks the bytes up: the same results as the C++ per-element loop.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tflm_edu.kernels.kernel_api import Registration, ensure, unsupported_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule, inputs_then_output
from tflm_edu.kernels.fixedpoint import (exp_on_negative_values, fixed_neg, fixed_sub, one,
                                         one_over_one_plus_x_for_x_in_0_1,
                                         rounding_divide_by_pot, select, wrap32)
from tflm_edu.kernels.libm import expf
from tflm_edu.kernels.quantization_util import (calculate_input_radius,
                                                multiply_by_quantized_multiplier)
from tflm_edu.quantization import round_half_away_from_zero
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType
from tflm_edu.memory.layout import KERNELS, c_struct, m

INPUT, OUTPUT = 0, 0
ALL_INT8 = np.arange(-128, 128, dtype=np.int8)

INPUT_INTEGER_BITS = 4  # the fixed-point input is Q4.27: [-16, 16)
OUTPUT_INTEGER_BITS = 8  # Q0.31 -> a right shift by 23 leaves 8 bits


@dataclass
class OpDataLogistic:
    input_zero_point: int = 0
    input_range_radius: int = 0
    input_multiplier: int = 0
    input_left_shift: int = 0
    # Not in TFLM: the kernel's output for each of the 256 int8 inputs (index x + 128).
    # The C++ evaluates the same fixed-point function per element on every Eval.
    output_table: np.ndarray | None = None


def init(context, node):
    return OpDataLogistic()


def prepare(context, node):
    data: OpDataLogistic = node.user_data
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    ensure(input.type == output.type, "input and output types differ")
    ensure(tuple(output.shape) == tuple(input.shape),
           f"output shape {list(output.shape)} differs from input shape {list(input.shape)}")
    if input.type == TensorType.FLOAT32:
        return
    if input.type != TensorType.INT8:
        raise unsupported_type(node, input)
    ensure(input.quantization is not None and output.quantization is not None,
           "int8 logistic needs quantized input and output tensors")
    ensure(output.zero_point == -128,
           f"an int8 logistic output must have zero point -128, got {output.zero_point}")
    data.input_zero_point = input.zero_point
    (data.input_multiplier, data.input_left_shift,
     data.input_range_radius) = prepare_fixed_point_input(input.scale, INPUT_INTEGER_BITS)
    data.output_table = logistic_int8(ALL_INT8, data.input_zero_point, data.input_range_radius,
                                    data.input_multiplier, data.input_left_shift)


def prepare_fixed_point_input(input_scale, input_integer_bits):
    """The int8 prepare of LOGISTIC and TANH: a multiplier that maps (x - zero_point) to
    Q(input_integer_bits).(31 - input_integer_bits), split by frexp (not QuantizeMultiplier)
    into a Q31 mantissa and a left shift, and the radius beyond which the result
    saturates. Returns (input_multiplier, input_left_shift, input_range_radius)."""
    real_multiplier = float(input_scale) * float(1 << (31 - input_integer_bits))
    q, left_shift = math.frexp(real_multiplier)
    # C++ shifts by input_left_shift: a negative one (a scale below 2^-28) is undefined.
    ensure(left_shift >= 0, f"input scale {input_scale:g} is too small for the fixed-point "
                            f"kernel (below 2^-{32 - input_integer_bits})")
    multiplier = int(wrap32(round_half_away_from_zero(q * (1 << 31))))
    radius = calculate_input_radius(input_integer_bits, left_shift, 31)
    return multiplier, left_shift, radius


def eval(context, node):
    data: OpDataLogistic = node.user_data
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    if input.type == TensorType.FLOAT32:
        result = logistic_float(input.data)
    else:
        result = data.output_table[input.data.astype(np.intp) + 128]
    output.data[...] = result.reshape(output.data.shape)


# ----------------------------------------------------------------------------- reference math


def logistic_float(x):
    """reference_ops::Logistic (float): above 16.619047 the result is 1.0; below -9 it is
    expf(x) (1 + e^-x would overflow its meaning); between, 1 / (1 + expf(-x)) in float32."""
    x = np.asarray(x, np.float32)
    cutoff_upper, cutoff_lower = np.float32(16.619047164916992188), np.float32(-9.0)
    with np.errstate(over="ignore"):
        middle = np.float32(1.0) / (np.float32(1.0) + expf(-x))
    return np.where(x > cutoff_upper, np.float32(1.0),
                    np.where(x < cutoff_lower, expf(x), middle)).astype(np.float32)


def logistic_int8(x, input_zero_point, input_range_radius, input_multiplier,
                  input_left_shift):
    """reference_integer_ops::Logistic (int8)."""
    input = x.astype(np.int64) - input_zero_point
    input_in_q4 = multiply_by_quantized_multiplier(input, input_multiplier, input_left_shift)
    output_in_q0 = fixed_point_logistic(input_in_q4, INPUT_INTEGER_BITS)
    output_in_q23 = rounding_divide_by_pot(output_in_q0, 31 - OUTPUT_INTEGER_BITS)
    output = np.clip(output_in_q23 - 128, -128, 127)
    output = np.where(input <= -input_range_radius, -128,
                      np.where(input >= input_range_radius, 127, output))
    return output.astype(np.int8)


def fixed_point_logistic(a, integer_bits: int):
    """gemmlowp::logistic: 1 / (1 + exp(-|a|)) for the magnitude, 1 - that for negative a,
    exactly 1/2 at zero. Input Q(integer_bits), output Q0.31."""
    positive = a > 0
    abs_input = select(positive, a, fixed_neg(a))
    result_if_positive = one_over_one_plus_x_for_x_in_0_1(
        exp_on_negative_values(fixed_neg(abs_input), integer_bits))
    result_if_negative = fixed_sub(one(0), result_if_positive)
    return select(a == 0, 1 << 30, select(positive, result_if_positive, result_if_negative))


def register_logistic():
    return Registration("LOGISTIC", prepare=prepare, eval=eval, init=init, max_version=3)


# The C structs this kernel puts in the arena, member by member as TFLM declares them
# (tflm_edu.memory.layout lays them out for each target).
c_struct("OpDataLogistic", KERNELS + "logistic.h", m("input_zero_point", "int32"),
         m("input_range_radius", "int32"), m("input_multiplier", "int32"),
         m("input_left_shift", "int"))

SPEC = OpSpec(Op.LOGISTIC, register_logistic, None, (TensorType.FLOAT32, TensorType.INT8),
              QuantizerRule(int8_version=2, output="fixed", fixed_output=(1 / 256, -128)),
              ArenaRecipe(None, "OpDataLogistic", inputs_then_output(1)))
