"""Stage 1, SignalWindow: multiply each 30 ms frame by a fixed-point Hann window.

Mirrors signal/src/window.cc (ApplyWindow) and signal/micro/kernels/window.cc, and the
weights come from the same formula as hann_window_weights() in
python/tflite_micro/signal/ops/window_op.py, which baked them into the .tflite as a
constant int16 tensor.
"""
from __future__ import annotations

import numpy as np


def hann_window_weights(window_length: int, shift: int) -> np.ndarray:
    """The Hann window as int16 in Q`shift` (4096 means 1.0 when shift is 12).

    The window is sampled at the middle of each sample, n + 0.5, so it is symmetric and
    never exactly zero at both ends: w[n] = 0.5 - 0.5 * cos(2 * pi * (n + 0.5) / N).
    The operation order matches the generator's float64 arithmetic, so the rounded
    weights are the ones stored in audio_preprocessor_*.tflite.
    """
    step = np.pi * 2 / window_length
    n = np.arange(window_length)
    weights = 0.5 - 0.5 * np.cos(step * (n + 0.5))
    return np.round(weights * (1 << shift)).astype(np.int16)


def apply_window(samples: np.ndarray, weights: np.ndarray, shift: int) -> np.ndarray:
    """(samples * weights) >> shift, saturated to int16; works on (..., N) frames.

    The product of two int16 values needs 31 bits, so TFLM forms it in int32; the right
    shift is arithmetic (it rounds toward minus infinity), and the result is clamped, not
    wrapped, into int16. With shift 12 and weights <= 4096 it always fits anyway.
    """
    raw = (samples.astype(np.int32) * weights.astype(np.int32)) >> shift
    return np.clip(raw, -32768, 32767).astype(np.int16)
