"""Stage 9, SignalFilterBankLog: a fixed-point natural log of each channel, times a scale.

Mirrors signal/src/filter_bank_log.cc (FilterbankLog), signal/src/log.cc (Log32 and its
Log2FractionPart32) and signal/micro/kernels/filter_bank_log.cc.

log2(x) is split into the integer part (the bit length of x, minus one) and the fraction
f of x above that power of two. log2(1 + f) is close to f itself; the difference is a
smooth bump (0 at f = 0 and f = 1, about 0.086 at its peak), which TFLM interpolates from
a 129-point table in Q16. The result is multiplied by ln(2) to get ln(x), then by the
output scale (64 for micro_speech), all with rounding right shifts.
"""
from __future__ import annotations

import numpy as np

from tflm_edu.frontend.bits import as_uint32, bit_length

LOG_SEGMENTS_LOG2 = 7   # 128 table segments over the fraction [0, 1)
LOG_SCALE_LOG2 = 16     # the table and the fraction are in Q16
LOG_COEFF = 45426       # ln(2) in Q16: round(0.693147... * 65536)
_U64 = np.uint64


def log_correction_table() -> np.ndarray:
    """kLogLut: round((log2(1 + k/128) - k/128) * 2**16) for k = 0..128, plus a zero pad.

    Computed rather than copied: this formula gives every entry of TFLM's table.
    """
    k = np.arange((1 << LOG_SEGMENTS_LOG2) + 1)
    fraction = k / (1 << LOG_SEGMENTS_LOG2)
    bump = np.round((np.log2(1 + fraction) - fraction) * (1 << LOG_SCALE_LOG2))
    return np.append(bump, 0).astype(np.int64)


LOG_LUT = log_correction_table()


def log2_fraction(x: np.ndarray, integer: np.ndarray) -> np.ndarray:
    """Log2FractionPart32: log2(x) - integer in Q16, for x in [2**integer, 2**(integer+1)).

    The fraction of x above its leading one is brought to Q16 (shifting whichever way),
    then corrected by linear interpolation in the table between its two nearest entries.
    """
    frac = (x - (_U64(1) << integer.astype(_U64))).astype(np.int64)
    frac = np.where(integer < LOG_SCALE_LOG2,
                    frac << np.clip(LOG_SCALE_LOG2 - integer, 0, None),
                    frac >> np.clip(integer - LOG_SCALE_LOG2, 0, None))
    segment = frac >> (LOG_SCALE_LOG2 - LOG_SEGMENTS_LOG2)
    c0, c1 = LOG_LUT[segment], LOG_LUT[segment + 1]
    offset = frac - (segment << (LOG_SCALE_LOG2 - LOG_SEGMENTS_LOG2))
    # Signed product and arithmetic shift: the table falls in its second half.
    return frac + c0 + (((c1 - c0) * offset) >> LOG_SCALE_LOG2)


def log32(x: np.ndarray, out_scale: int) -> np.ndarray:
    """Log32: round(out_scale * ln(x)) in fixed point, for uint32 x >= 2."""
    x = np.asarray(x, dtype=_U64)
    integer = bit_length(x) - 1
    log2 = as_uint32((integer << LOG_SCALE_LOG2) + log2_fraction(x, integer)).astype(_U64)
    half = _U64(1 << (LOG_SCALE_LOG2 - 1))
    loge = as_uint32((_U64(LOG_COEFF) * log2 + half) >> _U64(LOG_SCALE_LOG2))
    # The last step is uint32 arithmetic in C, so it wraps before the shift.
    return as_uint32(_U64(out_scale) * loge + half) >> _U64(LOG_SCALE_LOG2)


def filter_bank_log(channels: np.ndarray, output_scale: int,
                    input_correction_bits: int) -> np.ndarray:
    """FilterbankLog: int16 log of (channel << input_correction_bits); 0 where that is <= 1.

    The shift is uint32 arithmetic (it can drop high bits); results saturate at 32767.
    """
    scaled = as_uint32(np.asarray(channels, dtype=_U64) << _U64(input_correction_bits))
    usable = scaled > 1
    logs = log32(np.where(usable, scaled, _U64(2)), output_scale)
    return np.where(usable, np.minimum(logs, _U64(32767)), _U64(0)).astype(np.int16)
