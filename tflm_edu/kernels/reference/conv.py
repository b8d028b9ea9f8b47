"""CONV_2D by TFLM's reference loops: every output element is one dot product, in order.

Mirrors tensorflow/lite/kernels/internal/reference/integer_ops/conv.h (ConvPerChannel,
int8, and its int16 template for 16x8) and reference/conv.h (Conv, float32), called as ConvEval in
tensorflow/lite/micro/kernels/conv.cc does, with the ConvParams that ConvParamsQuantized /
ConvParamsFloat (conv_common.cc) fill from the OpData. Init, Prepare and OpDataConv are the
optimized kernel's (tflm_edu.kernels.conv): only eval differs.

The C++ loop nest is cut where one output element starts: conv_per_channel() walks the
outputs (batch, out_y, out_x, out_channel), conv_per_channel_at() is the loop body - the
sum over the receptive field, + bias, MultiplyByQuantizedMultiplier, + output offset,
clamp. explain() runs the body alone, with a tracer.

Values are read as Python ints (int8 -> int, as the C++ widens to int32_t) or numpy
float32 scalars (so each float product and sum rounds as a C++ float does). The 16x8 body
wraps its Python int sum to the C++ accumulator (int32 or int64) before requantizing.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from tflm_edu.kernels import conv as optimized
from tflm_edu.kernels.kernel_api import unsupported_type
from tflm_edu.kernels.quantization_util import (activation_function_with_min_max,
                                                calculate_activation_range_float,
                                                multiply_by_quantized_multiplier,
                                                multiply_by_quantized_multiplier_for,
                                                wrap_to_accumulator)
from tflm_edu.kernels.reference import NO_TRACE
from tflm_edu.kernels.reference.types import ConvParams
from tflm_edu.schema.enums import TensorType

INPUT, FILTER, BIAS, OUTPUT = 0, 1, 2, 0


# ----------------------------------------------------------------------------- kernels/conv.cc


def eval(context, node):
    """ConvEval: dispatch on the input type; the loops write every output element."""
    input, filter, bias, output = eval_tensors(context, node)
    data = node.user_data
    if input.type == TensorType.FLOAT32:
        conv_float(conv_params_float(node.builtin_data, data), input.data, filter.data, bias,
                   output.data)
    elif input.type == TensorType.INT8:
        conv_per_channel(conv_params_quantized(node.builtin_data, data),
                         data.per_channel_output_multiplier, data.per_channel_output_shift,
                         input.data, filter.data, bias, output.data)
    elif input.type == TensorType.INT16:
        # ConvEval's requires_int32_accum (bias type, or quantized_bias_type without a
        # bias): decided by Prepare into the OpData.
        conv_per_channel_16x8(conv_params_quantized(node.builtin_data, data),
                              data.per_channel_output_multiplier,
                              data.per_channel_output_shift, input.data, filter.data, bias,
                              output.data, data.accumulator)
    else:
        raise unsupported_type(node, input)


def eval_at(context, node, index, tracer):
    """The value eval() writes at output `index` (batch, out_y, out_x, out_channel), each
    step told to `tracer`."""
    input, filter, bias, output = eval_tensors(context, node)
    data = node.user_data
    if input.type == TensorType.FLOAT32:
        return conv_float_at(conv_params_float(node.builtin_data, data), input.data,
                             filter.data, bias, *index, tracer)
    if input.type == TensorType.INT16:
        return conv_per_channel_16x8_at(conv_params_quantized(node.builtin_data, data),
                                        data.per_channel_output_multiplier,
                                        data.per_channel_output_shift, input.data,
                                        filter.data, bias, data.accumulator, *index, tracer)
    return conv_per_channel_at(conv_params_quantized(node.builtin_data, data),
                               data.per_channel_output_multiplier,
                               data.per_channel_output_shift, input.data, filter.data, bias,
                               *index, tracer)


def eval_tensors(context, node):
    """(input, filter, bias data or None, output): bias is optional, as NumInputs(node) == 3."""
    bias = context.get_input(node, BIAS) if len(node.inputs) == 3 else None
    return (context.get_input(node, INPUT), context.get_input(node, FILTER),
            None if bias is None else bias.data, context.get_output(node, OUTPUT))


def register_conv_2d():
    """Register_CONV_2D: the optimized kernel's init and prepare, the reference eval."""
    return replace(optimized.register_conv_2d(), eval=eval, kernels="reference")


# ------------------------------------------------------------------------------ conv_common.cc


def conv_params_quantized(params, data) -> ConvParams:
    """ConvParamsQuantized: the OpData's numbers, zero points negated into offsets."""
    return ConvParams(data.padding, params.stride_w, params.stride_h, params.dilation_w_factor,
                      params.dilation_h_factor, input_offset=-data.input_zero_point,
                      weights_offset=-data.filter_zero_point,
                      output_offset=data.output_zero_point,
                      output_multiplier=data.output_multiplier,
                      output_shift=-data.output_shift,
                      quantized_activation_min=data.output_activation_min,
                      quantized_activation_max=data.output_activation_max)


def conv_params_float(params, data) -> ConvParams:
    """ConvParamsFloat: geometry, and the fused activation as a float clamp."""
    activation_min, activation_max = calculate_activation_range_float(
        params.fused_activation_function)
    return ConvParams(data.padding, params.stride_w, params.stride_h, params.dilation_w_factor,
                      params.dilation_h_factor, float_activation_min=activation_min,
                      float_activation_max=activation_max)


# -------------------------------------------------------------------------- integer_ops/conv.h


def conv_per_channel(params, output_multiplier, output_shift, input_data, filter_data,
                     bias_data, output_data):
    """reference_integer_ops::ConvPerChannel: the outer loops, one output element each."""
    batches, output_height, output_width, output_depth = output_data.shape
    for batch in range(batches):
        for out_y in range(output_height):
            for out_x in range(output_width):
                for out_channel in range(output_depth):
                    output_data[batch, out_y, out_x, out_channel] = conv_per_channel_at(
                        params, output_multiplier, output_shift, input_data, filter_data,
                        bias_data, batch, out_y, out_x, out_channel)


def conv_per_channel_at(params, output_multiplier, output_shift, input_data, filter_data,
                        bias_data, batch, out_y, out_x, out_channel, tracer=NO_TRACE):
    """ConvPerChannel's loop body: one output element. acc is an int32_t in C++ - a Python
    int here, which MultiplyByQuantizedMultiplier wraps to 32 bits as the C++ sum would
    have wrapped."""
    acc = accumulate_per_channel(params, input_data, filter_data, batch, out_y, out_x,
                                 out_channel, tracer)
    tracer.step("acc", acc)
    if bias_data is not None:
        acc += int(bias_data[out_channel])
        tracer.step("bias", acc, bias=int(bias_data[out_channel]))
    acc = int(multiply_by_quantized_multiplier(acc, output_multiplier[out_channel],
                                               output_shift[out_channel]))
    tracer.step("MultiplyByQuantizedMultiplier", acc,
                multiplier=int(output_multiplier[out_channel]),
                shift=int(output_shift[out_channel]))
    acc += params.output_offset
    tracer.step("output_offset", acc, output_offset=params.output_offset)
    acc = max(acc, params.quantized_activation_min)
    acc = min(acc, params.quantized_activation_max)
    tracer.step("clamp", acc, activation_min=params.quantized_activation_min,
                activation_max=params.quantized_activation_max)
    return acc


def conv_per_channel_16x8(params, output_multiplier, output_shift, input_data, filter_data,
                          bias_data, output_data, accumulator):
    """reference_integer_ops::ConvPerChannel<AccumScalar> for int16 input: the outer
    loops, one output element each; AccumScalar is `accumulator` (np.int32 or np.int64)."""
    batches, output_height, output_width, output_depth = output_data.shape
    for batch in range(batches):
        for out_y in range(output_height):
            for out_x in range(output_width):
                for out_channel in range(output_depth):
                    output_data[batch, out_y, out_x, out_channel] = conv_per_channel_16x8_at(
                        params, output_multiplier, output_shift, input_data, filter_data,
                        bias_data, accumulator, batch, out_y, out_x, out_channel)


def conv_per_channel_16x8_at(params, output_multiplier, output_shift, input_data, filter_data,
                             bias_data, accumulator, batch, out_y, out_x, out_channel,
                             tracer=NO_TRACE):
    """The 16x8 loop body: the int8 body without its offsets - the int16 loop adds neither
    an input nor an output offset (int16 activations are symmetric) - with the sum held
    in `accumulator` and requantized by that type's MultiplyByQuantizedMultiplier."""
    acc = accumulate_per_channel(replace(params, input_offset=0), input_data, filter_data,
                                 batch, out_y, out_x, out_channel, tracer)
    tracer.step("acc", acc)
    if bias_data is not None:
        acc += int(bias_data[out_channel])
        tracer.step("bias", acc, bias=int(bias_data[out_channel]))
    acc = wrap_to_accumulator(acc, accumulator)
    scaled_acc = int(multiply_by_quantized_multiplier_for(
        acc, output_multiplier[out_channel], output_shift[out_channel], accumulator))
    tracer.step("MultiplyByQuantizedMultiplier", scaled_acc,
                multiplier=int(output_multiplier[out_channel]),
                shift=int(output_shift[out_channel]))
    scaled_acc = max(scaled_acc, params.quantized_activation_min)
    scaled_acc = min(scaled_acc, params.quantized_activation_max)
    tracer.step("clamp", scaled_acc, activation_min=params.quantized_activation_min,
                activation_max=params.quantized_activation_max)
    return scaled_acc


def accumulate_per_channel(params, input_data, filter_data, batch, out_y, out_x, out_channel,
                           tracer=NO_TRACE):
    """The three inner loops of ConvPerChannel: filter_y, filter_x, then the input channels
    of this output channel's group. Taps outside the image are skipped ("zero padding by
    omitting the areas outside the image"); the filter is symmetric, so only the input is
    offset."""
    _, input_height, input_width, input_depth = input_data.shape
    output_depth, filter_height, filter_width, filter_input_depth = filter_data.shape
    groups = input_depth // filter_input_depth
    filters_per_group = output_depth // groups
    group = out_channel // filters_per_group
    in_y_origin = (out_y * params.stride_height) - params.padding_values.height
    in_x_origin = (out_x * params.stride_width) - params.padding_values.width
    acc = 0
    for filter_y in range(filter_height):
        in_y = in_y_origin + params.dilation_height_factor * filter_y
        for filter_x in range(filter_width):
            in_x = in_x_origin + params.dilation_width_factor * filter_x
            is_point_inside_image = 0 <= in_x < input_width and 0 <= in_y < input_height
            if not is_point_inside_image:
                tracer.outside((batch, in_y, in_x))
                continue
            for in_channel in range(filter_input_depth):
                input_index = (batch, in_y, in_x, in_channel + group * filter_input_depth)
                filter_index = (out_channel, filter_y, filter_x, in_channel)
                input_val = int(input_data[input_index])
                filter_val = int(filter_data[filter_index])
                term = filter_val * (input_val + params.input_offset)
                acc += term
                tracer.tap(input_index, filter_index, input_val, filter_val, term)
    return acc


# ---------------------------------------------------------------------------- reference/conv.h


@np.errstate(over="ignore", invalid="ignore")  # inf and NaN are values here, as in C++
def conv_float(params, input_data, filter_data, bias_data, output_data):
    """reference_ops::Conv (float): the outer loops, one output element each."""
    batches, output_height, output_width, output_depth = output_data.shape
    for batch in range(batches):
        for out_y in range(output_height):
            for out_x in range(output_width):
                for out_channel in range(output_depth):
                    output_data[batch, out_y, out_x, out_channel] = conv_float_at(
                        params, input_data, filter_data, bias_data, batch, out_y, out_x,
                        out_channel)


@np.errstate(over="ignore", invalid="ignore")
def conv_float_at(params, input_data, filter_data, bias_data, batch, out_y, out_x,
                  out_channel, tracer=NO_TRACE):
    """Conv's loop body: total + bias_value (0.0f without a bias), then the clamp."""
    total = accumulate_float(params, input_data, filter_data, batch, out_y, out_x,
                             out_channel, tracer)
    tracer.step("total", total)
    bias_value = np.float32(0.0)
    if bias_data is not None:
        bias_value = bias_data[out_channel]
        tracer.step("bias", total + bias_value, bias=bias_value)
    result = activation_function_with_min_max(total + bias_value, params.float_activation_min,
                                              params.float_activation_max)[()]
    tracer.step("clamp", result, activation_min=params.float_activation_min,
                activation_max=params.float_activation_max)
    return result


def accumulate_float(params, input_data, filter_data, batch, out_y, out_x, out_channel,
                     tracer=NO_TRACE):
    """Conv's three inner loops: total += input_value * filter_value, every product and sum
    rounded to float32, in the C++ order - float addition is not associative, so any other
    order may round differently."""
    _, input_height, input_width, input_depth = input_data.shape
    output_depth, filter_height, filter_width, filter_input_depth = filter_data.shape
    groups = input_depth // filter_input_depth
    filters_per_group = output_depth // groups
    group = out_channel // filters_per_group
    in_y_origin = (out_y * params.stride_height) - params.padding_values.height
    in_x_origin = (out_x * params.stride_width) - params.padding_values.width
    total = np.float32(0.0)
    for filter_y in range(filter_height):
        in_y = in_y_origin + params.dilation_height_factor * filter_y
        for filter_x in range(filter_width):
            in_x = in_x_origin + params.dilation_width_factor * filter_x
            is_point_inside_image = 0 <= in_x < input_width and 0 <= in_y < input_height
            if not is_point_inside_image:
                tracer.outside((batch, in_y, in_x))
                continue
            for in_channel in range(filter_input_depth):
                input_index = (batch, in_y, in_x, in_channel + group * filter_input_depth)
                filter_index = (out_channel, filter_y, filter_x, in_channel)
                input_value = input_data[input_index]
                filter_value = filter_data[filter_index]
                term = input_value * filter_value
                total += term
                tracer.tap(input_index, filter_index, input_value, filter_value, term)
    return total
