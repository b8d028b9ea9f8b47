"""Stage 6, SignalFilterBankSquareRoot: from energy back to amplitude, undoing the auto-scale.

Mirrors signal/src/filter_bank_square_root.cc (FilterbankSqrt), signal/src/square_root_64.cc
(Sqrt64), signal/src/square_root_32.cc (Sqrt32) and
signal/micro/kernels/filter_bank_square_root.cc.

TFLM computes square roots digit by digit (two bits of input per result bit), which
yields floor(sqrt(x)) and the remainder x - floor^2; it then rounds up when the
remainder exceeds the root, i.e. it returns the nearest integer. Two quirks matter:
Sqrt64 hands values below 2**32 to Sqrt32, whose result is a uint16 and so cannot round
up past 65535, and Sqrt64 itself will not round past 2**32 - 1. Here the floor comes from
float64 sqrt, corrected by one step with exact integer checks, for whole arrays at once.
"""
from __future__ import annotations

import numpy as np

_U64 = np.uint64
_MAX_ROOT = _U64(0xFFFF_FFFF)  # floor(sqrt(2**64 - 1))


def floor_sqrt(values: np.ndarray) -> np.ndarray:
    """Exact floor(sqrt(x)) for uint64 x, elementwise.

    float64 holds x to 53 bits, so its square root is off by less than one: at most one
    correction each way. Clamping first keeps root * root inside uint64.
    """
    x = np.asarray(values, dtype=_U64)
    root = np.minimum(np.floor(np.sqrt(x.astype(np.float64))), float(_MAX_ROOT)).astype(_U64)
    root = np.where(root * root > x, root - _U64(1), root)
    next_root = root + _U64(1)
    too_small = (root < _MAX_ROOT) & (next_root * next_root <= x)
    return np.where(too_small, next_root, root)


def sqrt64(values: np.ndarray) -> np.ndarray:
    """Sqrt64 (with its Sqrt32 shortcut): the rounded square root, as uint32 in uint64."""
    x = np.asarray(values, dtype=_U64)
    root = floor_sqrt(x)
    remainder = x - root * root
    # Rounding to nearest: sqrt(x) > root + 1/2 exactly when x - root^2 > root.
    ceiling = np.where(x >> _U64(32) == 0, _U64(0xFFFF), _MAX_ROOT)
    round_up = (remainder > root) & (root != ceiling)
    return root + round_up.astype(_U64)


def filter_bank_square_root(channels: np.ndarray, scale_bits: np.ndarray) -> np.ndarray:
    """sqrt(channel sum) >> scale_bits per frame (the FftAutoScale shift of that frame).

    The energies were computed on a frame scaled up by 2**scale_bits, so their square
    roots carry the same factor; the shift removes it (rounding down).
    """
    shift = np.asarray(scale_bits, dtype=_U64)[..., None]
    return sqrt64(channels) >> shift
