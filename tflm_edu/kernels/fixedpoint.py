"""gemmlowp's fixed-point arithmetic, as TFLM's int8 and int16 kernels use it.

Mirrors third_party/gemmlowp/fixedpoint/fixedpoint.h (and the parts of
tensorflow/lite/kernels/internal/common.h built on it: GetReciprocal, CountLeadingZeros).
gemmlowp::FixedPoint<int32_t, k> is a raw int32 with k integer bits and 31 - k fraction
bits. Multiplication is SaturatingRoundingDoublingHighMul (the integer bits add up); + and -
wrap like C++ int32 arithmetic; Rescale changes the integer bits with a saturating or
rounding shift. SOFTMAX, LOGISTIC, TANH and every requantization
(MultiplyByQuantizedMultiplier in quantization_util.py) are built from these.

Every function takes either numpy int64 arrays holding int32 values (to evaluate many values
at once) or plain Python ints (for a handful of values, where numpy's per-call overhead would
dominate): they use only operators and select(). Exponents may be arrays too.
"""
from __future__ import annotations

import numpy as np

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


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
