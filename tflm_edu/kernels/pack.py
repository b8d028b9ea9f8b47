"""PACK: stack values_count tensors of one shape along a new axis.

Mirrors tensorflow/lite/micro/kernels/pack.cc (PackImpl, PackEval). With inputs of shape
[A, B] and axis 1, the output is [A, values_count, B] and output[a, i, b] = input_i[a, b].

TFLM's PACK has no Prepare at all: it trusts values_count, the axis and every shape.
Here Prepare checks them (a values_count larger than the number of inputs would make
the C++ read tensors that do not exist), and Eval is a numpy stack.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tflm_edu.kernels.kernel_api import Registration, ensure, unsupported_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule, nothing
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType
from tflm_edu.schema.options import PackOptions
from tflm_edu.memory.layout import BUILTIN, c_struct, m

OUTPUT = 0
SUPPORTED_TYPES = (TensorType.FLOAT32, TensorType.INT8, TensorType.INT16, TensorType.INT32,
                   TensorType.INT64)


@dataclass
class OpDataPack:
    """Not in TFLM (it reads TfLitePackParams in Eval): the axis made non-negative."""

    axis: int = 0
    values_count: int = 0


def init(context, node):
    return OpDataPack()


def prepare(context, node):
    data: OpDataPack = node.user_data
    params = node.builtin_data or PackOptions()
    ensure(len(node.outputs) == 1, f"PACK has 1 output, got {len(node.outputs)}")
    output = context.get_output(node, OUTPUT)
    if output.type not in SUPPORTED_TYPES:
        raise unsupported_type(node, output)
    ensure(params.values_count >= 1, f"values_count is {params.values_count}; PACK needs at "
                                     f"least one value")
    ensure(params.values_count == len(node.inputs),
           f"values_count is {params.values_count} but the op has {len(node.inputs)} inputs")
    inputs = [context.get_input(node, i) for i in range(params.values_count)]
    ensure(all(t is not None for t in inputs), "every PACK input must be a tensor")
    shape = tuple(inputs[0].shape)
    for i, t in enumerate(inputs):
        ensure(t.type == output.type, f"input {i} is {TensorType(t.type).name}, the output "
                                      f"{TensorType(output.type).name}")
        ensure(tuple(t.shape) == shape,
               f"input {i} has shape {list(t.shape)}, input 0 {list(shape)}: PACK needs "
               f"inputs of one shape")
    rank = len(shape) + 1  # the output's rank
    ensure(-rank <= params.axis < rank,
           f"axis {params.axis} is out of range for an output of rank {rank} "
           f"(valid: {-rank} to {rank - 1})")
    data.axis = params.axis + rank if params.axis < 0 else params.axis
    data.values_count = params.values_count
    expected = shape[:data.axis] + (params.values_count,) + shape[data.axis:]
    ensure(tuple(output.shape) == expected,
           f"output shape {list(output.shape)} should be {list(expected)}")


def eval(context, node):
    data: OpDataPack = node.user_data
    output = context.get_output(node, OUTPUT)
    values = [context.get_input(node, i).data for i in range(data.values_count)]
    output.data[...] = pack(values, data.axis)


# ----------------------------------------------------------------------------- reference math


def pack(values, axis):
    """PackImpl: for each outer index k and input i, copy input_i's k-th block of
    copy_size elements to output block k * values_count + i - which is np.stack."""
    return np.stack(values, axis=axis)


def register_pack():
    return Registration("PACK", prepare=prepare, eval=eval, init=init, max_version=4)


# The C structs this kernel puts in the arena, member by member as TFLM declares them
# (tflm_edu.memory.layout lays them out for each target).
c_struct("TfLitePackParams", BUILTIN, m("values_count", "int"), m("axis", "int"))

SPEC = OpSpec(Op.PACK, register_pack, PackOptions, SUPPORTED_TYPES,
              QuantizerRule(int8_version=2, output="same_scale", int16_version=3),
              ArenaRecipe("TfLitePackParams", None, nothing))
