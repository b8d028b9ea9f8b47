"""FULLY_CONNECTED by TFLM's reference loops: one dot product per (batch, output channel).

Mirrors tensorflow/lite/kernels/internal/reference/integer_ops/fully_connected.h
(FullyConnected per tensor, FullyConnectedPerChannel, int8) and
reference/fully_connected.h (FullyConnected, float32), called as FullyConnectedEval in
tensorflow/lite/micro/kernels/fully_connected.cc does, with the FullyConnectedParams of
FullyConnectedParamsQuantized / FullyConnectedParamsFloat (fully_connected_common.cc).
Init, Prepare and OpDataFullyConnected are the optimized kernel's.

The C++ reads input_data[b * accum_depth + d] and filter_data[out_c * accum_depth + d];
here the same bytes are viewed as [batches, accum_depth] and [output_depth, accum_depth]
and read as input_data[b, d], filter_data[out_c, d].

Per tensor, the filter offset (-filter zero point) is added; per channel it is not - TFLM
takes per-channel weights as symmetric, whatever zero point the model carries.

int16 input (16x8) runs the same loops - they are C++ templates - with another
accumulator: acc is an int64_t, or an int32_t when the bias is int32 (or, without a bias,
when quantized_bias_type says int32), and MultiplyByQuantizedMultiplier is the overload
for that type. int8 always sums in int32.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from tflm_edu.kernels import fully_connected as optimized
from tflm_edu.kernels.kernel_api import unsupported_type
from tflm_edu.kernels.quantization_util import (activation_function_with_min_max,
                                                calculate_activation_range_float,
                                                multiply_by_quantized_multiplier_for,
                                                wrap_to_accumulator)
from tflm_edu.kernels.reference import NO_TRACE
from tflm_edu.kernels.reference.types import FullyConnectedParams
from tflm_edu.schema.enums import TensorType
from tflm_edu.schema.options import FullyConnectedOptions

INPUT, WEIGHTS, BIAS, OUTPUT = 0, 1, 2, 0


# -------------------------------------------------------------------------- fully_connected.cc


def eval(context, node):
    """FullyConnectedEval: dispatch on the input type (and per-tensor / per-channel)."""
    input_data, filter_data, bias_data, output_data = eval_arrays(context, node)
    data = node.user_data
    input = context.get_input(node, INPUT)
    if input.type not in (TensorType.FLOAT32, TensorType.INT8, TensorType.INT16):
        raise unsupported_type(node, input)
    if input.type == TensorType.FLOAT32:
        fully_connected_float(fully_connected_params_float(node), input_data, filter_data,
                              bias_data, output_data)
    elif data.is_per_channel:
        fully_connected_per_channel(fully_connected_params_quantized(data),
                                    data.per_channel_output_multiplier,
                                    data.per_channel_output_shift, input_data, filter_data,
                                    bias_data, output_data, accumulator_type(input, data))
    else:
        fully_connected(fully_connected_params_quantized(data), input_data, filter_data,
                        bias_data, output_data, accumulator_type(input, data))


def eval_at(context, node, index, tracer):
    """The value eval() writes at output `index` (any rank: it is read as (b, out_c)),
    each step told to `tracer`."""
    input_data, filter_data, bias_data, output_data = eval_arrays(context, node)
    data = node.user_data
    output = context.get_output(node, OUTPUT)
    b, out_c = divmod(int(np.ravel_multi_index(index, output.shape)), output_data.shape[1])
    input = context.get_input(node, INPUT)
    if input.type == TensorType.FLOAT32:
        return fully_connected_float_at(fully_connected_params_float(node), input_data,
                                        filter_data, bias_data, b, out_c, tracer)
    if data.is_per_channel:
        return fully_connected_per_channel_at(
            fully_connected_params_quantized(data), data.per_channel_output_multiplier,
            data.per_channel_output_shift, input_data, filter_data, bias_data, b, out_c,
            accumulator_type(input, data), tracer)
    return fully_connected_at(fully_connected_params_quantized(data), input_data, filter_data,
                              bias_data, b, out_c, accumulator_type(input, data), tracer)


def accumulator_type(input, data):
    """The C++ acc type: int32_t for int8; for int16 the bias type, as the Eval's
    requires_int32_accum decides (Prepare put it in the OpData)."""
    return np.int32 if input.type == TensorType.INT8 else data.accumulator


def eval_arrays(context, node):
    """input [batches, accum_depth], filter, bias (or None), output [batches, output_depth]:
    views of the tensors' bytes, whatever their rank."""
    filter = context.get_input(node, WEIGHTS)
    bias = context.get_input(node, BIAS) if len(node.inputs) > 2 else None
    output_depth, accum_depth = filter.shape
    return (context.get_input(node, INPUT).data.reshape(-1, accum_depth), filter.data,
            None if bias is None else bias.data,
            context.get_output(node, OUTPUT).data.reshape(-1, output_depth))


def register_fully_connected():
    """Register_FULLY_CONNECTED: the optimized init and prepare, the reference eval."""
    return replace(optimized.register_fully_connected(), eval=eval, kernels="reference")


# ------------------------------------------------------------------- fully_connected_common.cc


def fully_connected_params_quantized(data) -> FullyConnectedParams:
    """FullyConnectedParamsQuantized: the OpData's numbers, zero points negated."""
    return FullyConnectedParams(input_offset=-data.input_zero_point,
                                weights_offset=-data.filter_zero_point,
                                output_offset=data.output_zero_point,
                                output_multiplier=data.output_multiplier,
                                output_shift=data.output_shift,
                                quantized_activation_min=data.output_activation_min,
                                quantized_activation_max=data.output_activation_max)


def fully_connected_params_float(node) -> FullyConnectedParams:
    """FullyConnectedParamsFloat: only the fused activation, as a float clamp."""
    activation = (node.builtin_data or FullyConnectedOptions()).fused_activation_function
    activation_min, activation_max = calculate_activation_range_float(activation)
    return FullyConnectedParams(float_activation_min=activation_min,
                                float_activation_max=activation_max)


# --------------------------------------------------------------- integer_ops/fully_connected.h


def fully_connected(params, input_data, filter_data, bias_data, output_data,
                    accumulator=np.int32):
    """reference_integer_ops::FullyConnected (one multiplier for the whole tensor)."""
    batches, output_depth = output_data.shape
    for b in range(batches):
        for out_c in range(output_depth):
            output_data[b, out_c] = fully_connected_at(params, input_data, filter_data,
                                                       bias_data, b, out_c, accumulator)


def fully_connected_at(params, input_data, filter_data, bias_data, b, out_c,
                       accumulator=np.int32, tracer=NO_TRACE):
    """FullyConnected's loop body: both the input and the filter are offset; the sum is
    held in `accumulator` (the C++ BiasType)."""
    accum_depth = filter_data.shape[1]
    acc = 0
    for d in range(accum_depth):
        input_val, filter_val = int(input_data[b, d]), int(filter_data[out_c, d])
        term = (filter_val + params.weights_offset) * (input_val + params.input_offset)
        acc += term
        tracer.tap((b, d), (out_c, d), input_val, filter_val, term)
    tracer.step("acc", acc)
    if bias_data is not None:
        acc += int(bias_data[out_c])
        tracer.step("bias", acc, bias=int(bias_data[out_c]))
    acc = wrap_to_accumulator(acc, accumulator)
    acc_scaled = int(multiply_by_quantized_multiplier_for(acc, params.output_multiplier,
                                                          params.output_shift, accumulator))
    tracer.step("MultiplyByQuantizedMultiplier", acc_scaled,
                multiplier=params.output_multiplier, shift=params.output_shift)
    acc_scaled += params.output_offset
    tracer.step("output_offset", acc_scaled, output_offset=params.output_offset)
    acc_scaled = max(acc_scaled, params.quantized_activation_min)
    acc_scaled = min(acc_scaled, params.quantized_activation_max)
    tracer.step("clamp", acc_scaled, activation_min=params.quantized_activation_min,
                activation_max=params.quantized_activation_max)
    return acc_scaled


def fully_connected_per_channel(params, output_multiplier, output_shift, input_data,
                                filter_data, bias_data, output_data, accumulator=np.int32):
    """reference_integer_ops::FullyConnectedPerChannel (one multiplier per out_c)."""
    batches, output_depth = output_data.shape
    for b in range(batches):
        for out_c in range(output_depth):
            output_data[b, out_c] = fully_connected_per_channel_at(
                params, output_multiplier, output_shift, input_data, filter_data, bias_data,
                b, out_c, accumulator)


def fully_connected_per_channel_at(params, output_multiplier, output_shift, input_data,
                                   filter_data, bias_data, b, out_c, accumulator=np.int32,
                                   tracer=NO_TRACE):
    """FullyConnectedPerChannel's loop body: the filter is symmetric, only the input is
    offset; the multiplier and shift are out_c's."""
    accum_depth = filter_data.shape[1]
    acc = 0
    for d in range(accum_depth):
        input_val, filter_val = int(input_data[b, d]), int(filter_data[out_c, d])
        term = filter_val * (input_val + params.input_offset)
        acc += term
        tracer.tap((b, d), (out_c, d), input_val, filter_val, term)
    tracer.step("acc", acc)
    if bias_data is not None:
        acc += int(bias_data[out_c])
        tracer.step("bias", acc, bias=int(bias_data[out_c]))
    acc = wrap_to_accumulator(acc, accumulator)
    acc_scaled = int(multiply_by_quantized_multiplier_for(acc, output_multiplier[out_c],
                                                          output_shift[out_c], accumulator))
    tracer.step("MultiplyByQuantizedMultiplier", acc_scaled,
                multiplier=int(output_multiplier[out_c]), shift=int(output_shift[out_c]))
    acc_scaled += params.output_offset
    tracer.step("output_offset", acc_scaled, output_offset=params.output_offset)
    acc_scaled = max(acc_scaled, params.quantized_activation_min)
    acc_scaled = min(acc_scaled, params.quantized_activation_max)
    tracer.step("clamp", acc_scaled, activation_min=params.quantized_activation_min,
                activation_max=params.quantized_activation_max)
    return acc_scaled


# ----------------------------------------------------------------- reference/fully_connected.h


@np.errstate(over="ignore", invalid="ignore")  # inf and NaN are values here, as in C++
def fully_connected_float(params, input_data, weights_data, bias_data, output_data):
    """reference_ops::FullyConnected (float): the outer loops."""
    batches, output_depth = output_data.shape
    for b in range(batches):
        for out_c in range(output_depth):
            output_data[b, out_c] = fully_connected_float_at(params, input_data, weights_data,
                                                             bias_data, b, out_c)


@np.errstate(over="ignore", invalid="ignore")
def fully_connected_float_at(params, input_data, weights_data, bias_data, b, out_c,
                             tracer=NO_TRACE):
    """FullyConnected's loop body: total += input * weight in float32, d in order, then
    total + bias_value (0.0f without a bias), clamped."""
    accum_depth = weights_data.shape[1]
    total = np.float32(0.0)
    for d in range(accum_depth):
        term = input_data[b, d] * weights_data[out_c, d]
        total += term
        tracer.tap((b, d), (out_c, d), input_data[b, d], weights_data[out_c, d], term)
    tracer.step("total", total)
    bias_value = np.float32(0.0)
    if bias_data is not None:
        bias_value = bias_data[out_c]
        tracer.step("bias", total + bias_value, bias=bias_value)
    result = activation_function_with_min_max(total + bias_value, params.float_activation_min,
                                              params.float_activation_max)[()]
    tracer.step("clamp", result, activation_min=params.float_activation_min,
                activation_max=params.float_activation_max)
    return result
