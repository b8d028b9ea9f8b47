"""AVERAGE_POOL_2D and MAX_POOL_2D by TFLM's reference loops: one window per output element.

Mirrors tensorflow/lite/kernels/internal/reference/integer_ops/pooling.h (AveragePool,
MaxPool for int8 and int16) and reference/pooling.h (AveragePool, MaxPool for float32),
called as AverageEval / MaxEval in tensorflow/lite/micro/kernels/pooling.cc do, with the
PoolParams that pooling_common.cc fills. Init, Prepare and OpDataPooling are the optimized
kernel's (tflm_edu.kernels.pooling).

The window is clamped to the image before the loops start (filter_x_start ..
filter_x_end), so taps outside it are never visited and an average divides by the
number of taps inside (filter_count).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from tflm_edu.errors import ModelError
from tflm_edu.kernels import pooling as optimized
from tflm_edu.kernels.conv import PaddingValues
from tflm_edu.kernels.kernel_api import unsupported_type
from tflm_edu.kernels.quantization_util import activation_function_with_min_max
from tflm_edu.kernels.reference import NO_TRACE
from tflm_edu.kernels.reference.types import PoolParams
from tflm_edu.schema.enums import TensorType
from tflm_edu.schema.options import Pool2DOptions

INPUT, OUTPUT = 0, 0


# ---------------------------------------------------------------------------------- pooling.cc


def average_eval(context, node):
    """AverageEval: float32, or int8 / int16 (one loop, typed by the data)."""
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    params = pool_params(node)
    if input.type == TensorType.FLOAT32:
        average_pool_float(params, input.data, output.data)
    elif input.type in (TensorType.INT8, TensorType.INT16):
        average_pool(params, input.data, output.data)
    else:
        raise unsupported_type(node, input)


def max_eval(context, node):
    """MaxEval: float32, or int8 / int16."""
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    params = pool_params(node)
    if input.type == TensorType.FLOAT32:
        max_pool_float(params, input.data, output.data)
    elif input.type in (TensorType.INT8, TensorType.INT16):
        max_pool(params, input.data, output.data)
    else:
        raise unsupported_type(node, input)


def eval_at(context, node, index, tracer):
    """The value the AVERAGE_POOL_2D or MAX_POOL_2D eval writes at output `index`
    (batch, out_y, out_x, channel), each step told to `tracer`."""
    input = context.get_input(node, INPUT)
    average = node.op_name == "AVERAGE_POOL_2D"
    if input.type == TensorType.FLOAT32:
        at = average_pool_float_at if average else max_pool_float_at
    else:
        at = average_pool_at if average else max_pool_at
    return at(pool_params(node), input.data, *index, tracer)


def register_average_pool_2d():
    """Register_AVERAGE_POOL_2D: the optimized init and prepare, the reference eval."""
    return replace(optimized.register_average_pool_2d(), eval=average_eval,
                   kernels="reference")


def register_max_pool_2d():
    """Register_MAX_POOL_2D: the optimized init and prepare, the reference eval."""
    return replace(optimized.register_max_pool_2d(), eval=max_eval, kernels="reference")


# --------------------------------------------------------------------------- pooling_common.cc


def pool_params(node) -> PoolParams:
    """The PoolParams every pooling Eval fills: options, padding and activation range."""
    params = node.builtin_data or Pool2DOptions()
    data = node.user_data
    return PoolParams(PaddingValues(width=data.padding_width, height=data.padding_height),
                      params.stride_h, params.stride_w, params.filter_height,
                      params.filter_width, data.activation_min, data.activation_max,
                      data.activation_min_f32, data.activation_max_f32)


def clamped_window(params, input_shape, out_y, out_x):
    """in_y_origin, in_x_origin and the filter rows and columns that fall inside the image:
    "the filter region clamped so as to ensure that the filter window fits in the input"."""
    _, input_height, input_width, _ = input_shape
    in_x_origin = (out_x * params.stride_width) - params.padding_values.width
    in_y_origin = (out_y * params.stride_height) - params.padding_values.height
    filter_x_start = max(0, -in_x_origin)
    filter_x_end = min(params.filter_width, input_width - in_x_origin)
    filter_y_start = max(0, -in_y_origin)
    filter_y_end = min(params.filter_height, input_height - in_y_origin)
    return (in_y_origin, in_x_origin, range(filter_y_start, filter_y_end),
            range(filter_x_start, filter_x_end))


def for_each_output(pool_at, params, input_data, output_data):
    """The four outer loops every pooling function shares: batch, out_y, out_x, channel."""
    batches, output_height, output_width, depth = output_data.shape
    for batch in range(batches):
        for out_y in range(output_height):
            for out_x in range(output_width):
                for channel in range(depth):
                    output_data[batch, out_y, out_x, channel] = pool_at(
                        params, input_data, batch, out_y, out_x, channel)


# ----------------------------------------------------------------------- integer_ops/pooling.h


def average_pool(params, input_data, output_data):
    """reference_integer_ops::AveragePool (int8, int16)."""
    for_each_output(average_pool_at, params, input_data, output_data)


def average_pool_at(params, input_data, batch, out_y, out_x, channel, tracer=NO_TRACE):
    """AveragePool's loop body: sum the stored integers (pooling never rescales), divide
    rounding half away from zero, clamp."""
    in_y_origin, in_x_origin, filter_ys, filter_xs = clamped_window(
        params, input_data.shape, out_y, out_x)
    acc, filter_count = 0, 0
    for filter_y in filter_ys:
        for filter_x in filter_xs:
            input_index = (batch, in_y_origin + filter_y, in_x_origin + filter_x, channel)
            input_value = int(input_data[input_index])
            acc += input_value
            filter_count += 1
            tracer.tap(input_index, None, input_value, None, input_value)
    check_filter_count(filter_count)
    tracer.step("acc", acc)
    # Round to the closest integer value (C++ integer division truncates toward zero).
    acc = (divide_truncating(acc + filter_count // 2, filter_count) if acc > 0
           else divide_truncating(acc - filter_count // 2, filter_count))
    tracer.step("average", acc, filter_count=filter_count)
    acc = max(acc, params.quantized_activation_min)
    acc = min(acc, params.quantized_activation_max)
    tracer.step("clamp", acc, activation_min=params.quantized_activation_min,
                activation_max=params.quantized_activation_max)
    return acc


def max_pool(params, input_data, output_data):
    """reference_integer_ops::MaxPool (int8, int16)."""
    for_each_output(max_pool_at, params, input_data, output_data)


def max_pool_at(params, input_data, batch, out_y, out_x, channel, tracer=NO_TRACE):
    """MaxPool's loop body: the largest tap, starting from the type's lowest value."""
    in_y_origin, in_x_origin, filter_ys, filter_xs = clamped_window(
        params, input_data.shape, out_y, out_x)
    max_value = int(np.iinfo(input_data.dtype).min)  # `max` in the C++
    for filter_y in filter_ys:
        for filter_x in filter_xs:
            input_index = (batch, in_y_origin + filter_y, in_x_origin + filter_x, channel)
            input_value = int(input_data[input_index])
            max_value = max(max_value, input_value)
            tracer.tap(input_index, None, input_value, None, max_value)
    tracer.step("max", max_value)
    max_value = max(max_value, params.quantized_activation_min)
    max_value = min(max_value, params.quantized_activation_max)
    tracer.step("clamp", max_value, activation_min=params.quantized_activation_min,
                activation_max=params.quantized_activation_max)
    return max_value


# ------------------------------------------------------------------------- reference/pooling.h


@np.errstate(over="ignore", invalid="ignore")  # inf and NaN are values here, as in C++
def average_pool_float(params, input_data, output_data):
    """reference_ops::AveragePool (float)."""
    for_each_output(average_pool_float_at, params, input_data, output_data)


@np.errstate(over="ignore", invalid="ignore")
def average_pool_float_at(params, input_data, batch, out_y, out_x, channel, tracer=NO_TRACE):
    """AveragePool's loop body: a float32 sum in loop order, divided by the float
    filter_count, clamped."""
    in_y_origin, in_x_origin, filter_ys, filter_xs = clamped_window(
        params, input_data.shape, out_y, out_x)
    total, filter_count = np.float32(0.0), np.float32(0.0)
    for filter_y in filter_ys:
        for filter_x in filter_xs:
            input_index = (batch, in_y_origin + filter_y, in_x_origin + filter_x, channel)
            input_value = input_data[input_index]
            total += input_value
            filter_count += 1
            tracer.tap(input_index, None, input_value, None, input_value)
    check_filter_count(filter_count)
    tracer.step("total", total)
    average = total / filter_count
    tracer.step("average", average, filter_count=int(filter_count))
    result = activation_function_with_min_max(average, params.float_activation_min,
                                              params.float_activation_max)[()]
    tracer.step("clamp", result, activation_min=params.float_activation_min,
                activation_max=params.float_activation_max)
    return result


def max_pool_float(params, input_data, output_data):
    """reference_ops::MaxPool (float)."""
    for_each_output(max_pool_float_at, params, input_data, output_data)


def max_pool_float_at(params, input_data, batch, out_y, out_x, channel, tracer=NO_TRACE):
    """MaxPool's loop body: std::max(max, tap) is (max < tap) ? tap : max, so a NaN tap
    never wins and of two equal values (-0.0, +0.0) the earlier stays."""
    in_y_origin, in_x_origin, filter_ys, filter_xs = clamped_window(
        params, input_data.shape, out_y, out_x)
    max_value = np.float32(np.finfo(np.float32).min)  # std::numeric_limits<float>::lowest()
    for filter_y in filter_ys:
        for filter_x in filter_xs:
            input_index = (batch, in_y_origin + filter_y, in_x_origin + filter_x, channel)
            input_value = input_data[input_index]
            max_value = input_value if max_value < input_value else max_value
            tracer.tap(input_index, None, input_value, None, max_value)
    tracer.step("max", max_value)
    result = activation_function_with_min_max(max_value, params.float_activation_min,
                                              params.float_activation_max)[()]
    tracer.step("clamp", result, activation_min=params.float_activation_min,
                activation_max=params.float_activation_max)
    return result


# ------------------------------------------------------------------------------------- helpers


def divide_truncating(numerator: int, denominator: int) -> int:
    """C++ integer division: the quotient rounded toward zero (Python's // floors)."""
    quotient = abs(numerator) // abs(denominator)
    return quotient if (numerator < 0) == (denominator < 0) else -quotient


def check_filter_count(filter_count) -> None:
    """The C++ returns false (an error) for a window with no tap inside the image."""
    if filter_count == 0:
        raise ModelError("a pooling window lies wholly outside the image")
