"""BROADCAST_TO: repeat an input along its size-1 (and missing leading) dimensions to a
constant shape.

Mirrors tensorflow/lite/micro/kernels/broadcast_to.cc (ValidateOutputTensor,
BroadcastToPrepare, BroadcastToEval), with reference_ops::BroadcastTo<5>
(kernels/internal/reference/broadcast_to.h), which copies raw bytes: any tensor type but
string works, and quantization is not read.

Prepare follows TFLM: a constant 1-D shape tensor (int32 or int64; TFLM reads each int64
entry as int32), an output of the shape's rank (at most 5) and of exactly that shape, an
input of no larger rank whose every dimension is 1 or the shape's (numpy's broadcasting),
input and output of one type.
"""
from __future__ import annotations

import numpy as np

from tflm_edu.kernels.kernel_api import Registration, ensure
from tflm_edu.kernels.op_spec import ANY_TYPE, ArenaRecipe, OpSpec, inputs_then_output
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType, type_name

INPUT, SHAPE, OUTPUT = 0, 1, 0
MAX_DIMS = 5   # kMaxDims


def prepare(context, node):
    """BroadcastToPrepare and ValidateOutputTensor."""
    ensure(len(node.inputs) == 2, f"BROADCAST_TO takes 2 inputs, got {len(node.inputs)}")
    ensure(len(node.outputs) == 1, f"BROADCAST_TO has 1 output, got {len(node.outputs)}")
    input, shape = context.get_input(node, INPUT), context.get_input(node, SHAPE)
    output = context.get_output(node, OUTPUT)
    ensure(input is not None and shape is not None, "BROADCAST_TO needs an input and a shape")
    ensure(len(input.shape) <= MAX_DIMS, "BroadcastTo only supports 1-5D tensor.")
    ensure(shape.type in (TensorType.INT32, TensorType.INT64),
           f"the shape must be int32 or int64, got {type_name(shape.type)}")
    ensure(input.type == output.type,
           f"input is {type_name(input.type)} but the output is {type_name(output.type)}")
    ensure(input.type != TensorType.STRING, "BROADCAST_TO does not take strings")
    ensure(shape.is_constant and shape.data is not None,
           "Non-constant >shape< tensor is not supported")
    ensure(len(shape.shape) == 1, f"the shape tensor must be 1-D, got {list(shape.shape)}")
    target = [int(v) for v in shape.data.astype(np.int64).astype(np.int32)]  # int64 as int32
    ensure(len(output.shape) == len(target),
           "Output must match with the expected shape dimension.")
    ensure(len(input.shape) <= len(target),
           "Output shape must be broadcastable from input shape.")
    ensure(len(target) <= MAX_DIMS, "BroadcastTo only supports 1-5D tensor.")
    extending = len(target) - len(input.shape)
    for i, d in enumerate(input.shape):
        ensure(d == 1 or d == target[extending + i],
               "Output shape must be broadcastable from input shape.")
    ensure(list(output.shape) == target,
           f"output shape {list(output.shape)} is not the shape {target}")


def eval(context, node):
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    output.data[...] = broadcast_to(input.data, output.shape)


# ----------------------------------------------------------------------------- reference math


def broadcast_to(x, shape):
    """reference_ops::BroadcastTo: every output element copies the input element at its
    index, with 0 along the input's size-1 dimensions - np.broadcast_to."""
    return np.broadcast_to(x, tuple(shape))


def register_broadcast_to():
    return Registration("BROADCAST_TO", prepare=prepare, eval=eval, max_version=3)


# No Parse params, no Init; Prepare fetches input, shape and output.
SPEC = OpSpec(Op.BROADCAST_TO, register_broadcast_to, None, ANY_TYPE, None,
              ArenaRecipe(None, None, inputs_then_output(2)))
