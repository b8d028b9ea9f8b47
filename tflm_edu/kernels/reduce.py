"""MEAN, SUM, REDUCE_MAX, REDUCE_MIN and REDUCE_ALL: the average, the sum, the largest or
smallest value, or the logical and, over some axes of a tensor (axes from a second, int32
input).

Mirrors tensorflow/lite/micro/kernels/reduce.cc and reduce_common.cc (OpDataReduce,
PrepareMeanOrSumHelper, PrepareMinMaxHelper, PrepareAllHelper, EvalMeanHelper,
EvalSumHelper, EvalMaxHelper, EvalMinHelper, EvalAllHelper), with the arithmetic of reference_ops::Mean (float),
reference_ops::QuantizedMeanOrSum (int8, int16: MEAN and SUM) and
reference_ops::ReduceGeneric (float SUM, REDUCE_MAX, REDUCE_MIN, REDUCE_ALL).

Axes may be negative (counted from the end) and may repeat (a repeat counts once).
keep_dims only changes the output's shape, not its bytes: reduced axes stay as size 1.

Float: every output is a float32 running sum in the order the input is stored, then one
division by the number of reduced elements. Integer: an exact int32 sum, then
(sum - zero_point * count) times input_scale / (output_scale * count) as one quantized
multiplier - the division by the count is folded into the multiplier.

SUM is MEAN without the division: float32 running sums in memory order; integer, the same
int32 sum and (sum - zero_point * count) times input_scale / output_scale.

REDUCE_MAX starts every output at the type's lowest value (-FLT_MAX, not -inf; -128) and
keeps an element only if it is greater than the current one: NaN never wins, an all -inf
row gives -FLT_MAX, and between 0.0 and -0.0 the first one met stays. TFLM's REDUCE_MAX
takes float32 and int8 only (int16 fails at Eval), and an int8 one must have the same
scale and zero point on both sides (Eval checks it; this kernel checks at prepare). It
uses the same OpDataReduce, but needs no accumulator.

REDUCE_MIN is REDUCE_MAX mirrored (the same Prepare, the same types and checks): every
output starts at the type's highest value (FLT_MAX, not inf; 127) and an element replaces
it only if it is smaller, so NaN never wins, an all +inf row gives FLT_MAX, and the first
zero met keeps its sign.

REDUCE_ALL takes bool only: every output starts true and is and-ed with its elements; a
reduction over no elements gives true. Its Prepare (PrepareAllHelper) fills the same
OpDataReduce fields as REDUCE_MAX's and requests the same two index scratch buffers.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tflm_edu.errors import ModelError
from tflm_edu.kernels.kernel_api import Registration, ensure, unsupported_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule
from tflm_edu.kernels.fixedpoint import wrap32
from tflm_edu.kernels.quantization_util import (multiply_by_quantized_multiplier,
                                                quantize_multiplier)
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType
from tflm_edu.schema.options import ReducerOptions
from tflm_edu.memory.layout import BUILTIN, KERNELS, c_struct, m

INPUT, AXIS, OUTPUT = 0, 1, 0
QUANTIZED_TYPES = {TensorType.INT8: np.int8, TensorType.INT16: np.int16}
MAX_TYPES = (TensorType.FLOAT32, TensorType.INT8)
ALL_TYPES = (TensorType.BOOL,)


@dataclass
class OpDataReduce:
    multiplier: int = 0
    shift: int = 0
    scratch_accumulator_idx: int = -1
    scratch_resolved_axis_idx: int = -1
    scratch_input_iter_idx: int = -1
    input_zp: int = 0
    input_scale: float = 0.0
    output_zp: int = 0
    output_scale: float = 0.0
    num_output_elements: int = 0
    num_axis: int = 0
    # Not in TFLM (which resolves the axes on every Eval): the reduced axes, resolved once
    # when the axis tensor is constant.
    resolved_axis: tuple | None = None


def init(context, node):
    return OpDataReduce()


def prepare(context, node):
    """PrepareMeanOrSumHelper (MEAN and SUM)."""
    data: OpDataReduce = node.user_data
    input, axis, output = _prepare_common(context, node)
    if input.type != TensorType.FLOAT32 and input.type not in QUANTIZED_TYPES:
        raise unsupported_type(node, input)
    data.num_axis = axis.num_elements
    data.num_output_elements = output.num_elements
    _resolve_constant_axis(node, input, axis, output)
    if input.type in QUANTIZED_TYPES:
        _prepare_quantized(context, data, input, output)
    # Index scratch of the C++ reference loop: one int per input dimension, one per axis.
    data.scratch_input_iter_idx = context.request_scratch_buffer_in_arena(4 * len(input.shape))
    data.scratch_resolved_axis_idx = context.request_scratch_buffer_in_arena(4 * data.num_axis)


def _prepare_common(context, node):
    """The checks every reduction makes (PrepareSimple's among them)."""
    name = node.op_name.lower()
    ensure(len(node.inputs) == 2 and len(node.outputs) == 1,
           f"{name} takes 2 inputs (data, axis) and 1 output, got {len(node.inputs)} and "
           f"{len(node.outputs)}")
    input, axis = context.get_input(node, INPUT), context.get_input(node, AXIS)
    output = context.get_output(node, OUTPUT)
    ensure(axis is not None, f"{name} needs an axis tensor")
    ensure(axis.type == TensorType.INT32, "the axis tensor must be int32")
    ensure(output.type == input.type, "input and output types differ")
    return input, axis, output


def _resolve_constant_axis(node, input, axis, output):
    """The axes resolved once when the axis tensor is constant, and the output's size
    checked against them."""
    data: OpDataReduce = node.user_data
    params = node.builtin_data or ReducerOptions()
    if axis.data is not None:
        data.resolved_axis = resolve_axis(len(input.shape), axis.data.reshape(-1))
        expected = reduced_shape(input.shape, data.resolved_axis, params.keep_dims)
        ensure(output.num_elements == int(np.prod(expected, dtype=np.int64)),
               f"output {list(output.shape)} should have the shape {list(expected)} "
               f"(input {list(input.shape)} reduced over axes {list(data.resolved_axis)})")


def prepare_max(context, node):
    """PrepareMinMaxHelper: no accumulator, only the index scratch; TFLM's Eval refuses
    other types and an int8 rescale, checked here at prepare."""
    data: OpDataReduce = node.user_data
    input, axis, output = _prepare_common(context, node)
    if input.type not in MAX_TYPES:
        raise unsupported_type(node, input)
    _resolve_constant_axis(node, input, axis, output)
    if input.type == TensorType.INT8:
        name = node.op_name.lower().replace("_", " ")
        # EvalMinMaxHelper compares the float32 scales and the zero points (0.0 and 0
        # without quantization parameters: an unquantized int8 tensor is accepted).
        ensure(np.float32(input.scale) == np.float32(output.scale)
               and input.zero_point == output.zero_point,
               f"an int8 {name} must keep its quantization: input scale "
               f"{input.scale:g} zero point {input.zero_point}, output scale "
               f"{output.scale:g} zero point {output.zero_point}")
        if output.scale > 0:  # PrepareSimple's multiplier (Eval never reads it)
            data.multiplier, data.shift = quantize_multiplier(
                float(np.float32(input.scale)) / float(np.float32(output.scale)))
    _prepare_index_scratch(context, data, input, axis, output)


def prepare_all(context, node):
    """PrepareAllHelper: bool only (the output's type is checked at Eval in TFLM, here)."""
    data: OpDataReduce = node.user_data
    input, axis, output = _prepare_common(context, node)
    if input.type not in ALL_TYPES:
        raise unsupported_type(node, input)
    _resolve_constant_axis(node, input, axis, output)
    _prepare_index_scratch(context, data, input, axis, output)


def _prepare_index_scratch(context, data, input, axis, output):
    """The tail of PrepareMinMaxHelper and PrepareAllHelper: the quantization parameters
    copied, and the index scratch of the C++ loop requested."""
    data.input_zp, data.input_scale = input.zero_point, input.scale
    data.output_zp, data.output_scale = output.zero_point, output.scale
    data.num_output_elements = output.num_elements
    data.num_axis = axis.num_elements
    data.scratch_input_iter_idx = context.request_scratch_buffer_in_arena(4 * len(input.shape))
    data.scratch_resolved_axis_idx = context.request_scratch_buffer_in_arena(4 * data.num_axis)


def _prepare_quantized(context, data, input, output):
    ensure(input.quantization is not None and output.quantization is not None,
           "quantized mean needs quantized input and output tensors")
    ensure(output.scale > 0, f"output scale must be positive, got {output.scale}")
    data.multiplier, data.shift = quantize_multiplier(
        float(np.float32(input.scale)) / float(np.float32(output.scale)))
    # The int32 sums, one per output element.
    data.scratch_accumulator_idx = context.request_scratch_buffer_in_arena(
        4 * data.num_output_elements)
    data.input_zp, data.input_scale = input.zero_point, input.scale
    data.output_zp, data.output_scale = output.zero_point, output.scale


def resolve_axis(num_dims, axis):
    """ResolveAxis: negative axes count from the end; repeats are dropped, first one wins.
    A 0-d input has nothing to reduce (the C++ returns before looking at the axes)."""
    if num_dims == 0:
        return ()
    resolved = []
    for a in (int(v) for v in axis):
        current = a + num_dims if a < 0 else a
        if not 0 <= current < num_dims:
            raise ModelError(f"axis {a} is out of range for a {num_dims}-D input "
                             f"(valid: {-num_dims} to {num_dims - 1})")
        if current not in resolved:
            resolved.append(current)
    return tuple(resolved)


def reduced_shape(shape, resolved_axis, keep_dims):
    if keep_dims:
        return tuple(1 if i in resolved_axis else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in resolved_axis)


def eval(context, node):
    """EvalMeanHelper."""
    data: OpDataReduce = node.user_data
    input, output, resolved_axis = _eval_setup(context, node)
    if output.num_elements and any(input.shape[a] == 0 for a in resolved_axis):
        raise ModelError(f"MEAN over an empty axis of the input {list(input.shape)}: TFLM "
                         f"divides by zero elements (its kernel crashes)")
    if input.type == TensorType.FLOAT32:
        result = mean_float(input.data, resolved_axis)
    else:
        sums = context.get_scratch_buffer(data.scratch_accumulator_idx).view(np.int32)
        result = quantized_mean(input.data, resolved_axis, data.input_zp, data.multiplier,
                                data.shift, data.output_zp, sums)
    output.data.reshape(-1)[...] = result.reshape(-1)


def eval_sum(context, node):
    """EvalSumHelper."""
    data: OpDataReduce = node.user_data
    input, output, resolved_axis = _eval_setup(context, node)
    if input.type == TensorType.FLOAT32:
        result = sum_float(input.data, resolved_axis)
    else:
        sums = context.get_scratch_buffer(data.scratch_accumulator_idx).view(np.int32)
        result = quantized_mean(input.data, resolved_axis, data.input_zp, data.multiplier,
                                data.shift, data.output_zp, sums, compute_sum=True)
    output.data.reshape(-1)[...] = result.reshape(-1)


def eval_max(context, node):
    """EvalMaxHelper."""
    input, output, resolved_axis = _eval_setup(context, node)
    output.data.reshape(-1)[...] = reduce_max(input.data, resolved_axis).reshape(-1)


def eval_min(context, node):
    """EvalMinHelper."""
    input, output, resolved_axis = _eval_setup(context, node)
    output.data.reshape(-1)[...] = reduce_min(input.data, resolved_axis).reshape(-1)


def eval_all(context, node):
    """EvalAllHelper."""
    input, output, resolved_axis = _eval_setup(context, node)
    output.data.reshape(-1)[...] = reduce_all(input.data, resolved_axis).reshape(-1)


def _eval_setup(context, node):
    """The axes (resolved at prepare, or now when computed by the graph) and the index
    scratch of the C++ loop, filled as it fills it."""
    data: OpDataReduce = node.user_data
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    resolved_axis = data.resolved_axis
    if resolved_axis is None:  # axes computed by the graph: resolve them now, as TFLM does
        resolved_axis = resolve_axis(len(input.shape),
                                     context.get_input(node, AXIS).data.reshape(-1))
        expected = int(np.prod(reduced_shape(input.shape, resolved_axis, False), dtype=np.int64))
        if expected != output.num_elements:
            raise ModelError(f"output {list(output.shape)} does not hold the {expected} "
                             f"{node.op_name.lower()} results over axes {list(resolved_axis)}")
    # TFLM's loop keeps its index counters and int32 sums in the scratch buffers the plan
    # placed in the arena head: they are used here too, so a wrong plan would show.
    scratch = context.get_scratch_buffer
    scratch(data.scratch_input_iter_idx).view(np.int32)[...] = 0
    scratch(data.scratch_resolved_axis_idx).view(np.int32)[:len(resolved_axis)] = resolved_axis
    return input, output, resolved_axis


# ----------------------------------------------------------------------------- reference math


def _sums_in_memory_order(x, resolved_axis):
    """The input as [outputs, reduced elements]: each row holds one output's elements in
    the order the C++ loop visits them (the input's own row-major order)."""
    kept = [i for i in range(x.ndim) if i not in resolved_axis]
    reduced = sorted(resolved_axis)
    count = int(np.prod([x.shape[i] for i in reduced], dtype=np.int64))
    outputs = int(np.prod([x.shape[i] for i in kept], dtype=np.int64))
    return np.transpose(x, kept + reduced).reshape(outputs, count), count


def mean_float(x, resolved_axis):
    """reference_ops::Mean (float): output = (0.0f + x0 + x1 + ...) / (float)count, the
    sum in float32 in memory order. (TFLM's special 4-D kernel for axes {1, 2} with
    keep_dims sums H then W in the same order and divides by H * W: the same bits.)"""
    rows, count = _sums_in_memory_order(x, resolved_axis)
    if rows.size == 0:
        return np.zeros(rows.shape[0], np.float32)
    # cumsum adds strictly left to right; the final + 0.0 turns an all -0.0 sum into
    # +0.0, as the C++ sum that starts at 0.0f does.
    total = np.cumsum(rows, axis=1, dtype=np.float32)[:, -1] + np.float32(0.0)
    return total / np.float32(count)


def quantized_mean(x, resolved_axis, input_zero_point, output_multiplier, output_shift,
                   output_zero_point, sums=None, compute_sum=False):
    """reference_ops::QuantizedMeanOrSum (mean): an int32 sum per output (kept in `sums`, the
    kernel's scratch buffer, when given), then MultiplyByQuantizedMultiplier((sum - zp *
    count), multiplier / count, shift) + output zero point, clamped to the output type.
    With compute_sum (SUM) the multiplier is not divided by the count."""
    info = np.iinfo(x.dtype)
    rows, count = _sums_in_memory_order(x, resolved_axis)
    if rows.size == 0:
        return np.zeros(rows.shape[0], x.dtype)
    temp_sum = wrap32(np.sum(rows, axis=1, dtype=np.int64))
    if sums is not None:
        sums[:len(temp_sum)] = temp_sum
        temp_sum = sums[:len(temp_sum)].astype(np.int64)
    if not compute_sum:
        output_multiplier, output_shift = fold_count_into_multiplier(
            output_multiplier, output_shift, count)
    shifted_sum = wrap32(temp_sum - input_zero_point * count)
    output = multiply_by_quantized_multiplier(shifted_sum, output_multiplier, output_shift)
    return np.clip(output + output_zero_point, info.min, info.max).astype(x.dtype)


def sum_float(x, resolved_axis):
    """ReduceGeneric with +, from 0.0f: float32 running sums in memory order."""
    rows, count = _sums_in_memory_order(x, resolved_axis)
    if rows.size == 0:
        return np.zeros(rows.shape[0], np.float32)
    return np.cumsum(rows, axis=1, dtype=np.float32)[:, -1] + np.float32(0.0)


def reduce_max(x, resolved_axis):
    """ReduceGeneric with (in > current ? in : current), from the type's lowest value.
    NaN is never greater, so it never wins; equal values keep the first one, which only
    shows for zeros: the sign of the first zero met stays."""
    rows, count = _sums_in_memory_order(x, resolved_axis)
    lowest = np.finfo(x.dtype).min if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    if rows.size == 0:
        return np.full(rows.shape[0], lowest, x.dtype)
    if x.dtype.kind != "f":
        return np.maximum(rows.max(axis=1), lowest).astype(x.dtype)
    result = np.where(np.isnan(rows), lowest, rows).max(axis=1)
    result = np.maximum(result, lowest)  # -inf never beats -FLT_MAX
    is_zero = rows == 0
    first_zero = rows[np.arange(rows.shape[0]), np.argmax(is_zero, axis=1)]
    return np.where(result == 0, first_zero, result).astype(x.dtype)


def reduce_min(x, resolved_axis):
    """ReduceGeneric with (in < current ? in : current), from the type's highest value:
    reduce_max mirrored (NaN never wins, +inf never beats FLT_MAX, the first zero stays)."""
    rows, count = _sums_in_memory_order(x, resolved_axis)
    highest = np.finfo(x.dtype).max if x.dtype.kind == "f" else np.iinfo(x.dtype).max
    if rows.size == 0:
        return np.full(rows.shape[0], highest, x.dtype)
    if x.dtype.kind != "f":
        return np.minimum(rows.min(axis=1), highest).astype(x.dtype)
    result = np.where(np.isnan(rows), highest, rows).min(axis=1)
    result = np.minimum(result, highest)
    is_zero = rows == 0
    first_zero = rows[np.arange(rows.shape[0]), np.argmax(is_zero, axis=1)]
    return np.where(result == 0, first_zero, result).astype(x.dtype)


def reduce_all(x, resolved_axis):
    """ReduceGeneric with (in && current), from true."""
    rows, count = _sums_in_memory_order(x, resolved_axis)
    if rows.size == 0:
        return np.ones(rows.shape[0], np.bool_)
    return np.all(rows, axis=1)


def fold_count_into_multiplier(output_multiplier, output_shift, count):
    """Divide the quantized multiplier by `count`: first shift it left by up to
    floor(log2(count)) bits (at most 32, and never past a total shift of -31) to keep
    precision, then integer-divide - the C++ does this on every Eval."""
    shift = min(count.bit_length() - 1, 32, 31 + output_shift)
    multiplier = (output_multiplier << shift) // count
    return int(wrap32(multiplier)), output_shift - shift


def register_mean():
    return Registration("MEAN", prepare=prepare, eval=eval, init=init, max_version=3)


def register_sum():
    return Registration("SUM", prepare=prepare, eval=eval_sum, init=init, max_version=2)


def register_reduce_max():
    return Registration("REDUCE_MAX", prepare=prepare_max, eval=eval_max, init=init,
                        max_version=3)


def register_reduce_min():
    return Registration("REDUCE_MIN", prepare=prepare_max, eval=eval_min, init=init,
                        max_version=3)


def register_reduce_all():
    return Registration("REDUCE_ALL", prepare=prepare_all, eval=eval_all, init=init,
                        max_version=1)


def arena_prepare(k):
    """PrepareMeanOrSumHelper, then PrepareSimple."""
    k.temp_input(0)
    k.temp_output(0)
    k.temp_input(1)
    k.temp_input(0)
    k.temp_input(1)
    if k.input(0).type == TensorType.INT8:
        k.temp_output(0)


def arena_prepare_max(k):
    """PrepareSimple (its output only for int8), then PrepareMinMaxHelper."""
    k.temp_input(0)
    k.temp_input(1)
    if k.input(0).type == TensorType.INT8:
        k.temp_output(0)
    k.temp_input(0)
    k.temp_output(0)
    k.temp_input(1)


def arena_prepare_all(k):
    """PrepareAllHelper, with PrepareSimple inside it (a bool output never allocated)."""
    k.temp_input(0)
    k.temp_output(0)
    k.temp_input(1)
    k.temp_input(0)
    k.temp_input(1)


# The C structs this kernel puts in the arena, member by member as TFLM declares them
# (tflm_edu.memory.layout lays them out for each target).
c_struct("TfLiteReducerParams", BUILTIN, m("keep_dims", "bool"))
c_struct("OpDataReduce", KERNELS + "reduce.h", m("multiplier", "int32"), m("shift", "int"),
         m("scratch_accumulator_idx", "int"), m("scratch_resolved_axis_idx", "int"),
         m("scratch_input_iter_idx", "int"), m("input_zp", "int"), m("input_scale", "float"),
         m("output_zp", "int"), m("output_scale", "float"), m("num_output_elements", "int"),
         m("num_axis", "int"))

SPECS = [
    OpSpec(Op.MEAN, register_mean, ReducerOptions, (TensorType.FLOAT32, *QUANTIZED_TYPES),
           QuantizerRule(int8_version=2, int16_version=3),
           ArenaRecipe("TfLiteReducerParams", "OpDataReduce", arena_prepare)),
    OpSpec(Op.SUM, register_sum, ReducerOptions, (TensorType.FLOAT32, *QUANTIZED_TYPES),
           QuantizerRule(int8_version=2),
           ArenaRecipe("TfLiteReducerParams", "OpDataReduce", arena_prepare)),
    OpSpec(Op.REDUCE_MAX, register_reduce_max, ReducerOptions, MAX_TYPES,
           QuantizerRule(int8_version=2, output="same_as_input"),
           ArenaRecipe("TfLiteReducerParams", "OpDataReduce", arena_prepare_max)),
    OpSpec(Op.REDUCE_MIN, register_reduce_min, ReducerOptions, MAX_TYPES,
           QuantizerRule(int8_version=2, output="same_as_input"),
           ArenaRecipe("TfLiteReducerParams", "OpDataReduce", arena_prepare_max)),
    OpSpec(Op.REDUCE_ALL, register_reduce_all, ReducerOptions, ALL_TYPES, None,
           ArenaRecipe("TfLiteReducerParams", "OpDataReduce", arena_prepare_all)),
]
