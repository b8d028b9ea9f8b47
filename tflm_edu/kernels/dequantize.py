"""DEQUANTIZE: int8 / int16 / uint8 -> float32, x = scale * (q - zero_point).

Mirrors tensorflow/lite/micro/kernels/dequantize.cc and dequantize_common.cc
(DequantizeOpData, DequantizePrepare), with the arithmetic of reference_ops::Dequantize:
the scale is held as a double, (q - zero_point) is an int32, their product is formed in
double - exactly, since a 24-bit float32 mantissa times a 17-bit integer fits double's
53 bits - and rounded once to float32.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tflm_edu.kernels.kernel_api import Registration, ensure, unsupported_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule, inputs_then_output
from tflm_edu.quantization import affine_dequantize
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType
from tflm_edu.schema.options import DequantizeOptions
from tflm_edu.memory.layout import KERNELS, TYPES, c_struct, m

INPUT, OUTPUT = 0, 0

QUANTIZED_DTYPES = {TensorType.INT8: np.int8, TensorType.INT16: np.int16,
                    TensorType.UINT8: np.uint8}


@dataclass
class DequantizationParams:
    """tflite::DequantizationParams."""

    scale: float = 0.0  # double in the C++
    zero_point: int = 0


@dataclass
class DequantizeOpData:
    quantization_params: DequantizationParams
    output_multiplier: int = 0  # unused by the reference kernel (kept as in TFLM)
    output_shift: int = 0
    output_zero_point: int = 0


def init(context, node):
    return DequantizeOpData(DequantizationParams())


def prepare(context, node):
    data: DequantizeOpData = node.user_data
    ensure(len(node.inputs) == 1, f"DEQUANTIZE takes 1 input, got {len(node.inputs)}")
    ensure(len(node.outputs) == 1, f"DEQUANTIZE has 1 output, got {len(node.outputs)}")
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    ensure(input is not None, "DEQUANTIZE needs an input tensor")
    if input.type not in QUANTIZED_DTYPES:
        raise unsupported_type(node, input)
    ensure(output.type == TensorType.FLOAT32,
           f"DEQUANTIZE writes float32, but the output is {TensorType(output.type).name}")
    ensure(input.num_elements == output.num_elements,
           f"input {list(input.shape)} and output {list(output.shape)} differ in size")
    ensure(input.quantization is not None and len(input.quantization.scale) > 0,
           f"tensor {input.index} ({input.name!r}) carries no quantization parameters")
    ensure(math.isfinite(input.scale) and input.scale > 0,
           f"tensor {input.index} ({input.name!r}) has scale {input.scale}; a scale must be "
           f"positive and finite")
    info = np.iinfo(QUANTIZED_DTYPES[input.type])
    ensure(info.min <= input.zero_point <= info.max,
           f"tensor {input.index} ({input.name!r}) has zero point {input.zero_point}, outside "
           f"[{info.min}, {info.max}]")
    # TFLM reads params.scale/zero_point: with several (per-channel) scales, the first.
    data.quantization_params.zero_point = input.zero_point
    data.quantization_params.scale = input.scale
    data.output_zero_point = output.zero_point


def eval(context, node):
    data: DequantizeOpData = node.user_data
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    result = affine_dequantize(input.data, data.quantization_params.scale,
                        data.quantization_params.zero_point)
    output.data.reshape(-1)[...] = result.reshape(-1)


def register_dequantize():
    return Registration("DEQUANTIZE", prepare=prepare, eval=eval, init=init, max_version=8)


# The C structs this kernel puts in the arena, member by member as TFLM declares them
# (tflm_edu.memory.layout lays them out for each target).
c_struct("DequantizationParams", TYPES, m("scale", "double"), m("zero_point", "int32"))
c_struct("DequantizeOpData", KERNELS + "dequantize.h",
         m("quantization_params", "DequantizationParams"), m("output_multiplier", "int32"),
         m("output_shift", "int"), m("output_zero_point", "int32"))

SPEC = OpSpec(Op.DEQUANTIZE, register_dequantize, DequantizeOptions, tuple(QUANTIZED_DTYPES),
              QuantizerRule(int8_version=2, int16_version=3),
              ArenaRecipe(None, "DequantizeOpData", inputs_then_output(1)))
