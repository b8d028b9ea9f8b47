"""SOFTMAX: output[c] = exp(beta * (x[c] - max)) / sum over the row, along the last axis.

Mirrors tensorflow/lite/micro/kernels/softmax.cc and softmax_common.cc
(CalculateSoftmaxParams), with the arithmetic of reference_ops::Softmax: float32, int8
input to int8 or int16 output, and reference_ops::SoftmaxInt16 (int16 to int16).

The int8 kernel uses no float at all: it is gemmlowp's fixed-point exp and reciprocal,
which this module also implements (tensorflow/lite/kernels/internal/common.h
GetReciprocal, gemmlowp fixedpoint.h exp_on_negative_values and friends) on numpy int64
arrays or Python ints that hold int32 values, with the same wrap-around and saturation
as the C++. The int16 kernel interpolates in two 513-entry tables built at prepare
(LUTPopulate / LUTLookup in common.h).

The int8 output of a softmax always has scale 1/256 and zero point -128: the byte -128
means probability 0 and 127 means 255/256.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tflm_edu.errors import ModelError
from tflm_edu.kernels.kernel_api import Registration, ensure, unsupported_type
from tflm_edu.kernels.quantization_util import (INT32_MAX, INT32_MIN,
                                                multiply_by_quantized_multiplier,
                                                multiply_by_quantized_multiplier_greater_than_one,
                                                quantize_multiplier)
from tflm_edu.schema.enums import TensorType
from tflm_edu.schema.options import SoftmaxOptions

INPUT, OUTPUT = 0, 0

# The exp() input is Q5.26: differences down to -32 (after beta) are representable.
SCALED_DIFF_INTEGER_BITS = 5
# The sum of the exps is Q12.19: up to 4096 terms of at most 1.0.
ACCUMULATION_INTEGER_BITS = 12
# An int16 lookup table: 512 segments of 128 int16 steps, plus the end of the last one.
INT16_LUT_SIZE = 513


@dataclass
class SoftmaxParams:
    beta: float = 0.0  # float path
    input_multiplier: int = 0  # int8 path: beta * input_scale as a Q31 multiplier ...
    input_left_shift: int = 0  # ... and its left shift
    diff_min: int = 0  # int8 path: x - max below this contributes exactly nothing
    # Not in TFLM: exp(beta * input_scale * diff) in Q0.31 for each of the 256 possible
    # int8 differences diff = x - max (index -diff), 0 where diff < diff_min. The C++
    # computes it per element on every Eval; it depends only on the difference.
    exp_table: np.ndarray | None = None
    exp_lut: np.ndarray | None = None  # int16 path: exp(x) for x in [-10, 0], 513 entries
    one_over_one_plus_x_lut: np.ndarray | None = None  # int16 path: 1/(1+x), x in [0, 1]


def init(context, node):
    return SoftmaxParams()


def prepare(context, node):
    data: SoftmaxParams = node.user_data
    params = node.builtin_data or SoftmaxOptions()
    ensure(len(node.inputs) == 1 and len(node.outputs) == 1,
           f"softmax takes 1 input and 1 output, got {len(node.inputs)} and "
           f"{len(node.outputs)}")
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    ensure(len(input.shape) >= 1, "softmax needs an input of rank 1 or more")
    ensure(tuple(output.shape) == tuple(input.shape),
           f"output shape {list(output.shape)} differs from input shape {list(input.shape)}")
    if input.type == TensorType.FLOAT32:
        ensure(output.type == TensorType.FLOAT32, "float32 softmax needs a float32 output")
        data.beta = float(params.beta)
        return
    if input.type == TensorType.INT16:
        _prepare_int16(context, data, params, input, output)
        return
    if input.type != TensorType.INT8:
        raise unsupported_type(node, input)
    _prepare_int8(data, params, input, output)


def _prepare_int8(data, params, input, output):
    ensure(input.quantization is not None and output.quantization is not None,
           "int8 softmax needs quantized input and output tensors")
    if output.type == TensorType.INT16:
        ensure(output.zero_point == -32768,
               f"an int16 softmax output must have zero point -32768, got {output.zero_point}")
        ensure(abs(output.scale - 1.0 / 65536) <= 0.001 / 65536,
               f"an int16 softmax output must have scale 1/65536, got {output.scale}")
    else:
        ensure(output.type == TensorType.INT8, "int8 softmax needs an int8 or int16 output")
        ensure(output.zero_point == -128,
               f"an int8 softmax output must have zero point -128, got {output.zero_point}")
        ensure(np.float32(output.scale) == np.float32(1.0 / 256),
               f"an int8 softmax output must have scale 1/256, got {output.scale}")
    data.input_multiplier, data.input_left_shift = preprocess_softmax_scaling(
        float(np.float32(params.beta)), input.scale, SCALED_DIFF_INTEGER_BITS)
    data.diff_min = -calculate_input_radius(SCALED_DIFF_INTEGER_BITS, data.input_left_shift)
    data.exp_table = exp_of_differences(np.arange(0, -256, -1, dtype=np.int64),
                                        data.input_multiplier, data.input_left_shift,
                                        data.diff_min)


def _prepare_int16(context, data, params, input, output):
    ensure(output.type == TensorType.INT16, "int16 softmax needs an int16 output")
    ensure(input.quantization is not None and output.quantization is not None,
           "int16 softmax needs quantized input and output tensors")
    # Two int16 lookup tables live in the arena tail.
    context.allocate_persistent_buffer(2 * INT16_LUT_SIZE, "softmax exp LUT")
    context.allocate_persistent_buffer(2 * INT16_LUT_SIZE, "softmax 1/(1+x) LUT")
    ensure(input.zero_point == 0 and output.zero_point == 0,
           f"int16 softmax needs zero points 0, got input {input.zero_point} and output "
           f"{output.zero_point}")
    ensure(abs(np.float32(output.scale) - np.float32(1.0 / 32768)) <= np.float32(0.001 / 32768),
           f"an int16 softmax output must have scale 1/32768, got {output.scale}")
    # exp on [-10, 0] and 1 / (1 + x) on [0, 1], both sampled over the whole int16 range.
    table_range = np.float32(65535)
    data.exp_lut = lut_populate_int16(np.float32(10.0) / table_range, 32767,
                                      np.float32(2.0) / table_range, 0, expf)
    data.one_over_one_plus_x_lut = lut_populate_int16(
        np.float32(1.0) / table_range, -32768, np.float32(2.0) / table_range, 0,
        lambda value: np.float32(1.0) / (np.float32(1.0) + value))
    # Scale a difference so that [-65535, 0] covers [-10, 0].
    input_scale_beta_rescale = float(input.scale) * float(params.beta) / (10.0 / 65535.0)
    data.input_multiplier, data.input_left_shift = quantize_multiplier(input_scale_beta_rescale)


def preprocess_softmax_scaling(beta, input_scale, input_integer_bits):
    """PreprocessSoftmaxScaling: beta * input_scale as a multiplier that turns an input
    difference into Q(input_integer_bits).(31 - input_integer_bits) fixed point. Capped
    at 2^31 - 1: beyond that any non-zero difference gives exp() ~ 0 anyway."""
    real_multiplier = min(beta * input_scale * (1 << (31 - input_integer_bits)),
                          float((1 << 31) - 1))
    # QuantizeMultiplierGreaterThanOne: TFLM aborts (TFLITE_CHECK) below 1.
    ensure(real_multiplier > 1.0,
           f"beta * input scale = {beta * input_scale:g} is too small for the fixed-point "
           f"softmax (it must exceed 2^-{31 - input_integer_bits})")
    return quantize_multiplier(real_multiplier)


def calculate_input_radius(input_integer_bits, input_left_shift, total_signed_bits=31):
    """CalculateInputRadius: the largest input magnitude that, once multiplied by the
    input multiplier, still fits the fixed-point format; floor() keeps it strictly inside."""
    max_input_rescaled = (1.0 * ((1 << input_integer_bits) - 1) *
                          (1 << (total_signed_bits - input_integer_bits)) /
                          (1 << input_left_shift))
    return int(np.floor(max_input_rescaled))


def eval(context, node):
    data: SoftmaxParams = node.user_data
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    if input.num_elements == 0:
        return
    x = input.data.reshape(-1, input.shape[-1])
    if input.type == TensorType.FLOAT32:
        result = softmax_float(x, data.beta)
    elif input.type == TensorType.INT8:
        result = softmax_quantized(x, data.exp_table, output.data.dtype)
    elif input.type == TensorType.INT16:
        result = softmax_int16(x, data.input_multiplier, data.input_left_shift, data.exp_lut,
                               data.one_over_one_plus_x_lut)
    output.data.reshape(result.shape)[...] = result


# ----------------------------------------------------------------------------- reference math


def softmax_float(x, beta):
    """reference_ops::Softmax (float), row by row: max (NaN never wins: std::max keeps the
    running max), exp_c = expf((x - max) * beta) in float32, sum of exp_c in order,
    then exp_c / sum."""
    max_in_row = np.max(np.where(np.isnan(x), np.float32(np.finfo(np.float32).min), x),
                        axis=1, initial=np.finfo(np.float32).min, keepdims=True)
    scaled = (x - max_in_row) * np.float32(beta)
    exp_c = expf(scaled)
    # A float32 running sum from 0.0f, left to right: cumsum adds in exactly that order.
    total = np.cumsum(exp_c, axis=1, dtype=np.float32)[:, -1:]
    return exp_c / total


def expf(x):
    """std::exp on float32 values, as libm's expf computes it.

    expf is not correctly rounded: about 1 result in 1500 differs in the last bit from
    exp computed in float64 and rounded to float32 - always where the exact value lies
    within a hair (0.002 ulp) of the midpoint between two floats. So: compute in float64,
    round once, and ask the C library itself for just those too-close-to-call elements."""
    x = np.asarray(x, np.float32)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        wide = np.exp(x.astype(np.float64))
        result = wide.astype(np.float32)
    libm_expf = libm_function("expf")
    if libm_expf is not None:
        flat_x, flat_result = x.reshape(-1), result.reshape(-1)
        for i in np.flatnonzero(near_float32_midpoint(wide, result)):
            flat_result[i] = libm_expf(float(flat_x[i]))
    return result


def near_float32_midpoint(wide, rounded, tolerance=0.01):
    """True where the float64 value `wide` is within `tolerance` float32 ulps of a
    midpoint between `rounded` (its float32 rounding) and a neighbour."""
    with np.errstate(over="ignore", invalid="ignore"):
        up = np.nextafter(rounded, np.float32(np.inf)).astype(np.float64)
        down = np.nextafter(rounded, np.float32(-np.inf)).astype(np.float64)
        r = rounded.astype(np.float64)
        ulp = np.minimum(up - r, r - down)
        distance = np.minimum(np.abs(wide - (r + up) / 2), np.abs(wide - (r + down) / 2))
        return np.isfinite(wide) & (distance < tolerance * ulp)


_LIBM = {}


def libm_function(name):
    """The C library's float function `name` (float -> float) through ctypes, or None
    where no C math library can be loaded (then the numpy result stands)."""
    if name not in _LIBM:
        _LIBM[name] = None
        try:
            import ctypes
            import ctypes.util
            library = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
            function = getattr(library, name)
            function.restype, function.argtypes = ctypes.c_float, [ctypes.c_float]
            _LIBM[name] = function
        except (OSError, AttributeError):
            pass
    return _LIBM[name]


def exp_of_differences(input_diff, input_beta_multiplier, input_beta_left_shift, diff_min):
    """The first half of reference_ops::Softmax<int8_t, OutputT>, for differences
    input_diff = x - max_in_row (<= 0): rescale by beta * input_scale into Q5.26
    (MultiplyByQuantizedMultiplierGreaterThanOne), then exp_on_negative_values -> Q0.31.
    Differences below diff_min are skipped by the C++ (they would be ~0 anyway): 0 here,
    which the rest of the kernel turns into exactly what the C++ writes for them."""
    input_diff_rescaled = multiply_by_quantized_multiplier_greater_than_one(
        input_diff, input_beta_multiplier, input_beta_left_shift)
    exp_in_0 = exp_on_negative_values(input_diff_rescaled, SCALED_DIFF_INTEGER_BITS)
    return np.where(input_diff >= diff_min, exp_in_0, 0)


def softmax_quantized(x, exp_table, out_dtype):
    """reference_ops::Softmax<int8_t, OutputT>, vectorized over rows:
    1. exp_in_0 = exp(beta * input_scale * (x - max_in_row)) in Q0.31, from exp_table;
    2. sum_of_exps in Q12.19 (each exp_in_0 rounded to 19 fraction bits, int32 adds);
    3. its reciprocal 1 / sum = shifted_scale * 2^-num_bits_over_unit (GetReciprocal);
    4. out = RoundingDivideByPOT(shifted_scale * exp_in_0, exponent) + output min, clamped,
       where exponent turns the Q0.31 probability into 8 (or 16) bits.
    A skipped element (exp 0) gives 0 + output min: the C++ writes output min directly."""
    out_min, out_max = int(np.iinfo(out_dtype).min), int(np.iinfo(out_dtype).max)
    x = x.astype(np.int64)
    max_in_row = np.max(x, axis=1, keepdims=True, initial=-128)
    exp_in_0 = exp_table[max_in_row - x]
    exp_in_accum = rescale(exp_in_0, 0, ACCUMULATION_INTEGER_BITS)
    sum_of_exps = wrap32(np.sum(exp_in_accum, axis=1))
    shifted_scale, num_bits_over_unit = reciprocal_per_row(sum_of_exps)
    exponent = num_bits_over_unit + 31 - 8 * np.dtype(out_dtype).itemsize
    if np.any((exponent < 0) | (exponent > 31)):
        # TFLITE_CHECK(0 <= exponent && exponent <= 31): TFLM aborts. For an int8 output
        # that happens when the exps of a row add up to 512 or more (512 equal maxima).
        raise ModelError("int8 softmax: a row's sum of exps reached 512, which TFLM's "
                         "reference kernel does not handle (it aborts on TFLITE_CHECK)")
    unsat_output = rounding_divide_by_pot(fixed_mul(shifted_scale[:, None], exp_in_0),
                                          exponent[:, None])
    return np.clip(unsat_output + out_min, out_min, out_max).astype(out_dtype)


def reciprocal_per_row(sum_of_exps):
    """GetReciprocal of every row's sum. A softmax usually has one row (or a few): then
    plain Python integers are many times faster than numpy on arrays of length 1."""
    if len(sum_of_exps) > 16:
        return get_reciprocal(sum_of_exps, ACCUMULATION_INTEGER_BITS)
    pairs = [get_reciprocal(int(s), ACCUMULATION_INTEGER_BITS) for s in sum_of_exps]
    return (np.array([scale for scale, _ in pairs], np.int64),
            np.array([bits for _, bits in pairs], np.int64))


def softmax_int16(x, input_multiplier, input_left_shift, exp_lut, one_over_one_plus_x_lut):
    """reference_ops::SoftmaxInt16: exp and the reciprocal come from interpolated lookup
    tables. Differences are scaled so [-65535, 0] maps to [-10, 0], recentred to int16
    and looked up; the row sum is normalized to 16 significant bits and its reciprocal
    looked up in the 1/(1+x) table; output = exp * reciprocal, rounded and shifted back."""
    x = x.astype(np.int64)
    max_in_row = np.max(x, axis=1, keepdims=True, initial=-32768)
    scaled_diff = multiply_by_quantized_multiplier(x - max_in_row, input_multiplier,
                                                   input_left_shift)
    exp_results = lut_lookup_int16(np.clip(scaled_diff + 32767, -32768, 32767), exp_lut)
    sum_of_exps = wrap32(np.sum(exp_results, axis=1, keepdims=True))  # Q16.15
    headroom_plus_one = count_leading_zeros_32(sum_of_exps)
    shifted_sum = wrap32(((sum_of_exps << (headroom_plus_one - 1)) + (1 << 13)) >> 14)
    # The table holds 1 / (1 + x): look up x = sum - 1, recentred from [0, 65535].
    sym_shifted_sum = np.clip(shifted_sum - ((1 << 15) + (1 << 16)), -32768, 32767)
    reciprocal_scale = lut_lookup_int16(sym_shifted_sum, one_over_one_plus_x_lut)
    right_shift = 31 - headroom_plus_one
    result = wrap32((exp_results * reciprocal_scale + (1 << (right_shift - 1))) >> right_shift)
    return np.clip(result, 0, 32767).astype(np.int16)



def lut_populate_int16(input_scale, input_zero_point, output_scale, output_zero_point,
                       transform):
    """LUTPopulate<int16_t>: sample `transform` (float32 -> float32) at 513 points spanning
    the int16 input range, in float32 arithmetic as in the C++. Each entry is nudged by
    half the error that linear interpolation makes at the segment's midpoint."""
    f32 = np.float32
    input_min = f32(input_scale) * f32(-32768 - input_zero_point)
    input_max = f32(input_scale) * f32(32767 - input_zero_point)
    output_min = f32(output_scale) * f32(-32768 - output_zero_point)
    output_max = f32(output_scale) * f32(32767 - output_zero_point)
    step = (input_max - input_min) / f32(512)
    half_step = step / f32(2)
    output_scaling_inv = f32(65536) / (output_max - output_min)
    i = np.arange(512, dtype=np.float32)
    val = transform(input_min + i * step)
    val_midpoint = transform(input_min + i * step + half_step)
    val_next = transform(input_min + (i + f32(1)) * step)
    sample_val = round_half_away_f32(val * output_scaling_inv)
    midpoint_interp_val = round_half_away_f32(
        (val_next * output_scaling_inv + round_half_away_f32(val * output_scaling_inv)) / f32(2))
    midpoint_val = round_half_away_f32(val_midpoint * output_scaling_inv)
    bias = round_half_away_f32((midpoint_interp_val - midpoint_val) / f32(2))
    last = round_half_away_f32(transform(np.array([input_max], np.float32)) * output_scaling_inv)
    lut = np.concatenate([sample_val - bias, last])
    return np.clip(lut, f32(-32768), f32(32767)).astype(np.int64)


def round_half_away_f32(x):
    """TfLiteRound on float32 (std::round): halves away from zero, exactly - adding 0.5
    and flooring would round 0.49999997 up."""
    whole = np.trunc(x)
    half_or_more = np.abs(x - whole) >= np.float32(0.5)
    return (whole + np.where(half_or_more, np.sign(x), 0)).astype(np.float32)


def lut_lookup_int16(value, lut):
    """LUTLookup (int16): the top 9 bits pick a segment, the low 7 interpolate linearly
    between its two ends. The slope and the result are int16 in the C++, so they wrap."""
    index = 256 + (value >> 7)
    offset = value & 0x7F
    base = lut[index]
    slope = wrap16(lut[index + 1] - base)
    return wrap16(base + ((slope * offset + 64) >> 7))


def wrap16(x):
    return ((x + (1 << 15)) & 0xFFFF) - (1 << 15)


# ----------------------------------------------------------------------------- gemmlowp fixed point
#
# gemmlowp::FixedPoint<int32_t, k> is a raw int32 with k integer bits and 31 - k fraction
# bits. Multiplication is SaturatingRoundingDoublingHighMul (the integer bits add up);
# + and - wrap like C++ int32 arithmetic; Rescale changes the integer bits with a
# saturating or rounding shift. These functions are shared by SOFTMAX, LOGISTIC and TANH.
#
# Every function here takes either numpy int64 arrays holding int32 values (to evaluate
# many values at once) or plain Python ints (for a handful of values, where numpy's
# per-call overhead would dominate): they use only operators and select().


def select(mask, then, otherwise):
    """SelectUsingMask: `then` where mask is true, else `otherwise`."""
    if isinstance(mask, (bool, np.bool_)):
        return then if mask else otherwise
    return np.where(mask, then, otherwise)


def wrap32(x):
    """Two's-complement wrap to int32, as C++ int32 arithmetic overflows."""
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def fixed_add(a, b):
    return wrap32(a + b)


def fixed_sub(a, b):
    return wrap32(a - b)


def fixed_neg(a):
    return wrap32(-a)


def fixed_mul(a, b):
    """SaturatingRoundingDoublingHighMul: the high 32 bits of 2 * a * b, rounded half away
    from zero; -1 * -1 (INT32_MIN squared) saturates to INT32_MAX."""
    ab = a * b
    total = ab + select(ab >= 0, 1 << 30, 1 - (1 << 30))
    high = select(total >= 0, total >> 31, -((-total) >> 31))  # C++ division truncates
    return select((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, high)


def rounding_divide_by_pot(x, exponent):
    """RoundingDivideByPOT: x / 2^exponent rounded to nearest, ties away from zero."""
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def saturating_rounding_multiply_by_pot(x, exponent: int):
    """SaturatingRoundingMultiplyByPOT<exponent>: x * 2^exponent, saturating on the way up,
    rounding (half away from zero) on the way down."""
    if exponent == 0:
        return x
    if exponent < 0:
        return rounding_divide_by_pot(x, -exponent)
    threshold = (1 << (31 - exponent)) - 1
    return select(x > threshold, INT32_MAX, select(x < -threshold, INT32_MIN, x << exponent))


def rescale(x, src_integer_bits: int, dst_integer_bits: int):
    """gemmlowp::Rescale<dst>: the same real value with another number of integer bits."""
    return saturating_rounding_multiply_by_pot(x, src_integer_bits - dst_integer_bits)


def one(integer_bits: int) -> int:
    """FixedPoint::One(): 1.0, or the largest value below it when there are no integer bits."""
    return INT32_MAX if integer_bits == 0 else 1 << (31 - integer_bits)


def rounding_half_sum(a, b):
    """RoundingHalfSum: (a + b) / 2, rounded half away from zero (C++ truncating division)."""
    numerator = a + b
    numerator = numerator + select(numerator >= 0, 1, -1)
    return select(numerator >= 0, numerator >> 1, -((-numerator) >> 1))


# exp(-2^k) in Q0.31 for k = -2 .. 4: the barrel shifter's multipliers.
EXP_BARREL_SHIFTER = [(-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
                      (2, 39332535), (3, 720401), (4, 242)]


def exp_on_interval_between_negative_one_quarter_and_0_excl(a):
    """exp(a) for a in [-1/4, 0), Q0.31 in and out: a 4th-order Taylor expansion
    around -1/8."""
    constant_term = 1895147668  # exp(-1/8)
    constant_1_over_3 = 715827883
    x = fixed_add(a, 1 << 28)  # x = a + 1/8
    x2 = fixed_mul(x, x)
    x3 = fixed_mul(x2, x)
    x4 = fixed_mul(x2, x2)
    x4_over_4 = saturating_rounding_multiply_by_pot(x4, -2)
    x4_over_24_plus_x3_over_6_plus_x2_over_2 = saturating_rounding_multiply_by_pot(
        fixed_add(fixed_mul(fixed_add(x4_over_4, x3), constant_1_over_3), x2), -1)
    return fixed_add(constant_term, fixed_mul(
        constant_term, fixed_add(x, x4_over_24_plus_x3_over_6_plus_x2_over_2)))


def exp_on_negative_values(a, integer_bits: int):
    """exp(a) for a <= 0 given in Q(integer_bits); the result is Q0.31.
    Split a = (a mod 1/4 - 1/4) - remainder: exp of the first part by Taylor series, then
    multiply by exp(-2^k) for every bit k set in the remainder (a barrel shifter)."""
    fractional_bits = 31 - integer_bits
    one_quarter = 1 << (fractional_bits - 2)
    a_mod_quarter_minus_one_quarter = fixed_sub(a & (one_quarter - 1), one_quarter)
    result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        rescale(a_mod_quarter_minus_one_quarter, integer_bits, 0))
    remainder = fixed_sub(a_mod_quarter_minus_one_quarter, a)
    for exponent, multiplier in EXP_BARREL_SHIFTER:
        if integer_bits > exponent:
            bit = 1 << (fractional_bits + exponent)
            result = select((remainder & bit) != 0, fixed_mul(result, multiplier), result)
    if integer_bits > 5:  # below -32 the result is 0
        clamp = -(1 << (36 - integer_bits))
        result = select(a < clamp, 0, result)
    return select(a == 0, INT32_MAX, result)


def _newton_raphson_reciprocal_of_half_denominator(a):
    """1 / ((1 + a) / 2) in Q2.29 for a in [0, 1) in Q0.31: three Newton-Raphson steps
    from the 48/17 - 32/17 * d starting point."""
    half_denominator = rounding_half_sum(a, INT32_MAX)
    constant_48_over_17 = 1515870810
    constant_neg_32_over_17 = -1010580540
    x = fixed_add(constant_48_over_17, fixed_mul(half_denominator, constant_neg_32_over_17))
    for _ in range(3):
        half_denominator_times_x = fixed_mul(half_denominator, x)
        one_minus_half_denominator_times_x = fixed_sub(one(2), half_denominator_times_x)
        x = fixed_add(x, rescale(fixed_mul(x, one_minus_half_denominator_times_x), 4, 2))
    return x


def one_over_one_plus_x_for_x_in_0_1(a):
    """1 / (1 + a) for a in [0, 1), Q0.31 in and out."""
    x = _newton_raphson_reciprocal_of_half_denominator(a)
    return rescale(x, 1, 0)  # ExactMulByPot<-1> (Q2 -> Q1), then Rescale<0>


def one_minus_x_over_one_plus_x_for_x_in_0_1(a):
    """(1 - a) / (1 + a) for a in [0, 1), Q0.31 in and out."""
    x = _newton_raphson_reciprocal_of_half_denominator(a)
    return rescale(fixed_sub(x, one(2)), 2, 0)


def count_leading_zeros_32(x):
    """CountLeadingZeros of int32 values read as uint32 (32 for zero)."""
    if isinstance(x, int):
        return 32 - (x & 0xFFFFFFFF).bit_length()
    _, bit_length = np.frexp((x & 0xFFFFFFFF).astype(np.float64))  # exact below 2^53
    return 32 - bit_length.astype(np.int64)


def get_reciprocal(x, x_integer_digits: int):
    """GetReciprocal: 1 / x for a positive Q(x_integer_digits) value, as a Q0.31 value
    shifted_scale and num_bits_over_unit, with 1/x = shifted_scale * 2^-num_bits_over_unit."""
    headroom_plus_one = count_leading_zeros_32(x)
    num_bits_over_unit = x_integer_digits - headroom_plus_one
    # Normalize x to [1, 2) in uint32 arithmetic and keep the part above 1.0.
    shifted = ((x & 0xFFFFFFFF) << headroom_plus_one) & 0xFFFFFFFF
    shifted_sum_minus_one = wrap32(shifted - (1 << 31))
    return one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one), num_bits_over_unit


def register_softmax():
    return Registration("SOFTMAX", prepare=prepare, eval=eval, init=init, max_version=3)
