"""SUB by TFLM's reference loops: one pair of values at a time, broadcast or not.

Mirrors tensorflow/lite/kernels/internal/reference/sub.h (SubElementwise and the
BroadcastQuantSubSlow lambda for int8 and int16; SubWithActivation and BroadcastSubSlow for
float32 and int32), called as EvalSubQuantized and EvalSub in
tensorflow/lite/micro/kernels/sub.cc do. Init, Prepare and OpDataSub are the optimized
kernel's (tflm_edu.kernels.sub).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from tflm_edu.kernels import sub as optimized
from tflm_edu.kernels.fixedpoint import wrap32
from tflm_edu.kernels.kernel_api import unsupported_type
from tflm_edu.kernels.quantization_util import (
    activation_function_with_min_max, calculate_activation_range_float,
    calculate_activation_range_int32, multiply_by_quantized_multiplier_smaller_than_one_exp)
from tflm_edu.kernels.reference.add import add_params_quantized
from tflm_edu.kernels.reference.broadcast_loop import (broadcast_binary_op_simple, element_wise,
                                                       extended_shape)
from tflm_edu.kernels.reference.types import ArithmeticParams
from tflm_edu.schema.enums import TensorType
from tflm_edu.schema.options import SubOptions

INPUT1, INPUT2, OUTPUT = 0, 1, 0


# -------------------------------------------------------------------------------------- sub.cc


def eval(context, node):
    """SubEval. EvalSub (float32, int32) takes the broadcast loop when OpDataSub says the
    shapes differ; EvalSubQuantized (int8, int16) asks ProcessBroadcastShapes instead."""
    data = node.user_data
    params = node.builtin_data or SubOptions()
    input1, input2 = context.get_input(node, INPUT1), context.get_input(node, INPUT2)
    output = context.get_output(node, OUTPUT)
    if output.type == TensorType.FLOAT32:
        act_min, act_max = calculate_activation_range_float(params.fused_activation_function)
        op_params = ArithmeticParams(float_activation_min=act_min, float_activation_max=act_max)
        sub_pair, broadcast = sub_with_activation_float, data.requires_broadcast
    elif output.type == TensorType.INT32:
        act_min, act_max = calculate_activation_range_int32(params.fused_activation_function)
        op_params = ArithmeticParams(quantized_activation_min=act_min,
                                     quantized_activation_max=act_max)
        sub_pair, broadcast = sub_with_activation_int32, data.requires_broadcast
    elif output.type in (TensorType.INT8, TensorType.INT16):
        op_params = add_params_quantized(data)   # the same ArithmeticParams fields as ADD's
        sub_pair = sub_func
        broadcast = process_broadcast_shapes(input1.shape, input2.shape)
    else:
        raise unsupported_type(node, output)
    loop = broadcast_binary_op_simple if broadcast else element_wise
    loop(input1.data, input2.data, output.data, lambda a, b: sub_pair(a, b, op_params))


def process_broadcast_shapes(shape1, shape2) -> bool:
    """ProcessBroadcastShapes' answer: broadcast unless the shapes are equal once extended
    to the same rank with leading 1s ([3] and [1, 3] need no broadcast)."""
    dims_count = max(len(shape1), len(shape2))
    return extended_shape(dims_count, shape1) != extended_shape(dims_count, shape2)


def register_sub():
    """Register_SUB: the optimized init and prepare, the reference eval."""
    return replace(optimized.register_sub(), eval=eval, kernels="reference")


# ----------------------------------------------------------------------------- reference/sub.h


def sub_func(x, y, params) -> int:
    """The body of SubElementwise and BroadcastQuantSubSlow: both inputs onto a common scale
    (offset, shift left for head-room, rescale), subtract, rescale to the output, offset,
    clamp."""
    input1_val = params.input1_offset + int(x)
    input2_val = params.input2_offset + int(y)
    shifted_input1_val = input1_val * (1 << params.left_shift)
    shifted_input2_val = input2_val * (1 << params.left_shift)
    scaled_input1_val = int(multiply_by_quantized_multiplier_smaller_than_one_exp(
        shifted_input1_val, params.input1_multiplier, params.input1_shift))
    scaled_input2_val = int(multiply_by_quantized_multiplier_smaller_than_one_exp(
        shifted_input2_val, params.input2_multiplier, params.input2_shift))
    raw_sub = scaled_input1_val - scaled_input2_val
    raw_output = int(multiply_by_quantized_multiplier_smaller_than_one_exp(
        raw_sub, params.output_multiplier, params.output_shift)) + params.output_offset
    clamped_output = min(params.quantized_activation_max,
                         max(params.quantized_activation_min, raw_output))
    return clamped_output


@np.errstate(over="ignore", invalid="ignore")  # inf and NaN are values here, as in C++
def sub_with_activation_float(x, y, params):
    """SubWithActivation<float>: ActivationFunctionWithMinMax(x - y, min, max)."""
    return activation_function_with_min_max(x - y, params.float_activation_min,
                                            params.float_activation_max)[()]


def sub_with_activation_int32(x, y, params) -> int:
    """SubWithActivation<int32_t>: a 32-bit difference (wrapping, as it does on the
    targets), clamped to the fused activation's range."""
    difference = int(wrap32(int(x) - int(y)))
    return min(max(difference, params.quantized_activation_min), params.quantized_activation_max)
