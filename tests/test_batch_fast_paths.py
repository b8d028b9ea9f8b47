"""The int8 fast paths that batch evaluation leans on, at their edges.

FloatRequantizer (the float64 requantization) against gemmlowp's step-by-step
MultiplyByQuantizedMultiplier, accumulator by accumulator: every sign, the rounding ties of
both steps, left shifts, clamps above and below the zero point (the signed form), ranges
that leave the clamp window, and the bounds it must refuse (int32 wrap, float32 and
float64 exactness). Then the kernels that use it against the real TFLM: CONV_2D with its
sums on either side of float32's 2^24, DEPTHWISE_CONV_2D through StridePhases (strides,
dilations, paddings, batches, one-channel depth multipliers) and with a bias on either side
of 2^24 - each case checking which path really ran.
"""
import numpy as np
import pytest

from models import conv_model, dw_model
from op_harness import check_model
from tflm_edu.kernels import conv, depthwise_conv
from tflm_edu.kernels.quantization_util import (FloatRequantizer,
                                                multiply_by_quantized_multiplier_gemmlowp,
                                                quantize_multiplier)
from tflm_edu.schema.enums import ActivationFunctionType as Act, Padding

SAME, VALID = Padding.SAME, Padding.VALID


def requantized(requantizer, acc, channel=0, dtype=np.float32):
    """One channel of the bound run on the accumulators acc, as int64."""
    one = FloatRequantizer(requantizer.alpha[channel:channel + 1],
                           requantizer.beta[channel:channel + 1],
                           None if requantizer.delta is None
                           else requantizer.delta[channel:channel + 1], 0, 0)
    one.low, one.high = requantizer.low, requantizer.high
    out = np.empty(acc.size, np.int8)
    one.bind(acc.astype(dtype), out, lambda values: values)()
    return out.astype(np.int64)


def gemmlowp(acc, multiplier, shift, offset, act_min, act_max):
    return np.clip(multiply_by_quantized_multiplier_gemmlowp(acc, multiplier, shift) + offset,
                   act_min, act_max)


def tie_accumulators(multiplier, shift, low, high):
    """Accumulators in [low, high] on and beside a rounding tie of either step, and the
    first and last 2000."""
    left, right = max(shift, 0), max(-shift, 0)
    scaled = multiplier << left
    xs = {*range(low, min(high, low + 2000) + 1), *range(max(low, high - 2000), high + 1)}
    for k in range(-600, 600):          # p = x * scaled on k * 2^31 +- 2^30, and h on
        for target in (k * 2**31 + 2**30, k * 2**31 - 2**30,    # j * 2^r +- 2^(r-1)
                       (k * 2**right + 2**right // 2) * 2**31):
            x0 = target // scaled
            xs.update(range(x0 - 2, x0 + 3))
    return np.array(sorted(x for x in xs if low <= x <= high), np.int64)


CASES = [  # (real multiplier, output offset, act_min, act_max)
    (0.0123, -128, -128, 127),      # person_detect-like: RELU6 filling the int8 range
    (0.0123, 5, -128, 127),         # no activation: negative accumulators matter
    (0.25, -3, -100, 90),           # an exact power of two: every second rounding ties
    (0.5, 0, -128, 127),
    (3.7e-5, 17, -20, 127),         # a large right shift
    (1.6, -7, -128, 127),           # a left shift
    (0.9999999, 127, -128, 127),
    (0.043, -128, -128, -128),      # a single output level
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_requantizer_equals_gemmlowp_on_every_tie(case):
    real, offset, act_min, act_max = CASES[case]
    multiplier, shift = quantize_multiplier(real)
    low, high = -(2**23) + 1, 2**23 - 1
    requantizer = FloatRequantizer.build(multiplier, shift, offset, act_min, act_max, low,
                                         high)
    assert requantizer is not None
    assert requantizer.signed == (act_min < offset and shift < 0)
    acc = tie_accumulators(multiplier, shift, low, high)
    assert np.array_equal(requantized(requantizer, acc),
                          gemmlowp(acc, multiplier, shift, offset, act_min, act_max))


@pytest.mark.parametrize("seed", range(6))
def test_requantizer_per_channel_ranges(seed):
    """Channels with their own multipliers, shifts and ranges - some inside the clamp
    window, some past either end of it - checked at every accumulator."""
    rng = np.random.default_rng(seed)
    channels = 5
    multipliers, shifts = zip(*(quantize_multiplier(float(s))      # right shifts up to 13
                                for s in np.exp(rng.uniform(-9, 0.5, channels))))
    offset = int(rng.integers(-128, 128))
    act_min, act_max = sorted(int(v) for v in rng.integers(-128, 128, 2))
    centre = rng.integers(-200_000, 200_000, channels)
    low = centre - rng.integers(0, 60_000, channels)
    high = centre + rng.integers(0, 60_000, channels)
    requantizer = FloatRequantizer.build(multipliers, shifts, offset, act_min, act_max,
                                         low, high)
    assert requantizer is not None
    for c in range(channels):
        acc = np.arange(low[c], high[c] + 1)
        assert np.array_equal(requantized(requantizer, acc, c),
                              gemmlowp(acc, multipliers[c], shifts[c], offset, act_min,
                                       act_max)), f"channel {c}"


def test_requantizer_refuses_what_it_cannot_prove():
    multiplier, shift = quantize_multiplier(0.01)
    build = FloatRequantizer.build
    assert build(multiplier, shift, 0, -128, 127, -(2**24), 5) is None   # float32 inexact
    assert build(multiplier, shift, 0, -128, 127, -(2**24), 5, np.float64) is not None
    assert build(0, 0, 0, -128, 127, -5, 5) is None                       # no multiplier
    big, left = quantize_multiplier(40.0)                               # a left shift of 6
    assert build(big, left, 0, -128, 127, -(2**25) + 1, 2**25 - 1, np.float64) is not None
    assert build(big, left, 0, -128, 127, -(2**25), 2**25 - 1, np.float64) is None  # wraps


@pytest.mark.parametrize("right", [13, 14, 15])
def test_requantizer_at_the_float64_limit(right):
    """The clamp window spans 2^(right + 9) accumulators and u = p / 2^(31 + right) + a
    constant must be exact down to 2^-(31 + right) at values up to 256: 53 bits hold that
    up to a right shift of 13 always, of 14 when (output offset + 128) plus the window's
    reach from the offset stays below 256, never from 15 on.
    Where built, exact over both ends of the window and every tie."""
    multiplier, shift = quantize_multiplier(0.7 * 2.0 ** -right)
    assert shift == -right
    built = []
    for offset, act_min in ((-128, -128), (0, -128), (127, -128), (60, 60)):
        requantizer = FloatRequantizer.build(multiplier, shift, offset, act_min, 127,
                                             -(2**23) + 1, 2**23 - 1)
        built.append(requantizer is not None)
        if requantizer is None:
            continue
        for level in (act_min, 127):
            x0 = int(round((level - offset) * 2**right / 0.7))
            acc = tie_accumulators(multiplier, shift, x0 - 20_000, x0 + 20_000)
            assert np.array_equal(requantized(requantizer, acc),
                                  gemmlowp(acc, multiplier, shift, offset, act_min, 127))
    assert built == {13: [True] * 4, 14: [True, False, False, True], 15: [False] * 4}[right]


# ----------------------------------------------------------------------------- the kernels


@pytest.fixture
def paths(monkeypatch):
    """Which int8 bind path each conv-like op took: name -> [fast, fallback]."""
    taken = {}
    for module, name in ((conv, "bind_int8_float_requantized"),
                         (depthwise_conv, "bind_int8_by_phase")):
        original = getattr(module, name)

        def spy(*args, _original=original, _name=name, **kwargs):
            run = _original(*args, **kwargs)
            taken.setdefault(_name, [0, 0])[run is None] += 1
            return run
        monkeypatch.setattr(module, name, spy)
    return taken


def fast_only(taken, name):
    fast, fallback = taken.get(name, [0, 0])
    return fast > 0 and fallback == 0


def slow_only(taken, name):
    fast, fallback = taken.get(name, [0, 0])
    return fast == 0 and fallback > 0


@pytest.mark.parametrize("depth, float32", [(1000, True), (1100, False)])
def test_conv_sums_either_side_of_float32(paths, depth, float32):
    """A 1x1 CONV_2D whose filter is all +-127: 128 * 127 * depth crosses 2^24 between
    1000 and 1100 input channels, and the BLAS product moves to float64."""
    rng = np.random.default_rng(depth)
    weights = rng.choice([-127, 127], (3, 1, 1, depth))
    check_model(conv_model(np.int8, 2, (2, 3), depth, (1, 1), 3, filter_data=weights,
                           bias=False, seed=depth), seed=depth)
    assert fast_only(paths, "bind_int8_float_requantized")


@pytest.mark.parametrize("act", [Act.NONE, Act.RELU6])
@pytest.mark.parametrize("input_zp, output_zp", [(-128, -128), (127, 127), (0, -5)])
def test_conv_3x3_zero_points(paths, act, input_zp, output_zp):
    check_model(conv_model(np.int8, 2, (6, 5), 3, (3, 3), 5, padding=SAME, act=act,
                           input_zp=input_zp, output_zp=output_zp, seed=abs(input_zp)),
                seed=3)
    assert fast_only(paths, "bind_int8_float_requantized")


DW_CASES = [  # (batches, hw, depth, kernel, multiplier, stride, dilation, padding)
    (3, (6, 6), 4, (3, 3), 1, (1, 1), (1, 1), SAME),     # shared border rows and columns
    (2, (3, 3), 5, (3, 3), 1, (1, 1), (1, 1), SAME),
    (3, (1, 1), 2, (3, 3), 1, (1, 1), (1, 1), SAME),
    (2, (1, 2), 2, (3, 3), 1, (2, 2), (1, 1), SAME),
    (2, (9, 8), 3, (3, 3), 1, (2, 2), (1, 1), SAME),     # stride phases
    (2, (10, 11), 2, (3, 3), 1, (3, 2), (1, 1), VALID),
    (2, (11, 9), 3, (3, 2), 1, (1, 2), (2, 3), SAME),    # dilation
    (2, (13, 12), 2, (3, 3), 1, (2, 2), (2, 2), SAME),   # stride and dilation share a phase
    (2, (5, 7), 2, (5, 5), 1, (1, 1), (1, 1), SAME),     # filter larger than the image
    (2, (4, 4), 3, (4, 4), 1, (3, 3), (1, 1), SAME),     # odd padding after
    (2, (12, 12), 1, (3, 3), 8, (2, 2), (1, 1), SAME),   # person_detect's first op
    (3, (7, 6), 1, (2, 3), 3, (1, 2), (2, 1), VALID),
]


@pytest.mark.parametrize("case", range(len(DW_CASES)))
def test_depthwise_by_phase(paths, case):
    batches, hw, depth, kernel, multiplier, stride, dilation, padding = DW_CASES[case]
    act = [Act.NONE, Act.RELU6, Act.RELU][case % 3]
    check_model(dw_model(np.int8, batches, hw, depth, kernel, multiplier, stride, dilation,
                         padding, act, input_zp=[-128, 127, 3][case % 3], seed=case),
                seed=case)
    assert fast_only(paths, "bind_int8_by_phase")


@pytest.mark.parametrize("bias, by_phase", [(2**20, True), (2**24 - 128 * 127 * 9, False)])
def test_depthwise_large_bias(paths, bias, by_phase):
    """Filters of +-127 and a large bias: float32 sums while every partial sum stays below
    2^24, the int32 tap loop from there on - exact either way."""
    kernel, depth = (3, 3), 2
    weights = np.full((1, *kernel, depth), 127)
    weights[..., 1] = -127
    check_model(dw_model(np.int8, 2, (5, 5), depth, kernel, act=Act.NONE, input_zp=0,
                         filter_data=weights, bias_data=np.array([bias, -bias]),
                         filter_scale=np.array([1e-3, 1e-3]), out_scale=0.6,
                         seed=9), seed=9)
    assert (fast_only if by_phase else slow_only)(paths, "bind_int8_by_phase")
