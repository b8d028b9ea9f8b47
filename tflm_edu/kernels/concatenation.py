"""CONCATENATION: join tensors end to end along one axis.

Mirrors tensorflow/lite/micro/kernels/concatenation.cc (OpData with ConcatenationParams,
ConcatenationPrepare, EvalUnquantized) and reference_ops::Concatenation.

TFLM's restrictions, all checked in Prepare:
- no fused activation (the option exists in the schema; TFLM refuses anything but NONE);
- at most 10 inputs, each of rank at most 6;
- int8 inputs must already be on the output's scale and zero point: TFLM copies bytes and
  never rescales (the converter inserts a QUANTIZE where scales differ); int16 inputs and
  output need zero point 0;
- a negative axis counts from the end (axis + rank of the output).
TFLM leaves the shape checks to debug asserts in the reference function; Prepare makes
them errors: same rank everywhere, equal dimensions off the axis, and the sizes along the
axis adding up to the output's.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tflm_edu.kernels.kernel_api import Registration, ensure, unsupported_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule
from tflm_edu.schema.enums import BuiltinOperator as Op, ActivationFunctionType, TensorType, type_name
from tflm_edu.schema.options import ConcatenationOptions
from tflm_edu.memory.layout import BUILTIN, KERNELS, TYPES, c_struct, m

OUTPUT = 0
MAX_INPUT_NUM = 10  # kMaxInputNum
MAX_DIMENSIONS = 6  # RuntimeShape::kMaxSmallSize
SUPPORTED_TYPES = (TensorType.FLOAT32, TensorType.INT8, TensorType.INT16, TensorType.INT32,
                   TensorType.INT64, TensorType.BOOL)


@dataclass
class ConcatenationParams:
    axis: int = 0
    inputs_count: int = 0


@dataclass
class OpData:
    params: ConcatenationParams


def init(context, node):
    return OpData(ConcatenationParams())


def prepare(context, node):
    data: OpData = node.user_data
    params = node.builtin_data or ConcatenationOptions()
    ensure(len(node.outputs) == 1, f"CONCATENATION has 1 output, got {len(node.outputs)}")
    ensure(1 <= len(node.inputs) <= MAX_INPUT_NUM,
           f"CONCATENATION takes 1 to {MAX_INPUT_NUM} inputs in TFLM, got {len(node.inputs)}")
    ensure(params.fused_activation_function == ActivationFunctionType.NONE,
           f"TFLM's CONCATENATION supports no fused activation (got "
           f"{_activation_name(params.fused_activation_function)})")
    inputs = [context.get_input(node, i) for i in range(len(node.inputs))]
    ensure(all(t is not None for t in inputs), "every CONCATENATION input must be a tensor")
    output = context.get_output(node, OUTPUT)
    if inputs[0].type not in SUPPORTED_TYPES:
        raise unsupported_type(node, inputs[0])
    ensure(output.type == inputs[0].type,
           f"output is {type_name(output.type)}, the inputs {type_name(inputs[0].type)}")
    for i, t in enumerate(inputs):
        ensure(t.type == inputs[0].type, f"input {i} is {type_name(t.type)}, input 0 "
                                         f"{type_name(inputs[0].type)}")
        ensure(len(t.shape) <= MAX_DIMENSIONS,
               f"input {i} has rank {len(t.shape)}; TFLM supports up to {MAX_DIMENSIONS}")
        _check_quantization(i, t, output)
    if output.type == TensorType.INT16:
        ensure(output.zero_point == 0, "int16 CONCATENATION needs an output zero point of 0")

    rank = len(output.shape)
    axis = params.axis + rank if params.axis < 0 else params.axis  # CalculatePositiveAxis
    ensure(0 <= axis < rank, f"axis {params.axis} is out of range for rank {rank} "
                             f"(valid: {-rank} to {rank - 1})")
    _check_shapes(inputs, output, axis)
    data.params.axis = axis
    data.params.inputs_count = len(inputs)


def _activation_name(activation):
    try:
        return ActivationFunctionType(activation).name
    except ValueError:
        return str(activation)


def _check_quantization(i, t, output):
    if t.type == TensorType.INT8:
        ensure(t.quantization is not None and output.quantization is not None,
               "int8 CONCATENATION needs quantized inputs and output")
        ensure(float(t.scale) == float(output.scale) and t.zero_point == output.zero_point,
               f"input {i} is quantized (scale {t.scale}, zero point {t.zero_point}) unlike "
               f"the output (scale {output.scale}, zero point {output.zero_point}); TFLM does "
               f"not rescale in CONCATENATION")
    elif t.type == TensorType.INT16:
        ensure(t.zero_point == 0, f"int16 input {i} needs zero point 0, has {t.zero_point}")


def _check_shapes(inputs, output, axis):
    rank = len(output.shape)
    total = 0
    for i, t in enumerate(inputs):
        ensure(len(t.shape) == rank,
               f"input {i} has rank {len(t.shape)}, the output rank {rank}")
        for d in range(rank):
            ensure(d == axis or t.shape[d] == output.shape[d],
                   f"input {i} {list(t.shape)} and output {list(output.shape)} differ in "
                   f"dimension {d}, which is not the concatenation axis {axis}")
        total += t.shape[axis]
    ensure(total == output.shape[axis],
           f"the inputs add up to {total} along axis {axis}, the output has "
           f"{output.shape[axis]}")


def eval(context, node):
    data: OpData = node.user_data
    output = context.get_output(node, OUTPUT)
    values = [context.get_input(node, i).data for i in range(data.params.inputs_count)]
    output.data[...] = concatenation(values, data.params.axis)


# ----------------------------------------------------------------------------- reference math


def concatenation(values, axis):
    """reference_ops::Concatenation: for each outer index, copy every input's slab (its
    size along the axis times the inner size) in turn - which is np.concatenate."""
    return np.concatenate(values, axis=axis)


def register_concatenation():
    return Registration("CONCATENATION", prepare=prepare, eval=eval, init=init,
                        max_version=5)


def arena_prepare(k):
    """ConcatenationPrepare: input 0 and the output, then every input."""
    k.temp_input(0)
    k.temp_output(0)
    for i in range(k.num_inputs):
        k.temp_input(i)


# The C structs this kernel puts in the arena, member by member as TFLM declares them
# (tflm_edu.memory.layout lays them out for each target).
c_struct("TfLiteConcatenationParams", BUILTIN, m("axis", "int"), m("activation", "enum"))
c_struct("ConcatenationParams", TYPES, m("axis", "int32"), m("input_zeropoint", "ptr"),
         m("input_scale", "ptr"), m("inputs_count", "int32"), m("output_zeropoint", "int32"),
         m("output_scale", "float"))
c_struct("OpDataConcatenation", KERNELS + "concatenation.cc (OpData)",
         m("params", "ConcatenationParams"),
         m("scratch_indices", "int", 10, compression_only=True))

SPEC = OpSpec(Op.CONCATENATION, register_concatenation, ConcatenationOptions, SUPPORTED_TYPES,
              QuantizerRule(int8_version=2, output="same_scale", int16_version=3),
              ArenaRecipe("TfLiteConcatenationParams", "OpDataConcatenation",
                          arena_prepare))
