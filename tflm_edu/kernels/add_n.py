"""ADD_N: the elementwise sum of N >= 2 tensors of one shape; float32 and int8.

Mirrors tensorflow/lite/micro/kernels/add_n.cc (OpData, CalculateOpData, EvalAddN,
EvalAddNQuantized), with both reference_ops::AddN of kernels/internal/reference/add_n.h.

float32: each output element is 0.0f + in_0 + in_1 + ... in input order, in float32 (so
the sum of -0.0s is +0.0).

int8: every input has the first input's scale and zero point (Prepare checks), so the
inputs are rescaled as ADD's are (offset -zero_point, shifted left 20 bits, times the
multiplier of scale / (2 * scale) = 1/2), summed in int32, and brought onto the output
scale by the multiplier 2 * scale / (2^20 * output_scale), plus the output zero point,
clamped to int8. One quirk is kept: the C++ starts the sum not at 0 but at the rescaled
input offset (the value a stored 0 would have), so the result carries one extra term
of -zero_point * scale. The int32 sum wraps as it does on the targets (more than 15
extreme inputs could reach 2^31).

Prepare requests a scratch buffer of one pointer per input (TFLM gathers the input
pointers there at every Eval); for int8 it also allocates the OpData (TFLM has no Init
for ADD_N: a float ADD_N keeps only the scratch index in user_data).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tflm_edu.kernels.add import quantize_smaller_than_one
from tflm_edu.kernels.fixedpoint import wrap32
from tflm_edu.kernels.kernel_api import Registration, ensure, ensure_quantized, unsupported_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec
from tflm_edu.kernels.quantization_util import (
    calculate_activation_range_quantized, multiply_by_quantized_multiplier_smaller_than_one_exp)
from tflm_edu.memory.layout import KERNELS, c_struct, get_target, m
from tflm_edu.schema.enums import ActivationFunctionType, BuiltinOperator as Op, TensorType
from tflm_edu.schema.enums import type_name
from tflm_edu.schema.options import AddNOptions

INPUT0, OUTPUT = 0, 0
ADD_N_INTEGER_SHIFT = 20   # kAddNIntegerShift
SUPPORTED_TYPES = (TensorType.FLOAT32, TensorType.INT8)


@dataclass
class OpData:
    output_activation_min: int = 0
    output_activation_max: int = 0
    input_offset: int = 0
    output_offset: int = 0
    input_multiplier: int = 0
    output_multiplier: int = 0
    input_shift: int = 0
    output_shift: int = 0
    left_shift: int = 0
    scratch_index: int = -1


def init(context, node):
    return OpData()


def prepare(context, node):
    """CalculateOpData."""
    data: OpData = node.user_data
    num_inputs = len(node.inputs)
    ensure(num_inputs >= 2, f"ADD_N takes at least 2 inputs, got {num_inputs}")
    ensure(len(node.outputs) == 1, f"ADD_N has 1 output, got {len(node.outputs)}")
    inputs = [context.get_input(node, i) for i in range(num_inputs)]
    ensure(None not in inputs, "ADD_N needs every input")
    first, output = inputs[0], context.get_output(node, OUTPUT)
    ensure(output.type == first.type,
           f"the output is {type_name(output.type)}, the inputs {type_name(first.type)}")
    for i, input in enumerate(inputs[1:], 1):
        ensure(tuple(input.shape) == tuple(first.shape),
               f"input {i} has shape {list(input.shape)}, input 0 {list(first.shape)}")
        ensure(input.type == first.type,
               f"input {i} is {type_name(input.type)}, input 0 {type_name(first.type)}")
        if first.type == TensorType.INT8:
            ensure_quantized(input, np.int8)
            ensure(input.zero_point == first.zero_point and input.scale == first.scale,
                   f"input {i} is quantized differently from input 0 (ADD_N needs one "
                   f"scale and zero point)")
    if output.type not in SUPPORTED_TYPES:
        raise unsupported_type(node, output)
    ensure(int(np.prod(output.shape)) == int(np.prod(first.shape)),
           f"output shape {list(output.shape)} does not hold the inputs' {list(first.shape)}")
    pointer_bytes = getattr(getattr(context.graph, "target", None), "pointer_bytes", 8)
    data.scratch_index = context.request_scratch_buffer_in_arena(pointer_bytes * num_inputs)
    if output.type == TensorType.INT8:
        _prepare_quantized(data, first, output)


def _prepare_quantized(data: OpData, first, output):
    ensure_quantized(first, np.int8)
    ensure_quantized(output, np.int8)
    data.input_offset = -first.zero_point
    data.output_offset = output.zero_point
    data.left_shift = ADD_N_INTEGER_SHIFT
    twice_max_input_scale = 2.0 * first.scale   # in double, as the C++
    data.input_multiplier, data.input_shift = quantize_smaller_than_one(
        first.scale / twice_max_input_scale, "input")
    data.output_multiplier, data.output_shift = quantize_smaller_than_one(
        twice_max_input_scale / ((1 << data.left_shift) * output.scale), "output")
    data.output_activation_min, data.output_activation_max = \
        calculate_activation_range_quantized(ActivationFunctionType.NONE, output.scale,
                                             output.zero_point, np.int8)


def eval(context, node):
    data: OpData = node.user_data
    inputs = [context.get_input(node, i).data for i in range(len(node.inputs))]
    output = context.get_output(node, OUTPUT)
    if output.type == TensorType.FLOAT32:
        result = add_n_float(inputs)
    else:
        result = add_n_quantized(inputs, data)
    output.data[...] = result.reshape(output.shape)


# ----------------------------------------------------------------------------- reference math


def add_n_float(inputs):
    """reference_ops::AddN<float>: x = 0, then x += each input in order, in float32."""
    total = np.zeros(inputs[0].shape, np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        for x in inputs:
            total = np.add(total, x, dtype=np.float32)
    return total


def add_n_quantized(inputs, data: OpData):
    """reference_ops::AddN for int8: the sum starts at the rescaled input offset (the C++
    comment says x = 0), then adds each rescaled input."""
    def rescaled(q):
        shifted = (np.asarray(q, np.int64) + data.input_offset) * (1 << data.left_shift)
        return multiply_by_quantized_multiplier_smaller_than_one_exp(
            shifted, data.input_multiplier, data.input_shift)

    scaled_x = np.broadcast_to(rescaled(0), inputs[0].shape).astype(np.int64)
    for q in inputs:
        scaled_x = wrap32(scaled_x + rescaled(q))
    raw_output = multiply_by_quantized_multiplier_smaller_than_one_exp(
        scaled_x, data.output_multiplier, data.output_shift) + data.output_offset
    return np.clip(raw_output, data.output_activation_min,
                   data.output_activation_max).astype(np.int8)


def register_add_n():
    return Registration("ADD_N", prepare=prepare, eval=eval, init=init)


def arena_prepare(k):
    """CalculateOpData: input 0, the output, then each further input; for int8 the OpData
    (AllocatePersistentBuffer, in Prepare: ADD_N has no Init)."""
    k.temp_input(0)
    k.temp_output(0)
    for i in range(1, k.num_inputs):
        k.temp_input(i)
    if k.output(0).type == TensorType.INT8:
        k.persistent(get_target("host").sizeof("OpDataAddN"), "OpDataAddN")


c_struct("OpDataAddN", KERNELS + "add_n.cc (OpData)", m("output_activation_min", "int32"),
         m("output_activation_max", "int32"), m("input_offset", "int32"),
         m("output_offset", "int32"), m("input_multiplier", "int32"),
         m("output_multiplier", "int32"), m("input_shift", "int"), m("output_shift", "int"),
         m("left_shift", "int"), m("scratch_index", "int"))

SPEC = OpSpec(Op.ADD_N, register_add_n, AddNOptions, SUPPORTED_TYPES, None,
              ArenaRecipe(None, None, arena_prepare))
