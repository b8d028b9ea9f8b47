"""Affine quantization, in one place: q = round(x / scale) + zero_point and back.

The kernels (QUANTIZE, DEQUANTIZE), the quantizer, the evaluation helpers and the SQNR
report all use these, so a value is quantized the same way wherever it is - the way TFLM's
reference_ops::AffineQuantize and Dequantize do it:

  round_half_away_from_zero   TfLiteRound / std::round: halves go away from zero (numpy's
                              round and Python's round() go to even)
  affine_quantize             float32 division by the scale, TfLiteRound, int32 wrap when the
                              zero point is added, clamp to the integer type
  affine_dequantize           (q - zero_point) as int32, times the scale in double, rounded
                              once to float32
"""
from __future__ import annotations

import numpy as np

INT32_MIN = -(2**31)


def round_half_away_from_zero(x):
    """TfLiteRound / std::round, exactly: adding 0.5 and flooring would round 0.49999997 up.
    A scalar gives an int; an array keeps its float dtype (float32 stays float32)."""
    with np.errstate(invalid="ignore"):           # inf - inf: an infinity stays itself
        whole = np.trunc(x)
        half_or_more = np.abs(np.asarray(x) - whole) >= 0.5
        result = whole + np.where(half_or_more, np.sign(x), 0).astype(np.asarray(whole).dtype)
    return int(result) if np.ndim(result) == 0 else result


def affine_quantize(x, scale, zero_point, dtype=np.int8) -> np.ndarray:
    """reference_ops::AffineQuantize: clamp(int32(round(x / scale)) + zero_point). The
    quotient is float32, as the kernel divides floats; an out-of-range quotient (huge, inf,
    NaN) becomes INT32_MIN as the C++ conversion does on Arm and x86, and the sum with the
    zero point wraps in 32 bits - so +inf quantizes to -128 with zero point 0."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        quotient = np.asarray(x, np.float32) / np.float32(scale)
    rounded = round_half_away_from_zero(quotient.astype(np.float64))
    in_range = (rounded >= -(2.0**31)) & (rounded < 2.0**31)     # False for NaN as well
    as_int32 = np.where(in_range, rounded, INT32_MIN).astype(np.int64)
    unclamped = ((as_int32 + int(zero_point) + 2**31) & 0xFFFFFFFF) - 2**31
    info = np.iinfo(dtype)
    return np.clip(unclamped, info.min, info.max).astype(dtype)


def affine_dequantize(q, scale, zero_point) -> np.ndarray:
    """reference_ops::Dequantize: static_cast<float>(scale * (q - zero_point)), the product
    in double."""
    centred = (np.asarray(q).astype(np.int64) - int(zero_point)).astype(np.float64)
    return (np.float64(scale) * centred).astype(np.float32)
