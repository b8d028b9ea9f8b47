"""QUANTIZE: float32 -> int8/int16, or requantize one integer type/scale to another.

Mirrors tensorflow/lite/micro/kernels/quantize.cc and quantize_common.cc
(OpDataQuantizeReference, PrepareQuantizeReference, EvalQuantizeReference), with the
arithmetic of reference_ops::AffineQuantize (float input) and reference_ops::Requantize
(integer input).

From float, each value is q = round(x / scale) + zero_point, clamped to the output type:
the division is float32 (the double scale is cast back to float), the rounding is
TfLiteRound (halves away from zero). A quotient beyond the int32 range - also inf and
NaN - converts to INT32_MIN on TFLM's x86-64 host, and adding the zero point then wraps
around in 32 bits: so +inf quantizes to -128 with zero point 0, but to +127 with zero
point -1. This module reproduces that, byte for byte.

From an integer type, the value is re-expressed on the output scale with the fixed-point
multiplier input_scale / output_scale:
q_out = MultiplyByQuantizedMultiplier(q_in - zero_point_in) + zero_point_out, clamped.
The pairs TFLM implements: int8 -> int8/uint8/int16/int32, int16 -> int8/int16/int32,
int32 -> int8/int16, uint8 -> int8. Between int8 and uint8 with equal scales and zero
points 128 apart, the reference flips the top bit (x ^ 0x80) instead.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tflm_edu.errors import ModelError
from tflm_edu.kernels.kernel_api import Registration, ensure, ensure_quantized
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule, inputs_then_output
from tflm_edu.kernels.fixedpoint import wrap32
from tflm_edu.kernels.quantization_util import (multiply_by_quantized_multiplier,
                                                quantize_multiplier)
from tflm_edu.quantization import affine_quantize
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType, type_name
from tflm_edu.schema.options import QuantizeOptions
from tflm_edu.memory.layout import KERNELS, TYPES, c_struct, m

INPUT, OUTPUT = 0, 0

DTYPES = {TensorType.INT8: np.int8, TensorType.UINT8: np.uint8, TensorType.INT16: np.int16,
          TensorType.INT32: np.int32}

# input type -> the output types TFLM's Eval implements for it
SUPPORTED = {
    TensorType.FLOAT32: {TensorType.INT8, TensorType.INT16},
    TensorType.INT8: {TensorType.INT8, TensorType.UINT8, TensorType.INT16, TensorType.INT32},
    TensorType.INT16: {TensorType.INT8, TensorType.INT16, TensorType.INT32},
    TensorType.INT32: {TensorType.INT8, TensorType.INT16},
    TensorType.UINT8: {TensorType.INT8},
}


@dataclass
class QuantizationParams:
    """tflite::QuantizationParams: the output's zero point and (double) scale."""

    zero_point: int = 0
    scale: float = 0.0


@dataclass
class OpDataQuantizeReference:
    quantization_params: QuantizationParams
    requantize_output_multiplier: int = 0
    requantize_output_shift: int = 0
    input_zero_point: int = 0


def init(context, node):
    return OpDataQuantizeReference(QuantizationParams())


def prepare(context, node):
    data: OpDataQuantizeReference = node.user_data
    ensure(len(node.inputs) == 1, f"QUANTIZE takes 1 input, got {len(node.inputs)}")
    ensure(len(node.outputs) == 1, f"QUANTIZE has 1 output, got {len(node.outputs)}")
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    ensure(input is not None, "QUANTIZE needs an input tensor")
    if output.type not in SUPPORTED.get(input.type, ()):
        raise ModelError(f"QUANTIZE from {type_name(input.type)} to {type_name(output.type)} "
                         f"is not supported (TFLM implements "
                         f"{_supported_pairs_text()})")
    ensure(input.num_elements == output.num_elements,
           f"input {list(input.shape)} and output {list(output.shape)} differ in size")
    # Per-channel quantization is not supported: one scale for the whole output.
    ensure(output.quantization is not None and len(output.quantization.scale) == 1,
           "QUANTIZE needs an output with exactly one scale (per-tensor quantization)")
    ensure_quantized(output, DTYPES[output.type])
    if input.type != TensorType.FLOAT32:
        ensure_quantized(input, DTYPES[input.type])
        # The scale ratio in double, as the C++.
        effective_scale = input.scale / output.scale
        data.requantize_output_multiplier, data.requantize_output_shift = \
            quantize_multiplier(effective_scale)
        ensure(data.requantize_output_shift <= 30,
               f"input scale / output scale = {effective_scale:g} is too large a ratio")
        data.input_zero_point = input.zero_point
    data.quantization_params.zero_point = output.zero_point
    data.quantization_params.scale = output.scale


def _supported_pairs_text() -> str:
    return ", ".join(f"{type_name(i)} -> {'/'.join(sorted(type_name(o) for o in outs))}"
                     for i, outs in SUPPORTED.items())


def eval(context, node):
    data: OpDataQuantizeReference = node.user_data
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    out_dtype = DTYPES[output.type]
    if input.type == TensorType.FLOAT32:
        result = affine_quantize(input.data, data.quantization_params.scale,
                                 data.quantization_params.zero_point, out_dtype)
    else:
        result = requantize(input.data, data.requantize_output_multiplier,
                            data.requantize_output_shift, data.input_zero_point,
                            data.quantization_params.zero_point, out_dtype)
    output.data.reshape(-1)[...] = result.reshape(-1)


# ----------------------------------------------------------------------------- reference math


def requantize(x, multiplier, shift, input_zero_point, output_zero_point, dtype):
    """reference_ops::Requantize."""
    same_scale = multiplier == 1 << 30 and shift == 1
    zero_point_diff = input_zero_point - output_zero_point
    if same_scale and ((x.dtype == np.int8 and dtype == np.uint8 and zero_point_diff == -128)
                       or (x.dtype == np.uint8 and dtype == np.int8 and zero_point_diff == 128)):
        return (x.view(np.uint8) ^ 0x80).view(dtype)
    input = wrap32(x.astype(np.int64) - input_zero_point)
    output = wrap32(multiply_by_quantized_multiplier(input, multiplier, shift)
                        + output_zero_point)
    info = np.iinfo(dtype)
    return np.clip(output, info.min, info.max).astype(dtype)


def register_quantize():
    return Registration("QUANTIZE", prepare=prepare, eval=eval, init=init, max_version=6)


# The C structs this kernel puts in the arena, member by member as TFLM declares them
# (tflm_edu.memory.layout lays them out for each target).
c_struct("QuantizationParams", TYPES, m("zero_point", "int32"), m("scale", "double"))
c_struct("OpDataQuantizeReference", KERNELS + "quantize.h",
         m("quantization_params", "QuantizationParams"),
         m("requantize_output_multiplier", "int32"), m("requantize_output_shift", "int"),
         m("input_zero_point", "int32"))

SPEC = OpSpec(Op.QUANTIZE, register_quantize, QuantizeOptions, tuple(SUPPORTED),
              QuantizerRule(int8_version=1, int16_version=2),
              ArenaRecipe(None, "OpDataQuantizeReference", inputs_then_output(1)))
