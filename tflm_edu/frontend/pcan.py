"""Stage 8, SignalPCAN: per-channel automatic gain control (Per-Channel Amplitude
Normalisation), dividing each channel by a power of its own noise estimate.

Mirrors signal/src/pcan_argc_fixed.cc (WideDynamicFunction, PcanShrink,
ApplyPcanAutoGainControlFixed) and signal/micro/kernels/pcan.cc; the gain table is built
like WideDynamicFuncLut / PcanGainLookupFunction in
python/tflite_micro/signal/utils/wide_dynamic_func_lut_wrapper.cc, with the parameters
that pcan() in python/tflite_micro/signal/ops/pcan_op.py passes.

The gain is gain(noise) = 2**gain_bits * (noise + offset) ** -strength, a curve far too
wide for one table over its whole range. So it is tabulated per octave: for noise in
[2**(k-1), 2**k) the table holds y0 = gain at the octave's start and two coefficients of
a quadratic through the gains at the start, middle and end of the octave. The op has no
state of its own: its memory is the noise estimate that spectral subtraction hands over.
"""
from __future__ import annotations

import math

import numpy as np

from tflm_edu.frontend.bits import as_int16, as_int32, as_uint32, bit_length

PCAN_SNR_BITS = 12    # kPcanSnrBits: fractional bits of the signal-to-noise ratio
PCAN_OUTPUT_BITS = 6  # kPcanOutputBits: fractional bits of the op's output
WIDE_DYNAMIC_FUNCTION_BITS = 32  # the table covers every uint32 noise value
_U64 = np.uint64


def pcan_gain(x: int, strength: float, offset: float, gain_bits: int, input_bits: int) -> int:
    """PcanGainLookupFunction: the gain for noise estimate x (Q`input_bits`), as int16.

    The C code works in float32; powf is evaluated here in double and rounded once to
    float32, which reproduces every entry of the micro_speech table. Then + 0.5 and a
    truncating cast round it to the nearest integer, saturating at 32767.
    """
    noise = np.float32(x) / np.float32(1 << input_bits)
    power = np.float32(math.pow(float(noise + np.float32(offset)), -float(np.float32(strength))))
    gain = np.float32(1 << gain_bits) * power
    if gain > 32767:
        return 32767
    return int(gain + np.float32(0.5))


def pcan_gain_lut(strength: float, offset: float, input_bits: int, gain_bits: int) -> np.ndarray:
    """The 125-entry int16 gain table (4 entries per octave, the first ones overlapping).

    Entries 0 and 1 are the gains at noise 0 and 1; octave k (k = 2..32, noise in
    [2**(k-1), 2**k)) starts at entry 4k - 6 with [y0, a1, a2, 0]. With t the position in
    the octave (0..1), y0 + a1 * t + a2 * t**2 passes through the gains at t = 0, 1/2, 1.
    """
    def gain(x):
        return pcan_gain(x, strength, offset, gain_bits, input_bits)

    table = np.zeros(4 * WIDE_DYNAMIC_FUNCTION_BITS - 2, dtype=np.int64)
    table[0], table[1] = gain(0), gain(1)
    for interval in range(2, WIDE_DYNAMIC_FUNCTION_BITS + 1):
        x0 = 1 << (interval - 1)
        x1 = x0 + (x0 >> 1)
        x2 = x0 + (x0 - 1) if interval == WIDE_DYNAMIC_FUNCTION_BITS else 2 * x0  # uint32
        y0, y1, y2 = gain(x0), gain(x1), gain(x2)
        a1 = 4 * (y1 - y0) - (y2 - y0)
        a2 = (y2 - y0) - a1
        table[4 * interval - 6: 4 * interval - 2] = y0, a1, a2, 0
    return as_int16(table[:4 * WIDE_DYNAMIC_FUNCTION_BITS - 3]).astype(np.int16)


def snr_shift_for(gain_bits: int, input_correction_bits: int) -> int:
    """The right shift that turns signal * gain into a Q12 SNR (6 for micro_speech)."""
    return gain_bits - input_correction_bits - PCAN_SNR_BITS


def wide_dynamic_function(noise: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """WideDynamicFunction: evaluate the tabulated gain at each uint32 noise value.

    The octave is the bit length of x; the 10 bits below the leading one are the position
    t in Q10. The quadratic is evaluated Horner-style in int32 as in the C code, and the
    int16 result is handed back as a uint32 gain.
    """
    x = np.asarray(noise, dtype=_U64)
    lut = lut.astype(np.int64)
    interval = bit_length(x)
    base = np.clip(4 * interval - 6, 0, lut.size - 3)
    up = np.clip(11 - interval, 0, None).astype(_U64)
    down = np.clip(interval - 11, 0, None).astype(_U64)
    frac = (((x << up) >> down) & _U64(0x3FF)).astype(np.int64)
    y0, a1, a2 = lut[base], lut[base + 1], lut[base + 2]
    result = as_int32((a2 * frac >> 5) + a1 * 32)
    result = as_int32(result * frac)
    result = (as_int32(result + (1 << 14)) >> 15) + y0  # the rounding add wraps in int32
    gain = np.where(x <= 2, lut[np.minimum(x, 2).astype(np.intp)], as_int16(result))
    return as_uint32(gain.astype(_U64))


def pcan_shrink(snr: np.ndarray) -> np.ndarray:
    """PcanShrink: x**2 / 4 below 2, x - 1 above (Q12 in, Q6 out): a soft knee at 2."""
    snr = np.asarray(snr, dtype=_U64)
    quadratic = (snr * snr) >> _U64(2 + 2 * PCAN_SNR_BITS - PCAN_OUTPUT_BITS)
    linear = (snr >> _U64(PCAN_SNR_BITS - PCAN_OUTPUT_BITS)) - _U64(1 << PCAN_OUTPUT_BITS)
    return np.where(snr < _U64(2 << PCAN_SNR_BITS), quadratic, linear)


def apply_pcan(signal: np.ndarray, noise_estimate: np.ndarray, lut: np.ndarray,
               snr_shift: int) -> np.ndarray:
    """ApplyPcanAutoGainControlFixed over (..., channels) uint32 arrays."""
    gain = wide_dynamic_function(noise_estimate, lut)
    snr = as_uint32((np.asarray(signal, dtype=_U64) * gain) >> _U64(snr_shift))
    return pcan_shrink(snr)
