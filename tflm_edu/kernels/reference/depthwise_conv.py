"""DEPTHWISE_CONV_2D by TFLM's reference loops: each input channel filtered on its own.

Mirrors tensorflow/lite/kernels/internal/reference/integer_ops/depthwise_conv.h
(DepthwiseConvPerChannel, int8, and its int16 overload for 16x8) and
reference/depthwiseconv_float.h (DepthwiseConv, float32), called as DepthwiseConvEval in
tensorflow/lite/micro/kernels/depthwise_conv.cc does, with the DepthwiseParams of
DepthwiseConvParamsQuantized / DepthwiseConvParamsFloat (depthwise_conv_common.cc). Init,
Prepare and OpDataConv are the optimized kernel's (tflm_edu.kernels.depthwise_conv).

Output channel m + in_channel * depth_multiplier is input channel in_channel through
filter m; the filter is [1, filter_height, filter_width, output_depth]. As in conv.py, the
loop nest is cut where one output element starts, so explain() can run the body alone.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from tflm_edu.kernels import depthwise_conv as optimized
from tflm_edu.kernels.kernel_api import unsupported_type
from tflm_edu.kernels.quantization_util import (activation_function_with_min_max,
                                                calculate_activation_range_float,
                                                multiply_by_quantized_multiplier,
                                                multiply_by_quantized_multiplier_int64,
                                                wrap_to_accumulator)
from tflm_edu.kernels.reference import NO_TRACE
from tflm_edu.kernels.reference.conv import eval_tensors
from tflm_edu.kernels.reference.types import DepthwiseParams
from tflm_edu.schema.enums import TensorType


# --------------------------------------------------------------------------- depthwise_conv.cc


def eval(context, node):
    """DepthwiseConvEval: dispatch on the input type; the loops write every output."""
    input, filter, bias, output = eval_tensors(context, node)
    data = node.user_data
    if input.type == TensorType.FLOAT32:
        depthwise_conv_float(depthwise_conv_params_float(node.builtin_data, data), input.data,
                             filter.data, bias, output.data)
    elif input.type == TensorType.INT8:
        depthwise_conv_per_channel(depthwise_conv_params_quantized(node.builtin_data, data),
                                   data.per_channel_output_multiplier,
                                   data.per_channel_output_shift, input.data, filter.data,
                                   bias, output.data)
    elif input.type == TensorType.INT16:
        depthwise_conv_per_channel_16x8(
            depthwise_conv_params_quantized(node.builtin_data, data),
            data.per_channel_output_multiplier, data.per_channel_output_shift, input.data,
            filter.data, bias, output.data)
    else:
        raise unsupported_type(node, input)


def eval_at(context, node, index, tracer):
    """The value eval() writes at output `index` (batch, out_y, out_x, output_channel),
    each step told to `tracer`."""
    input, filter, bias, output = eval_tensors(context, node)
    data = node.user_data
    batch, out_y, out_x, output_channel = index
    params = node.builtin_data
    in_channel, m = divmod(output_channel, params.depth_multiplier)
    if input.type == TensorType.FLOAT32:
        return depthwise_conv_float_at(depthwise_conv_params_float(params, data), input.data,
                                       filter.data, bias, batch, out_y, out_x, in_channel, m,
                                       tracer)
    if input.type == TensorType.INT16:
        return depthwise_conv_per_channel_16x8_at(
            depthwise_conv_params_quantized(params, data), data.per_channel_output_multiplier,
            data.per_channel_output_shift, input.data, filter.data, bias, batch, out_y, out_x,
            in_channel, m, tracer)
    return depthwise_conv_per_channel_at(
        depthwise_conv_params_quantized(params, data), data.per_channel_output_multiplier,
        data.per_channel_output_shift, input.data, filter.data, bias, batch, out_y, out_x,
        in_channel, m, tracer)


def register_depthwise_conv_2d():
    """Register_DEPTHWISE_CONV_2D: the optimized init and prepare, the reference eval."""
    return replace(optimized.register_depthwise_conv_2d(), eval=eval, kernels="reference")


# -------------------------------------------------------------------- depthwise_conv_common.cc


def depthwise_conv_params_quantized(params, data) -> DepthwiseParams:
    """DepthwiseConvParamsQuantized: the OpData's numbers, zero points negated."""
    return DepthwiseParams(data.padding, params.stride_w, params.stride_h,
                           params.dilation_w_factor, params.dilation_h_factor,
                           input_offset=-data.input_zero_point,
                           weights_offset=-data.filter_zero_point,
                           output_offset=data.output_zero_point,
                           output_multiplier=data.output_multiplier,
                           output_shift=-data.output_shift,
                           quantized_activation_min=data.output_activation_min,
                           quantized_activation_max=data.output_activation_max,
                           depth_multiplier=params.depth_multiplier)


def depthwise_conv_params_float(params, data) -> DepthwiseParams:
    """DepthwiseConvParamsFloat: geometry, and the fused activation as a float clamp."""
    activation_min, activation_max = calculate_activation_range_float(
        params.fused_activation_function)
    return DepthwiseParams(data.padding, params.stride_w, params.stride_h,
                           params.dilation_w_factor, params.dilation_h_factor,
                           float_activation_min=activation_min,
                           float_activation_max=activation_max,
                           depth_multiplier=params.depth_multiplier)


# ---------------------------------------------------------------- integer_ops/depthwise_conv.h


def depthwise_conv_per_channel(params, output_multiplier, output_shift, input_data,
                               filter_data, bias_data, output_data):
    """reference_integer_ops::DepthwiseConvPerChannel: the outer loops."""
    batches, output_height, output_width, _ = output_data.shape
    input_depth = input_data.shape[3]
    for batch in range(batches):
        for out_y in range(output_height):
            for out_x in range(output_width):
                for in_channel in range(input_depth):
                    for m in range(params.depth_multiplier):
                        output_channel = m + in_channel * params.depth_multiplier
                        output_data[batch, out_y, out_x, output_channel] = \
                            depthwise_conv_per_channel_at(
                                params, output_multiplier, output_shift, input_data,
                                filter_data, bias_data, batch, out_y, out_x, in_channel, m)


def depthwise_conv_per_channel_at(params, output_multiplier, output_shift, input_data,
                                  filter_data, bias_data, batch, out_y, out_x, in_channel, m,
                                  tracer=NO_TRACE):
    """DepthwiseConvPerChannel's loop body: one output element, in conv's order."""
    output_channel = m + in_channel * params.depth_multiplier
    acc = accumulate_per_channel(params, input_data, filter_data, batch, out_y, out_x,
                                 in_channel, output_channel, tracer)
    tracer.step("acc", acc)
    if bias_data is not None:
        acc += int(bias_data[output_channel])
        tracer.step("bias", acc, bias=int(bias_data[output_channel]))
    acc = int(multiply_by_quantized_multiplier(acc, output_multiplier[output_channel],
                                               output_shift[output_channel]))
    tracer.step("MultiplyByQuantizedMultiplier", acc,
                multiplier=int(output_multiplier[output_channel]),
                shift=int(output_shift[output_channel]))
    acc += params.output_offset
    tracer.step("output_offset", acc, output_offset=params.output_offset)
    acc = max(acc, params.quantized_activation_min)
    acc = min(acc, params.quantized_activation_max)
    tracer.step("clamp", acc, activation_min=params.quantized_activation_min,
                activation_max=params.quantized_activation_max)
    return acc


def depthwise_conv_per_channel_16x8(params, output_multiplier, output_shift, input_data,
                                    filter_data, bias_data, output_data):
    """reference_integer_ops::DepthwiseConvPerChannel for int16 input: the outer loops."""
    batches, output_height, output_width, _ = output_data.shape
    input_depth = input_data.shape[3]
    for batch in range(batches):
        for out_y in range(output_height):
            for out_x in range(output_width):
                for in_channel in range(input_depth):
                    for m in range(params.depth_multiplier):
                        output_channel = m + in_channel * params.depth_multiplier
                        output_data[batch, out_y, out_x, output_channel] = \
                            depthwise_conv_per_channel_16x8_at(
                                params, output_multiplier, output_shift, input_data,
                                filter_data, bias_data, batch, out_y, out_x, in_channel, m)


def depthwise_conv_per_channel_16x8_at(params, output_multiplier, output_shift, input_data,
                                       filter_data, bias_data, batch, out_y, out_x,
                                       in_channel, m, tracer=NO_TRACE):
    """The 16x8 loop body: acc is an int64_t; no input offset, no output offset (int16
    activations are symmetric); the int64 MultiplyByQuantizedMultiplier."""
    output_channel = m + in_channel * params.depth_multiplier
    acc = accumulate_per_channel(replace(params, input_offset=0), input_data, filter_data,
                                 batch, out_y, out_x, in_channel, output_channel, tracer)
    tracer.step("acc", acc)
    if bias_data is not None:
        acc += int(bias_data[output_channel])
        tracer.step("bias", acc, bias=int(bias_data[output_channel]))
    acc = wrap_to_accumulator(acc, np.int64)
    scaled_acc = int(multiply_by_quantized_multiplier_int64(
        acc, output_multiplier[output_channel], output_shift[output_channel]))
    tracer.step("MultiplyByQuantizedMultiplier", scaled_acc,
                multiplier=int(output_multiplier[output_channel]),
                shift=int(output_shift[output_channel]))
    scaled_acc = max(scaled_acc, params.quantized_activation_min)
    scaled_acc = min(scaled_acc, params.quantized_activation_max)
    tracer.step("clamp", scaled_acc, activation_min=params.quantized_activation_min,
                activation_max=params.quantized_activation_max)
    return scaled_acc


def accumulate_per_channel(params, input_data, filter_data, batch, out_y, out_x, in_channel,
                           output_channel, tracer=NO_TRACE):
    """The two inner loops, filter_y and filter_x, over one input channel. Positions
    outside the image add nothing; the filter is symmetric (no weights_offset)."""
    _, input_height, input_width, _ = input_data.shape
    _, filter_height, filter_width, _ = filter_data.shape
    in_x_origin = (out_x * params.stride_width) - params.padding_values.width
    in_y_origin = (out_y * params.stride_height) - params.padding_values.height
    acc = 0
    for filter_y in range(filter_height):
        for filter_x in range(filter_width):
            in_x = in_x_origin + params.dilation_width_factor * filter_x
            in_y = in_y_origin + params.dilation_height_factor * filter_y
            is_point_inside_image = 0 <= in_x < input_width and 0 <= in_y < input_height
            if is_point_inside_image:
                input_index = (batch, in_y, in_x, in_channel)
                filter_index = (0, filter_y, filter_x, output_channel)
                input_val = int(input_data[input_index])
                filter_val = int(filter_data[filter_index])
                term = filter_val * (input_val + params.input_offset)
                acc += term
                tracer.tap(input_index, filter_index, input_val, filter_val, term)
            else:
                tracer.outside((batch, in_y, in_x))
    return acc


# ----------------------------------------------------------------------- depthwiseconv_float.h


@np.errstate(over="ignore", invalid="ignore")  # inf and NaN are values here, as in C++
def depthwise_conv_float(params, input_data, filter_data, bias_data, output_data):
    """reference_ops::DepthwiseConv (float): the outer loops (b, out_y, out_x, ic, m)."""
    batches, output_height, output_width, _ = output_data.shape
    input_depth = input_data.shape[3]
    for b in range(batches):
        for out_y in range(output_height):
            for out_x in range(output_width):
                for ic in range(input_depth):
                    for m in range(params.depth_multiplier):
                        oc = m + ic * params.depth_multiplier
                        output_data[b, out_y, out_x, oc] = depthwise_conv_float_at(
                            params, input_data, filter_data, bias_data, b, out_y, out_x,
                            ic, m)


@np.errstate(over="ignore", invalid="ignore")
def depthwise_conv_float_at(params, input_data, filter_data, bias_data, b, out_y, out_x, ic, m,
                            tracer=NO_TRACE):
    """DepthwiseConv's loop body: total + bias_value (0.0f without a bias), clamped."""
    oc = m + ic * params.depth_multiplier
    total = accumulate_float(params, input_data, filter_data, b, out_y, out_x, ic, oc, tracer)
    tracer.step("total", total)
    bias_value = np.float32(0.0)
    if bias_data is not None:
        bias_value = bias_data[oc]
        tracer.step("bias", total + bias_value, bias=bias_value)
    result = activation_function_with_min_max(total + bias_value, params.float_activation_min,
                                              params.float_activation_max)[()]
    tracer.step("clamp", result, activation_min=params.float_activation_min,
                activation_max=params.float_activation_max)
    return result


def accumulate_float(params, input_data, filter_data, b, out_y, out_x, ic, oc,
                     tracer=NO_TRACE):
    """total += input_value * filter_value over filter_y, filter_x, in float32; "if the
    location is outside the bounds of the input image, use zero" - by adding nothing."""
    _, input_height, input_width, _ = input_data.shape
    _, filter_height, filter_width, _ = filter_data.shape
    in_x_origin = (out_x * params.stride_width) - params.padding_values.width
    in_y_origin = (out_y * params.stride_height) - params.padding_values.height
    total = np.float32(0.0)
    for filter_y in range(filter_height):
        for filter_x in range(filter_width):
            in_x = in_x_origin + params.dilation_width_factor * filter_x
            in_y = in_y_origin + params.dilation_height_factor * filter_y
            is_point_inside_image = 0 <= in_x < input_width and 0 <= in_y < input_height
            if is_point_inside_image:
                input_index, filter_index = (b, in_y, in_x, ic), (0, filter_y, filter_x, oc)
                input_value = input_data[input_index]
                filter_value = filter_data[filter_index]
                term = input_value * filter_value
                total += term
                tracer.tap(input_index, filter_index, input_value, filter_value, term)
            else:
                tracer.outside((b, in_y, in_x))
    return total
