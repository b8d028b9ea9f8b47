"""MUL: output = activation(input1 * input2), with numpy-style broadcasting.

Mirrors tensorflow/lite/micro/kernels/mul.cc and mul_common.cc (OpDataMul,
CalculateOpDataMul, EvalMulQuantizedReference, EvalMulFloatReference), with the
arithmetic of reference_ops::Mul / BroadcastMul4DSlow (float32, int32) and
reference_integer_ops::Mul / BroadcastMul4DSlow (int8, int16).

Quantized MUL is simpler than ADD: a product of two quantized values is already on the
scale scale1 * scale2, so one multiplier rescales it to the output:

    acc    = (q1 - zero_point1) * (q2 - zero_point2)             (int32)
    output = MultiplyByQuantizedMultiplier(acc, scale1 * scale2 / scale_out) + zero_point_out
             clamped to the fused activation's range

Broadcasting and the shape checks are ADD's (see add.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tflm_edu.kernels.add import binary_op_tensors
from tflm_edu.kernels.kernel_api import Registration, ensure, ensure_quantized, unsupported_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule, inputs_then_output
from tflm_edu.kernels.fixedpoint import wrap32
from tflm_edu.kernels.quantization_util import (activation_function_with_min_max,
                                                calculate_activation_range_float,
                                                calculate_activation_range_int32,
                                                calculate_activation_range_quantized,
                                                quantize_multiplier, requantize_to_output)
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType
from tflm_edu.schema.options import MulOptions
from tflm_edu.memory.layout import BUILTIN, KERNELS, c_struct, m

INPUT1, INPUT2, OUTPUT = 0, 1, 0

QUANTIZED_DTYPES = {TensorType.INT8: np.int8, TensorType.INT16: np.int16}


@dataclass
class OpDataMul:
    input1_zero_point: int = 0
    input2_zero_point: int = 0
    output_activation_min: int = 0  # also the int32 path's range
    output_activation_max: int = 0
    output_zero_point: int = 0
    output_multiplier: int = 0
    output_shift: int = 0
    output_activation_min_f32: float = 0.0
    output_activation_max_f32: float = 0.0


def init(context, node):
    return OpDataMul()


def prepare(context, node):
    data: OpDataMul = node.user_data
    params = node.builtin_data or MulOptions()
    input1, input2, output = binary_op_tensors(context, node)
    activation = params.fused_activation_function

    if output.type in QUANTIZED_DTYPES:
        _prepare_quantized(data, activation, input1, input2, output)
    elif output.type == TensorType.INT32:
        data.output_activation_min, data.output_activation_max = \
            calculate_activation_range_int32(activation)
    elif output.type == TensorType.FLOAT32:
        data.output_activation_min_f32, data.output_activation_max_f32 = \
            calculate_activation_range_float(activation)
    else:
        raise unsupported_type(node, output)


def _prepare_quantized(data, activation, input1, input2, output):
    dtype = QUANTIZED_DTYPES[output.type]
    for tensor in (input1, input2, output):
        ensure_quantized(tensor, dtype)
    data.output_activation_min, data.output_activation_max = calculate_activation_range_quantized(
        activation, output.scale, output.zero_point, dtype)
    real_multiplier = input1.scale * input2.scale / output.scale  # in double, as the C++
    data.output_multiplier, data.output_shift = quantize_multiplier(real_multiplier)
    # A left shift of 31 or more would shift every bit out of an int32 (undefined in C++).
    ensure(data.output_shift <= 30,
           f"rescale factor {real_multiplier:g} = scale1 * scale2 / scale_out is too large")
    data.input1_zero_point = input1.zero_point
    data.input2_zero_point = input2.zero_point
    data.output_zero_point = output.zero_point
    if output.type == TensorType.INT16:
        ensure(data.input1_zero_point == data.input2_zero_point == data.output_zero_point == 0,
               "int16 MUL needs zero points of 0")


def eval(context, node):
    data: OpDataMul = node.user_data
    input1, input2 = context.get_input(node, INPUT1), context.get_input(node, INPUT2)
    output = context.get_output(node, OUTPUT)
    if output.type == TensorType.FLOAT32:
        result = mul_float(input1.data, input2.data, data.output_activation_min_f32,
                           data.output_activation_max_f32)
    elif output.type == TensorType.INT32:
        result = mul_int32(input1.data, input2.data, data.output_activation_min,
                           data.output_activation_max)
    else:
        result = mul_quantized(input1.data, input2.data, -data.input1_zero_point,
                               -data.input2_zero_point, data.output_zero_point,
                               data.output_multiplier, data.output_shift,
                               data.output_activation_min, data.output_activation_max,
                               QUANTIZED_DTYPES[output.type])
    output.data[...] = result.reshape(output.shape)


# ----------------------------------------------------------------------------- reference math


def mul_float(x1, x2, act_min, act_max):
    """reference_ops::Mul<float>: one float32 product per element, then the clamp."""
    with np.errstate(over="ignore", invalid="ignore"):  # inf and NaN are values here
        product = np.multiply(x1, x2, dtype=np.float32)
    return activation_function_with_min_max(product, act_min, act_max)


def mul_int32(x1, x2, act_min, act_max):
    """reference_ops::Mul<int32_t>: WrappingMul (the low 32 bits of the product), clamped."""
    product = wrap32(x1.astype(np.int64) * x2.astype(np.int64))
    return np.clip(product, act_min, act_max).astype(np.int32)


def mul_quantized(x1, x2, input1_offset, input2_offset, output_offset, multiplier, shift,
                  act_min, act_max, dtype):
    """reference_integer_ops::MulElementwise (and the broadcast lambda, which is the same
    per pair): offset both inputs, multiply in int32, requantize_to_output, clamp."""
    input1_val = x1.astype(np.int64) + input1_offset
    input2_val = x2.astype(np.int64) + input2_offset
    return requantize_to_output(input1_val * input2_val, multiplier, shift, output_offset,
                      act_min, act_max, dtype)


def count_macs(context, node):
    return context.get_output(node, OUTPUT).num_elements


def register_mul():
    return Registration("MUL", prepare=prepare, eval=eval, init=init, max_version=8,
                        count_macs=count_macs)


# The C structs this kernel puts in the arena, member by member as TFLM declares them
# (tflm_edu.memory.layout lays them out for each target).
c_struct("TfLiteMulParams", BUILTIN, m("activation", "enum"))
c_struct("OpDataMul", KERNELS + "mul.h", m("input1_zero_point", "int32"),
         m("input2_zero_point", "int32"), m("output_activation_min", "int32"),
         m("output_activation_max", "int32"), m("output_zero_point", "int32"),
         m("output_multiplier", "int32"), m("output_shift", "int"),
         m("output_activation_min_f32", "float"), m("output_activation_max_f32", "float"))

SPEC = OpSpec(Op.MUL, register_mul, MulOptions,
              (TensorType.FLOAT32, TensorType.INT8, TensorType.INT16, TensorType.INT32),
              QuantizerRule(int8_version=2, int16_version=4),
              ArenaRecipe("TfLiteMulParams", "OpDataMul", inputs_then_output(2)))
