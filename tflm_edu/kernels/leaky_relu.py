"""LEAKY_RELU: x for x > 0, alpha * x otherwise.

Mirrors tensorflow/lite/micro/kernels/leaky_relu.cc and leaky_relu_common.cc
(LeakyReluOpData, CalculateOpDataLeakyRelu), with the arithmetic of
reference_ops::LeakyRelu (float) and reference_ops::QuantizeLeakyRelu (int8, int16).

The quantized kernel holds two requantizations and picks one per element by the sign of
(x - input zero point): the identity (input_scale / output_scale) for values at or above
real 0, the slope (input_scale * alpha / output_scale) below it. Both ratios are computed
in double from the float32 scales and alpha, as the tflite-micro package (the oracle)
does: the source tree here multiplies and divides in float32 first and widens after, which
moves some exact rounding ties of int16 outputs (the tests pin such cases). A negative
alpha gives a negative multiplier; the
kernel multiplies by its magnitude and negates the product (the newer TFLM's rule, which
the source tree here has too). Alpha may also exceed 1 or be 0.

Neither zero point is checked, for int16 too (unlike RELU).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tflm_edu.kernels.kernel_api import Registration, ensure, ensure_quantized, unsupported_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule, inputs_then_output
from tflm_edu.kernels.fixedpoint import INT32_MIN
from tflm_edu.kernels.quantization_util import (multiply_by_quantized_multiplier,
                                                quantize_multiplier)
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType
from tflm_edu.schema.options import LeakyReluOptions
from tflm_edu.memory.layout import BUILTIN, KERNELS, c_struct, m

INPUT, OUTPUT = 0, 0
QUANTIZED_DTYPES = {TensorType.INT8: np.int8, TensorType.INT16: np.int16}


@dataclass
class LeakyReluOpData:
    output_multiplier_alpha: int = 0
    output_shift_alpha: int = 0
    output_multiplier_identity: int = 0
    output_shift_identity: int = 0
    input_zero_point: int = 0
    output_zero_point: int = 0


def init(context, node):
    return LeakyReluOpData()


def prepare(context, node):
    """CalculateOpDataLeakyRelu."""
    data: LeakyReluOpData = node.user_data
    params = node.builtin_data or LeakyReluOptions()
    ensure(len(node.inputs) == 1 and len(node.outputs) == 1,
           f"leaky relu takes 1 input and 1 output, got {len(node.inputs)} and "
           f"{len(node.outputs)}")
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    ensure(input is not None, "leaky relu needs an input tensor")
    ensure(input.type == output.type, "input and output types differ")
    # MatchingFlatSize in the C++ is only a DCHECK: a smaller output would be overrun.
    ensure(input.num_elements == output.num_elements,
           f"input {list(input.shape)} and output {list(output.shape)} differ in size")
    if input.type == TensorType.FLOAT32:
        return
    if input.type not in QUANTIZED_DTYPES:
        raise unsupported_type(node, input)
    ensure_quantized(input, QUANTIZED_DTYPES[input.type])
    ensure_quantized(output, QUANTIZED_DTYPES[input.type])
    data.input_zero_point, data.output_zero_point = input.zero_point, output.zero_point
    alpha = float(np.float32(params.alpha))
    alpha_multiplier = input.scale * alpha / output.scale
    identity_multiplier = input.scale / output.scale
    ensure(np.isfinite(alpha_multiplier) and np.isfinite(identity_multiplier),
           f"alpha {params.alpha} and the scales give no finite multiplier")
    data.output_multiplier_alpha, data.output_shift_alpha = quantize_multiplier(
        alpha_multiplier)
    data.output_multiplier_identity, data.output_shift_identity = quantize_multiplier(
        identity_multiplier)
    # A left shift of 31 or more is undefined in MultiplyByQuantizedMultiplier; negating the
    # multiplier -2^31 overflows.
    ensure(data.output_shift_alpha <= 30 and data.output_shift_identity <= 30,
           f"alpha {params.alpha} or input scale {input.scale} / output scale {output.scale} "
           f"is too large a ratio")
    ensure(data.output_multiplier_alpha != INT32_MIN, f"alpha {params.alpha} cannot be negated")


def eval(context, node):
    data: LeakyReluOpData = node.user_data
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    if input.type == TensorType.FLOAT32:
        params = node.builtin_data or LeakyReluOptions()
        result = leaky_relu_float(input.data, params.alpha)
    else:
        result = quantize_leaky_relu(input.data, data)
    output.data.reshape(-1)[...] = result.reshape(-1)


# ----------------------------------------------------------------------------- reference math


def leaky_relu_float(x, alpha):
    """reference_ops::LeakyRelu: val > 0 ? val : val * alpha, in float32 (so NaN and -0.0
    take the alpha branch)."""
    with np.errstate(invalid="ignore"):  # -inf * 0 is NaN, as in C
        return np.where(x > 0, x, x * np.float32(alpha)).astype(np.float32)


def quantize_leaky_relu(x, data: LeakyReluOpData):
    """reference_ops::QuantizeLeakyRelu: output zero point plus the value requantized by
    the identity or the alpha multiplier, clamped to the type."""
    info = np.iinfo(x.dtype)
    input_value = x.astype(np.int64) - data.input_zero_point
    identity = multiply_by_quantized_multiplier(
        input_value, data.output_multiplier_identity, data.output_shift_identity)
    alpha_multiplier = abs(data.output_multiplier_alpha)
    scaled_alpha = multiply_by_quantized_multiplier(input_value, alpha_multiplier,
                                                    data.output_shift_alpha)
    if data.output_multiplier_alpha < 0:
        scaled_alpha = -scaled_alpha
    unclamped = data.output_zero_point + np.where(input_value >= 0, identity, scaled_alpha)
    return np.clip(unclamped, info.min, info.max).astype(x.dtype)


def register_leaky_relu():
    return Registration("LEAKY_RELU", prepare=prepare, eval=eval, init=init, max_version=2)


# The C structs this kernel puts in the arena, member by member as TFLM declares them
# (tflm_edu.memory.layout lays them out for each target).
c_struct("TfLiteLeakyReluParams", BUILTIN, m("alpha", "float"))
c_struct("LeakyReluOpData", KERNELS + "leaky_relu.h", m("output_multiplier_alpha", "int32"),
         m("output_shift_alpha", "int32"), m("output_multiplier_identity", "int32"),
         m("output_shift_identity", "int32"), m("input_zero_point", "int32"),
         m("output_zero_point", "int32"))

SPEC = OpSpec(Op.LEAKY_RELU, register_leaky_relu, LeakyReluOptions,
              (TensorType.FLOAT32, *QUANTIZED_DTYPES),
              QuantizerRule(int8_version=1, int16_version=2),
              ArenaRecipe("TfLiteLeakyReluParams", "LeakyReluOpData", inputs_then_output(1)))
