"""FULLY_CONNECTED: output = activation(input x filter^T + bias).

Mirrors tensorflow/lite/micro/kernels/fully_connected.cc and fully_connected_common.cc,
with the arithmetic of reference_ops::FullyConnected (float) and
reference_integer_ops::FullyConnected / FullyConnectedPerChannel (int8, and int16: "16x8").

Shapes: filter is [output_depth, accum_depth]; the input is read as
[batches, accum_depth] whatever its rank; the output is [batches, output_depth].

16x8: int16 input and output, int8 weights, an int64 or int32 bias. The integer
templates are the int8 ones - zero points are used as in int8 - but the accumulator is
the bias type (int64, or int32 for an int32 bias or, without a bias, when the options'
quantized_bias_type says int32), and so is the MultiplyByQuantizedMultiplier overload.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tflm_edu.kernels.kernel_api import Registration, ensure, unsupported_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule
from tflm_edu.kernels.quantization_util import (accumulator_16x8, check_quantized_bias_type,
                                                check_shifts_16x8,
                                                calculate_activation_range_float,
                                                calculate_activation_range_quantized,
                                                exact_int_matmul, float32_dot_in_order,
                                                quantize_multiplier, requantize_16x8,
                                                Requantizer, WeightedSum, constant_array,
                                                requantize_to_output)
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType, type_name
from tflm_edu.schema.options import FullyConnectedOptions
from tflm_edu.memory.layout import BUILTIN, KERNELS, c_struct, m

INPUT, WEIGHTS, BIAS, OUTPUT = 0, 1, 2, 0
MAX_RANK = 6  # RuntimeShape::kMaxSmallSize: Eval copies every tensor's shape into one


@dataclass
class OpDataFullyConnected:
    output_multiplier: int = 0
    output_shift: int = 0
    per_channel_output_multiplier: np.ndarray | None = None
    per_channel_output_shift: np.ndarray | None = None
    is_per_channel: bool = False
    output_activation_min: float = 0
    output_activation_max: float = 0
    input_zero_point: int = 0
    filter_zero_point: int = 0
    output_zero_point: int = 0
    accumulator: type | None = None  # int16: the C++ AccumScalar, np.int32 or np.int64


def init(context, node):
    return OpDataFullyConnected()


def prepare(context, node):
    data: OpDataFullyConnected = node.user_data
    params = node.builtin_data or FullyConnectedOptions()  # no options: TFLM's defaults
    input, filter = context.get_input(node, INPUT), context.get_input(node, WEIGHTS)
    bias, output = context.get_input(node, BIAS) if len(node.inputs) > 2 else None, \
        context.get_output(node, OUTPUT)
    check_quantized_bias_type(params)
    ensure(len(filter.shape) == 2, f"weights must be 2-D [output_depth, accum_depth], "
                                   f"got {list(filter.shape)}")
    for name, t in (("input", input), ("bias", bias), ("output", output)):
        ensure(t is None or len(t.shape) <= MAX_RANK,
               f"{name} has rank {len(t.shape) if t else 0}: TFLM's Eval copies its shape into "
               f"a RuntimeShape of at most {MAX_RANK} dimensions and writes past it")
    output_depth, accum_depth = filter.shape
    # The reference loops take batches and output_depth from the OUTPUT's shape (all but
    # its last dimension, and its last dimension): any other last dimension makes them read
    # past the input or the weights.
    ensure(len(output.shape) >= 1 and output.shape[-1] == output_depth,
           f"output {list(output.shape)} must end in the {output_depth} output channels of "
           f"weights {list(filter.shape)}: TFLM reads its last dimension as output_depth "
           f"and the others as batches")
    ensure(accum_depth > 0 and input.num_elements % accum_depth == 0,
           f"input of {input.num_elements} elements is not a whole number of rows of "
           f"{accum_depth} (weights {list(filter.shape)})")
    batches = input.num_elements // max(accum_depth, 1)
    ensure(output.num_elements == batches * output_depth,
           f"output {list(output.shape)} should hold {batches} x {output_depth} elements")
    ensure(bias is None or bias.num_elements == output_depth,
           f"bias has {bias.num_elements if bias else 0} elements for {output_depth} outputs")
    ensure(input.type == output.type, "input and output types differ")
    # TFLM's Prepare accepts only the default weights layout (not SHUFFLED4x16INT8, ...)
    ensure(params.weights_format == 0, f"weights_format {params.weights_format} is not "
                                       f"supported: TFLM runs DEFAULT (0) weights only")
    # Eval reads the bias as float, int32 or int64 by the input's type, whatever it is.
    wanted = {TensorType.FLOAT32: (TensorType.FLOAT32,), TensorType.INT8: (TensorType.INT32,),
              TensorType.INT16: (TensorType.INT64, TensorType.INT32)}.get(input.type, ())
    ensure(bias is None or not wanted or bias.type in wanted,
           f"bias is {type_name(bias.type) if bias else ''}; a {type_name(input.type)} "
           f"FULLY_CONNECTED reads it as {' or '.join(type_name(t) for t in wanted)} "
           f"(TFLM would reinterpret its bytes)")
    if input.type == TensorType.FLOAT32:
        # A "hybrid" model (float activations, int8 weights) is TFLite-only: TFLM refuses it.
        ensure(filter.type == TensorType.FLOAT32,
               f"input type FLOAT32 with filter type {type_name(filter.type)} is not supported: "
               f"this is a hybrid (dynamic-range) model, which TFLM cannot run - quantize the "
               f"activations too (full int8)")
        data.output_activation_min, data.output_activation_max = \
            calculate_activation_range_float(params.fused_activation_function)
        return
    if input.type == TensorType.INT16:
        ensure(filter.type == TensorType.INT8,
               f"input type INT16 with filter type {type_name(filter.type)} is not supported: "
               f"int16 fully connected needs int8 weights (16x8 quantization)")
        data.accumulator = accumulator_16x8(None if bias is None else bias.type,
                                            params.quantized_bias_type)
        _prepare_quantized(context, data, params, input, filter, bias, output, np.int16)
        check_shifts_16x8(data.output_shift if not data.is_per_channel
                          else data.per_channel_output_shift)
        return
    if input.type != TensorType.INT8:
        raise unsupported_type(node, input)
    ensure(filter.type == TensorType.INT8, "int8 fully connected needs int8 weights")
    _prepare_quantized(context, data, params, input, filter, bias, output, np.int8)


def _prepare_quantized(context, data, params, input, filter, bias, output, output_dtype):
    ensure(input.quantization is not None and output.quantization is not None
           and filter.quantization is not None,
           f"{type_name(input.type)} tensors must carry quantization")
    data.is_per_channel = len(filter.quantization.scale) > 1
    if data.is_per_channel:
        scales, axis = filter.quantization.scale, filter.quantization.quantized_dimension
        # CalculateOpDataFullyConnected's checks; then the loops index the arrays by output
        # channel, whatever axis the scales were declared on.
        ensure(0 <= axis < len(filter.shape) and len(scales) == filter.shape[axis],
               f"weights {list(filter.shape)} have {len(scales)} per-channel scales on axis "
               f"{axis}: TFLM wants one per index of that axis")
        ensure(len(scales) >= filter.shape[0],
               f"{len(scales)} per-channel scales for {filter.shape[0]} output channels: "
               f"TFLM would read multipliers past the end of its arrays")
        # One multiplier and shift per output channel: two int32 arrays of persistent data.
        multipliers = [quantize_multiplier(float(input.scale) * float(s) / float(output.scale))
                       for s in scales[:filter.shape[0]]]
        data.per_channel_output_multiplier = np.array([m for m, _ in multipliers], np.int64)
        data.per_channel_output_shift = np.array([s for _, s in multipliers], np.int64)
    else:
        data.output_multiplier, data.output_shift = quantize_multiplier(
            per_tensor_multiplier(input, filter, bias, output))
    # TFLM stores offsets as the negated zero points of input and filter.
    data.input_zero_point = input.zero_point
    data.filter_zero_point = filter.zero_point
    data.output_zero_point = output.zero_point
    data.output_activation_min, data.output_activation_max = calculate_activation_range_quantized(
        params.fused_activation_function, output.scale, output.zero_point, output_dtype)


def per_tensor_multiplier(input, filter, bias, output) -> float:
    """GetQuantizedConvolutionMultipler (kernel_util.cc), with a bias: the bias scale must
    match input scale x filter scale to within 2% of the output scale (TFLM refuses the
    model otherwise); then the multiplier input scale x filter scale / output scale, in
    double as the tflite-micro package computes it (the C++ tree at 90b983c rounds the
    product of the scales to float first; test_kernel_int16x8 pins a case that shows)."""
    if bias is not None:
        input_product_scale = float(input.scale) * float(filter.scale)
        scale_diff = abs(input_product_scale - float(bias.scale))
        ensure(scale_diff / float(output.scale) <= 0.02,
               f"bias scale {bias.scale:.6g} is not input scale x filter scale "
               f"({input_product_scale:.6g}): they must agree to within 2% of the output "
               f"scale ({output.scale:.6g})")
    return float(input.scale) * float(filter.scale) / float(output.scale)


def eval(context, node):
    data: OpDataFullyConnected = node.user_data
    input, filter = context.get_input(node, INPUT), context.get_input(node, WEIGHTS)
    bias = context.get_input(node, BIAS) if len(node.inputs) > 2 else None
    output = context.get_output(node, OUTPUT)
    accum_depth = filter.shape[1]
    x = input.data.reshape(-1, accum_depth)
    b = None if bias is None else bias.data.reshape(-1)   # TFLM reads it flat: [n, 1] too
    if input.type == TensorType.FLOAT32:
        result = fully_connected_float(x, filter.data, b, data.output_activation_min,
                                                 data.output_activation_max)
    elif input.type == TensorType.INT16:
        multiplier, shift = ((data.per_channel_output_multiplier, data.per_channel_output_shift)
                             if data.is_per_channel else
                             (data.output_multiplier, data.output_shift))
        filter_offset = 0 if data.is_per_channel else -data.filter_zero_point
        result = fully_connected_16x8(
            x, filter.data, b, -data.input_zero_point, filter_offset,
            data.output_zero_point, multiplier, shift, data.accumulator,
            data.output_activation_min, data.output_activation_max)
    else:
        multiplier, shift = ((data.per_channel_output_multiplier, data.per_channel_output_shift)
                             if data.is_per_channel else
                             (data.output_multiplier, data.output_shift))
        # FullyConnectedPerChannel takes the weights as symmetric: it never adds the filter
        # offset, whatever zero points the model carries; the per-tensor path does.
        filter_offset = 0 if data.is_per_channel else -data.filter_zero_point
        result = fully_connected_int8(
            x, filter.data, b, -data.input_zero_point, filter_offset,
            data.output_zero_point, multiplier, shift,
            data.output_activation_min, data.output_activation_max)
    output.data.reshape(result.shape)[...] = result


# ----------------------------------------------------------------------------- the bound Eval


def bind(context, node):
    """The invoke plan's Eval (Registration.bind): eval's arithmetic, with what does not
    change between invokes done once - the views, the weights (with their offset) as a
    float64 matrix, the input offset folded into the bias (sum((x + io) * w) =
    sum(x * w) + io * sum(w)), the requantization constants and the work arrays. For int8
    and float32 with constant weights; anything else runs eval (returns None)."""
    data: OpDataFullyConnected = node.user_data
    input, filter = context.get_input(node, INPUT), context.get_input(node, WEIGHTS)
    bias = context.get_input(node, BIAS) if len(node.inputs) > 2 else None
    output = context.get_output(node, OUTPUT)
    if not filter.is_constant or (bias is not None and not bias.is_constant):
        return None
    output_depth, accum_depth = filter.shape
    x = input.data.reshape(-1, accum_depth)
    out = output.data.reshape(x.shape[0], output_depth)
    if input.type == TensorType.FLOAT32:
        return bind_float(x, filter.data, None if bias is None else bias.data.reshape(-1),
                          out, data.output_activation_min, data.output_activation_max,
                          context.work_array)
    if input.type != TensorType.INT8:
        return None
    filter_offset = 0 if data.is_per_channel else -data.filter_zero_point
    weights = filter.data.astype(np.float64) + filter_offset            # [out, K]
    matrix = np.ascontiguousarray(weights.T)
    folded = -data.input_zero_point * weights.sum(axis=1)
    if bias is not None:
        folded += bias.data.reshape(-1).astype(np.float64)
    # The int32 accumulator can only wrap when the exact sum may leave int32.
    largest = (accum_depth * 255 * float(np.abs(weights).max(initial=0))
               + float(np.abs(folded).max(initial=0)))
    multiplier, shift = ((data.per_channel_output_multiplier, data.per_channel_output_shift)
                         if data.is_per_channel else (data.output_multiplier, data.output_shift))
    work = context.work_array
    requantize = Requantizer(multiplier, shift, data.output_zero_point,
                             data.output_activation_min, data.output_activation_max,
                             out.shape, largest=largest, alloc=work)
    # One product gives the sums and the folded bias: [x, 1] @ [matrix; folded]. Small
    # products run in int64 straight into the requantizer's work array; larger ones in
    # float64 BLAS (exact while the sums stay below 2^53, as in exact_int_matmul).
    small = x.shape[0] * accum_depth * output_depth <= SMALL_PRODUCT_MACS
    dtype = np.int64 if small else np.float64
    augmented = np.vstack([matrix, folded[None, :]]).astype(dtype)
    x_augmented = np.ones((x.shape[0], accum_depth + 1), dtype)    # a few bytes: kept
    if small and requantize.can_fold:
        # The multiplier and the rounding constant ride in the integer product too.
        augmented = requantize.fold(augmented)
        total = requantize.work

        def run():
            x_augmented[:, :accum_depth] = x
            np.matmul(x_augmented, augmented, out=total)
            requantize.finish(total, out)
        return run
    acc = requantize.work if small else work(out.shape, np.float64)

    def run():
        x_augmented[:, :accum_depth] = x
        np.matmul(x_augmented, augmented, out=acc)
        requantize(acc, out)
    return run


# Up to this many multiply-accumulates numpy's integer product (no BLAS) is quicker than
# converting to float64 and back.
SMALL_PRODUCT_MACS = 4096


def bind_float(x, weights, bias, out, act_min, act_max, work):
    """fully_connected_float with its operands bound: the sums in input order, then the
    bias, are a WeightedSum (None - run eval - for weights or a bias holding NaN).

    Few outputs sum along the contiguous K axis, one output after the other ([batches,
    out, K]); many sum all outputs at once, K step by K step ([K, batches, out])."""
    batches, accum_depth = x.shape
    output_depth = weights.shape[0]
    weights = weights.astype(np.float32)
    bias = None if bias is None else bias.astype(np.float32)
    if not WeightedSum.accepts(weights, bias):
        return None
    if batches * output_depth <= FEW_OUTPUTS:
        sums = WeightedSum(weights[None], 2, (batches, output_depth, accum_depth), bias,
                           alloc=work)
        x_laid = x[:, None, :]
    else:
        sums = WeightedSum(weights.T[:, None, :], 0, (accum_depth, batches, output_depth),
                           bias, alloc=work)
        x_laid = x.T[:, :, None]
    # np.clip's arithmetic without its Python wrapper, in the other order (the same for
    # sums, which are never -0.0, as act_min <= act_max); constant arrays: numpy is slower
    # with a scalar operand.
    low, high = constant_array(act_min, out.shape), constant_array(act_max, out.shape)

    add_up = sums.bind(x_laid, out)
    minimum, maximum = np.minimum, np.maximum

    def run():             # invoke() silences float warnings: inf and NaN are results
        add_up()
        minimum(out, high, out=out)
        maximum(out, low, out=out)
    return run


# Up to this many outputs (batches x output depth) a float FULLY_CONNECTED sums each along
# K on its own, rather than all outputs at once step by step.
FEW_OUTPUTS = 16


# ----------------------------------------------------------------------------- reference math


def fully_connected_float(x, weights, bias, act_min, act_max):
    """reference_ops::FullyConnected: for each output, total += input[d] * weights[d] in
    float32, d in order, then + bias, then clamp - the same roundings as the C++ loop."""
    total = float32_dot_in_order(x, weights.T)
    if bias is not None:
        total = total + bias.astype(np.float32)
    return np.clip(total, np.float32(act_min), np.float32(act_max))


def fully_connected_int8(x, weights, bias, input_offset, filter_offset, output_offset,
                         multiplier, shift, act_min, act_max):
    """reference_integer_ops::FullyConnected(PerChannel):
    acc = sum((input + input_offset) * (filter + filter_offset)) + bias, then
    MultiplyByQuantizedMultiplier, + output_offset, clamp."""
    acc = exact_int_matmul(x.astype(np.int64) + input_offset,
                           (weights.astype(np.int64) + filter_offset).T)
    if bias is not None:
        acc = acc + bias.astype(np.int64)
    return requantize_to_output(acc, multiplier, shift, output_offset, act_min, act_max,
                                np.int8)


def fully_connected_16x8(x, weights, bias, input_offset, filter_offset, output_offset,
                         multiplier, shift, accumulator, act_min, act_max):
    """reference_integer_ops::FullyConnected(PerChannel) for int16 input: the int8
    arithmetic - offsets included - with the sum in the accumulator's type, the
    MultiplyByQuantizedMultiplier overload of that type, and an int16 result.

    The float64 BLAS product stays exact: |input + input_offset| < 2^17 and
    |filter + filter_offset| <= 2^8 for zero points in their types' ranges, so a sum of K
    terms is below 2^53 for any K < 2^28. The bias is added in int64."""
    acc = exact_int_matmul(x.astype(np.int64) + input_offset,
                           (weights.astype(np.int64) + filter_offset).T)
    if bias is not None:
        acc = acc + bias.astype(np.int64)
    return requantize_16x8(acc, multiplier, shift, output_offset, act_min, act_max,
                           accumulator)


def count_macs(context, node):
    filter = context.get_input(node, WEIGHTS)
    input = context.get_input(node, INPUT)
    return input.num_elements * filter.shape[0]


def register_fully_connected():
    return Registration("FULLY_CONNECTED", prepare=prepare, eval=eval, init=init,
                        max_version=14, count_macs=count_macs, bind=bind)


def arena_prepare(k):
    """FullyConnectedPrepare + CalculateOpDataFullyConnected: the inputs and the output as
    temporaries; per-channel multipliers and shifts when the filter has several scales."""
    for i in range(3):
        k.temp_input(i)
    k.temp_output(0)
    filter = k.input(1)
    quantized = k.input(0).type in (TensorType.INT8, TensorType.INT16)
    if quantized and filter.quantization is not None and len(filter.quantization.scale) > 1:
        channels = len(filter.quantization.scale)
        k.persistent(4 * channels, "per-channel output multipliers")
        k.persistent(4 * channels, "per-channel output shifts")


# The C structs this kernel puts in the arena, member by member as TFLM declares them
# (tflm_edu.memory.layout lays them out for each target).
c_struct("TfLiteFullyConnectedParams", BUILTIN, m("activation", "enum"),
         m("weights_format", "enum"), m("keep_num_dims", "bool"),
         m("asymmetric_quantize_inputs", "bool"), m("quantized_bias_type", "enum"))
c_struct("OpDataFullyConnected", KERNELS + "fully_connected.h",
         m("output_multiplier", "int32"), m("output_shift", "int"),
         m("output_activation_min", "int32"), m("output_activation_max", "int32"),
         m("input_quantized_index", "int"), m("input_zero_point", "int32"),
         m("filter_zero_point", "int32"), m("output_zero_point", "int32"),
         m("filter_buffer_index", "int"), m("per_channel_output_multiplier", "ptr"),
         m("per_channel_output_shift", "ptr"), m("is_per_channel", "bool"),
         m("weights_scratch_index", "int", compression_only=True),
         m("bias_scratch_index", "int", compression_only=True))

SPEC = OpSpec(Op.FULLY_CONNECTED, register_fully_connected, FullyConnectedOptions,
              (TensorType.FLOAT32, TensorType.INT8, TensorType.INT16),
              QuantizerRule(int8_version=4, weights_axis=0, per_channel_optional=True,
                            per_channel_version=12, int16_version=7),
              ArenaRecipe("TfLiteFullyConnectedParams", "OpDataFullyConnected", arena_prepare),
              optional_inputs=frozenset({2}))
