"""TRANSPOSE_CONV: the transpose (gradient) of CONV_2D - each input pixel stamps the filter,
scaled by its value, onto the output, `stride` pixels apart.

Mirrors tensorflow/lite/micro/kernels/transpose_conv.cc (OpData, CalculateOpData,
TransposeConvInit, TransposeConvPrepare, TransposeConvEval), with the loops of
reference_ops::TransposeConv (float32, kernels/internal/reference/transpose_conv.h) and
reference_integer_ops::TransposeConv (int8, and its int16 template: "16x8",
reference/integer_ops/transpose_conv.h).

Inputs, in TFLite's order:
    0 output_shape  int32 [4]: TFLite's dynamic output shape. TFLM never reads it (its
                    output's shape is fixed in the model); when it is a constant, Prepare
                    here checks it matches the output tensor.
    1 filter        [output_depth, filter_height, filter_width, input_depth]
    2 input         [batches, input_height, input_width, input_depth]
    3 bias          [output_depth], optional (the op then has three inputs)
    output          [batches, output_height, output_width, output_depth]

The C++ loops over the INPUT ("scatter"): input pixel (in_y, in_x) adds
input * filter[out_channel, filter_y, filter_x, in_channel] to output pixel
(in_y * stride_height - pad_height + filter_y, in_x * stride_width - pad_width + filter_x),
dropping what falls outside the output. The padding is CONV_2D's rule run backwards: the
padding a CONV_2D from an image of the output's size would need (ComputePaddingHeightWidth
with the OUTPUT's height and width as the "input" size, dilation 1). Any output size works:
a larger output has pixels that nothing reaches (they get only the bias).

Types:
    float32   float32 filter and bias; the fused activation clamps in float.
    int8      int8 per-channel (or per-tensor) filter, int32 bias:
              acc = sum((input + input_offset) * filter) - the filter zero point is not
              read - + bias, MultiplyByQuantizedMultiplier per output channel,
              + output_offset, clamp.
    int16     int8 filter, int64 bias (or int16, which TFLM widens to int64 in a scratch
              buffer on every invoke): acc in int64 = sum(input * filter) - no input offset
              - + bias, the int64 MultiplyByQuantizedMultiplier, clamp; NO output offset
              is added (an output zero point only moves the activation's clamp).
The int8 and int16 Eval accumulate in a scratch buffer the size of the output (int32 or
int64 per element), requested in Prepare.

How it is computed here: every input pixel times the whole filter at once - a BLAS product
[pixels, input_depth] x [input_depth, filter_height * filter_width * output_depth] in
float64, exact for these integers - then one strided add per filter tap places the stamps
(col2im). float32 keeps the C++ order of every rounding instead: for each output element the
C++ adds its terms in the order (in_y, in_x, in_channel), i.e. filter_y and filter_x
descending, in_channel ascending, so the loop here runs the taps in that order, adding one
in_channel at a time to every output at once.

TFLM checks little beyond the types in Prepare (the shape agreements are debug-only
DCHECKs in the reference functions); Prepare here also refuses what would read or write
out of bounds: ranks other than 4, mismatched batches / depths, a bias of the wrong size or
type (int16 with an int32 bias: TFLM's Eval reads it as int64), strides below 1, a padding
other than SAME or VALID, and options missing (TFLM would read uninitialized params).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from tflm_edu.kernels.conv import PaddingValues, populate_convolution_quantization_params
from tflm_edu.kernels.kernel_api import Registration, ensure, unsupported_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule
from tflm_edu.kernels.quantization_util import (activation_function_with_min_max,
                                                calculate_activation_range_float,
                                                check_quantized_bias_type,
                                                check_shifts_16x8, requantize_16x8,
                                                requantize_to_output)
from tflm_edu.memory.layout import BUILTIN, KERNELS, TYPES, c_struct, m
from tflm_edu.schema.enums import ActivationFunctionType as Act
from tflm_edu.schema.enums import BuiltinOperator as Op, Padding, TensorType, type_name
from tflm_edu.schema.options import TransposeConvOptions
from tflm_edu.windows import check_int16_fields, compute_out_size, compute_padding_with_offset

OUTPUT_SHAPE, FILTER, INPUT, BIAS, OUTPUT = 0, 1, 2, 3, 0
QUANTIZED_DIMENSION = 0  # per-channel filter scales run along the output channels
SUPPORTED_TYPES = (TensorType.FLOAT32, TensorType.INT8, TensorType.INT16)
BIAS_TYPES = {TensorType.FLOAT32: (TensorType.FLOAT32,), TensorType.INT8: (TensorType.INT32,),
              TensorType.INT16: (TensorType.INT64, TensorType.INT16)}


@dataclass
class Geometry:
    """The sizes the reference loops read, and the padding Prepare computes."""

    batches: int
    input_height: int
    input_width: int
    input_depth: int
    filter_height: int
    filter_width: int
    output_height: int
    output_width: int
    output_depth: int
    stride_height: int
    stride_width: int
    padding: PaddingValues

    @property
    def full_height(self) -> int:
        """Rows of the uncropped result: every stamp, and every output row."""
        return max((self.input_height - 1) * self.stride_height + self.filter_height,
                   self.padding.height + self.output_height)

    @property
    def full_width(self) -> int:
        return max((self.input_width - 1) * self.stride_width + self.filter_width,
                   self.padding.width + self.output_width)

    def stamp(self, full, filter_y: int, filter_x: int):
        """The view of the uncropped result that filter tap (filter_y, filter_x) of every
        input pixel lands on: [batches, input_height, input_width, output_depth]."""
        return full[:, filter_y:filter_y + (self.input_height - 1) * self.stride_height + 1:
                    self.stride_height,
                    filter_x:filter_x + (self.input_width - 1) * self.stride_width + 1:
                    self.stride_width, :]

    def crop(self, full):
        top, left = self.padding.height, self.padding.width
        return full[:, top:top + self.output_height, left:left + self.output_width, :]


@dataclass
class OpDataTransposeConv:
    """TFLM's OpData of transpose_conv.cc (its ConvParams flattened), and the geometry."""

    padding: PaddingValues | None = None
    stride_width: int = 1
    stride_height: int = 1
    input_offset: int = 0
    weights_offset: int = 0
    output_offset: int = 0
    output_activation_min: float = 0
    output_activation_max: float = 0
    scratch_buffer_index: int = -1
    bias_converted_buffer_index: int = -1
    per_channel_output_multiplier: np.ndarray | None = None
    per_channel_output_shift: np.ndarray | None = None
    geometry: Geometry | None = None
    filter_matrix: np.ndarray | None = None  # [input_depth, fh * fw * output_depth] float64


def init(context, node):
    return OpDataTransposeConv()


# ----------------------------------------------------------------------------- prepare


def prepare(context, node):
    data: OpDataTransposeConv = node.user_data
    params = node.builtin_data
    ensure(params is not None, "TRANSPOSE_CONV has no builtin options")
    check_quantized_bias_type(params)
    ensure(len(node.inputs) in (3, 4), f"TRANSPOSE_CONV takes 3 or 4 inputs (output_shape, "
                                       f"filter, input, optional bias), got {len(node.inputs)}")
    ensure(len(node.outputs) == 1, f"TRANSPOSE_CONV has 1 output, got {len(node.outputs)}")
    filter, input = context.get_input(node, FILTER), context.get_input(node, INPUT)
    ensure(filter is not None and input is not None, "filter and input are required")
    bias = context.get_input(node, BIAS) if len(node.inputs) == 4 else None
    output = context.get_output(node, OUTPUT)
    ensure(input.type == filter.type or (input.type, filter.type) == (TensorType.INT16,
                                                                       TensorType.INT8),
           f"Hybrid models are not supported on TFLite Micro (input "
           f"{type_name(input.type)}, filter {type_name(filter.type)})")
    ensure(input.type == output.type, f"input is {type_name(input.type)} but output is "
                                      f"{type_name(output.type)}")
    if input.type not in SUPPORTED_TYPES:
        raise unsupported_type(node, input)
    data.geometry = compute_geometry(params, input, filter, output)
    check_output_shape_tensor(context.get_input(node, OUTPUT_SHAPE), output)
    if bias is not None:
        check_bias(bias, input.type, data.geometry.output_depth)
    data.padding = data.geometry.padding
    data.stride_width, data.stride_height = params.stride_w, params.stride_h

    if input.type == TensorType.INT8:  # an int32 accumulator per output element
        data.scratch_buffer_index = context.request_scratch_buffer_in_arena(
            4 * output.num_elements)
    elif input.type == TensorType.INT16:  # an int64 one
        data.scratch_buffer_index = context.request_scratch_buffer_in_arena(
            8 * output.num_elements)

    if input.type == TensorType.FLOAT32:
        data.output_activation_min, data.output_activation_max = \
            calculate_activation_range_float(params.fused_activation_function)
    else:
        output_dtype = np.int8 if input.type == TensorType.INT8 else np.int16
        populate_convolution_quantization_params(data, params, input, filter, output,
                                                 data.geometry.output_depth,
                                                 QUANTIZED_DIMENSION, output_dtype)
        if input.type == TensorType.INT16:
            check_shifts_16x8(data.per_channel_output_shift)
            if bias is not None and bias.type == TensorType.INT16:  # widened to int64
                data.bias_converted_buffer_index = context.request_scratch_buffer_in_arena(
                    8 * bias.num_elements)
        if filter.data is not None:
            data.filter_matrix = filter_matrix(filter.data)
    data.input_offset = -input.zero_point
    data.weights_offset = -filter.zero_point
    data.output_offset = output.zero_point


def compute_geometry(params, input, filter, output) -> Geometry:
    """Shapes that agree, and CalculateOpData's padding: ComputePaddingHeightWidth with the
    output's height and width in the place of a conv's input size."""
    for name, t in (("input", input), ("filter", filter), ("output", output)):
        ensure(len(t.shape) == 4, f"{name} must be 4-D, got shape {list(t.shape)}")
    batches, input_height, input_width, input_depth = input.shape
    output_depth, filter_height, filter_width, filter_depth = filter.shape
    ensure(output.shape[0] == batches, f"output has {output.shape[0]} batches, the input "
                                       f"{batches}")
    ensure(filter_depth == input_depth, f"filter {list(filter.shape)} has {filter_depth} "
                                        f"input channels; the input has {input_depth}")
    ensure(output.shape[3] == output_depth, f"output has {output.shape[3]} channels; the "
                                            f"filter {list(filter.shape)} makes {output_depth}")
    ensure(filter_height > 0 and filter_width > 0, f"filter is empty: {list(filter.shape)}")
    ensure(params.padding in (Padding.SAME, Padding.VALID),
           f"padding must be SAME or VALID, got {params.padding}")
    ensure(params.stride_h > 0 and params.stride_w > 0,
           f"strides must be positive, got stride_h={params.stride_h} "
           f"stride_w={params.stride_w}")
    output_height, output_width = output.shape[1], output.shape[2]
    pads = []
    for size, filter_size, stride in ((output_height, filter_height, params.stride_h),
                                      (output_width, filter_width, params.stride_w)):
        conv_out = compute_out_size(params.padding, size, filter_size, stride)
        pads.append(compute_padding_with_offset(stride, 1, size, filter_size, conv_out))
    (pad_h, offset_h), (pad_w, offset_w) = pads
    check_int16_fields("ConvParams", stride_h=params.stride_h, stride_w=params.stride_w,
                       padding_height=pad_h, padding_width=pad_w)
    return Geometry(batches, input_height, input_width, input_depth, filter_height,
                    filter_width, output_height, output_width, output_depth, params.stride_h,
                    params.stride_w, PaddingValues(pad_w, pad_h, offset_w, offset_h))


def check_output_shape_tensor(output_shape, output) -> None:
    """TFLM ignores input 0; a constant that contradicts the output is a malformed model."""
    if output_shape is None or not output_shape.is_constant or output_shape.data is None:
        return
    values = [int(v) for v in output_shape.data.reshape(-1)]
    ensure(values == list(output.shape),
           f"output_shape {values} does not match the output tensor {list(output.shape)}")


def check_bias(bias, input_type, output_depth: int) -> None:
    allowed = BIAS_TYPES[input_type]
    ensure(bias.type in allowed,
           f"bias is {type_name(bias.type)}; a {type_name(input_type)} TRANSPOSE_CONV takes "
           f"{' or '.join(type_name(t) for t in allowed)} bias")
    ensure(bias.num_elements == output_depth,
           f"bias has {bias.num_elements} elements for {output_depth} output channels")


def filter_matrix(filter):
    """[input_depth, filter_height * filter_width * output_depth] float64: what one input
    pixel's channels stamp at every tap, for one BLAS product over all pixels."""
    return np.ascontiguousarray(filter.transpose(3, 1, 2, 0).reshape(filter.shape[3], -1),
                                dtype=np.float64)


# ----------------------------------------------------------------------------- eval


def eval(context, node):
    data: OpDataTransposeConv = node.user_data
    filter, input = context.get_input(node, FILTER), context.get_input(node, INPUT)
    bias = context.get_input(node, BIAS) if len(node.inputs) == 4 else None
    output = context.get_output(node, OUTPUT)
    bias_data = None if bias is None else bias.data.reshape(-1)   # read flat, as TFLM does
    x, g = reachable_input(input.data, data.geometry)
    if input.type == TensorType.FLOAT32:
        result = transpose_conv_float(x, filter.data, bias_data, g,
                                      data.output_activation_min, data.output_activation_max)
    else:
        matrix = data.filter_matrix if data.filter_matrix is not None \
            else filter_matrix(filter.data)
        if input.type == TensorType.INT8:
            result = transpose_conv_per_channel(
                x, matrix, bias_data, g, data.input_offset,
                data.per_channel_output_multiplier, data.per_channel_output_shift,
                data.output_offset, data.output_activation_min, data.output_activation_max)
        else:
            result = transpose_conv_16x8(
                x, matrix, bias_data, g, data.per_channel_output_multiplier,
                data.per_channel_output_shift, data.output_activation_min,
                data.output_activation_max)
    output.data[...] = result


def reachable_input(x, geometry: Geometry):
    """The input rows and columns whose stamps reach the output, and the geometry of just
    those. TFLM scatters every input pixel and drops what lands outside the output; the
    pixels past the last reachable row or column add nothing to any output value, so
    leaving them out changes no byte - and a hostile input of millions of rows under a
    4 x 4 output costs nothing. (An input with no rows at all stamps nothing either.)"""
    g = geometry
    rows = min(g.input_height, (g.padding.height + g.output_height - 1) // g.stride_height + 1)
    cols = min(g.input_width, (g.padding.width + g.output_width - 1) // g.stride_width + 1)
    rows, cols = max(rows, 0), max(cols, 0)
    if x.size == 0 or 0 in (rows, cols):
        rows = cols = 0
    if (rows, cols) == (g.input_height, g.input_width):
        return x, g
    return x[:, :rows, :cols], replace(g, input_height=rows, input_width=cols)


# ----------------------------------------------------------------------------- reference math


def stamp_sums(x, matrix, geometry: Geometry):
    """The scatter of the integer kernels, exactly, in int64: for each input pixel the sum
    over in_channel of x * filter at every tap (one float64 BLAS product, exact below
    2^53), each tap's results added at its place in the uncropped output, then cropped."""
    g = geometry
    full = np.zeros((g.batches, g.full_height, g.full_width, g.output_depth), np.int64)
    if 0 in (g.input_height, g.input_width):   # no pixel to stamp (see reachable_input)
        return g.crop(full)
    pixels = x.reshape(-1, g.input_depth).astype(np.float64)
    columns = (pixels @ matrix).astype(np.int64).reshape(
        g.batches, g.input_height, g.input_width, g.filter_height, g.filter_width,
        g.output_depth)
    for filter_y in range(g.filter_height):
        for filter_x in range(g.filter_width):
            g.stamp(full, filter_y, filter_x)[...] += columns[:, :, :, filter_y, filter_x, :]
    return g.crop(full)


def transpose_conv_per_channel(x, matrix, bias, geometry, input_offset, multiplier, shift,
                               output_offset, act_min, act_max):
    """reference_integer_ops::TransposeConv (int8): scratch += (input + input_offset) *
    filter over every stamp, + bias, MultiplyByQuantizedMultiplier per channel,
    + output_offset, clamp. The C++ int32 sums wrap; requantize_to_output wraps the exact
    int64 sum the same way."""
    acc = stamp_sums(x.astype(np.int64) + input_offset, matrix, geometry)
    if bias is not None:
        acc = acc + bias.astype(np.int64)
    return requantize_to_output(acc, multiplier, shift, output_offset, act_min, act_max,
                                np.int8)


def transpose_conv_16x8(x, matrix, bias, geometry, multiplier, shift, act_min, act_max):
    """reference_integer_ops::TransposeConv<int64_t> (int16 input): scratch += input *
    filter (no offsets), + bias (int64, or int16 widened), the int64
    MultiplyByQuantizedMultiplier, clamp - no output offset."""
    acc = stamp_sums(x, matrix, geometry)
    if bias is not None:
        acc = acc + bias.astype(np.int64)
    return requantize_16x8(acc, multiplier, shift, 0, act_min, act_max, np.int64)


@np.errstate(over="ignore", invalid="ignore")  # inf and NaN are results here, as in C++
def transpose_conv_float(x, filter, bias, geometry: Geometry, act_min, act_max):
    """reference_ops::TransposeConv (float32): output = 0.0f, then output += input * filter
    for every input element in order, then + bias, then the clamp. Each output element gets
    its terms in the order (in_y, in_x, in_channel) - filter_y and filter_x descending - so
    running the taps in that order, and the channels one by one, rounds as the C++ does."""
    g = geometry
    full = np.zeros((g.batches, g.full_height, g.full_width, g.output_depth), np.float32)
    for filter_y in reversed(range(g.filter_height if g.input_height and g.input_width
                                   else 0)):
        for filter_x in reversed(range(g.filter_width)):
            target = g.stamp(full, filter_y, filter_x)
            for in_channel in range(g.input_depth):
                target += x[..., in_channel:in_channel + 1] * filter[:, filter_y, filter_x,
                                                                     in_channel]
    acc = g.crop(full)
    if bias is not None:
        acc = acc + bias
    return activation_function_with_min_max(acc, np.float32(act_min), np.float32(act_max))


def count_macs(context, node):
    filter, input = context.get_input(node, FILTER), context.get_input(node, INPUT)
    return input.num_elements * filter.shape[0] * filter.shape[1] * filter.shape[2]


def register_transpose_conv():
    return Registration("TRANSPOSE_CONV", prepare=prepare, eval=eval, init=init,
                        max_version=5, count_macs=count_macs)


def arena_prepare(k):
    """TransposeConvPrepare: temporaries for the output, input and filter; the per-channel
    multipliers and shifts (float models too); then, for int8 and int16 only,
    CalculateOpData's second set of temporaries - input, filter, bias, output - taken
    while the first are still held. (The scratch buffers are requested by prepare().)"""
    k.temp_output(OUTPUT)
    k.temp_input(INPUT)
    k.temp_input(FILTER)
    channels = k.input(FILTER).shape[QUANTIZED_DIMENSION]
    k.persistent(4 * channels, "per-channel output multipliers")
    k.persistent(4 * channels, "per-channel output shifts")
    if k.input(INPUT).type != TensorType.FLOAT32:
        k.temp_input(INPUT)
        k.temp_input(FILTER)
        k.temp_input(BIAS)
        k.temp_output(OUTPUT)


# The C structs this kernel puts in the arena, member by member as TFLM declares them
# (tflm_edu.memory.layout lays them out for each target). TFLM's OpData starts with a
# tflite::ConvParams (types.h), whose padding type is an enum class of uint8_t.
c_struct("TfLiteTransposeConvParams", BUILTIN, m("padding", "enum"), m("stride_width", "int"),
         m("stride_height", "int"), m("activation", "enum"),
         m("quantized_bias_type", "enum"))
c_struct("PaddingValues", TYPES, m("width", "int16"), m("height", "int16"),
         m("width_offset", "int16"), m("height_offset", "int16"))
c_struct("ConvParams", TYPES, m("padding_type", "uint8"), m("padding_values", "PaddingValues"),
         m("stride_width", "int16"), m("stride_height", "int16"),
         m("dilation_width_factor", "int16"), m("dilation_height_factor", "int16"),
         m("input_offset", "int32"), m("weights_offset", "int32"),
         m("output_offset", "int32"), m("output_multiplier", "int32"),
         m("output_shift", "int"), m("quantized_activation_min", "int32"),
         m("quantized_activation_max", "int32"), m("float_activation_min", "float"),
         m("float_activation_max", "float"))
c_struct("OpDataTransposeConv", KERNELS + "transpose_conv.cc (OpData)",
         m("params", "ConvParams"), m("scratch_buffer_index", "int"),
         m("filter_scratch_index", "int", compression_only=True),
         m("bias_scratch_index", "int", compression_only=True),
         m("bias_converted_buffer_index", "int"), m("per_channel_output_multiplier", "ptr"),
         m("per_channel_output_shift", "ptr"))

def quantized_version(op) -> int:
    """The version TensorFlow's converter writes for an int8 or 16x8 TRANSPOSE_CONV
    (tensorflow/lite/tools/versioning/op_version.cc): 4 with a fused activation, else 3
    with a bias, else 2 (an int8 filter)."""
    options = op.builtin_options
    if options is not None and options.fused_activation_function != Act.NONE:
        return 4
    return 3 if len(op.inputs) > BIAS and op.inputs[BIAS] >= 0 else 2


# Quantized as TFLite's operator_property does: the input (2) an activation, the filter (1)
# symmetric int8 per output channel (axis 0), the bias (3) at input scale x filter scale,
# int32 in int8 and int64 in 16x8 - as CONV_2D, with the inputs in TRANSPOSE_CONV's order.
SPEC = OpSpec(Op.TRANSPOSE_CONV, register_transpose_conv, TransposeConvOptions,
              SUPPORTED_TYPES,
              QuantizerRule(int8_version=3, weights_axis=0, int16_version=3,
                            data_input=INPUT, weights_input=FILTER, bias_input=BIAS,
                            version_of=quantized_version),
              ArenaRecipe("TfLiteTransposeConvParams", "OpDataTransposeConv", arena_prepare),
              optional_inputs=frozenset({3}))
