"""UNPACK: split a tensor along one axis into `num` tensors with that axis removed.

Mirrors tensorflow/lite/micro/kernels/unpack.cc (UnpackImpl, UnpackEval). With an input
of shape [A, N, B] and axis 1, output i has shape [A, B] and output_i[a, b] =
input[a, i, b] - PACK run backwards.

TFLM's UNPACK has neither Init nor Prepare: Eval trusts TfLiteUnpackParams (num, axis;
a negative axis counts from the end) and writes num outputs, each of the size it
computes. Prepare here checks what that trust assumes: num equal to the number of
outputs and to the input's size along the axis, the axis in range, and every output of
the input's type and of the input's shape without the axis. Types: float32, int32,
int16, int8 (bytes copied, quantization untouched).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tflm_edu.kernels.kernel_api import Registration, ensure, unsupported_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule, nothing
from tflm_edu.memory.layout import BUILTIN, c_struct, m
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType, type_name
from tflm_edu.schema.options import UnpackOptions

INPUT = 0
SUPPORTED_TYPES = (TensorType.FLOAT32, TensorType.INT32, TensorType.INT16, TensorType.INT8)


@dataclass
class OpDataUnpack:
    """Not in TFLM (its Eval reads TfLiteUnpackParams): the axis made non-negative."""

    axis: int = 0
    num: int = 0


def init(context, node):
    return OpDataUnpack()


def prepare(context, node):
    data: OpDataUnpack = node.user_data
    params = node.builtin_data or UnpackOptions()
    ensure(len(node.inputs) == 1, f"UNPACK takes 1 input, got {len(node.inputs)}")
    input = context.get_input(node, INPUT)
    ensure(input is not None, "UNPACK needs an input")
    if input.type not in SUPPORTED_TYPES:
        raise unsupported_type(node, input)
    dims = len(input.shape)
    ensure(-dims <= params.axis < dims,
           f"axis {params.axis} is out of range for the {dims}-D input {list(input.shape)}")
    axis = params.axis + dims if params.axis < 0 else params.axis
    ensure(params.num >= 1 and params.num == len(node.outputs),
           f"num is {params.num} but the op has {len(node.outputs)} outputs")
    ensure(params.num == input.shape[axis],
           f"num is {params.num} but the input has {input.shape[axis]} entries along "
           f"axis {axis}")
    expected = tuple(input.shape[:axis]) + tuple(input.shape[axis + 1:])
    for i in range(params.num):
        output = context.get_output(node, i)
        ensure(output.type == input.type,
               f"output {i} is {type_name(output.type)}, the input {type_name(input.type)}")
        ensure(tuple(output.shape) == expected,
               f"output {i} has shape {list(output.shape)}; unpacking "
               f"{list(input.shape)} along axis {axis} gives {list(expected)}")
    data.axis, data.num = axis, params.num


def eval(context, node):
    data: OpDataUnpack = node.user_data
    input = context.get_input(node, INPUT)
    for i, piece in enumerate(unpack(input.data, data.axis)):
        output = context.get_output(node, i)
        output.data[...] = piece.reshape(output.shape)


# ----------------------------------------------------------------------------- reference math


def unpack(x, axis):
    """UnpackImpl: output i takes, for each of the outer_size blocks, the i-th run of
    copy_size elements - x[..., i, ...] along the axis."""
    return [np.take(x, i, axis=axis) for i in range(x.shape[axis])]


def register_unpack():
    return Registration("UNPACK", prepare=prepare, eval=eval, init=init, max_version=5)


# ParseUnpack allocates TfLiteUnpackParams; no Init, no Prepare.
c_struct("TfLiteUnpackParams", BUILTIN, m("num", "int"), m("axis", "int"))

SPEC = OpSpec(Op.UNPACK, register_unpack, UnpackOptions, SUPPORTED_TYPES,
              QuantizerRule(int8_version=2, output="same_as_input", int16_version=4),
              ArenaRecipe("TfLiteUnpackParams", None, nothing))
