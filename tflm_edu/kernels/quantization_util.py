"""Fixed-point helpers every int8 kernel shares.

Mirrors tensorflow/lite/kernels/internal/quantization_util.cc (QuantizeMultiplier),
common.h (MultiplyByQuantizedMultiplier, with gemmlowp's double rounding - TFLM's default
build does not define TFLITE_SINGLE_ROUNDING - built on kernels/fixedpoint.py; and the int16
lookup tables, LUTPopulate / LUTLookup), kernels/kernel_util.cc
(CalculateActivationRangeQuantized). Padding and sliding windows: tflm_edu/windows.py.

The integer functions are vectorized over numpy int64 arrays but keep the int32
semantics of the C++: products are formed in 64 bits, rounding is gemmlowp's
(round half away from zero), and results wrap to int32 where the C++ would.
"""
from __future__ import annotations

import math

import numpy as np

from tflm_edu.errors import ModelError
from tflm_edu.kernels.fixedpoint import (INT32_MAX, INT32_MIN, fixed_mul, rounding_divide_by_pot,
                                         wrap32)
from tflm_edu.quantization import round_half_away_from_zero
from tflm_edu.schema.enums import ActivationFunctionType, TensorType


# ----------------------------------------------------------------------------- multipliers


def quantize_multiplier(real_multiplier: float) -> tuple[int, int]:
    """A real multiplier as (Q31 int32 multiplier, power-of-two shift):
    real ~= multiplier * 2^(shift - 31). Positive shift means a left shift."""
    if real_multiplier == 0.0:
        return 0, 0
    q, shift = math.frexp(real_multiplier)  # real = q * 2^shift, 0.5 <= |q| < 1
    q_fixed = round_half_away_from_zero(q * (1 << 31))
    if q_fixed == 1 << 31:  # q rounded up to 1.0: renormalize
        q_fixed //= 2
        shift += 1
    if shift < -31:  # too small to represent: TFLM flushes it to zero
        return 0, 0
    if shift > 31:
        # real >= 2^31: no int32 can hold the value it scales (TFLM's shifts by 32 or more
        # are undefined in C++). Scales that far apart are a broken model.
        raise ModelError(f"a requantization multiplier of {real_multiplier:g} (2^{shift - 1} "
                         f"or more) needs a shift of {shift}: the scales are too far apart for "
                         f"TFLM's int32 arithmetic")
    return int(q_fixed), shift


def quantize_multiplier_smaller_than_one_exp(real_multiplier: float) -> tuple[int, int]:
    """QuantizeMultiplierSmallerThanOneExp: for 0 < real < 1 (shift <= 0)."""
    if not 0.0 < real_multiplier < 1.0:
        raise ValueError(f"expected a multiplier in (0, 1), got {real_multiplier}")
    multiplier, shift = quantize_multiplier(real_multiplier)
    return multiplier, shift


def quantize_multiplier_greater_than_one(real_multiplier: float) -> tuple[int, int]:
    """QuantizeMultiplierGreaterThanOne: for real > 1 (returns the left shift >= 0)."""
    if not real_multiplier > 1.0:
        raise ValueError(f"expected a multiplier above 1, got {real_multiplier}")
    return quantize_multiplier(real_multiplier)


# ----------------------------------------------------------------------------- requantization


def calculate_input_radius(input_integer_bits, input_left_shift, total_signed_bits=31):
    """CalculateInputRadius: the largest input magnitude that, once multiplied by the
    input multiplier, still fits the fixed-point format; floor() keeps it strictly inside."""
    max_input_rescaled = (1.0 * ((1 << input_integer_bits) - 1) *
                          (1 << (total_signed_bits - input_integer_bits)) /
                          (1 << input_left_shift))
    return int(np.floor(max_input_rescaled))


def multiply_by_quantized_multiplier(x, quantized_multiplier, shift):
    """MultiplyByQuantizedMultiplier: x * multiplier * 2^(shift-31), the requantization
    step of every int8 kernel. `quantized_multiplier` and `shift` may be per-channel arrays
    that broadcast against x. x is wrapped to int32 first, as the C++ int32 argument is.

    Numpy arrays take the fast path below (one multiply, two adds and a shift per value);
    plain ints, and the one multiplier the fast path does not cover, take
    multiply_by_quantized_multiplier_gemmlowp, which spells out the C++ steps. The two are
    equal for every int32 x, multiplier and shift (tests/test_fast_requantize.py checks
    every sign and every rounding tie)."""
    if not isinstance(x, np.ndarray):
        return multiply_by_quantized_multiplier_gemmlowp(x, quantized_multiplier, shift)
    multiplier = np.asarray(quantized_multiplier, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    if (multiplier == INT32_MIN).any():   # the one product the doubling multiply saturates
        return multiply_by_quantized_multiplier_gemmlowp(x, quantized_multiplier, shift)
    x = x.astype(np.int32)                 # the C++ int32 argument: wraps
    if (shift > 0).any():                  # x << left_shift, wrapped to int32 again
        x = (x.astype(np.int64) << np.maximum(shift, 0)).astype(np.int32)
    return rounding_high_mul_then_divide(x, multiplier, np.maximum(-shift, 0))


def rounding_high_mul_then_divide(x, multiplier, right_shift):
    """RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x, multiplier), right_shift)
    for int32 x, in one rounding step instead of two.

    Why one step gives gemmlowp's two roundings exactly, for every sign (p = x * multiplier,
    exact in int64; r = right_shift):
      1. The doubling high multiply rounds p / 2^31 half away from zero; its C++ form
         (add 2^30, or 1 - 2^30 when p < 0, then divide truncating towards zero) works out
         to floor((p + 2^30) / 2^31) for both signs: h = (p + 2^30) >> 31.
      2. RoundingDivideByPOT rounds h / 2^r half away from zero:
         floor((h + 2^(r-1) - [h < 0]) / 2^r) for r > 0.
      3. floor(floor(a / m) + k) / n) = floor((a + k*m) / (m*n)) for integers, so both
         steps are one: (p + 2^30 + (2^(r-1) - [h < 0]) * 2^31) >> (31 + r), where
         h < 0 exactly when p + 2^30 < 0 - its sign bit, (p + 2^30) >> 63, is -1 then.
    """
    total = x * multiplier                 # int64: |p| < 2^62
    total += 1 << 30
    if not right_shift.any():
        total >>= 31
        return total
    rounds = right_shift > 0
    negative = total >> 63                 # -1 where the high multiply's result is < 0
    negative <<= 31
    if not rounds.all():
        negative *= rounds
    total += negative
    total += np.where(rounds, np.int64(1) << (30 + right_shift), 0)
    total >>= 31 + right_shift
    return total


def multiply_by_quantized_multiplier_gemmlowp(x, quantized_multiplier, shift):
    """MultiplyByQuantizedMultiplier step by step as common.h writes it: shift left (the
    int32 wraps), SaturatingRoundingDoublingHighMul, RoundingDivideByPOT. Takes ints or
    arrays."""
    shift = np.asarray(shift, dtype=np.int64)
    left_shift = np.where(shift > 0, shift, 0)
    right_shift = np.where(shift > 0, 0, -shift)
    shifted = wrap32(np.asarray(x, dtype=np.int64) << left_shift)
    return rounding_divide_by_pot(
        fixed_mul(shifted, np.asarray(quantized_multiplier, dtype=np.int64)), right_shift)


class Requantizer:
    """requantize_to_output for one op's output, with everything that stays the same
    between invokes worked out once: the bound Eval of CONV_2D, DEPTHWISE_CONV_2D and
    FULLY_CONNECTED (Registration.bind) calls it on every invoke.

    requantizer(acc, out) writes clamp(MultiplyByQuantizedMultiplier(acc) + output_offset)
    into the int8 array out, through one preallocated int64 work array: the single rounding
    step of rounding_high_mul_then_divide with its constants precomputed. `acc` holds exact
    sums (int64 or float64 integers); `wraps` says they may leave int32 (then they are
    wrapped first, as the C++ int32 accumulator wraps): pass `largest`, a bound on |acc|, to
    skip the wrap where it cannot happen. The saturating INT32_MIN multiplier uses
    requantize_to_output instead."""

    def __init__(self, multiplier, shift, output_offset, act_min, act_max, shape,
                 largest=None, alloc=np.empty):
        multiplier = np.asarray(multiplier, dtype=np.int64)
        shift = np.asarray(shift, dtype=np.int64)
        self.args = (multiplier, shift, output_offset, act_min, act_max)
        self.general = bool((multiplier == INT32_MIN).any())
        # x << left_shift (multipliers above 1), wrapped to int32 as the C++ does - which
        # is only needed when the largest possible |acc| (None: unknown) may leave int32.
        left = np.maximum(shift, 0)
        self.left_factor = np.int64(1) << left if left.any() else None
        self.wraps = largest is None or largest >= 2**31
        self.wraps_after_shift = self.left_factor is not None and (
            largest is None or largest * 2**int(left.max()) >= 2**31)
        right = np.maximum(-shift, 0)
        rounds = right > 0
        self.multiplier = multiplier
        self.total_shift = 31 + right
        self.add = np.where(rounds, (np.int64(1) << 30) + (np.int64(1) << (30 + right)),
                            np.int64(1) << 30)
        # p + 2^30 < 0 (the high multiply's result is negative) is total < threshold once
        # `add` is in; channels that do not round never need the correction.
        self.threshold = np.where(rounds, np.int64(1) << (30 + right),
                                  np.iinfo(np.int64).min)
        self.correct = bool(rounds.any())
        # (t + offset * 2^s) >> s = (t >> s) + offset: the output offset rides along with
        # the rounding constant when that cannot overflow int64 (|p| < 2^62).
        self.output_offset = np.int64(output_offset)
        if (abs(int(output_offset)) + 1) << int(np.max(self.total_shift)) < 1 << 61:
            folded = self.output_offset << self.total_shift
            self.add = self.add + folded
            self.threshold = np.where(rounds, self.threshold + folded, self.threshold)
            self.output_offset = None
        self.act_min, self.act_max = np.int64(act_min), np.int64(act_max)
        self.work = alloc(shape, np.int64)     # alloc: MicroContext.work_array in a bind
        self.mask = alloc(shape, np.bool_)

    def __call__(self, acc, out):
        """out = clamp(MultiplyByQuantizedMultiplier(acc) + output_offset); acc may be
        self.work itself (then it is requantized in place)."""
        if self.general:
            out[...] = requantize_to_output(np.asarray(acc, dtype=np.int64), *self.args)
            return
        total = self.work
        if acc is not total:
            np.copyto(total, acc, casting="unsafe")
        if self.wraps:
            total[...] = total.astype(np.int32)
        if self.left_factor is not None:
            total *= self.left_factor
            if self.wraps_after_shift:
                total[...] = total.astype(np.int32)
        total *= self.multiplier
        total += self.add
        self.finish(total, out)

    @property
    def can_fold(self) -> bool:
        """Whether fold() applies: no wrap to do, and no saturating multiplier."""
        return not (self.general or self.wraps or self.wraps_after_shift)

    def fold(self, matrix):
        """For an int64 product [x, 1] @ matrix whose last row is the bias: the matrix whose
        product is already acc * 2^left_shift * multiplier + the rounding constant - what
        __call__ has before finish(). Exact in int64 (|acc| << left_shift < 2^31 when
        can_fold, times a multiplier below 2^31). The output channels are the columns."""
        scale = self.multiplier * (1 if self.left_factor is None else self.left_factor)
        folded = np.asarray(matrix, dtype=np.int64) * scale
        folded[-1] += self.add
        return folded

    def finish(self, total, out):
        """From acc * multiplier + the rounding constant (in `total`, int64, changed in
        place) to the clamped output: the sign correction, the shift, the clamp."""
        if self.correct:
            np.less(total, self.threshold, out=self.mask)
            np.subtract(total, np.int64(1) << 31, out=total, where=self.mask)
        total >>= self.total_shift
        if self.output_offset is not None:
            total += self.output_offset
        np.maximum(total, self.act_min, out=total)
        np.minimum(total, self.act_max, out=total)
        np.copyto(out, total, casting="unsafe")


class FloatRequantizer:
    """requantize_to_output for int8 accumulators that a float array holds exactly (sums
    of a float32 BLAS product or tap loop below 2^24, of a float64 one below 2^53), in a
    few float64 passes instead of Requantizer's ten int64 ones:

        u = acc * alpha + beta                  per output channel
        u = u - delta   where acc < 0           (the signed form only)
        out = uint8(clip(u, act_min + 128, act_max + 128)) ^ 0x80

    Why this is MultiplyByQuantizedMultiplier exactly. With p = (acc << left_shift) *
    multiplier, r the right shift, S = 31 + r and R = 2^30 + 2^(30+r) (2^30 when r = 0),
    rounding_high_mul_then_divide shows the C++ result is floor((p + R) / 2^S) where
    p >= -2^30, and floor((p + R - 2^31) / 2^S) below (r > 0). Take alpha = (multiplier
    << left_shift) / 2^S and beta = R / 2^S + output_offset + 128, both exact in float64:
    then u = (p + R) / 2^S + output_offset + 128 exactly as long as the integers p and
    p + R + (output_offset + 128) * 2^S stay below 2^53, and the cast of the clipped,
    non-negative u floors it. The lower piece: delta = 2^31 / 2^S = 2^-r taken off for
    negative accumulators (between p = -2^30 and 0 both pieces give 0); with act_min at
    or above the output offset it is not needed - the lower piece then always clamps to
    act_min, whichever constant is used.

    Only accumulators between the last one that clamps to act_min and the first that
    clamps to act_max need the bound: outside, both functions are flat, and the float
    expression (every step monotonic) cannot leave the clamp it reaches at the window's
    ends. `build` finds the window (requantization_thresholds, confirmed with
    multiply_by_quantized_multiplier), checks the bounds there, channel by channel, and
    returns None where they fail or the accumulator could wrap; the caller then keeps
    Requantizer."""

    def __init__(self, alpha, beta, delta, act_min, act_max):
        self.alpha, self.beta, self.delta = alpha, beta, delta
        self.low, self.high = float(act_min + 128), float(act_max + 128)

    @classmethod
    def build(cls, multiplier, shift, output_offset, act_min, act_max, acc_low, acc_high,
              dtype=np.float32):
        """The requantizer for per-channel accumulators in [acc_low, acc_high] (integers,
        held exactly in `dtype`), or None when it cannot be proven exact."""
        multiplier = np.asarray(multiplier, np.int64).reshape(-1)
        n = multiplier.size
        shift, acc_low, acc_high = (np.broadcast_to(np.asarray(v, np.int64).reshape(-1), n)
                                    for v in (shift, acc_low, acc_high))
        left, right = np.maximum(shift, 0), np.maximum(-shift, 0)
        exact_below = 2**24 if np.dtype(dtype) == np.float32 else 2**53
        reach = np.maximum(np.abs(acc_low), np.abs(acc_high))
        if not (-128 <= act_min <= act_max <= 127 and -128 <= output_offset <= 127 and n
                and (multiplier > 0).all() and (multiplier < 2**31).all()
                and (right <= 20).all() and (acc_low <= acc_high).all()
                and (reach < exact_below).all() and ((reach << left) < 2**31).all()):
            return None     # could wrap or saturate in C++, or be inexact here
        scaled = multiplier << left                        # p = acc * scaled
        window = requantization_thresholds(multiplier, shift, output_offset,
                                           np.array([act_min + 1, act_max]))
        first = np.clip(window[:, 0] - 1, acc_low, acc_high)   # the last one at act_min
        last = np.clip(window[:, 1], acc_low, acc_high)        # the first one at act_max
        # Below `first` (above `last`) the C++ result must be flat: confirm that it is at
        # act_min there (act_max) unless the range starts (ends) there anyway.
        ends = np.stack([first, last], axis=1)
        level = np.clip(multiply_by_quantized_multiplier(ends, multiplier[:, None],
                                                         shift[:, None]) + output_offset,
                        act_min, act_max)
        if act_min < act_max and not (((first == acc_low) | (level[:, 0] == act_min))
                                      & ((last == acc_high) | (level[:, 1] == act_max))).all():
            return None
        signed = act_min < output_offset and (right > 0).any()
        scale = np.int64(1) << (31 + right)
        rounding = (np.int64(1) << 30) + np.where(right > 0, np.left_shift(1, 30 + right), 0)
        constant = rounding + (output_offset + 128) * scale
        largest = np.maximum(np.abs(first * scaled), np.abs(last * scaled))
        if not (largest + np.abs(constant) + (1 << 31) < 2**53).all():
            return None     # u might not be exact inside the window
        alpha = scaled / scale                                             # exact
        beta = constant / scale                                            # exact
        delta = np.where(right > 0, (1 << 31) / scale, 0.0) if signed else None
        return cls(alpha, beta, delta, act_min, act_max)

    @property
    def signed(self) -> bool:
        return self.delta is not None

    def bind(self, acc, out, per_channel, alloc=np.empty):
        """run(): requantize the accumulators in `acc` into the int8 array `out` of the same
        shape. per_channel(values) lays a [channels] array out to broadcast against acc."""
        alpha, beta = per_channel(self.alpha), per_channel(self.beta)
        low, high = self.low, self.high
        u = alloc(acc.shape, np.float64)
        out_bytes = out.view(np.uint8)
        if self.signed:
            delta = per_channel(self.delta)
            negative = alloc(acc.shape, np.bool_)

        def run():
            np.multiply(acc, alpha, out=u)
            np.add(u, beta, out=u)
            if self.signed:
                np.less(acc, 0, out=negative)
                np.subtract(u, delta, out=u, where=negative)
            np.clip(u, low, high, out=u)
            np.copyto(out_bytes, u, casting="unsafe")      # truncates: floors, as u >= 0
            np.bitwise_xor(out_bytes, np.uint8(0x80), out=out_bytes)
        return run


def int8_sum_range(weights):
    """(low, high): for each column n of an integer matrix [K, N], the least and the
    greatest sum_k x_k * w_kn over int8 inputs x."""
    w = np.asarray(weights, np.int64)
    return np.minimum(-128 * w, 127 * w).sum(axis=0), np.maximum(127 * w, -128 * w).sum(axis=0)


def channels_last_tiling(rows: int, channels: int, width: int = 512) -> int:
    """How many rows of a contiguous [rows, channels] array to lay side by side so that a
    per-channel operand, tiled that often, broadcasts along rows of about `width` values:
    numpy is quickest along a long last axis. A divisor of rows."""
    best = 1
    for k in range(1, max(1, width // max(channels, 1)) + 1):
        if rows % k == 0:
            best = k
    return best


def requantization_thresholds(multiplier, shift, output_offset, levels):
    """[channels, len(levels)]: for each output level k, the smallest accumulator x with
    MultiplyByQuantizedMultiplier(x) + output_offset >= k, for positive multipliers and
    x << left_shift within int32 (levels within 2^9 of the offset, shifts of -20 or more).

    From rounding_high_mul_then_divide, with p = (x << left) * multiplier, r the right
    shift and R = 2^30 + 2^(30+r) (2^30 when r = 0): the result is floor((p + R) / 2^(31+r))
    where p >= -2^30, and floor((p + R - 2^31) / 2^(31+r)) below. Solving result >= k -
    offset in the lower piece first, else in the upper, gives the threshold."""
    multiplier = np.asarray(multiplier, np.int64)[:, None]
    shift = np.asarray(shift, np.int64)[:, None]
    left, right = np.maximum(shift, 0), np.maximum(-shift, 0)
    scaled = multiplier << left                                      # p = x * scaled
    target = (np.asarray(levels, np.int64)[None, :] - output_offset) << (31 + right)
    rounding = (1 << 30) + np.where(right > 0, np.left_shift(1, 30 + right), 0)
    lower = np.where(right > 0, rounding - (1 << 31), rounding)

    def ceil_div(a, b):
        return -((-a) // b)
    x_lower = ceil_div(target - lower, scaled)
    first_upper = ceil_div(np.full_like(scaled, -(1 << 30)), scaled)
    x_upper = np.maximum(ceil_div(target - rounding, scaled), first_upper)
    return np.where(x_lower * scaled < -(1 << 30), x_lower, x_upper)


def multiply_by_quantized_multiplier_smaller_than_one_exp(x, quantized_multiplier, left_shift):
    """MultiplyByQuantizedMultiplierSmallerThanOneExp (left_shift <= 0)."""
    return rounding_divide_by_pot(
        fixed_mul(np.asarray(x, dtype=np.int64), np.asarray(quantized_multiplier, np.int64)),
        -np.asarray(left_shift, dtype=np.int64))


def multiply_by_quantized_multiplier_greater_than_one(x, quantized_multiplier, left_shift):
    """MultiplyByQuantizedMultiplierGreaterThanOne (left_shift >= 0)."""
    shifted = wrap32(np.asarray(x, dtype=np.int64) << np.asarray(left_shift, np.int64))
    return fixed_mul(shifted, np.asarray(quantized_multiplier, dtype=np.int64))


# ----------------------------------------------------------------------------- activations


def calculate_activation_range_quantized(activation: int, scale: float, zero_point: int,
                                         dtype=np.int8) -> tuple[int, int]:
    """CalculateActivationRangeQuantized: the fused activation as a clamp in the output's
    quantized domain, intersected with the dtype's range. The C++ quantizes the bounds
    (0, 6, -1, 1) in float32 - roundf(value / scale) - which rounds differently from a
    double division when the quotient lands near a half (1.0 / 0.4f is exactly 2.5 in
    float32 but 2.49999996 in double)."""
    qmin, qmax = int(np.iinfo(dtype).min), int(np.iinfo(dtype).max)

    def quantize(value: float) -> int:
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            quotient = np.float32(value) / np.float32(scale)
        if not (np.isfinite(quotient) and abs(float(quotient)) < 2.0**31):
            raise ModelError(f"fused activation bound {value} does not fit int32 at output "
                             f"scale {scale}")
        return zero_point + round_half_away_from_zero(float(quotient))

    if activation == ActivationFunctionType.RELU:
        return max(qmin, quantize(0.0)), qmax
    if activation == ActivationFunctionType.RELU6:
        return max(qmin, quantize(0.0)), min(qmax, quantize(6.0))
    if activation == ActivationFunctionType.RELU_N1_TO_1:
        return max(qmin, quantize(-1.0)), min(qmax, quantize(1.0))
    return qmin, qmax


FLOAT32_MAX = np.finfo(np.float32).max


def calculate_activation_range_float(activation: int) -> tuple[np.float32, np.float32]:
    """CalculateActivationRange<float>: without an activation the clamp is to the finite
    float32 range (lowest(), max()), not to infinities - so an overflowed +inf comes out as
    FLT_MAX, as in TFLM."""
    if activation == ActivationFunctionType.RELU:
        return np.float32(0.0), FLOAT32_MAX
    if activation == ActivationFunctionType.RELU6:
        return np.float32(0.0), np.float32(6.0)
    if activation == ActivationFunctionType.RELU_N1_TO_1:
        return np.float32(-1.0), np.float32(1.0)
    return -FLOAT32_MAX, FLOAT32_MAX


def calculate_activation_range_int32(activation: int) -> tuple[int, int]:
    """CalculateActivationRange<int32_t>."""
    if activation == ActivationFunctionType.RELU:
        return 0, INT32_MAX
    if activation == ActivationFunctionType.RELU6:
        return 0, 6
    if activation == ActivationFunctionType.RELU_N1_TO_1:
        return -1, 1
    return INT32_MIN, INT32_MAX


def activation_function_with_min_max(x, act_min, act_max):
    """ActivationFunctionWithMinMax: std::min(std::max(x, act_min), act_max), spelled as the
    std:: ternaries - max(x, lo) is (x < lo ? lo : x) - so that NaN and -0.0 come out as in
    C++ (np.maximum would turn max(-0.0, 0.0) into +0.0 and spread NaN differently)."""
    act_min, act_max = x.dtype.type(act_min), x.dtype.type(act_max)
    x = np.where(x < act_min, act_min, x)
    return np.where(act_max < x, act_max, x)


# ----------------------------------------------------------------------------- exact and fast


def exact_int_matmul(a, b):
    """Integer matrix product through float64 BLAS. Each product of int8-range values
    (|v| <= 2^8 after offsets) is below 2^16, so a sum of K of them stays below 2^53 -
    exactly representable in float64 - for any K < 2^37. numpy's integer matmul would
    not use BLAS and is many times slower."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return np.matmul(a, b).astype(np.int64)


def requantize_to_output(acc, multiplier, shift, output_offset, act_min, act_max,
                         dtype=np.int8):
    """The tail of every quantized kernel: MultiplyByQuantizedMultiplier, add the output
    offset, clamp to the fused activation's range, store in the output type."""
    scaled = np.asarray(multiply_by_quantized_multiplier(np.asarray(acc), multiplier, shift))
    scaled += output_offset
    np.clip(scaled, act_min, act_max, out=scaled)
    return scaled.astype(dtype)


# ----------------------------------------------------------------------------- 16x8 (int16 x int8)


def accumulator_16x8(bias_type, quantized_bias_type) -> type:
    """The C++ AccumScalar of a 16x8 CONV_2D or FULLY_CONNECTED Eval: int32 when the bias
    is int32 or, without a bias, when the options' quantized_bias_type asks for int32;
    int64 otherwise. (DEPTHWISE_CONV_2D always sums in int64.) The choice also picks the
    overload of MultiplyByQuantizedMultiplier, and the two overloads round differently."""
    if bias_type is not None:
        return np.int32 if bias_type == TensorType.INT32 else np.int64
    return np.int32 if quantized_bias_type == TensorType.INT32 else np.int64


# TensorType values the tflite-micro package's ConvertTensorType knows (FLOAT32 = 0 up to
# FLOAT8_E5M2 = 22; measured on the package, which knows four more than the source tree).
CONVERTIBLE_TENSOR_TYPES = range(23)


def check_quantized_bias_type(params) -> None:
    """ParseConv2D / ParseFullyConnected / ParseTransposeConv convert the options'
    quantized_bias_type with ConvertTensorType, and TFLM refuses the model ("Unsupported
    data type") when it names no tensor type - whatever the op's tensors are."""
    value = getattr(params, "quantized_bias_type", TensorType.FLOAT32)
    if value not in CONVERTIBLE_TENSOR_TYPES:
        raise ModelError(f"the options' quantized_bias_type {value} is no tensor type: TFLM "
                         f"refuses the model when it parses them (Unsupported data type "
                         f"{value})")


def wrap_to_accumulator(acc: int, accumulator) -> int:
    """A Python int sum as the C++ accumulator (int32 or int64) holds it: wrapped in two's
    complement. (A wrapped running sum equals the exact sum wrapped once at the end.)"""
    bits = 32 if accumulator is np.int32 else 64
    return ((acc + (1 << (bits - 1))) & ((1 << bits) - 1)) - (1 << (bits - 1))


def multiply_by_quantized_multiplier_int64(x, quantized_multiplier, shift):
    """MultiplyByQuantizedMultiplier(int64_t x, ...): the overload the 16x8 kernels call
    on an int64 accumulator. It is not gemmlowp's doubling high multiply: the Q31
    multiplier is first rounded to Q15 (saturating at 0x7FFF), then x * multiplier gets
    one rounding right shift by 15 - shift (half rounds up, towards +inf), and the
    result is truncated to int32. Vectorized over int64 arrays; the product wraps in 64
    bits as the C++ one does. `shift` must be at most 14 (TFLM assumes below 8)."""
    multiplier = np.asarray(quantized_multiplier, dtype=np.int64)
    reduced = np.where(multiplier < 0x7FFF0000, (multiplier + (1 << 15)) >> 16, 0x7FFF)
    total_shift = 15 - np.asarray(shift, dtype=np.int64)
    with np.errstate(over="ignore"):
        result = (np.asarray(x, dtype=np.int64) * reduced
                  + (np.int64(1) << (total_shift - 1))) >> total_shift
    return wrap32(result)


def check_shifts_16x8(shifts) -> None:
    """The int64 MultiplyByQuantizedMultiplier shifts right by 15 - shift: a shift of 15
    or more (an effective output scale of 2^14 or more) leaves nothing to shift by."""
    largest = int(np.max(shifts, initial=0))
    if largest > 14:
        raise ModelError(f"an effective output scale (input scale x filter scale / output "
                         f"scale) of 2^{largest - 1} or more cannot be requantized from an "
                         f"int64 sum")


def multiply_by_quantized_multiplier_for(acc, quantized_multiplier, shift, accumulator):
    """The MultiplyByQuantizedMultiplier overload C++ picks for an accumulator of type
    `accumulator` (np.int32: gemmlowp's, on the sum wrapped to 32 bits; np.int64: the
    int64 overload). `acc` must already fit the accumulator."""
    if accumulator is np.int32:
        return multiply_by_quantized_multiplier(wrap32(acc), quantized_multiplier, shift)
    return multiply_by_quantized_multiplier_int64(acc, quantized_multiplier, shift)


def requantize_16x8(acc, multiplier, shift, output_offset, act_min, act_max, accumulator):
    """The tail of a 16x8 kernel: the MultiplyByQuantizedMultiplier of the accumulator's
    type, + output_offset (FULLY_CONNECTED only: the 16x8 convolutions add none), clamp,
    int16."""
    scaled = multiply_by_quantized_multiplier_for(acc, multiplier, shift, accumulator)
    return np.clip(scaled + output_offset, act_min, act_max).astype(np.int16)


@np.errstate(over="ignore", invalid="ignore")   # inf and NaN are results, as in C++
def float32_dot_in_order(x, w):
    """x @ w computed the way a C++ reference loop does it: total = 0.0f, then
    total += x[k] * w[k] for k in order, every product and sum rounded to float32.
    BLAS would sum in another order (and with FMA) and differ in the last bits.
    x: [batches, K], w: [K, N] -> [batches, N]."""
    x = np.asarray(x, dtype=np.float32)
    w = np.asarray(w, dtype=np.float32)
    total = np.empty((x.shape[0], w.shape[1]), dtype=np.float32)
    OrderedSum(x.shape[1], total.shape)(x.T[:, :, None], w[:, None, :], total)
    return total


class OrderedSum:
    """total = 0.0f; for k in order: total += a[k] * b[k] - the float32 reduction of the C++
    reference loops - over whole arrays at once, with every rounding of the loop.

    The products for a run of k go to rows 1.. of a [chunk + 1, *shape] buffer whose row 0
    holds the running total (0.0 at first), and np.add.reduce over that leading axis adds
    the rows strictly one after another (numpy sums pairwise only along the contiguous last
    axis, never along an outer one). The buffer is allocated once and reused; `chunk`
    bounds its size for long reductions."""

    def __init__(self, length: int, shape, max_elements: int = 1 << 22, alloc=np.empty):
        size = max(1, int(np.prod(shape)))
        self.chunk = max(1, min(length, max_elements // size))
        # A single output would make the reduced axis numpy's inner loop, which it sums
        # pairwise: a second, unused column keeps the reduction row by row.
        self.single = size == 1
        full = tuple(shape) + ((2,) if self.single else ())
        self.buffer = alloc((self.chunk + 1,) + full, np.float32)
        self.running = alloc(full, np.float32)
        self.length = length

    def __call__(self, a, b, total):
        """a: [K, *left], b: [K, *right], with a[k] * b[k] broadcasting to total's shape.
        Overflow gives inf and NaN, as in C++: the caller silences numpy's warnings."""
        buffer, running = self.buffer, self.running
        buffer[0] = 0.0
        for start in range(0, self.length, self.chunk):
            stop = min(self.length, start + self.chunk)
            rows = buffer[:stop - start + 1]
            np.multiply(a[start:stop], b[start:stop],
                        out=rows[1:, ..., 0] if self.single else rows[1:])
            np.add.reduce(rows, axis=0, out=running)
            if stop < self.length:
                buffer[0] = running
        if self.length == 0:
            running[...] = 0.0
        total[...] = running[..., 0] if self.single else running


class WeightedSum:
    """OrderedSum for a bound float Eval whose weights (and bias) are constants:

        total = 0.0f; for k in order: total += x[k] * w[k]; then total += bias

    for every output of the op at once, with every rounding of the C++ loop. Faster than
    OrderedSum in three ways:

    - The caller chooses the layout of the products (`shape`, summed along `axis`), so
      that numpy multiplies along a long contiguous axis. Small weights are expanded to
      the whole products shape once: then no operand is broadcast along numpy's inner
      loop, which it runs several times slower.
    - One np.subtract.reduce along `axis`, from 0.0, over the negated products: x * -w
      is exactly -(x * w), and total - (-p) rounds exactly as total + p. An add.reduce
      would be summed pairwise wherever the reduced axis becomes numpy's inner loop;
      subtract has no such shortcut - it goes in order along any axis, so any layout works.
    - The bias, negated, is the last term of the same reduction.

    The weights and the bias must hold no NaN (`accepts`): negating one would flip its
    sign bit, where the C++ passes it on as it is. NaN inputs are fine: x * -w gives x's
    NaN as x * w does, and 0 * inf gives the same default NaN either way.

    Past max_elements products, the sum runs in chunks of the K axis: each chunk's
    reduction starts from the running total (row 0, not negated) instead of 0.0."""

    EXPAND_ELEMENTS = 1 << 18      # weights expanded up to this many products (1 MiB)
    OWN_ELEMENTS = 1 << 12         # a buffer this small is the op's own, not the workspace's:
                                   # its bias slot is then filled once, at bind

    def __init__(self, weights, axis: int, shape, bias=None, alloc=np.empty,
                 max_elements: int = 1 << 22):
        shape = tuple(int(n) for n in shape)
        self.axis = axis = axis % len(shape)
        self.total_shape = shape[:axis] + shape[axis + 1:]
        depth = shape[axis]
        lanes = math.prod(shape) // depth if depth else 1
        chunk = max(1, min(depth, max_elements // max(lanes, 1)))
        self.carried = carried = chunk < depth    # several chunks: row 0 is the running total
        first = int(carried)
        negative = -np.asarray(weights, np.float32)
        if not carried and math.prod(shape) <= self.EXPAND_ELEMENTS:
            negative = np.ascontiguousarray(np.broadcast_to(negative, shape))
        negative_bias = None if bias is None else -np.asarray(bias, np.float32)
        extra = 0 if bias is None else 1
        buffer_shape = _along(shape, axis, first + chunk + extra)
        self.own = math.prod(buffer_shape) <= self.OWN_ELEMENTS
        self.buffer = (np.empty if self.own else alloc)(buffer_shape, np.float32)
        self.running = self.buffer[_rows(axis, 0)]

        def along_k(array, start, stop):   # a constant or an input may broadcast along K
            return array if array.shape[axis] == 1 else array[_rows(axis, slice(start, stop))]
        # Per chunk: (K slice of x, its negated weights, where its products go, the bias
        # slot or None, the rows the reduction runs over)
        self.chunks = []
        for start in range(0, max(depth, 1), chunk):
            n = max(0, min(chunk, depth - start))
            last = start + chunk >= depth
            bias_slot = (self.buffer[_rows(axis, first + n)]
                         if last and negative_bias is not None else None)
            self.chunks.append((
                slice(start, start + n), along_k(negative, start, start + n),
                self.buffer[_rows(axis, slice(first, first + n))], bias_slot,
                self.buffer[_rows(axis, slice(0, first + n + (extra if last else 0)))]))
        self.negative_bias = negative_bias

    @staticmethod
    def accepts(weights, bias=None) -> bool:
        """No NaN among the constants: their negated copies must differ only in sign."""
        return not np.isnan(weights).any() and (bias is None or not np.isnan(bias).any())

    def bind(self, x, total):
        """run(): the sums of this invoke into `total` (the products' shape without the
        summed axis). x broadcasts against the products' shape and holds the invoke's
        inputs when run() is called. Overflow gives inf and NaN, as in C++: the caller
        silences numpy's warnings."""
        axis, subtract, multiply = self.axis, np.subtract.reduce, np.multiply
        steps = [(x if x.shape[axis] == 1 else x[_rows(axis, k)], negative, products,
                  bias_slot, None if bias_slot is None else
                  np.ascontiguousarray(np.broadcast_to(self.negative_bias, bias_slot.shape)),
                  reduced) for k, negative, products, bias_slot, reduced in self.chunks]
        if not self.carried:          # one chunk: the common case, in as few calls as can be
            [(x_k, negative, products, bias_slot, negative_bias, reduced)] = steps
            if self.own and bias_slot is not None:
                bias_slot[...] = negative_bias
                bias_slot = None

            def run():
                if products.size:
                    multiply(x_k, negative, out=products)
                if bias_slot is not None:
                    bias_slot[...] = negative_bias
                subtract(reduced, axis=axis, initial=0.0, out=total)
            return run
        running = self.running

        def run_in_chunks():
            running[...] = 0.0
            for x_k, negative, products, bias_slot, negative_bias, reduced in steps:
                multiply(x_k, negative, out=products)
                if bias_slot is not None:
                    bias_slot[...] = negative_bias
                subtract(reduced, axis=axis, out=total)
                running[...] = total
        return run_in_chunks


def _rows(axis, index):
    """The index that takes `index` along `axis` (every element of the axes before it)."""
    return (slice(None),) * axis + (index,)


def constant_array(value, shape, most: int = 1 << 16):
    """A bound float Eval's constant operand: value as a float32 array of `shape` (numpy is
    slower with a scalar operand), or a float32 scalar past `most` elements."""
    if math.prod(shape) > most:
        return np.float32(value)
    return np.full(shape, value, np.float32)


def _along(shape, axis, n):
    """`shape` with its axis `axis` set to n."""
    return shape[:axis] + (n,) + shape[axis + 1:]


# ----------------------------------------------------------------------------- int16 lookup tables


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
    rounded = round_half_away_from_zero
    sample_val = rounded(val * output_scaling_inv)
    midpoint_interp_val = rounded((val_next * output_scaling_inv + sample_val) / f32(2))
    midpoint_val = rounded(val_midpoint * output_scaling_inv)
    bias = rounded((midpoint_interp_val - midpoint_val) / f32(2))
    last = rounded(transform(np.array([input_max], np.float32)) * output_scaling_inv)
    lut = np.concatenate([sample_val - bias, last])
    return np.clip(lut, f32(-32768), f32(32767)).astype(np.int64)


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
