"""HARD_SWISH: x * relu6(x + 3) / 6.

Mirrors tensorflow/lite/micro/kernels/hard_swish.cc and hard_swish_common.cc
(HardSwishPrepare; the OpData is tflite::HardSwishParams of internal/types.h), with the
arithmetic of reference_ops::HardSwish (float and int8).

The int8 kernel works in 16-bit fixed point throughout (gemmlowp's int16 functions):
the input, less its zero point, is moved up 7 bits ("hires", scale input_scale / 128);
from there one 16-bit multiplier takes it to the output scale (before a final right
shift), and another to the "reluish" scale where 3.0 is 32768, which saturates at +-3 and
is mapped from [-1, 1] onto [0, 1]. Their product (a doubling high multiply that
truncates, where the others round) is x * relu6(x + 3) / 6 on the output scale.
Both multipliers are computed in double from the float32 scales, as the tflite-micro
package (the oracle) does; the TFLM source tree here divides in float32 first.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tflm_edu.kernels.kernel_api import Registration, ensure, ensure_quantized, unsupported_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule, inputs_then_output
from tflm_edu.kernels.quantization_util import quantize_multiplier, wrap16
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType
from tflm_edu.memory.layout import TYPES, c_struct, m

INPUT, OUTPUT = 0, 0
INT16_MIN, INT16_MAX = -(1 << 15), (1 << 15) - 1
ALL_INT8 = np.arange(-128, 128, dtype=np.int8)


@dataclass
class HardSwishParams:
    input_zero_point: int = 0
    output_zero_point: int = 0
    reluish_multiplier_fixedpoint_int16: int = 0
    reluish_multiplier_exponent: int = 0
    output_multiplier_fixedpoint_int16: int = 0
    output_multiplier_exponent: int = 0
    # Not in TFLM: the output for each of the 256 int8 inputs (index x + 128).
    output_table: np.ndarray | None = None


def init(context, node):
    return HardSwishParams()


def prepare(context, node):
    """HardSwishPrepare."""
    params: HardSwishParams = node.user_data
    ensure(len(node.inputs) == 1 and len(node.outputs) == 1,
           f"hard swish takes 1 input and 1 output, got {len(node.inputs)} and "
           f"{len(node.outputs)}")
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    ensure(input is not None, "hard swish needs an input tensor")
    # The C++ checks neither (Eval writes the input type into the output): refused here,
    # as a smaller output would be overrun.
    ensure(input.type == output.type, "input and output types differ")
    ensure(input.num_elements == output.num_elements,
           f"input {list(input.shape)} and output {list(output.shape)} differ in size")
    if input.type == TensorType.FLOAT32:
        return
    if input.type != TensorType.INT8:
        raise unsupported_type(node, input)
    ensure_quantized(input, np.int8)
    ensure_quantized(output, np.int8)
    params.input_zero_point, params.output_zero_point = input.zero_point, output.zero_point
    hires_input_scale = (1.0 / 128.0) * input.scale
    reluish_scale = 3.0 / 32768.0
    multiplier, params.output_multiplier_exponent = quantize_multiplier(
        hires_input_scale / output.scale)
    params.output_multiplier_fixedpoint_int16 = down_scale_int32_to_int16_multiplier(multiplier)
    ensure(params.output_multiplier_exponent <= 0,
           f"input scale {input.scale:g} is too large for output scale {output.scale:g} "
           f"(at most 128 times)")
    multiplier, params.reluish_multiplier_exponent = quantize_multiplier(
        hires_input_scale / reluish_scale)
    params.reluish_multiplier_fixedpoint_int16 = down_scale_int32_to_int16_multiplier(
        multiplier)
    # SaturatingLeftShift shifts 1 by (exponent - 1): 31 or more is undefined.
    ensure(params.reluish_multiplier_exponent <= 31,
           f"input scale {input.scale:g} is too large for the int8 kernel")
    params.output_table = hard_swish_int8(ALL_INT8, params)


def down_scale_int32_to_int16_multiplier(multiplier_int32: int) -> int:
    """DownScaleInt32ToInt16Multiplier: the Q31 multiplier rounded to Q15 (the top of the
    range saturates to 32767)."""
    rounding_offset = 1 << 15
    if multiplier_int32 >= (1 << 31) - 1 - rounding_offset:
        return INT16_MAX
    return (multiplier_int32 + rounding_offset) >> 16


def eval(context, node):
    params: HardSwishParams = node.user_data
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    if input.type == TensorType.FLOAT32:
        result = hard_swish_float(input.data)
    else:
        result = params.output_table[input.data.astype(np.intp) + 128]
    output.data.reshape(-1)[...] = result.reshape(-1)


# ----------------------------------------------------------------------------- reference math


def hard_swish_float(x):
    """reference_ops::HardSwish (float): in * min(6, max(0, in + 3)) / 6 in float32, with
    std::min / std::max (a NaN in + 3 gives 0, so -inf gives NaN and NaN stays NaN)."""
    x = np.asarray(x, np.float32)
    f32 = np.float32
    with np.errstate(invalid="ignore", over="ignore"):
        shifted = x + f32(3)
        relu = np.where(f32(0) < shifted, shifted, f32(0))
        relu6 = np.where(relu < f32(6), relu, f32(6))
        return ((x * relu6) / f32(6)).astype(np.float32)


def saturating_rounding_doubling_high_mul_int16(a, b):
    """gemmlowp's SaturatingRoundingDoublingHighMul on int16: (a * b + nudge) / 2^15,
    truncated; -32768 * -32768 saturates to 32767."""
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 14, 1 - (1 << 14))
    high = _divide_truncating(ab + nudge, 1 << 15)
    return np.where((a == INT16_MIN) & (b == INT16_MIN), INT16_MAX, wrap16(high))


def saturating_doubling_high_mul_int16(a, b):
    """SaturatingDoublingHighMul (hard_swish.h): a * b / 2^15 truncated toward zero, no
    rounding nudge (like the SQDMULH instruction)."""
    high = _divide_truncating(a * b, 1 << 15)
    return np.where((a == INT16_MIN) & (b == INT16_MIN), INT16_MAX, wrap16(high))


def _divide_truncating(x, divisor):
    return np.where(x >= 0, x // divisor, -((-x) // divisor))


def rounding_divide_by_pot_int16(x, exponent: int):
    """gemmlowp's RoundingDivideByPOT on int16: as the int32 one, except that the mask
    (2^exponent - 1) is itself an int16 - from exponent 16 on it is -1, and every x >= 0
    comes out 1 (the tests pin it)."""
    mask = wrap16((1 << exponent) - 1)
    remainder = wrap16(x & mask)
    threshold = (mask >> 1) + (x < 0)
    return wrap16((x >> exponent) + (remainder > threshold))


def saturating_left_shift(value, amount: int):
    """SaturatingLeftShift: value * 2^amount, clamped to int16."""
    return np.clip(value * (1 << amount), INT16_MIN, INT16_MAX)


def hard_swish_int8(x, params: HardSwishParams):
    """reference_ops::HardSwish (quantized), every step in int16."""
    input_value = wrap16(x.astype(np.int64) - params.input_zero_point)
    hires = wrap16(input_value * (1 << 7))
    on_preshift_output_scale = saturating_rounding_doubling_high_mul_int16(
        hires, params.output_multiplier_fixedpoint_int16)
    exponent = params.reluish_multiplier_exponent
    reluish = hires
    if exponent > 0:  # all but the last bit of a left shift, then the multiplier, then it
        reluish = saturating_left_shift(reluish, exponent - 1)
    reluish = saturating_rounding_doubling_high_mul_int16(
        reluish, params.reluish_multiplier_fixedpoint_int16)
    if exponent > 0:
        reluish = saturating_left_shift(reluish, 1)
    if exponent < 0:
        reluish = rounding_divide_by_pot_int16(reluish, -exponent)
    reluish = wrap16((reluish + (1 << 15)) >> 1)  # [-1, 1] -> [0, 1]
    preshift_output = saturating_doubling_high_mul_int16(reluish, on_preshift_output_scale)
    output = rounding_divide_by_pot_int16(preshift_output, -params.output_multiplier_exponent)
    output = wrap16(output + params.output_zero_point)
    return np.clip(output, -128, 127).astype(np.int8)


def register_hard_swish():
    return Registration("HARD_SWISH", prepare=prepare, eval=eval, init=init, max_version=1)


# The C structs this kernel puts in the arena, member by member as TFLM declares them
# (tflm_edu.memory.layout lays them out for each target).
c_struct("HardSwishParams", TYPES, m("input_zero_point", "int16"),
         m("output_zero_point", "int16"), m("reluish_multiplier_fixedpoint_int16", "int16"),
         m("reluish_multiplier_exponent", "int"),
         m("output_multiplier_fixedpoint_int16", "int16"),
         m("output_multiplier_exponent", "int"))

SPEC = OpSpec(Op.HARD_SWISH, register_hard_swish, None, (TensorType.FLOAT32, TensorType.INT8),
              QuantizerRule(int8_version=1),
              ArenaRecipe(None, "HardSwishParams", inputs_then_output(1)))
