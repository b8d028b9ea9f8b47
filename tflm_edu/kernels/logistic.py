"""LOGISTIC: output = 1 / (1 + exp(-input)), element by element.

Mirrors tensorflow/lite/micro/kernels/logistic.cc and logistic_common.cc
(CalculateArithmeticOpDataLogistic), with the arithmetic of reference_ops::Logistic
(float) and reference_integer_ops::Logistic (int8 and int16). int8: gemmlowp's
fixed-point logistic on the input rescaled to Q4.27, then a rounding shift to 8 bits.
int16: no gemmlowp at all - the input is rescaled to steps of 1/(3 * 4096) and read off a
256-entry table of sigmoid(i / 24) by linear interpolation (sigmoid_table_uint16 of
internal/common.h, rebuilt here by sigmoid_table_uint16()).

The int8 output is always read as scale 1/256, zero point -128 (TFLM checks the zero
point only): byte -128 means 0.0 and 127 means 255/256. Inputs farther than
input_range_radius from the zero point saturate to -128 or 127 without any arithmetic.

The int16 kernel needs a zero point of 0 on both sides and an output scale of 2^-15
(within 1e-3 in log2, as CheckedLog2 tests it). The input scale 2^-12 is used as is
(times 3); any other is turned into a multiplier below 2^15 and a right shift (TFLM only
DCHECKs that bound: scales up to 65535 / 12288 are taken here, as the release build runs
them; beyond, or below about 4e-14, the C++ arithmetic overflows and the model is
refused).

An int8 input has only 256 values and an int16 one 65,536, so prepare runs the reference
function once on all of them and eval looks the results up: the same results as the C++
per-element loop.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tflm_edu.kernels.kernel_api import Registration, ensure, ensure_quantized, unsupported_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule, inputs_then_output
from tflm_edu.kernels.fixedpoint import (exp_on_negative_values, fixed_neg, fixed_sub, one,
                                         one_over_one_plus_x_for_x_in_0_1,
                                         rounding_divide_by_pot, select, wrap32)
from tflm_edu.kernels.libm import GLIBC, expf, libm_of
from tflm_edu.kernels.quantization_util import (calculate_input_radius,
                                                multiply_by_quantized_multiplier)
from tflm_edu.quantization import round_half_away_from_zero
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType
from tflm_edu.memory.layout import KERNELS, c_struct, m

INPUT, OUTPUT = 0, 0
ALL_INT8 = np.arange(-128, 128, dtype=np.int8)
ALL_INT16 = np.arange(-32768, 32768, dtype=np.int16)

INPUT_INTEGER_BITS = 4  # the fixed-point input is Q4.27: [-16, 16)
OUTPUT_INTEGER_BITS = 8  # Q0.31 -> a right shift by 23 leaves 8 bits
INT16_INPUT_INTEGER_BITS = 3  # a power-of-two int16 input scale is 2^-12 (Q3.12)
INT16_OUTPUT_FRACTIONAL_BITS = 15  # the int16 output scale is 2^-15


@dataclass
class OpDataLogistic:
    input_zero_point: int = 0
    input_range_radius: int = 0
    input_multiplier: int = 0
    input_left_shift: int = 0
    # Not in TFLM: the kernel's output for each of the 256 int8 inputs (index x + 128) or
    # each of the 65,536 int16 inputs (index x + 32768). The C++ evaluates the same
    # function per element on every Eval.
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
    if input.type == TensorType.INT16:
        data.input_multiplier, data.input_left_shift = prepare_int16(
            input, output, pot_left_shifts=(0,), logf=libm_of(context).logf)
        data.output_table = logistic_int16(ALL_INT16, data.input_multiplier,
                                           data.input_left_shift)
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


def prepare_int16(input, output, pot_left_shifts, logf=GLIBC.logf):
    """The int16 prepare of LOGISTIC and TANH. Both zero points must be 0 and the output
    scale 2^-15. An input scale 2^(e - 12) with e in pot_left_shifts (LOGISTIC: {0},
    TANH: {0, 1}) is a power-of-two case: multiplier 0 (eval uses 3 << left_shift).
    Any other becomes input_scale * 3 * 4096 doubled until it passes 32767 / 2 (at most 31
    times), then truncated: the input times it, shifted right, is in steps of
    1 / (3 * 4096). `logf` is the C library's, for CheckedLog2. Returns
    (input_multiplier, input_left_shift)."""
    ensure_quantized(input, np.int16)
    ensure_quantized(output, np.int16)
    ensure(input.zero_point == 0,
           f"an int16 input must have zero point 0, got {input.zero_point}")
    ensure(output.zero_point == 0,
           f"an int16 output must have zero point 0, got {output.zero_point}")
    is_pot, scale_log2 = checked_log2(input.scale, logf)
    left_shift = (15 - INT16_INPUT_INTEGER_BITS) + scale_log2
    if is_pot and left_shift in pot_left_shifts:
        multiplier = 0
    else:
        real_multiplier = float(input.scale) * 4096.0 * 3.0
        left_shift = 0
        while real_multiplier <= 32767.0 / 2.0 and left_shift <= 30:
            left_shift += 1
            real_multiplier *= 2.0
        multiplier = int(real_multiplier)
        # The C++ only DCHECKs multiplier <= 32767 (release builds go on, and so does
        # this kernel); beyond 65535 the int32 product x * multiplier can overflow. And 0
        # would be taken for the power-of-two case (3 << 31 overflows).
        ensure(multiplier <= 65535, f"input scale {input.scale:g} is too large for the int16 "
                                    f"kernel (above 65535 / 12288)")
        ensure(multiplier > 0, f"input scale {input.scale:g} is too small for the int16 kernel")
    is_pot, output_log2 = checked_log2(output.scale, logf)
    ensure(is_pot and output_log2 == -INT16_OUTPUT_FRACTIONAL_BITS,
           f"an int16 output must have scale 2^-15, got {output.scale:g}")
    return multiplier, left_shift


def checked_log2(x, logf=GLIBC.logf):
    """CheckedLog2: log2 of the float32 x as logf(x) * (1 / logf(2)) in float32, rounded
    half away from zero (`logf`: the C library's, libm.py). Returns (whether x is a power
    of two within 1e-3 in log2, the rounded log2)."""
    f32 = np.float32
    x_log2 = f32(logf(f32(x))) * (f32(1.0) / f32(logf(f32(2.0))))
    rounded = np.float32(round_half_away_from_zero(x_log2))
    return bool(abs(x_log2 - rounded) < np.float32(1e-3)), int(rounded)


def eval(context, node):
    data: OpDataLogistic = node.user_data
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    if input.type == TensorType.FLOAT32:
        result = logistic_float(input.data, libm_of(context).expf)
    elif input.type == TensorType.INT16:
        result = data.output_table[input.data.astype(np.intp) + 32768]
    else:
        result = data.output_table[input.data.astype(np.intp) + 128]
    output.data[...] = result.reshape(output.data.shape)


# ----------------------------------------------------------------------------- reference math


def logistic_float(x, expf=expf):
    """reference_ops::Logistic (float): above 16.619047 the result is 1.0; below -9 it is
    expf(x) (1 + e^-x would overflow its meaning); between, 1 / (1 + expf(-x)) in float32.
    `expf` is the C library's (libm.py: the host's by default)."""
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


def sigmoid_table_uint16():
    """sigmoid_table_uint16 (internal/common.h): sigmoid(i / 24) for i = 0..255 in 0.16
    fixed point, the table of the int16 LOGISTIC and TANH. Between two entries the kernels
    interpolate linearly, which falls short of the (concave) curve by up to h^2 |f''| / 8
    (h = 1/24); each entry is raised by half that, so the error swings evenly to both
    sides. The last entry is the top of the range, 65535 (the curve there is 65534.4).
    This rule reproduces TFLM's table entry for entry (the tests compare them)."""
    x = np.arange(256) / 24.0
    s = 1.0 / (1.0 + np.exp(-x))
    second_derivative = s * (1 - s) * (1 - 2 * s)
    table = round_half_away_from_zero(65536.0 * (s - second_derivative / (16 * 24.0 ** 2)))
    table[-1] = 65535
    return table.astype(np.int64)


SIGMOID_TABLE_UINT16 = sigmoid_table_uint16()


def scale_int16_input(x, input_multiplier, input_left_shift):
    """The int16 kernels' first step: the input in steps of 1/(3 * 4096) (a power-of-two
    scale, multiplier 0, uses 3 << left_shift and no shift), rounded half up."""
    if input_multiplier == 0:
        input_multiplier, input_left_shift = 3 << input_left_shift, 0
    rounding = (1 << (input_left_shift - 1)) if input_left_shift > 0 else 0
    return (x.astype(np.int64) * input_multiplier + rounding) >> input_left_shift


def logistic_int16(x, input_multiplier, input_left_shift):
    """reference_integer_ops::Logistic (int16): |input| in 1/4096 steps of x * 3/4 picks
    a table segment by its top bits (>> 9) and interpolates with the low 9; the result
    has 10 extra bits, rounded off at the end. Negative inputs use 1 - sigmoid(|x|);
    |input| beyond the table saturates to 32767/32768."""
    input_data = scale_int16_input(x, input_multiplier, input_left_shift)
    abs_input = np.abs(input_data)
    uh = np.minimum(abs_input >> 9, 254)
    ua, ub = SIGMOID_TABLE_UINT16[uh], SIGMOID_TABLE_UINT16[uh + 1]
    result = np.where(abs_input >> 9 >= 255, 0x7FFF << 10,
                      (ua << 9) + (abs_input & 0x1FF) * (ub - ua))
    result = np.where(input_data >= 0, result + (1 << 9), (1 << 25) - result + (1 << 9) - 1)
    return (result >> 10).astype(np.int16)


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

SPEC = OpSpec(Op.LOGISTIC, register_logistic, None,
              (TensorType.FLOAT32, TensorType.INT8, TensorType.INT16),
              QuantizerRule(int8_version=2, output="fixed", fixed_output=(1 / 256, -128),
                            int16_version=3, fixed_output_int16=(1 / 32768, 0)),
              ArenaRecipe(None, "OpDataLogistic", inputs_then_output(1)))
