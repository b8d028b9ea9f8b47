"""ADD by TFLM's reference loops: one pair of values at a time, broadcast or not.

Mirrors tensorflow/lite/kernels/internal/reference/integer_ops/add.h (AddFunc, Add,
BroadcastAdd4DSlow for int8; int16 takes the same general-scale path) and
reference/add.h (Add / BroadcastAdd4DSlow for float32 and int32), called as EvalAdd and
EvalAddQuantized in tensorflow/lite/micro/kernels/add.cc do. Init, Prepare and OpDataAdd
are the optimized kernel's (tflm_edu.kernels.add, whose docstring walks through the
rescaling).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from tflm_edu.kernels import add as optimized
from tflm_edu.kernels.kernel_api import unsupported_type
from tflm_edu.kernels.fixedpoint import wrap32
from tflm_edu.kernels.quantization_util import (
    INT32_MAX, INT32_MIN, activation_function_with_min_max,
    multiply_by_quantized_multiplier_smaller_than_one_exp)
from tflm_edu.kernels.reference.broadcast_loop import broadcast_binary_op_simple, element_wise
from tflm_edu.kernels.reference.types import ArithmeticParams
from tflm_edu.schema.enums import TensorType

INPUT1, INPUT2, OUTPUT = 0, 1, 0


# -------------------------------------------------------------------------------------- add.cc


def eval(context, node):
    """AddEval: pick the pair function and its params by output type, then the loop:
    broadcast when the input shapes differ, elementwise when they match."""
    data = node.user_data
    input1, input2 = context.get_input(node, INPUT1), context.get_input(node, INPUT2)
    output = context.get_output(node, OUTPUT)
    if output.type == TensorType.FLOAT32:
        params, add_pair = ArithmeticParams(float_activation_min=data.output_activation_min_f32,
                                            float_activation_max=data.output_activation_max_f32
                                            ), add_float
    elif output.type == TensorType.INT32:
        params, add_pair = ArithmeticParams(quantized_activation_min=INT32_MIN,
                                            quantized_activation_max=INT32_MAX), add_int32
    elif output.type in (TensorType.INT8, TensorType.INT16):
        params, add_pair = add_params_quantized(data), add_func
    else:
        raise unsupported_type(node, output)
    loop = broadcast_binary_op_simple if data.requires_broadcast else element_wise
    loop(input1.data, input2.data, output.data, lambda a, b: add_pair(a, b, params))


def add_params_quantized(data) -> ArithmeticParams:
    """EvalAddQuantized's op_params: OpDataAdd's offsets, multipliers and shifts."""
    return ArithmeticParams(
        input1_offset=data.input1_offset, input2_offset=data.input2_offset,
        output_offset=data.output_offset, output_multiplier=data.output_multiplier,
        output_shift=data.output_shift, left_shift=data.left_shift,
        input1_multiplier=data.input1_multiplier, input1_shift=data.input1_shift,
        input2_multiplier=data.input2_multiplier, input2_shift=data.input2_shift,
        quantized_activation_min=data.output_activation_min,
        quantized_activation_max=data.output_activation_max)


def register_add():
    """Register_ADD: the optimized init and prepare, the reference eval."""
    return replace(optimized.register_add(), eval=eval, kernels="reference")


# --------------------------------------------------------------------------- integer_ops/add.h


def add_func(x, y, params) -> int:
    """AddFunc: both inputs onto a common scale (offset, shift left for head-room, rescale),
    sum, rescale to the output, offset, clamp."""
    input1_val = params.input1_offset + int(x)
    input2_val = params.input2_offset + int(y)
    shifted_input1_val = input1_val * (1 << params.left_shift)
    shifted_input2_val = input2_val * (1 << params.left_shift)
    scaled_input1_val = int(multiply_by_quantized_multiplier_smaller_than_one_exp(
        shifted_input1_val, params.input1_multiplier, params.input1_shift))
    scaled_input2_val = int(multiply_by_quantized_multiplier_smaller_than_one_exp(
        shifted_input2_val, params.input2_multiplier, params.input2_shift))
    raw_sum = scaled_input1_val + scaled_input2_val
    raw_output = int(multiply_by_quantized_multiplier_smaller_than_one_exp(
        raw_sum, params.output_multiplier, params.output_shift)) + params.output_offset
    clamped_output = min(params.quantized_activation_max,
                         max(params.quantized_activation_min, raw_output))
    return clamped_output


# ----------------------------------------------------------------------------- reference/add.h


@np.errstate(over="ignore", invalid="ignore")  # inf and NaN are values here, as in C++
def add_float(x, y, params):
    """Add<float>: one float32 sum, then ActivationFunctionWithMinMax."""
    return activation_function_with_min_max(x + y, params.float_activation_min,
                                            params.float_activation_max)[()]


def add_int32(x, y, params) -> int:
    """Add<int32_t>: a 32-bit sum (wrapping, as the C++ sum does on the targets), clamped to
    the full int32 range - so a fused activation does nothing here."""
    total = int(wrap32(int(x) + int(y)))
    return min(max(total, params.quantized_activation_min), params.quantized_activation_max)
