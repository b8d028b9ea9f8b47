"""Checks for the exercises of notebooks/12_quantization.ipynb.

12.1 quantize and dequantize one number by hand (check_quantize_by_hand)
12.2 scale and zero point from a calibrated range (check_scale_zero_point)
12.3 a real rescale as a Q31 multiplier and a shift (check_multiplier_shift)
12.4 the layer with the worst SQNR (check_worst_layer)
12.5 a quantization that fixes it (check_sqnr_fix)
"""
from __future__ import annotations

import numpy as np

from tflm_edu.exercises.core import Verdict, answered, compare

ONE_BIT_DB = 6.02   # each bit of resolution is worth 20 log10(2) dB of SQNR


def check_quantize_by_hand(code, back, value, scale, zero_point) -> Verdict:
    """The int8 code of the real number `value` (round, add the zero point, clamp to
    [-128, 127]) and the real number that code stands for."""
    from tflm_edu.quantization import affine_dequantize, affine_quantize
    if not answered(code) or not answered(back):
        return Verdict(None, "code = round(value / scale) + zero_point, clamped to [-128, 127]; "
                             "back = scale * (code - zero_point).")
    expected_code = int(affine_quantize(np.float32(value), scale, zero_point))
    expected_back = float(affine_dequantize(np.int8(expected_code), scale, zero_point))
    if not compare(code, expected_code, hint="").correct:
        clamped = " - and clamp it to [-128, 127]" if expected_code in (-128, 127) else ""
        return Verdict(False, f"the code of {value} is not {code}: divide by the scale, round "
                              f"to the nearest integer, then add the zero point{clamped}.")
    if not compare(back, expected_back, hint="", rel=1e-5, abs_tol=1e-7).correct:
        return Verdict(False, f"the code {expected_code} is right; back to a real number it "
                              f"is scale * (code - zero_point), not {back}.")
    error = abs(expected_back - float(value))
    where = ("within half a step" if error <= scale / 2 + 1e-7 else
             "clamped: outside the range the error grows without bound")
    return Verdict(True, f"{value} -> code {expected_code} -> {expected_back:.6g}, off by "
                         f"{error:.3g} ({where}; a step is {scale:.4g}).")


def check_scale_zero_point(scale, zero_point, tensor_range) -> Verdict:
    """The scale and zero point an int8 tensor gets for `tensor_range` (its .min and .max,
    as calibrate() measured them): the range widened to include 0, spread over 255 steps,
    and the zero point that lands on 0.0."""
    from tflm_edu.convert.quantize import asymmetric_params
    if not answered(scale) or not answered(zero_point):
        return Verdict(None, "widen [min, max] to include 0; scale = (max - min) / 255; "
                             "zero_point = round(-128 - min / scale).")
    lo, hi = float(tensor_range.min), float(tensor_range.max)
    expected_scale, expected_zero = asymmetric_params(lo, hi)
    if not compare(scale, expected_scale, hint="", rel=1e-4).correct:
        return Verdict(False, f"scale {scale} is not right: the 256 codes make 255 steps "
                              f"across [min(min, 0), max(max, 0)].")
    if not compare(zero_point, expected_zero, hint="").correct:
        return Verdict(False, f"the scale is right; the zero point is the code of 0.0: "
                              f"-128 + (0 - min) / scale, rounded - not {zero_point}.")
    return Verdict(True, f"[{lo:.4g}, {hi:.4g}] -> scale {expected_scale:.6g}, zero point "
                         f"{expected_zero}: the code {expected_zero} means exactly 0.0.")


def check_multiplier_shift(multiplier, shift, real) -> Verdict:
    """TFLM's QuantizeMultiplier of `real`: real = multiplier * 2^(shift - 31) with the
    multiplier a Q31 integer in [2^30, 2^31)."""
    from tflm_edu.kernels.quantization_util import quantize_multiplier
    if not answered(multiplier) or not answered(shift):
        return Verdict(None, "math.frexp(real) gives (fraction, exponent) with real = fraction "
                             "* 2^exponent and fraction in [0.5, 1): multiplier = "
                             "round(fraction * 2^31), shift = exponent.")
    expected_multiplier, expected_shift = quantize_multiplier(real)
    if not compare(shift, expected_shift, hint="").correct:
        return Verdict(False, f"shift {shift} is not right: it is the power of two that brings "
                              f"{real:.6g} into [0.5, 1) (math.frexp's exponent).")
    if not compare(multiplier, expected_multiplier, hint="").correct:
        return Verdict(False, f"the shift is right; the multiplier is the fraction in [0.5, 1) "
                              f"times 2^31, rounded to an integer - not {multiplier}.")
    return Verdict(True, f"{real:.8g} = {expected_multiplier} * 2^({expected_shift} - 31): an "
                         f"int32 multiply and shifts, no float on the MCU, off by "
                         f"{abs(expected_multiplier * 2.0 ** (expected_shift - 31) - real):.2g}.")


def worst_layer(report):
    """The LayerSQNR with the lowest SQNR of a QuantizationReport."""
    return min(report.layers, key=lambda layer: layer.sqnr_db)


def check_worst_layer(op_index, report) -> Verdict:
    """The index of the op whose output has the lowest SQNR in `report`."""
    worst = worst_layer(report)
    if isinstance(op_index, str):
        return Verdict(False, "give the op's index (the number before its name in the plot "
                              "or report.layers[k].op_index), not its name.")
    others = sorted(layer.sqnr_db for layer in report.layers)[1:]
    return compare(op_index, worst.op_index,
                   hint="look at report.layers: each has op_index, op_name and sqnr_db; the "
                        "lowest sqnr_db is the worst layer.",
                   right=f"op {worst.op_index}, {worst.op_name}, at {worst.sqnr_db:.1f} dB "
                         f"(the next worst {others[0]:.1f} dB)."
                         if others else f"op {worst.op_index}, {worst.op_name}.")


def check_sqnr_fix(fixed_model, float_model, report, x) -> Verdict:
    """`fixed_model`, a quantization of `float_model`, must raise the SQNR of the op that is
    worst in `report` by at least one bit's worth (6 dB), measured on `x`."""
    from tflm_edu.convert.report import layer_sqnr
    worst = worst_layer(report)
    if not answered(fixed_model):
        return Verdict(None, "the worst op saw too narrow a range while calibrating: quantize "
                             "float_model again with calibration data that looks like what "
                             "the model will really see.")
    try:
        layers = layer_sqnr(float_model, fixed_model, x)
    except Exception as e:   # the learner's model: report it, never raise
        return Verdict(False, f"could not compare it with the float model: "
                              f"{type(e).__name__}: {e}")
    now = next((layer for layer in layers if layer.op_index == worst.op_index), None)
    if now is None:
        return Verdict(False, f"op {worst.op_index} of the float model has no int8 twin in "
                              f"your model: quantize float_model itself.")
    gained = now.sqnr_db - worst.sqnr_db
    if gained < ONE_BIT_DB:
        return Verdict(False, f"op {worst.op_index} is at {now.sqnr_db:.1f} dB, "
                              f"{gained:+.1f} dB from before: not yet a bit better. Which "
                              f"samples did you calibrate on?")
    lowest = min(layer.sqnr_db for layer in layers)
    return Verdict(True, f"op {worst.op_index} went from {worst.sqnr_db:.1f} to "
                         f"{now.sqnr_db:.1f} dB (+{gained:.1f} dB, {gained / ONE_BIT_DB:.1f} "
                         f"bits); the worst layer is now at {lowest:.1f} dB. Calibration data "
                         f"must cover everything the model will see.")
