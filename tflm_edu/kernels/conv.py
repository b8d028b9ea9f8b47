"""CONV_2D: each output pixel is a dot product of a filter with the input window under it.

Mirrors tensorflow/lite/micro/kernels/conv.cc and conv_common.cc (OpDataConv,
CalculateOpDataConv, ConvPrepare, ConvEval), with the arithmetic of
reference_integer_ops::ConvPerChannel (int8, and its int16 template: "16x8") and
reference_ops::Conv (float32), and the padding rules of tensorflow/lite/kernels/padding.h.

Layouts (NHWC, as everywhere in TFLM):
    input  [batches, input_height, input_width, input_depth]
    filter [output_depth, filter_height, filter_width, filter_input_depth]
    bias   [output_depth] (optional: input index -1, or only two inputs)
    output [batches, output_height, output_width, output_depth]
When input_depth is a multiple k of filter_input_depth the conv is *grouped*: k groups,
each seeing filter_input_depth input channels and owning output_depth / k filters.

16x8 quantization: int16 input and output, int8 filter, int64 (or int32) bias. int16
activations are taken as symmetric: the int16 loop reads no zero point at all (a model's
nonzero zero points change only the fused activation's clamp, as in TFLM). The bias type
picks the C++ accumulator - int64 for an int64 bias, int32 for an int32 one - and with it
the overload of MultiplyByQuantizedMultiplier.

The C++ walks the output pixel by pixel and skips filter taps that fall outside the
image. Here the input is copied once into a bordered buffer so every tap can be read as a
strided view; the border holds a value that contributes nothing (the input zero point for
int8, whose offset input is 0; 0 for int16; for float the taps outside are masked to 0).
The geometry and that buffer live in ConvGeometry, which DEPTHWISE_CONV_2D shares - as
TFLM's depthwise_conv_common.cc shares OpDataConv and padding.h.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from tflm_edu.kernels.kernel_api import Registration, ensure, unsupported_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule
from tflm_edu.kernels.quantization_util import (accumulator_16x8, check_quantized_bias_type,
                                                check_shifts_16x8,
                                                calculate_activation_range_float,
                                                calculate_activation_range_quantized,
                                                WeightedSum, constant_array,
                                                quantize_multiplier,
                                                requantize_16x8, requantize_to_output,
                                                Requantizer, FloatRequantizer,
                                                channels_last_tiling, int8_sum_range)
from tflm_edu.schema.enums import BuiltinOperator as Op, Padding, TensorType, type_name
from tflm_edu.schema.options import Conv2DOptions
from tflm_edu.windows import (MAX_BORDERED_ELEMENTS, check_int16_fields, compute_out_size,
                              compute_padding_with_offset, tap, window_view)
from tflm_edu.memory.layout import BUILTIN, KERNELS, c_struct, m

INPUT, FILTER, BIAS, OUTPUT = 0, 1, 2, 0
QUANTIZED_DIMENSION = 0  # per-channel filter scales run along the output channels



@dataclass
class PaddingValues:
    """TfLitePaddingValues: rows/columns of padding before the image; the *_offset is the
    odd extra one that SAME puts after it (bottom/right)."""

    width: int = 0
    height: int = 0
    width_offset: int = 0
    height_offset: int = 0


@dataclass
class ConvGeometry:
    """Where each filter tap reads the input: strides, dilations, padding, and the size of
    the bordered input that makes every tap a plain strided view."""

    batches: int
    input_height: int
    input_width: int
    input_depth: int
    filter_height: int
    filter_width: int
    output_height: int
    output_width: int
    stride_height: int
    stride_width: int
    dilation_height: int
    dilation_width: int
    padding: PaddingValues
    padded_height: int = 0
    padded_width: int = 0

    def __post_init__(self):
        # Rows needed: the last output's window starts at (out - 1) * stride and spans the
        # dilated filter; the input itself sits `padding` rows down.
        self.padded_height = max(self.padding.height + self.input_height,
                                 (self.output_height - 1) * self.stride_height
                                 + (self.filter_height - 1) * self.dilation_height + 1)
        self.padded_width = max(self.padding.width + self.input_width,
                                (self.output_width - 1) * self.stride_width
                                + (self.filter_width - 1) * self.dilation_width + 1)

    @property
    def needs_border(self) -> bool:
        return (self.padded_height, self.padded_width) != (self.input_height, self.input_width)

    def new_padded_buffer(self, dtype, fill) -> np.ndarray | None:
        """The bordered input, border already filled; None when no tap leaves the image."""
        if not self.needs_border:
            return None
        return np.full((self.batches, self.padded_height, self.padded_width, self.input_depth),
                       fill, dtype=dtype)

    def place(self, x: np.ndarray, buffer: np.ndarray | None) -> np.ndarray:
        """Copy the input inside the border (only the interior is ever written)."""
        if buffer is None:
            return x
        top, left = self.padding.height, self.padding.width
        buffer[:, top:top + self.input_height, left:left + self.input_width, :] = x
        return buffer

    def tap(self, x_padded: np.ndarray, filter_y: int, filter_x: int) -> np.ndarray:
        """[batches, output_height, output_width, depth]: the input value each output
        pixel meets at filter tap (filter_y, filter_x)."""
        return tap(x_padded, (self.output_height, self.output_width),
                   (self.stride_height, self.stride_width),
                   (self.dilation_height, self.dilation_width), filter_y, filter_x)

    def windows(self, x_padded: np.ndarray) -> np.ndarray:
        """im2col as a view: [batches, out_h, out_w, filter_h, filter_w, depth] - every
        output pixel's window, without copying anything."""
        return window_view(x_padded, (self.output_height, self.output_width),
                           (self.filter_height, self.filter_width),
                           (self.stride_height, self.stride_width),
                           (self.dilation_height, self.dilation_width))

    def inside(self, filter_y: int, filter_x: int) -> np.ndarray | None:
        """[out_h, out_w, 1] mask of the outputs whose tap (filter_y, filter_x) lies in the
        image - the C++'s is_point_inside_image - or None when all of them do."""
        in_y = (np.arange(self.output_height) * self.stride_height - self.padding.height
                + filter_y * self.dilation_height)
        in_x = (np.arange(self.output_width) * self.stride_width - self.padding.width
                + filter_x * self.dilation_width)
        rows = (in_y >= 0) & (in_y < self.input_height)
        cols = (in_x >= 0) & (in_x < self.input_width)
        if rows.all() and cols.all():
            return None
        return (rows[:, None] & cols[None, :])[:, :, None]


@dataclass
class OpDataConv:
    padding: PaddingValues = field(default_factory=PaddingValues)
    input_zero_point: int = 0
    filter_zero_point: int = 0
    output_zero_point: int = 0
    output_multiplier: int = 0
    output_shift: int = 0
    per_channel_output_multiplier: np.ndarray | None = None
    per_channel_output_shift: np.ndarray | None = None
    output_activation_min: float = 0
    output_activation_max: float = 0
    # What TFLM recomputes on every Eval, computed once here:
    geometry: ConvGeometry | None = None
    groups: int = 1
    padded_input: np.ndarray | None = None  # bordered input buffer, reused by every invoke
    # int8 filter ready for eval: conv [groups, K, filters_per_group] float64 for BLAS,
    # depthwise [filter_h, filter_w, input_depth, depth_multiplier] int32
    filter_matrix: np.ndarray | None = None
    # int8: bias + input_offset * sum(filter); int16: the bias as int64 (no offset to fold)
    folded_bias: np.ndarray | None = None
    accumulator: type | None = None  # int16: the C++ AccumScalar, np.int32 or np.int64
    inside_masks: dict | None = None  # float: (filter_y, filter_x) -> mask or None


def init(context, node):
    return OpDataConv()


# ----------------------------------------------------------------------------- prepare
# Shared with DEPTHWISE_CONV_2D, as depthwise_conv_common.cc shares conv.h.


def check_conv_io(context, node, op_label: str):
    """The tensors of a conv-like op, with rank and count checks: (input, filter, bias,
    output); bias is None when absent."""
    ensure(node.builtin_data is not None, f"{op_label} has no builtin options")
    ensure(len(node.inputs) in (2, 3), f"{op_label} takes 2 or 3 inputs (input, filter, "
                                       f"optional bias), got {len(node.inputs)}")
    ensure(len(node.outputs) == 1, f"{op_label} has 1 output, got {len(node.outputs)}")
    input, filter = context.get_input(node, INPUT), context.get_input(node, FILTER)
    ensure(input is not None and filter is not None, "input and filter are required")
    bias = context.get_input(node, BIAS) if len(node.inputs) == 3 else None
    output = context.get_output(node, OUTPUT)
    for name, t in (("input", input), ("filter", filter), ("output", output)):
        ensure(len(t.shape) == 4, f"{name} must be 4-D, got shape {list(t.shape)}")
    ensure(input.type == output.type, f"input is {type_name(input.type)} but output is "
                                      f"{type_name(output.type)}")
    return input, filter, bias, output


def compute_geometry(params, input, filter, output) -> ConvGeometry:
    """ComputePaddingHeightWidth plus the checks it makes (positive strides and dilations,
    SAME or VALID), and the output shape the op must have."""
    ensure(params.padding in (Padding.SAME, Padding.VALID),
           f"padding must be SAME or VALID, got {params.padding}")
    ensure(params.stride_h > 0 and params.stride_w > 0,
           f"strides must be positive, got stride_h={params.stride_h} "
           f"stride_w={params.stride_w}")
    ensure(params.dilation_h_factor > 0 and params.dilation_w_factor > 0,
           f"dilations must be positive, got dilation_h={params.dilation_h_factor} "
           f"dilation_w={params.dilation_w_factor}")
    batches, in_h, in_w, depth = input.shape
    filter_h, filter_w = filter.shape[1], filter.shape[2]
    ensure(filter_h > 0 and filter_w > 0, f"filter is empty: {list(filter.shape)}")
    out_h = compute_out_size(params.padding, in_h, filter_h, params.stride_h,
                             params.dilation_h_factor)
    out_w = compute_out_size(params.padding, in_w, filter_w, params.stride_w,
                             params.dilation_w_factor)
    ensure(out_h > 0 and out_w > 0,
           f"input {in_h}x{in_w} gives no output for a {filter_h}x{filter_w} filter "
           f"(dilation {params.dilation_h_factor}x{params.dilation_w_factor}, "
           f"{Padding(params.padding).name} padding)")
    pad_h, offset_h = compute_padding_with_offset(params.stride_h, params.dilation_h_factor,
                                                  in_h, filter_h, out_h)
    pad_w, offset_w = compute_padding_with_offset(params.stride_w, params.dilation_w_factor,
                                                  in_w, filter_w, out_w)
    check_int16_fields("ConvParams", stride_h=params.stride_h, stride_w=params.stride_w,
                       dilation_h=params.dilation_h_factor, dilation_w=params.dilation_w_factor,
                       padding_height=pad_h, padding_width=pad_w)
    geometry = ConvGeometry(batches, in_h, in_w, depth, filter_h, filter_w, out_h, out_w,
                            params.stride_h, params.stride_w, params.dilation_h_factor,
                            params.dilation_w_factor,
                            PaddingValues(pad_w, pad_h, offset_w, offset_h))
    # The bordered input grows with the dilated filter's reach; a hostile dilation must not
    # turn a tiny model into gigabytes of border.
    border_elements = batches * geometry.padded_height * geometry.padded_width * depth
    ensure(border_elements <= MAX_BORDERED_ELEMENTS,
           f"dilation {params.dilation_h_factor}x{params.dilation_w_factor} makes the "
           f"{filter_h}x{filter_w} filter reach a {geometry.padded_height}x"
           f"{geometry.padded_width} bordered input; tflm_edu refuses more than "
           f"{MAX_BORDERED_ELEMENTS:,} elements")
    return geometry


def check_output_shape(output, geometry: ConvGeometry, output_depth: int) -> None:
    expected = [geometry.batches, geometry.output_height, geometry.output_width, output_depth]
    ensure(list(output.shape) == expected,
           f"output shape {list(output.shape)} should be {expected} for this input, filter, "
           f"stride, dilation and padding")


def bias_values(bias):
    """The bias as the kernels read it: flat, whatever its shape ([16, 1] as well as [16]),
    as TFLM indexes bias_data[out_channel]. None without a bias."""
    return None if bias is None else bias.data.reshape(-1)


def check_bias(bias, output_depth: int, *expected_types: int) -> None:
    if bias is None:
        return
    ensure(bias.type in expected_types,
           f"bias is {type_name(bias.type)}; this op needs "
           f"{' or '.join(type_name(t) for t in expected_types)} bias here")
    ensure(bias.num_elements == output_depth,
           f"bias has {bias.num_elements} elements for {output_depth} output channels")


def populate_convolution_quantization_params(data: OpDataConv, params, input, filter, output,
                                             num_channels: int, quantized_dimension: int,
                                             output_dtype=np.int8) -> None:
    """PopulateConvolutionQuantizationParams: one multiplier and shift per output channel
    (a per-tensor filter scale is broadcast), and the fused activation as a clamp in the
    output type's range."""
    for name, t in (("input", input), ("filter", filter), ("output", output)):
        ensure(t.quantization is not None and len(t.quantization.scale) > 0,
               f"{type_name(t.type)} {name} tensor {t.index} ({t.name!r}) has no "
               f"quantization parameters")
    ensure(len(input.quantization.scale) == 1 and len(output.quantization.scale) == 1,
           "input and output must be quantized per tensor (one scale each)")
    filter_scales = filter.quantization.scale
    ensure(len(filter_scales) in (1, num_channels),
           f"filter has {len(filter_scales)} scales; expected 1 or one per output channel "
           f"({num_channels})")
    ensure(len(filter.quantization.zero_point) == len(filter_scales),
           f"filter has {len(filter_scales)} scales but "
           f"{len(filter.quantization.zero_point)} zero points")
    if len(filter_scales) > 1:
        ensure(filter.quantization.quantized_dimension == quantized_dimension,
               f"per-channel filter must be quantized along dimension {quantized_dimension} "
               f"(output channels), not {filter.quantization.quantized_dimension}")
    ensure(output.scale > 0 and input.scale > 0, "input and output scales must be positive")
    multipliers, shifts = [], []
    for c in range(num_channels):
        filter_scale = float(filter_scales[c if len(filter_scales) > 1 else 0])
        effective_output_scale = float(input.scale) * filter_scale / float(output.scale)
        multiplier, shift = quantize_multiplier(effective_output_scale)
        multipliers.append(multiplier)
        shifts.append(shift)
    data.per_channel_output_multiplier = np.array(multipliers, np.int64)
    data.per_channel_output_shift = np.array(shifts, np.int64)
    data.output_activation_min, data.output_activation_max = calculate_activation_range_quantized(
        params.fused_activation_function, output.scale, output.zero_point, output_dtype)


def float_inside_masks(geometry: ConvGeometry) -> dict:
    return {(fy, fx): geometry.inside(fy, fx) for fy in range(geometry.filter_height)
            for fx in range(geometry.filter_width)}


# ----------------------------------------------------------------------------- CONV_2D


def prepare(context, node):
    data: OpDataConv = node.user_data
    params = node.builtin_data
    input, filter, bias, output = check_conv_io(context, node, "CONV_2D")
    check_quantized_bias_type(params)
    output_depth, _, _, filter_input_depth = filter.shape
    input_depth = input.shape[3]
    # TFLM allocates the per-channel arrays before anything else is checked.
    ensure(input_depth > 0, f"input has no channels ({list(input.shape)}): TFLM divides the "
                            f"output channels by the group count, 0, and crashes (SIGFPE)")
    ensure(filter_input_depth > 0 and input_depth % filter_input_depth == 0,
           f"input has {input_depth} channels, not a multiple of the filter's "
           f"{filter_input_depth} (filter {list(filter.shape)})")
    data.groups = input_depth // filter_input_depth
    ensure(output_depth > 0 and output_depth % data.groups == 0,
           f"{data.groups} groups ({input_depth} input / {filter_input_depth} filter channels) "
           f"do not divide the {output_depth} output channels")
    data.geometry = compute_geometry(params, input, filter, output)
    check_output_shape(output, data.geometry, output_depth)
    data.padding = data.geometry.padding

    # The 16x8 ConvEval takes an int64 or an int32 bias (and refuses any other).
    prepare_by_type(node, data, params, input, filter, bias, output, output_depth, "conv",
                    QUANTIZED_DIMENSION, lambda f, b, offset: conv_filter_matrix(
                        f, b, offset, data.groups),
                    int16_bias_types=(TensorType.INT64, TensorType.INT32))


def prepare_by_type(node, data, params, input, filter, bias, output, output_depth, label,
                    quantized_dimension, make_filter_matrix, int16_bias_types):
    """The dtype-dependent half of Prepare that CONV_2D and DEPTHWISE_CONV_2D share (as
    TFLM's conv_common.cc and depthwise_conv_common.cc do): activation range, the bordered
    input buffer and, for int8 and int16, per-channel multipliers and the filter in matrix
    form."""
    if input.type == TensorType.FLOAT32:
        ensure(filter.type == TensorType.FLOAT32, f"float32 {label} needs float32 filter, got "
                                                  f"{type_name(filter.type)} (hybrid models are "
                                                  f"not supported on TFLite Micro)")
        check_bias(bias, output_depth, TensorType.FLOAT32)
        data.output_activation_min, data.output_activation_max = calculate_activation_range_float(
            params.fused_activation_function)
        data.padded_input = data.geometry.new_padded_buffer(np.float32, 0.0)
        data.inside_masks = float_inside_masks(data.geometry)
    elif input.type == TensorType.INT8:
        ensure(filter.type == TensorType.INT8, f"int8 {label} needs int8 filter, got "
                                               f"{type_name(filter.type)}")
        check_bias(bias, output_depth, TensorType.INT32)
        populate_convolution_quantization_params(data, params, input, filter, output,
                                                 output_depth, quantized_dimension)
        # A border of zero points: (zero_point + input_offset) = 0, as if the tap were skipped.
        data.padded_input = data.geometry.new_padded_buffer(np.int8, input.zero_point)
        if filter.data is not None and (bias is None or bias.data is not None):
            data.filter_matrix, data.folded_bias = make_filter_matrix(
                filter.data, bias_values(bias), -input.zero_point)
    elif input.type == TensorType.INT16:
        prepare_16x8(data, params, input, filter, bias, output, output_depth, label,
                     quantized_dimension, make_filter_matrix, int16_bias_types)
    else:
        raise unsupported_type(node, input)
    data.input_zero_point = input.zero_point
    data.filter_zero_point = filter.zero_point
    data.output_zero_point = output.zero_point


def prepare_16x8(data, params, input, filter, bias, output, output_depth, label,
                 quantized_dimension, make_filter_matrix, bias_types):
    """The int16-activation half of prepare_by_type: the same per-channel multipliers,
    an int16 clamp, a border of zeros (the 16x8 loop adds no input offset), the filter in
    matrix form and the bias kept apart, as int64 - an int64 bias may not fit a float64."""
    ensure(filter.type == TensorType.INT8, f"int16 {label} needs int8 filter (16x8 "
                                           f"quantization), got {type_name(filter.type)}")
    check_bias(bias, output_depth, *bias_types)
    populate_convolution_quantization_params(data, params, input, filter, output,
                                             output_depth, quantized_dimension, np.int16)
    check_shifts_16x8(data.per_channel_output_shift)
    # DepthwiseConv2DOptions has no quantized_bias_type: depthwise always sums in int64.
    data.accumulator = accumulator_16x8(None if bias is None else bias.type,
                                        getattr(params, "quantized_bias_type", None))
    data.padded_input = data.geometry.new_padded_buffer(np.int16, 0)
    if filter.data is not None and (bias is None or bias.data is not None):
        data.filter_matrix, _ = make_filter_matrix(filter.data, None, 0)
        data.folded_bias = None if bias is None else bias_values(bias).astype(np.int64)


def eval(context, node):
    data: OpDataConv = node.user_data
    input, filter = context.get_input(node, INPUT), context.get_input(node, FILTER)
    bias = context.get_input(node, BIAS) if len(node.inputs) == 3 else None
    output = context.get_output(node, OUTPUT)
    x_padded = data.geometry.place(input.data, data.padded_input)
    if input.type == TensorType.FLOAT32:
        result = conv_float(x_padded, filter.data, bias_values(bias),
                            data.geometry, data.groups, data.inside_masks,
                            data.output_activation_min, data.output_activation_max)
    elif input.type == TensorType.INT8:
        filter_matrix, folded_bias = data.filter_matrix, data.folded_bias
        if filter_matrix is None:  # filter or bias is not a constant: fold them every time
            filter_matrix, folded_bias = conv_filter_matrix(
                filter.data, bias_values(bias), -data.input_zero_point,
                data.groups)
        result = conv_per_channel(x_padded, filter_matrix, folded_bias, data.geometry,
                                  data.per_channel_output_multiplier,
                                  data.per_channel_output_shift, data.output_zero_point,
                                  data.output_activation_min, data.output_activation_max)
    elif input.type == TensorType.INT16:
        filter_matrix, bias_64 = data.filter_matrix, data.folded_bias
        if filter_matrix is None:  # filter or bias is not a constant
            filter_matrix, _ = conv_filter_matrix(filter.data, None, 0, data.groups)
            bias_64 = None if bias is None else bias_values(bias).astype(np.int64)
        result = conv_per_channel_16x8(x_padded, filter_matrix, bias_64, data.geometry,
                                       data.per_channel_output_multiplier,
                                       data.per_channel_output_shift, data.accumulator,
                                       data.output_activation_min,
                                       data.output_activation_max)
    else:
        raise unsupported_type(node, input)
    output.data[...] = result


# ----------------------------------------------------------------------------- reference math


def conv_filter_matrix(filter, bias, input_offset, groups):
    """The int8 filter as float64 matrices for BLAS, one per group: [groups, K, per_group]
    with K ordered (filter_y, filter_x, in_channel); and the bias with the input offset
    folded in: sum(f * (x + off)) = sum(f * x) + off * sum(f), so the input need not be
    offset on every invoke."""
    output_depth = filter.shape[0]
    per_group = output_depth // groups
    flat = filter.reshape(output_depth, -1).astype(np.float64)  # [out, K]
    matrix = np.ascontiguousarray(flat.reshape(groups, per_group, -1).transpose(0, 2, 1))
    folded = input_offset * flat.sum(axis=1)
    if bias is not None:
        folded = folded + bias.astype(np.float64)
    return matrix, folded


def conv_per_channel(x_padded, filter_matrix, folded_bias, geometry, multiplier, shift,
                     output_offset, act_min, act_max):
    """reference_integer_ops::ConvPerChannel: acc = sum(filter * (input + input_offset))
    over (filter_y, filter_x, in_channel), + bias, MultiplyByQuantizedMultiplier per output
    channel, + output_offset, clamp.

    Every window is read at once (im2col) and multiplied by the filter in float64 BLAS -
    exact, since the integers stay far below 2^53. The C++ int32 accumulator wraps on
    overflow; requantize_to_output wraps the exact sum the same way."""
    g = geometry
    acc = im2col_matmul(x_padded, filter_matrix, geometry) + folded_bias
    result = requantize_to_output(acc.astype(np.int64), multiplier, shift, output_offset,
                                  act_min, act_max, np.int8)
    return result.reshape(g.batches, g.output_height, g.output_width, -1)


def conv_per_channel_16x8(x_padded, filter_matrix, bias, geometry, multiplier, shift,
                          accumulator, act_min, act_max):
    """reference_integer_ops::ConvPerChannel for int16 input (the 16x8 template):
    acc = sum(filter * input) - no input offset - + bias, the MultiplyByQuantizedMultiplier
    of the accumulator's type, no output offset, clamp, int16.

    The same float64 BLAS product as int8, still exact: |filter * input| <= 2^7 * 2^15 =
    2^22, so a sum of K terms stays below 2^53 for any K < 2^31. The int64 bias is added
    after the conversion to int64, in integers."""
    g = geometry
    acc = im2col_matmul(x_padded, filter_matrix, geometry).astype(np.int64)
    if bias is not None:
        acc += bias
    result = requantize_16x8(acc, multiplier, shift, 0, act_min, act_max, accumulator)
    return result.reshape(g.batches, g.output_height, g.output_width, -1)


def im2col_matmul(x_padded, filter_matrix, geometry):
    """[rows, output_depth] float64: every output pixel's window (im2col, one copy into
    float64 rows) times its group's filter matrix, in BLAS. Exact for integer inputs while
    the sums stay below 2^53."""
    groups, accum_depth, per_group = filter_matrix.shape
    g = geometry
    rows = g.batches * g.output_height * g.output_width
    # [b, oy, ox, ky, kx, group, in_channel] -> rows of (ky, kx, in_channel) per group
    windows = g.windows(x_padded)
    windows = windows.reshape(windows.shape[:5] + (groups, -1))
    columns = np.empty((groups,) + windows.shape[:5] + windows.shape[6:])
    columns[...] = np.moveaxis(windows, 5, 0)  # one copy: integer view -> float64 rows
    acc = matmul_in_row_blocks(columns.reshape(groups, rows, accum_depth), filter_matrix)
    return np.moveaxis(acc, 0, 1).reshape(rows, groups * per_group)


# OpenBLAS hands a product of more than about 2 * 2^18 multiply-adds to several threads.
# The products of small models are just above that, where waking a second thread costs
# more than it saves - and, when other processes hold the cores, hundreds of times more.
BLAS_BLOCK_MACS = 1 << 18
BLAS_MAX_BLOCKS = 8  # beyond this the product is large enough to profit from threads


def matmul_in_row_blocks(a, b, out=None):
    """a @ b for a [..., rows, K] and b [..., K, N], in blocks of rows small enough that
    BLAS runs each on this thread. The result is the same (exact integers here)."""
    rows, accum_depth = a.shape[-2:]
    block = max(1, BLAS_BLOCK_MACS // max(1, accum_depth * b.shape[-1]))
    if rows <= block or rows > block * BLAS_MAX_BLOCKS:
        return np.matmul(a, b, out=out)
    if out is None:
        out = np.empty(a.shape[:-1] + b.shape[-1:])
    for start in range(0, rows, block):
        np.matmul(a[..., start:start + block, :], b, out=out[..., start:start + block, :])
    return out


def bind_int8_float_requantized(context, data, input, windows, out):
    """run() for an int8 CONV_2D in one group: the im2col rows and a column of ones times
    the filter matrix with the folded bias as its last row - the whole int32 accumulator
    in one BLAS product, exact in float32 while every partial sum stays below 2^24 (else
    float64) - then FloatRequantizer. None when the requantizer cannot be proven exact."""
    matrix, folded = data.filter_matrix[0], data.folded_bias.astype(np.int64)   # [K, out]
    low, high = int8_sum_range(matrix)
    bound = 128 * np.abs(matrix).sum(axis=0) + np.abs(folded)     # any partial sum's size
    dtype = np.float32 if bound.max(initial=0) < 2**24 else np.float64
    requantizer = FloatRequantizer.build(
        data.per_channel_output_multiplier, data.per_channel_output_shift,
        data.output_zero_point, data.output_activation_min, data.output_activation_max,
        low + folded, high + folded, dtype)
    if requantizer is None:
        return None
    g, work = data.geometry, context.work_array
    rows, accum_depth = out.shape[0], matrix.shape[0]
    augmented = np.vstack([matrix, folded[None, :]]).astype(dtype)
    columns = work((rows, accum_depth + 1), dtype)
    inputs = columns.reshape(windows.shape[:3] + (-1,))[..., :accum_depth].reshape(
        windows.shape)                                  # a view: the first K columns
    assert np.shares_memory(inputs, columns)
    acc = work(out.shape, dtype)
    k = channels_last_tiling(rows, out.shape[1])
    requantize = requantizer.bind(acc.reshape(rows // k, -1), out.reshape(rows // k, -1),
                                  lambda values: np.tile(values, k), alloc=work)

    def run():
        g.place(input.data, data.padded_input)
        inputs[...] = windows
        columns[:, accum_depth] = 1.0
        matmul_in_row_blocks(columns, augmented, out=acc)
        requantize()
    return run


@np.errstate(over="ignore", invalid="ignore")  # inf and NaN are results here, as in C++
def conv_float(x_padded, filter, bias, geometry, groups, inside_masks, act_min, act_max):
    """reference_ops::Conv: for each output, total = 0.0f, then total += input * filter
    over filter_y, filter_x, in_channel in that order (float32, no FMA), then
    total + bias, then clamp. Vectorized over every output at once, looping over the
    reduction in the C++ order so every rounding is the same. Taps outside the image are
    masked to 0, which adds nothing (total is never -0.0)."""
    g = geometry
    output_depth, _, _, filter_input_depth = filter.shape
    per_group = output_depth // groups
    # Input channel seen by each output channel at in_channel 0 of its group.
    group_start = (np.arange(output_depth) // per_group) * filter_input_depth
    total = np.zeros((g.batches, g.output_height, g.output_width, output_depth), np.float32)
    for filter_y in range(g.filter_height):
        for filter_x in range(g.filter_width):
            x_tap = g.tap(x_padded, filter_y, filter_x)
            inside = inside_masks[(filter_y, filter_x)]
            for in_channel in range(filter_input_depth):
                if groups == 1:
                    x_value = x_tap[..., in_channel:in_channel + 1]
                else:
                    x_value = x_tap[..., group_start + in_channel]
                product = x_value * filter[:, filter_y, filter_x, in_channel]
                if inside is not None:
                    product = np.where(inside, product, np.float32(0))
                total += product
    total = total + (bias if bias is not None else np.float32(0.0))  # the C++ adds 0.0f
    return np.minimum(np.maximum(total, np.float32(act_min)), np.float32(act_max))


def count_macs(context, node):
    filter, output = context.get_input(node, FILTER), context.get_output(node, OUTPUT)
    return output.num_elements * filter.shape[1] * filter.shape[2] * filter.shape[3]


# ----------------------------------------------------------------------------- the bound Eval


def bind(context, node):
    """The invoke plan's Eval (Registration.bind) for an int8 or float32 CONV_2D with a
    constant filter and bias, in one group: eval's arithmetic with the windows view, the
    im2col rows, the filter matrix, the requantization constants and every work array set
    up once. Anything else runs eval (returns None)."""
    data: OpDataConv = node.user_data
    input, filter = context.get_input(node, INPUT), context.get_input(node, FILTER)
    bias = context.get_input(node, BIAS) if len(node.inputs) == 3 else None
    output = context.get_output(node, OUTPUT)
    if data.groups != 1 or not filter.is_constant or (bias is not None and
                                                      not bias.is_constant):
        return None
    g = data.geometry
    x_padded = input.data if data.padded_input is None else data.padded_input
    windows = g.windows(x_padded)      # a view: it follows the buffer from invoke to invoke
    rows = g.batches * g.output_height * g.output_width
    out = output.data.reshape(rows, -1)

    work = context.work_array
    if input.type == TensorType.INT8 and data.filter_matrix is not None:
        run = bind_int8_float_requantized(context, data, input, windows, out)
        if run is not None:
            return run
        matrix, folded = data.filter_matrix[0], data.folded_bias
        # Every partial sum of input x filter products (no offsets: they are in `folded`)
        # is below this; under 2^24 float32 BLAS is exact too, and twice as fast.
        sums_below = matrix.shape[0] * 128 * float(np.abs(matrix).max(initial=0))
        dtype = np.float32 if sums_below < 2**24 else np.float64
        matrix = matrix.astype(dtype)
        folded = folded.astype(np.int64)
        columns = work((rows, matrix.shape[0]), dtype)
        acc = work(out.shape, dtype)

        def fill():
            g.place(input.data, data.padded_input)
            columns.reshape(windows.shape)[...] = windows
        requantize = Requantizer(data.per_channel_output_multiplier,
                                 data.per_channel_output_shift, data.output_zero_point,
                                 data.output_activation_min, data.output_activation_max,
                                 out.shape, sums_below + float(np.abs(folded).max(initial=0)),
                                 alloc=work)
        total = requantize.work

        def run():
            fill()
            matmul_in_row_blocks(columns, matrix, out=acc)
            np.copyto(total, acc, casting="unsafe")
            np.add(total, folded, out=total)
            requantize(total, out)
        return run
    if input.type == TensorType.FLOAT32:
        # A zero border times an inf or NaN weight is NaN where the C++ skips the tap.
        if data.padded_input is not None and not np.isfinite(filter.data).all():
            return None
        output_depth = out.shape[1]
        weights, bias = filter.data.reshape(output_depth, -1), bias_values(bias)   # [out, K]
        if not WeightedSum.accepts(weights, bias):
            return None
        # Products [K, out channel, rows]: the input's columns [K, rows] broadcast over the
        # channels; the sums run along K (filter_y, filter_x, in_channel order), the outer
        # axis, where numpy reduces fastest.
        order = float_rows_order(g)
        columns, sums = float_sums(weights.T[:, :, None], None if bias is None else
                                   bias[:, None], (weights.shape[1], 1, rows),
                                   (weights.shape[1], output_depth, rows), work)
        out_view = output.data.reshape(g.batches, g.output_height, g.output_width,
                                       output_depth).transpose((3,) + order)
        fill_windows = window_filler(g, input.data, data.padded_input, columns, order)
        return float_tail(fill_windows, columns, sums, data, out_view, work)
    return None


def float_sums(weights, bias, columns_shape, shape, work):
    """(columns, sums) for a bound float convolution: the columns it fills at each invoke
    ([K, ...], K in the C++ sum order) and the WeightedSum of columns x weights (products
    of `shape`, K first), then + bias. Small columns are the op's own array with one more
    row, all ones: the bias rides there as one more weight row - one more row of products
    instead of a copy of the bias at every invoke (1 x bias is bias, exactly)."""
    depth = shape[0]
    if bias is None or (depth + 1) * math.prod(columns_shape[1:]) > OWN_COLUMNS:
        return (work(columns_shape, np.float32),
                WeightedSum(weights, 0, shape, bias, alloc=work))
    columns = np.empty((depth + 1,) + columns_shape[1:], np.float32)
    columns[depth] = 1.0
    weights = np.concatenate([np.broadcast_to(weights, (depth,) + weights.shape[1:]),
                              np.asarray(bias, np.float32)[None]])
    return columns, WeightedSum(weights, 0, (depth + 1,) + shape[1:], None, alloc=work)


# Columns up to this many elements are a bound float convolution's own array (64 KiB).
OWN_COLUMNS = 1 << 14


def window_filler(g: ConvGeometry, source, bordered, columns, order):
    """fill() for a bound float convolution: the input copied inside its border (if it
    has one), then every window - [filter_y, filter_x, in_channel, rows in `order`] - into
    the first rows of `columns`: one copy each, every view made once. An output taller
    than wide reads its own bordered input, laid out column by column (zeros around, as
    the one Prepare made): both copies then run along the long axis."""
    if bordered is not None and order == (0, 2, 1):
        b, h, w, c = bordered.shape
        bordered = np.zeros((b, w, h, c), np.float32).transpose(0, 2, 1, 3)
    windows = g.windows(source if bordered is None else bordered).transpose((3, 4, 5) + order)
    columns = columns.reshape(-1)[:windows.size].reshape(windows.shape)
    if bordered is None:
        def fill():
            columns[...] = windows
        return fill
    top, left = g.padding.height, g.padding.width
    interior = bordered[:, top:top + g.input_height, left:left + g.input_width, :]

    def fill():
        interior[...] = source
        columns[...] = windows
    return fill


def float_rows_order(g: ConvGeometry) -> tuple:
    """The order of the output pixels along a bound float convolution's rows: (b, y, x), or
    (b, x, y) for an output taller than wide - the longer axis last, so that filling the
    rows from the windows and writing them to the output run along long strides."""
    return (0, 2, 1) if g.output_height > g.output_width else (0, 1, 2)


def float_tail(fill, x, sums, data, out_view, work):
    """run() for a bound float convolution: fill() puts this invoke's input windows in x,
    `sums` (a WeightedSum) adds up the products in the C++ order and then the bias, the
    activation clamps the totals, and they land in the output (out_view: the output laid
    out as the totals are). The C++ adds 0.0f when there is no bias, which changes nothing:
    a sum that starts at +0.0 is never -0.0."""
    total = work(out_view.shape, np.float32)
    # std::min(std::max(total, act_min), act_max), clamped the other way round: the same
    # for any total (NaN stays NaN, never -0.0) as act_min <= act_max. Constant arrays:
    # numpy is slower with a scalar operand.
    low = constant_array(data.output_activation_min, total.shape)
    high = constant_array(data.output_activation_max, total.shape)
    add_up = sums.bind(x, total.reshape(sums.total_shape))
    minimum, maximum = np.minimum, np.maximum

    def run():             # invoke() silences float warnings: inf and NaN are results
        fill()
        add_up()
        minimum(total, high, out=total)
        maximum(total, low, out=out_view)
    return run



def register_conv_2d():
    return Registration("CONV_2D", prepare=prepare, eval=eval, init=init, max_version=8,
                        count_macs=count_macs, bind=bind)


def conv_like_arena_prepare(quantized_dimension: int):
    """ConvPrepare / DepthwiseConvPrepare, then CalculateOpData*: the output and the first
    two inputs as temporaries, per-channel multipliers and shifts (float models get them
    too: the kernel does not look at the type first), then all inputs and the output."""
    def prepare(k):
        k.temp_output(0)
        k.temp_input(0)
        k.temp_input(1)
        channels = k.input(1).shape[quantized_dimension]
        k.persistent(4 * channels, "per-channel output multipliers")
        k.persistent(4 * channels, "per-channel output shifts")
        for i in range(3):
            k.temp_input(i)
        k.temp_output(0)
    return prepare


# The C structs this kernel puts in the arena, member by member as TFLM declares them
# (tflm_edu.memory.layout lays them out for each target).
c_struct("TfLiteConvParams", BUILTIN, m("padding", "enum"), m("stride_width", "int"),
         m("stride_height", "int"), m("activation", "enum"), m("dilation_width_factor", "int"),
         m("dilation_height_factor", "int"), m("quantized_bias_type", "enum"))
c_struct("OpDataConv", KERNELS + "conv.h", m("padding", "TfLitePaddingValues"),
         m("input_zero_point", "int32"), m("filter_zero_point", "int32"),
         m("output_zero_point", "int32"), m("output_multiplier", "int32"),
         m("output_shift", "int"), m("per_channel_output_multiplier", "ptr"),
         m("per_channel_output_shift", "ptr"), m("output_activation_min", "int32"),
         m("output_activation_max", "int32"), m("filter_buffer_index", "int"),
         m("weights_scratch_index", "int", compression_only=True),
         m("bias_scratch_index", "int", compression_only=True))

SPEC = OpSpec(Op.CONV_2D, register_conv_2d, Conv2DOptions,
              (TensorType.FLOAT32, TensorType.INT8, TensorType.INT16),
              QuantizerRule(int8_version=3, weights_axis=0, int16_version=4),
              ArenaRecipe("TfLiteConvParams", "OpDataConv", conv_like_arena_prepare(0)),
              optional_inputs=frozenset({2}))
