"""MUL by TFLM's reference loops: one pair of values at a time, broadcast or not.

Mirrors tensorflow/lite/kernels/internal/reference/integer_ops/mul.h (MulElementwise and
the BroadcastMul6DSlow lambda, int8 and int16) and reference/mul.h (Mul / BroadcastMul4DSlow
for float32 and int32), called as EvalMulQuantizedReference and EvalMulFloatReference in
tensorflow/lite/micro/kernels/mul_common.cc do. Init, Prepare and OpDataMul are the
optimized kernel's (tflm_edu.kernels.mul).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from tflm_edu.kernels import mul as optimized
from tflm_edu.kernels.kernel_api import unsupported_type
from tflm_edu.kernels.fixedpoint import wrap32
from tflm_edu.kernels.quantization_util import (activation_function_with_min_max,
                                                multiply_by_quantized_multiplier)
from tflm_edu.kernels.reference.broadcast_loop import broadcast_binary_op_simple, element_wise
from tflm_edu.kernels.reference.types import ArithmeticParams
from tflm_edu.schema.enums import TensorType

INPUT1, INPUT2, OUTPUT = 0, 1, 0


# ----------------------------------------------------------------------- mul.cc, mul_common.cc


def eval(context, node):
    """MulEval: pick the pair function and its params by type, then the loop: broadcast
    when the input shapes differ, elementwise when they match."""
    data = node.user_data
    input1, input2 = context.get_input(node, INPUT1), context.get_input(node, INPUT2)
    output = context.get_output(node, OUTPUT)
    if output.type == TensorType.FLOAT32:
        mul_pair = mul_float
    elif output.type == TensorType.INT32:
        mul_pair = mul_int32
    elif output.type in (TensorType.INT8, TensorType.INT16):
        mul_pair = mul_func
    else:
        raise unsupported_type(node, output)
    params = mul_params(data)
    broadcast = tuple(input1.shape) != tuple(input2.shape)
    loop = broadcast_binary_op_simple if broadcast else element_wise
    loop(input1.data, input2.data, output.data, lambda a, b: mul_pair(a, b, params))


def mul_params(data) -> ArithmeticParams:
    """The op_params of EvalMulQuantizedReference (and the float clamp of
    EvalMulFloatReference): zero points negated into input offsets."""
    return ArithmeticParams(input1_offset=-data.input1_zero_point,
                            input2_offset=-data.input2_zero_point,
                            output_offset=data.output_zero_point,
                            output_multiplier=data.output_multiplier,
                            output_shift=data.output_shift,
                            quantized_activation_min=data.output_activation_min,
                            quantized_activation_max=data.output_activation_max,
                            float_activation_min=data.output_activation_min_f32,
                            float_activation_max=data.output_activation_max_f32)


def register_mul():
    """Register_MUL: the optimized init and prepare, the reference eval."""
    return replace(optimized.register_mul(), eval=eval, kernels="reference")


# --------------------------------------------------------------------------- integer_ops/mul.h


def mul_func(x, y, params) -> int:
    """MulElementwise's body: offset both inputs, multiply in int32, rescale by one
    multiplier (scale1 * scale2 / scale_out), + output offset, clamp."""
    input1_val = params.input1_offset + int(x)
    input2_val = params.input2_offset + int(y)
    unclamped_result = params.output_offset + int(multiply_by_quantized_multiplier(
        input1_val * input2_val, params.output_multiplier, params.output_shift))
    clamped_output = min(params.quantized_activation_max,
                         max(params.quantized_activation_min, unclamped_result))
    return clamped_output


# ----------------------------------------------------------------------------- reference/mul.h


@np.errstate(over="ignore", invalid="ignore")  # inf and NaN are values here, as in C++
def mul_float(x, y, params):
    """Mul<float>: one float32 product, then ActivationFunctionWithMinMax."""
    return activation_function_with_min_max(x * y, params.float_activation_min,
                                            params.float_activation_max)[()]


def mul_int32(x, y, params) -> int:
    """Mul<int32_t>: WrappingMul (the low 32 bits of the product), then the clamp."""
    product = int(wrap32(int(x) * int(y)))
    return min(max(product, params.quantized_activation_min), params.quantized_activation_max)
