"""The fast requantization (one rounding step) against gemmlowp's two steps, value by value.

multiply_by_quantized_multiplier takes a fast path for numpy arrays; the step-by-step
multiply_by_quantized_multiplier_gemmlowp spells out common.h. These tests aim at the
places where the single rounding step could differ: every sign of x and of the doubling
high multiply's result, exact rounding ties of both steps, the int32 extremes, left shifts
that wrap, and per-channel shifts that mix rounding and non-rounding channels.
"""
import numpy as np
import pytest

from tflm_edu.kernels.fixedpoint import INT32_MAX, INT32_MIN
from tflm_edu.kernels.quantization_util import (
    multiply_by_quantized_multiplier, multiply_by_quantized_multiplier_gemmlowp,
    quantize_multiplier, requantize_to_output)


def both(x, multiplier, shift):
    fast = multiply_by_quantized_multiplier(np.asarray(x), multiplier, shift)
    slow = multiply_by_quantized_multiplier_gemmlowp(np.asarray(x, dtype=np.int64),
                                                     multiplier, shift)
    return np.asarray(fast, dtype=np.int64), np.asarray(slow, dtype=np.int64)


def tie_inputs(multiplier, right_shift):
    """x values whose products land on or next to a rounding tie of either step."""
    xs = set()
    # first step: x * m = k * 2^31 + 2^30 (+-1), solved for x near each k
    for k in range(-40, 40):
        for target in (k * 2**31 + 2**30, k * 2**31 - 2**30):
            x0 = target // multiplier
            xs.update(range(x0 - 2, x0 + 3))
    # second step: high-multiply results h = j * 2^r + 2^(r-1) (+-1)
    if right_shift > 0:
        for j in range(-20, 20):
            for h in (j * 2**right_shift + 2**(right_shift - 1),
                      j * 2**right_shift - 2**(right_shift - 1)):
                x0 = (h * 2**31) // multiplier
                xs.update(range(x0 - 3, x0 + 4))
    xs.update([0, 1, -1, INT32_MAX, INT32_MIN, INT32_MAX - 1, INT32_MIN + 1])
    return np.array(sorted(x for x in xs if INT32_MIN <= x <= INT32_MAX), dtype=np.int64)


@pytest.mark.parametrize("shift", list(range(-31, 1)) + [1, 2, 7])
@pytest.mark.parametrize("multiplier", [1 << 30, (1 << 30) + 1, 1518500250, INT32_MAX, 3,
                                        1, 0, -(1 << 30), -1518500250])
def test_ties_and_extremes(multiplier, shift):
    x = tie_inputs(multiplier, max(0, -shift)) if multiplier > 0 else \
        tie_inputs(1 << 30, max(0, -shift))
    fast, slow = both(x, multiplier, shift)
    bad = np.flatnonzero(fast != slow)
    assert bad.size == 0, f"x={x[bad[:5]]}: fast {fast[bad[:5]]}, gemmlowp {slow[bad[:5]]}"


@pytest.mark.parametrize("seed", range(20))
def test_random_per_channel(seed):
    rng = np.random.default_rng(seed)
    channels = int(rng.integers(1, 40))
    multiplier = rng.integers(1 << 30, 1 << 31, channels)
    shift = rng.integers(-31, 3, channels)
    shift[rng.random(channels) < 0.2] = 0          # mix rounding and non-rounding channels
    scale = int(rng.choice([1 << 8, 1 << 16, 1 << 24, 1 << 31]))
    x = rng.integers(-scale, scale, (50, channels))
    x[rng.random(x.shape) < 0.05] = INT32_MIN
    fast, slow = both(x, multiplier, shift)
    assert np.array_equal(fast, slow)


def test_wraps_int64_accumulators_like_int32():
    """A sum past int32 reaches MultiplyByQuantizedMultiplier wrapped, as the C++ int32
    accumulator holds it."""
    x = np.array([2**31, 2**32 + 5, -(2**31) - 1, 3 * 2**40 + 7], dtype=np.int64)
    fast, slow = both(x, 1 << 30, -3)
    assert np.array_equal(fast, slow)


def test_left_shift_wraps():
    x = np.array([1 << 29, -(1 << 29), (1 << 30) - 1, 12345678], dtype=np.int64)
    fast, slow = both(x, *quantize_multiplier(5.3))
    assert np.array_equal(fast, slow)


def test_saturating_multiplier_falls_back():
    x = np.array([INT32_MIN, 0, 5], dtype=np.int64)
    fast, slow = both(x, INT32_MIN, 0)
    assert np.array_equal(fast, slow) and fast[0] == INT32_MAX


def test_scalar_and_0d():
    for x in (5, -7, INT32_MIN):
        assert int(multiply_by_quantized_multiplier(np.array(x), 1 << 30, -2)) == \
            int(multiply_by_quantized_multiplier_gemmlowp(x, 1 << 30, -2))
    for acc in (-1000, -300, 17):
        out = requantize_to_output(np.int64(acc), 1 << 30, -1, 3, -128, 127)
        want = min(127, max(-128, int(multiply_by_quantized_multiplier_gemmlowp(
            acc, 1 << 30, -1)) + 3))
        assert int(out) == want


def test_requantize_clamps_and_stores():
    acc = np.arange(-5000, 5000, 7, dtype=np.int64)
    got = requantize_to_output(acc, 1518500250, -4, -3, -100, 90)
    want = np.clip(multiply_by_quantized_multiplier_gemmlowp(acc, 1518500250, -4) - 3,
                   -100, 90).astype(np.int8)
    assert got.dtype == np.int8 and np.array_equal(got, want)
