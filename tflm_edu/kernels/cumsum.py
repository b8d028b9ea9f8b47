"""CUMSUM: running sums along one axis (axis from a second, int32 input), inclusive or
exclusive, forwards or in reverse.

Mirrors tensorflow/lite/micro/kernels/cumsum.cc (OpData, CalculateOpData, CumSumEval) with
reference_ops::CumSum (kernels/internal/reference/cumsum.h), float and int8.

    inclusive:  output[k] = x[0] + ... + x[k]        exclusive: output[k] = x[0] + ... + x[k-1]
    reverse:    the same, counted from the end of the axis

Float32: one float32 accumulator per lane that starts at 0.0f, the elements added in
order - so -0.0 sums come out +0.0, and the exclusive first element is +0.0.

Int8 works as ADD does: each value q - zero_point is shifted left by 20 and halved by a
quantized multiplier (input_scale / (2 * input_scale) = 0.5), the int32 running sum is
moved to the output scale by 2 * input_scale / (2^20 * output_scale) and gets the output
zero point, clamped to int8. TFLM's accumulator does not start at 0 (as its comment
says) but at the scaled input offset, -zero_point << 20 halved: every output carries one
extra -zero_point * input_scale, and the exclusive first element is that alone, not the
output zero point. tflm_edu does the same. The int32 sum wraps past 2^31, as the C++ one
does in practice (about 16 elements of the largest magnitude), with no error.

TFLM's Prepare takes an int32 axis tensor of one element, an input of rank >= 1 and an
output of the same type and shape; for int8 it allocates its OpData then (not in Init)
and QuantizeMultiplierSmallerThanOneExp aborts unless 0 < 2 * input_scale / (2^20 *
output_scale) < 1 - refused here, with int8 tensors lacking quantization parameters. The
axis is read at Eval ("CUMSUM Invalid axis" outside [-rank, rank)): here a constant axis
is checked at prepare.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tflm_edu.kernels.fixedpoint import wrap32
from tflm_edu.kernels.kernel_api import Registration, ensure, ensure_quantized, unsupported_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule
from tflm_edu.kernels.quantization_util import (
    multiply_by_quantized_multiplier_smaller_than_one_exp as scale_down,
    quantize_multiplier_smaller_than_one_exp)
from tflm_edu.memory.layout import BUILTIN, KERNELS, c_struct, m
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType, type_name
from tflm_edu.schema.options import CumsumOptions

INPUT, AXIS, OUTPUT = 0, 1, 0
SUPPORTED_TYPES = (TensorType.FLOAT32, TensorType.INT8)
CUMSUM_INTEGER_SHIFT = 20   # kCumSumIntegerShift


@dataclass
class OpData:
    """TFLM's OpData (int8 only; allocated by Prepare)."""
    output_activation_min: int = -128
    output_activation_max: int = 127
    input_offset: int = 0    # minus the input zero point
    output_offset: int = 0
    input_multiplier: int = 0
    output_multiplier: int = 0
    input_shift: int = 0
    output_shift: int = 0
    left_shift: int = CUMSUM_INTEGER_SHIFT


def prepare(context, node):
    """CalculateOpData."""
    ensure(len(node.inputs) == 2, f"CUMSUM takes 2 inputs (input, axis), got "
                                  f"{len(node.inputs)}")
    ensure(len(node.outputs) == 1, f"CUMSUM has 1 output, got {len(node.outputs)}")
    input, axis = context.get_input(node, INPUT), context.get_input(node, AXIS)
    output = context.get_output(node, OUTPUT)
    ensure(input is not None and axis is not None, "CUMSUM needs an input and an axis")
    if input.type not in SUPPORTED_TYPES:
        raise unsupported_type(node, input)
    ensure(axis.type == TensorType.INT32, f"the axis tensor must be int32, got "
                                          f"{type_name(axis.type)}")
    ensure(axis.num_elements == 1, f"the axis tensor must hold one value, got "
                                   f"{axis.num_elements}")
    ensure(len(input.shape) >= 1, "CUMSUM needs an input of rank 1 or more")
    ensure(input.type == output.type,
           f"input is {type_name(input.type)} but the output is {type_name(output.type)}")
    ensure(tuple(input.shape) == tuple(output.shape),
           f"input {list(input.shape)} and output {list(output.shape)} differ in shape")
    if axis.data is not None:
        resolve_axis(int(axis.data.reshape(-1)[0]), len(input.shape))
    if input.type == TensorType.INT8:
        node.user_data = _int8_op_data(input, output)


def _int8_op_data(input, output):
    ensure_quantized(input, np.int8)
    ensure_quantized(output, np.int8)
    data = OpData(input_offset=-input.zero_point, output_offset=output.zero_point)
    twice_max_input_scale = 2 * float(np.float32(input.scale))
    real_input_multiplier = float(np.float32(input.scale)) / twice_max_input_scale
    real_output_multiplier = twice_max_input_scale / (
        (1 << data.left_shift) * float(np.float32(output.scale)))
    ensure(real_output_multiplier < 1.0,
           f"input scale {input.scale:g} is 2^19 or more times the output scale "
           f"{output.scale:g} (TFLM's QuantizeMultiplierSmallerThanOneExp aborts)")
    data.input_multiplier, data.input_shift = \
        quantize_multiplier_smaller_than_one_exp(real_input_multiplier)
    data.output_multiplier, data.output_shift = \
        quantize_multiplier_smaller_than_one_exp(real_output_multiplier)
    return data


def resolve_axis(axis, rank):
    """A negative axis counts from the end; outside [-rank, rank) is CumSumEval's error."""
    resolved = axis + rank if axis < 0 else axis
    ensure(0 <= resolved < rank, f"CUMSUM Invalid axis: {axis} for a rank-{rank} input")
    return resolved


def eval(context, node):
    """CumSumEval."""
    params = node.builtin_data or CumsumOptions()
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    axis = resolve_axis(int(context.get_input(node, AXIS).data.reshape(-1)[0]),
                        len(input.shape))
    x = np.moveaxis(input.data, axis, -1)
    if params.reverse:
        x = x[..., ::-1]
    if input.type == TensorType.FLOAT32:
        result = cumsum_float(x, params.exclusive)
    else:
        result = cumsum_int8(x, params.exclusive, node.user_data)
    if params.reverse:
        result = result[..., ::-1]
    output.data[...] = np.moveaxis(result, -1, axis)


# ----------------------------------------------------------------------------- reference math


def cumsum_float(x, exclusive):
    """reference_ops::CumSum<float> along the last axis: accumulator = 0.0f, then += in
    order (numpy's cumsum adds strictly left to right; + 0.0 turns a -0.0 running sum into
    the +0.0 the C++ sum holds, as it started at +0.0)."""
    with np.errstate(over="ignore", invalid="ignore"):
        sums = np.cumsum(x, axis=-1, dtype=np.float32) + np.float32(0.0)
    if exclusive:
        sums = np.concatenate([np.zeros_like(sums[..., :1]), sums[..., :-1]], axis=-1)
    return sums


def cumsum_int8(x, exclusive, data: OpData):
    """reference_ops::CumSum (int8) along the last axis."""
    accumulator = int(scale_down((data.input_offset * (1 << data.left_shift)),
                                 data.input_multiplier, data.input_shift))
    y = x.astype(np.int64) + data.input_offset
    scaled_y = scale_down(y << data.left_shift, data.input_multiplier, data.input_shift)
    sums = np.cumsum(scaled_y, axis=-1)
    if exclusive:
        sums = np.concatenate([np.zeros_like(sums[..., :1]), sums[..., :-1]], axis=-1)
    scaled_output = wrap32(accumulator + sums)
    raw_output = scale_down(scaled_output, data.output_multiplier,
                            data.output_shift) + data.output_offset
    return np.clip(raw_output, data.output_activation_min,
                   data.output_activation_max).astype(np.int8)


def register_cumsum():
    return Registration("CUMSUM", prepare=prepare, eval=eval, max_version=1)


def arena_prepare(k):
    """Temporaries for the input, the axis and the output; for int8 then the OpData."""
    k.temp_input(INPUT)
    k.temp_input(AXIS)
    k.temp_output(OUTPUT)
    if k.input(INPUT).type == TensorType.INT8:
        k.persistent(lambda target: target.sizeof("OpDataCumSum"), "OpData")


# The C structs this kernel puts in the arena, member by member as TFLM declares them
# (tflm_edu.memory.layout lays them out for each target).
c_struct("TfLiteCumsumParams", BUILTIN, m("exclusive", "bool"), m("reverse", "bool"))
c_struct("OpDataCumSum", KERNELS + "cumsum.cc (OpData)", m("output_activation_min", "int32"),
         m("output_activation_max", "int32"), m("input_offset", "int32"),
         m("output_offset", "int32"), m("input_multiplier", "int32"),
         m("output_multiplier", "int32"), m("input_shift", "int"), m("output_shift", "int"),
         m("left_shift", "int"))

# int8, with a calibrated output scale and an input of zero point 0: the sum above starts at
# minus the input zero point, so only 0 leaves the outputs unbiased (the quantizer gives the
# input symmetric parameters, or requantizes it). TFLite's quantizer rules list no CUMSUM
# and LiteRT has no int8 CUMSUM; tflm_edu writes it for TFLM's int8 kernel.
SPEC = OpSpec(Op.CUMSUM, register_cumsum, CumsumOptions, SUPPORTED_TYPES,
              QuantizerRule(int8_version=1, zero_point_zero_input=True),
              ArenaRecipe("TfLiteCumsumParams", None, arena_prepare))
