"""Stage 7, SignalFilterBankSpectralSubtraction: track each channel's noise floor and
subtract it. This is the frontend's memory: the estimate carries over from frame to frame.

Mirrors signal/src/filter_bank_spectral_subtraction.cc (FilterbankSpectralSubtraction),
signal/micro/kernels/filter_bank_spectral_subtraction.cc (its state is zeroed on reset),
and the constants of filter_bank_spectral_subtraction() in
python/tflite_micro/signal/ops/filter_bank_ops.py.

The estimate is a one-pole low-pass filter of the signal:
    noise = (signal * smoothing + noise * (1 - smoothing)),   smoothing in Q14
kept with `smoothing_bits` (10) extra fractional bits so slow changes are not rounded
away. Even channels use one coefficient (0.025), odd channels another (0.06). The output
is the signal minus the estimate, but never below min_signal_remaining (5%) of the signal.

The recursion is sequential over frames, but everything else is not: only the estimate
update runs in a Python loop (a handful of numpy operations over the 40 channels per
frame); the subtraction is then done for all frames at once.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tflm_edu.frontend.bits import as_uint32

_U64 = np.uint64


@dataclass(frozen=True)
class SpectralSubtractionConfig:
    """The op's integer options (the names of its flexbuffer custom options)."""
    num_channels: int
    smoothing: int
    one_minus_smoothing: int
    alternate_smoothing: int
    alternate_one_minus_smoothing: int
    min_signal_remaining: int
    smoothing_bits: int
    spectral_subtraction_bits: int
    clamping: bool

    @classmethod
    def from_floats(cls, num_channels: int, smoothing: float, alternate_smoothing: float,
                    smoothing_bits: int, min_signal_remaining: float, clamping: bool,
                    spectral_subtraction_bits: int = 14) -> "SpectralSubtractionConfig":
        """Quantize the float parameters the way the op's Python wrapper does: truncate
        x * 2**spectral_subtraction_bits (0.025 -> 409, 0.06 -> 983, 0.05 -> 819)."""
        one = 1 << spectral_subtraction_bits
        if alternate_smoothing == 0:  # zero means "use the same coefficient everywhere"
            alternate_smoothing = smoothing
        even, odd = int(smoothing * one), int(alternate_smoothing * one)
        return cls(num_channels, even, one - even, odd, one - odd,
                   int(min_signal_remaining * one), smoothing_bits,
                   spectral_subtraction_bits, clamping)

    def coefficients(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-channel (smoothing, one_minus_smoothing): even channels, then odd ones."""
        even = np.arange(self.num_channels) % 2 == 0
        smoothing = np.where(even, self.smoothing, self.alternate_smoothing)
        keep = np.where(even, self.one_minus_smoothing, self.alternate_one_minus_smoothing)
        return smoothing.astype(_U64), keep.astype(_U64)


def update_noise_estimates(config: SpectralSubtractionConfig, scaled_signal: np.ndarray,
                           noise_estimate: np.ndarray) -> np.ndarray:
    """Run the low-pass filter over (frames, channels); return the estimate after each.

    `scaled_signal` is the signal already shifted up by smoothing_bits (as uint32).
    The products are formed in 64 bits as in the C code, then shifted back to Q0 and
    stored in uint32 (they fit when the two coefficients sum to 1.0, as the op's wrapper
    makes them; other options lose the high bits, as in C).
    """
    smoothing, keep = config.coefficients()
    shift = _U64(config.spectral_subtraction_bits)
    estimate = np.asarray(noise_estimate, dtype=_U64).copy()
    history = np.empty(scaled_signal.shape, dtype=_U64)
    for t, signal in enumerate(scaled_signal):
        estimate = as_uint32((signal * smoothing + estimate * keep) >> shift)
        if config.clamping:
            estimate = np.minimum(estimate, signal)
        history[t] = estimate
    return history


def spectral_subtraction(config: SpectralSubtractionConfig, signal: np.ndarray,
                         noise_estimate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(frames, channels) uint32 -> (output, noise estimate after each frame).

    `noise_estimate` is the state before the first frame (zeros after a reset); the
    last row of the returned estimates is the state to carry into the next call.
    """
    signal = np.asarray(signal, dtype=_U64)
    bits = _U64(config.smoothing_bits)
    scaled = as_uint32(signal << bits)  # uint32 shift: large channels lose their top bits
    estimates = update_noise_estimates(config, scaled, noise_estimate)
    # The subtraction may not go negative: cap the estimate at the signal (without
    # clamping, the stored estimate itself is left above the signal).
    subtracted = (scaled - np.minimum(estimates, scaled)) >> bits
    floor = (signal * _U64(config.min_signal_remaining)) >> _U64(config.spectral_subtraction_bits)
    return np.maximum(subtracted, as_uint32(floor)), estimates
