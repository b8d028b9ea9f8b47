"""LOG_SOFTMAX: x - max - log(sum(exp(x - max))) along the last axis.

Mirrors tensorflow/lite/micro/kernels/log_softmax.cc (LogSoftmaxOpData, CalculateOpData),
with the arithmetic of reference_ops::LogSoftmax (float) and
reference_ops::LogSoftmaxQuantized (int8), and log_x_for_x_greater_than_or_equal_to_1 of
internal/common.h.

Float: per row, the max (NaN never wins), a float32 running sum of expf(x - max) in
order, logf of it, and (x - max) - log_sum.

int8: the output is fixed at scale 16/256 and zero point 127 (127 means 0.0, the
largest a log-probability can be; TFLM checks both exactly). Each difference x - max
becomes Q5.26 fixed point (beta 1, the input scale), its exp is summed in Q12.19 (as
SOFTMAX does), the sum's log comes back in Q5.26 from a fixed-point log (a Pade-like
approximation on the mantissa plus the exponent times log 2), and
(diff - log_sum) is rounded to the output's 4 integer bits. Differences too negative to
show (below diff_min, or below what the output can hold) give -128.

TFLM has no Init here: Prepare allocates the OpData (AllocatePersistentBuffer) for int8
models only, after its temporary tensors.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tflm_edu.kernels.kernel_api import Registration, ensure, ensure_quantized, unsupported_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule
from tflm_edu.kernels.fixedpoint import (INT32_MAX, INT32_MIN, count_leading_zeros_32,
                                         exp_on_negative_values, fixed_add, fixed_mul,
                                         fixed_sub, one_over_one_plus_x_for_x_in_0_1,
                                         rescale, rounding_divide_by_pot, rounding_half_sum,
                                         wrap32)
from tflm_edu.kernels.libm import GLIBC, libm_of
from tflm_edu.kernels.quantization_util import (calculate_input_radius,
                                                multiply_by_quantized_multiplier,
                                                quantize_multiplier)
from tflm_edu.kernels.softmax import preprocess_softmax_scaling
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType
from tflm_edu.memory.layout import KERNELS, c_struct, m

INPUT, OUTPUT = 0, 0
OUTPUT_SCALE, OUTPUT_ZERO_POINT = 16.0 / 256, 127
INPUT_INTEGER_BITS = 5  # differences in Q5.26: exp(-16) and below no longer count
ACCUMULATION_INTEGER_BITS = 12  # the sum of exps in Q12.19
OUTPUT_INTEGER_BITS = 4  # the int8 output holds [-16, 0) in 1/16 steps


@dataclass
class LogSoftmaxOpData:
    input_multiplier: int = 0
    input_left_shift: int = 0
    reverse_scaling_divisor: int = 0
    reverse_scaling_right_shift: int = 0
    diff_min: int = 0
    outer_size: int = 0  # rows: every dimension but the last
    depth: int = 0  # the last dimension


def prepare(context, node):
    """CalculateOpData."""
    ensure(len(node.inputs) == 1 and len(node.outputs) == 1,
           f"log softmax takes 1 input and 1 output, got {len(node.inputs)} and "
           f"{len(node.outputs)}")
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    ensure(input is not None, "log softmax needs an input tensor")
    ensure(input.type == output.type, "input and output types differ")
    ensure(tuple(input.shape) == tuple(output.shape),
           f"output shape {list(output.shape)} differs from input shape {list(input.shape)}")
    # The kernels index the last dimension (Dims(-1) of a 0-d shape is out of bounds).
    ensure(len(input.shape) >= 1, "log softmax needs an input of at least 1 dimension")
    if input.type == TensorType.FLOAT32:
        return
    if input.type != TensorType.INT8:
        raise unsupported_type(node, input)
    ensure_quantized(input, np.int8)
    ensure(output.quantization is not None and output.scale == OUTPUT_SCALE
           and output.zero_point == OUTPUT_ZERO_POINT,
           f"an int8 log softmax output must have scale 16/256 and zero point 127, got "
           f"{output.scale:g} and {output.zero_point}")
    data = LogSoftmaxOpData()
    node.user_data = data
    (data.input_multiplier, data.input_left_shift, data.reverse_scaling_divisor,
     reverse_scaling_left_shift) = preprocess_log_softmax_scaling_exp(
        1.0, input.scale, INPUT_INTEGER_BITS)
    data.reverse_scaling_right_shift = -reverse_scaling_left_shift
    data.diff_min = -calculate_input_radius(INPUT_INTEGER_BITS, data.input_left_shift)
    data.depth = int(input.shape[-1])
    data.outer_size = int(np.prod(input.shape[:-1], dtype=np.int64))


def preprocess_log_softmax_scaling_exp(beta, input_scale, input_integer_bits):
    """PreprocessLogSoftmaxScalingExp: SOFTMAX's input multiplier, and its inverse as a
    multiplier below one (QuantizeMultiplierSmallerThanOneExp) that takes a Q5.26 value
    back to input steps. Returns (multiplier, left_shift, reverse divisor, its shift)."""
    multiplier, left_shift = preprocess_softmax_scaling(beta, input_scale, input_integer_bits)
    real_reverse_scaling_divisor = (1 << (31 - left_shift)) / float(multiplier)
    divisor, reverse_left_shift = quantize_multiplier(real_reverse_scaling_divisor)
    return multiplier, left_shift, divisor, reverse_left_shift


def eval(context, node):
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    if input.num_elements == 0:
        return
    x = input.data.reshape(-1, input.shape[-1])
    if input.type == TensorType.FLOAT32:
        result = log_softmax_float(x, libm_of(context))
    else:
        result = log_softmax_quantized(x, node.user_data)
    output.data.reshape(result.shape)[...] = result


# ----------------------------------------------------------------------------- reference math


def log_softmax_float(x, libm=GLIBC):
    """reference_ops::LogSoftmax (float), row by row, with `libm`'s expf and logf."""
    lowest = np.float32(np.finfo(np.float32).min)
    max_in_row = np.max(np.where(np.isnan(x), lowest, x), axis=1, initial=lowest,
                        keepdims=True)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = x - max_in_row
        total = np.cumsum(libm.expf(diff), axis=1, dtype=np.float32)[:, -1:]
        return diff - libm.logf(total)


def log_softmax_quantized(x, data: LogSoftmaxOpData):
    """reference_ops::LogSoftmaxQuantized (int8), vectorized over rows."""
    input_diff = x.astype(np.int64) - np.max(x, axis=1, keepdims=True).astype(np.int64)
    input_diff_in_q5 = multiply_by_quantized_multiplier(input_diff, data.input_multiplier,
                                                        data.input_left_shift)
    exps_in_q12 = rescale(exp_on_negative_values(input_diff_in_q5, INPUT_INTEGER_BITS),
                          0, ACCUMULATION_INTEGER_BITS)
    sum_of_exps_in_q12 = wrap32(np.sum(np.where(input_diff >= data.diff_min, exps_in_q12, 0),
                                       axis=1, keepdims=True))
    log_sum_of_exps_in_q5 = log_x_for_x_greater_than_or_equal_to_1(
        sum_of_exps_in_q12, INPUT_INTEGER_BITS, ACCUMULATION_INTEGER_BITS)
    # The most negative Q5.26 value plus the log, back in input steps: differences at or
    # below it would not fit the output's range.
    shifted_log_sum_of_exps_in_q5 = wrap32(log_sum_of_exps_in_q5 + INT32_MIN)
    adjusted_diff_min = np.maximum(data.diff_min - 1, multiply_by_quantized_multiplier(
        shifted_log_sum_of_exps_in_q5, data.reverse_scaling_divisor,
        -data.reverse_scaling_right_shift))
    output_in_q27 = rounding_divide_by_pot(
        wrap32(input_diff_in_q5 - log_sum_of_exps_in_q5),
        31 - INPUT_INTEGER_BITS - OUTPUT_INTEGER_BITS) + 127
    output = np.where(input_diff > adjusted_diff_min, np.clip(output_in_q27, -128, 127), -128)
    return output.astype(np.int8)


# log(x) constants in Q0.31, as gemmlowp's checked constants round them.
def _q31(value: float) -> int:
    return round(value * (1 << 31))


LOG_2 = _q31(math.log(2.0))
SQRT_SQRT_HALF = _q31(math.sqrt(math.sqrt(0.5)))
SQRT_HALF = _q31(math.sqrt(0.5))
ONE_QUARTER = _q31(0.25)
ALPHA_N = _q31(11.0 / 240.0 * math.sqrt(math.sqrt(2.0)))
ALPHA_D = _q31(1.0 / 20.0 * math.sqrt(math.sqrt(2.0)))
ALPHA_I = _q31(2.0 / math.sqrt(math.sqrt(2.0)) - math.sqrt(math.sqrt(2.0)))
ALPHA_F = _q31(1.0 / 4.0 * math.sqrt(math.sqrt(2.0)))


def saturating_rounding_multiply_by_pot_param(x, exponent):
    """SaturatingRoundingMultiplyByPOTParam for exponents >= 0 (arrays allowed): x * 2^e,
    saturating at the int32 limits."""
    x, exponent = np.asarray(x, np.int64), np.asarray(exponent, np.int64)
    threshold = (np.int64(1) << (31 - exponent)) - 1
    shifted = wrap32(x << exponent)
    return np.where(x > threshold, INT32_MAX, np.where(x < -threshold, INT32_MIN, shifted))


def _saturate32(x):
    return np.clip(x, INT32_MIN, INT32_MAX)


def log_x_for_x_greater_than_or_equal_to_1(input_val, output_integer_bits: int,
                                           input_integer_bits: int):
    """log_x_for_x_greater_than_or_equal_to_1_impl: log(x) for x >= 1 in
    Q(input_integer_bits), the result in Q(output_integer_bits). x = 2^z * r with r
    normalised two ways (to [1/2, 1) and, scaled by sqrt(1/2), to [sqrt(1/2), sqrt(2)) / 2),
    the one nearer 2^-1/4 is kept; log(r) comes from a rational approximation in
    q = 2 (r - 2^-1/4), and z log 2 is added with one bit of headroom."""
    accum_integer_bits = output_integer_bits + 1
    shifted_quarter = rescale(ONE_QUARTER, 0, accum_integer_bits)
    z_a = np.asarray(input_val, np.int64)
    z_a_headroom_plus_1 = count_leading_zeros_32(z_a)
    r_a_tmp = saturating_rounding_multiply_by_pot_param(z_a, z_a_headroom_plus_1 - 1)
    r_a_raw = saturating_rounding_multiply_by_pot_param(fixed_mul(r_a_tmp, SQRT_HALF), 1)
    z_a_pow_2_adj = _saturate32(saturating_rounding_multiply_by_pot_param(
        input_integer_bits - z_a_headroom_plus_1, 31 - accum_integer_bits) + shifted_quarter)

    z_b = fixed_mul(z_a, SQRT_HALF)
    z_b_headroom = count_leading_zeros_32(z_b) - 1
    r_b_raw = saturating_rounding_multiply_by_pot_param(z_a, z_b_headroom)
    z_b_pow_2_adj = _saturate32(saturating_rounding_multiply_by_pot_param(
        input_integer_bits - z_b_headroom, 31 - accum_integer_bits) - shifted_quarter)

    r = np.minimum(r_a_raw, r_b_raw)
    z_pow_2_adj = np.maximum(z_a_pow_2_adj, z_b_pow_2_adj)

    p = rounding_half_sum(r, SQRT_SQRT_HALF)
    q = fixed_sub(r, SQRT_SQRT_HALF)
    q = fixed_add(q, q)
    common_sq = fixed_mul(q, q)
    num = fixed_add(fixed_mul(q, r), fixed_mul(fixed_mul(q, common_sq), ALPHA_N))
    denom_minus_one_0 = fixed_add(
        fixed_mul(p, fixed_add(fixed_add(ALPHA_I, q), fixed_mul(ALPHA_D, common_sq))),
        fixed_mul(ALPHA_F, q))
    recip_denom = one_over_one_plus_x_for_x_in_0_1(denom_minus_one_0)
    num_scaled = rescale(num, 0, accum_integer_bits)
    total = fixed_add(fixed_mul(z_pow_2_adj, LOG_2), fixed_mul(num_scaled, recip_denom))
    return rescale(total, accum_integer_bits, output_integer_bits)


def register_log_softmax():
    return Registration("LOG_SOFTMAX", prepare=prepare, eval=eval, max_version=2)


def arena_prepare(k):
    """CalculateOpData: the two temporaries, then (int8 only) the OpData, allocated in
    Prepare. The struct holds two size_t, so its size is the target's."""
    k.temp_input(0)
    k.temp_output(0)
    if k.input(0).type == TensorType.INT8:
        k.persistent(lambda target: target.sizeof("LogSoftmaxOpData"), "LogSoftmaxOpData")


# The C structs this kernel puts in the arena, member by member as TFLM declares them
# (tflm_edu.memory.layout lays them out for each target).
c_struct("LogSoftmaxOpData", KERNELS + "log_softmax.cc", m("input_multiplier", "int32"),
         m("input_left_shift", "int32"), m("reverse_scaling_divisor", "int32"),
         m("reverse_scaling_right_shift", "int32"), m("diff_min", "int"),
         m("outer_size", "ptr"), m("depth", "ptr"))

SPEC = OpSpec(Op.LOG_SOFTMAX, register_log_softmax, None,
              (TensorType.FLOAT32, TensorType.INT8),
              QuantizerRule(int8_version=2, output="fixed",
                            fixed_output=(OUTPUT_SCALE, OUTPUT_ZERO_POINT)),
              ArenaRecipe(None, None, arena_prepare))
