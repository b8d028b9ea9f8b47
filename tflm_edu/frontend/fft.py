"""Stages 2 and 3, SignalFftAutoScale and SignalRfft: normalise the frame, then FFT it;
and SignalIrfft, the way back.

Mirrors signal/src/fft_auto_scale.cc (FftAutoScale), signal/src/max_abs.cc (MaxAbs16,
the portable branch), signal/micro/kernels/fft_auto_scale_kernel.cc, signal/src/rfft_*.cc
(RfftInt16Apply, RfftInt32Apply, RfftFloatApply) and signal/src/irfft_*.cc (the
IrfftApply three), plus get_pow2_fft_length() of python/tflite_micro/signal/ops/fft_ops.py.
The FFT itself lives in kiss_fft.py.

Why auto-scale: the int16 FFT divides by its length as it goes, so a quiet frame would
lose most of its bits. Shifting the frame left until its peak uses all 15 magnitude bits
keeps the precision; the shift is remembered and undone later, after the square root
(SignalFilterBankSquareRoot shifts right by the same amount).

Scaling: in int16 and int32 every stage divides by its radix, so rfft is the DFT divided
by fft_length and irfft the inverse DFT proper (numpy's irfft): a round trip gives
x / fft_length, give or take the roundings. In float kissfft scales nothing - rfft is the
plain DFT, kissfft's inverse returns fft_length times the signal - and IrfftFloatApply
divides by fft_length afterwards, so a round trip gives x back.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from tflm_edu.frontend.bits import as_int16, bit_length
from tflm_edu.frontend.kiss_fft import KissFftr, KissFftr16, arithmetic_for


def get_pow2_fft_length(input_length: int) -> tuple[int, int]:
    """The smallest power of two >= input_length, and its log2 (480 -> (512, 9))."""
    bits = math.ceil(math.log2(input_length))
    return 1 << bits, bits


def _max_abs16_in_order(row: np.ndarray) -> int:
    """MaxAbs16 literally, for the rare frame holding -32768.

    In C, -value of -32768 is +32768, which is greater than any int16 maximum, and storing
    it back into the int16 `max` wraps to -32768. From then on any larger value, even a
    negative one, replaces the maximum. The result depends on the order, so loop.
    """
    peak = 0
    for value in row.tolist():
        if value > peak:
            peak = value
        elif -value > peak:
            peak = int(as_int16(-value))
    return peak


def max_abs16(frames: np.ndarray) -> np.ndarray:
    """MaxAbs16 of each frame (last axis), including its int16 wrap-around quirk."""
    frames = np.asarray(frames, dtype=np.int16)
    flat = frames.reshape(-1, frames.shape[-1])
    peaks = np.abs(flat.astype(np.int32)).max(axis=1, initial=0)
    for i in np.flatnonzero((flat == -32768).any(axis=1)):
        peaks[i] = _max_abs16_in_order(flat[i])
    return peaks.reshape(frames.shape[:-1])


def fft_auto_scale(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shift each frame left by scale_bits = 15 - bit_length(max |x|), at least 0.

    Returns (scaled int16 frames, scale_bits int32 per frame). MostSignificantBit32 gets
    the int16 peak converted to uint32: a negative peak (see max_abs16) has bit 31 set, and
    on TFLM's host build (the __builtin_clz branch) zero also reports 32, so both give
    scale 0.
    """
    peaks = max_abs16(frames)
    msb = np.where(peaks > 0, bit_length(np.maximum(peaks, 0)), 32)
    scale_bits = np.maximum(15 - msb, 0).astype(np.int32)
    # The C code multiplies by (1 << scale_bits) (a left shift of a negative int is
    # undefined in C) and stores the int product into int16.
    scaled = as_int16(frames.astype(np.int64) * (np.int64(1) << scale_bits[..., None]))
    return scaled.astype(np.int16), scale_bits


@functools.lru_cache(maxsize=None)
def kiss_fftr(fft_length: int, dtype=np.int16, inverse: bool = False) -> KissFftr:
    """One prepared kissfft state per length, type and direction, like the state
    RfftInit / IrfftInit allocate once per op."""
    return KissFftr(fft_length, dtype, inverse)


@functools.lru_cache(maxsize=None)
def kiss_fftr16(fft_length: int) -> KissFftr16:
    """The forward int16 state (the micro_speech preprocessor's FFT)."""
    return KissFftr16(fft_length)


def _dtype_of(frames, dtype):
    """The FFT's sample type: `dtype` if given, else the frames' own (else int16)."""
    if dtype is None:
        kind = getattr(frames, "dtype", None)
        dtype = kind if kind is not None and np.dtype(kind) in (
            np.dtype(np.int16), np.dtype(np.int32), np.dtype(np.float32)) else np.int16
    return arithmetic_for(dtype).dtype


def rfft(frames: np.ndarray, fft_length: int, dtype=None) -> np.ndarray:
    """SignalRfft (RfftApply): zero-pad each frame to fft_length, transform it.

    `dtype`: int16, int32 or float32 (the frames' own type when not given). Returns
    (..., fft_length + 2) of that type laid out as the op's output tensor:
    re0, im0, re1, im1, ... for the fft_length / 2 + 1 bins from DC to Nyquist.
    """
    dtype = _dtype_of(frames, dtype)
    frames = np.asarray(frames, dtype=dtype)
    lead, length = frames.shape[:-1], frames.shape[-1]
    padded = np.zeros((int(np.prod(lead, dtype=np.int64)), fft_length), dtype=dtype)
    padded[:, :length] = frames.reshape(-1, length)
    spectrum = kiss_fftr(fft_length, dtype).fftr(padded)
    return spectrum.reshape(*lead, fft_length + 2)


def irfft(spectra: np.ndarray, fft_length: int, dtype=None) -> np.ndarray:
    """SignalIrfft (IrfftApply): fft_length samples from each row of fft_length / 2 + 1
    bins (re, im interleaved; any further values in a row are not read).

    `dtype`: int16, int32 or float32 (the spectra's own type when not given). In float
    the output is divided by fft_length after the transform, as IrfftFloatApply does.
    """
    dtype = _dtype_of(spectra, dtype)
    spectra = np.asarray(spectra, dtype=dtype)
    lead, bins = spectra.shape[:-1], fft_length // 2 + 1
    rows = spectra.reshape(-1, spectra.shape[-1])[:, :2 * bins]
    samples = kiss_fftr(fft_length, dtype, inverse=True).fftri(rows)
    if dtype == np.float32:
        samples = samples / np.float32(fft_length)
    return samples.reshape(*lead, fft_length)
