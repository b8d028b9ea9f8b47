"""BROADCAST_ARGS: the shape two shapes broadcast to, computed from two 1-D shape tensors.

Mirrors tensorflow/lite/micro/kernels/broadcast_args.cc (BroadcastArgsPrepare,
BroadcastArgsEval), with reference_ops::BroadcastArgs
(kernels/internal/reference/broadcast_args.h).

Both shapes and the output are int32, or all three int64; all three 1-D. The output's
length is whatever the model declares: its entries are filled from the last, with each
shape's entries aligned at the end (a shape that has run out counts as 1): where one
side is 1 the other is taken, otherwise the two must be equal (TFLITE_CHECK_EQ: TFLM
aborts; here Eval fails with a ModelError). Each entry passes through a C int on the way,
so an int64 entry is truncated to 32 bits.
"""
from __future__ import annotations

import numpy as np

from tflm_edu.errors import ModelError
from tflm_edu.kernels.fixedpoint import wrap32
from tflm_edu.kernels.kernel_api import Registration, ensure
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, inputs_then_output
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType, type_name

SHAPE1, SHAPE2, OUTPUT = 0, 1, 0
TYPES = (TensorType.INT32, TensorType.INT64)


def prepare(context, node):
    ensure(len(node.inputs) == 2, f"BROADCAST_ARGS takes 2 inputs, got {len(node.inputs)}")
    ensure(len(node.outputs) == 1, f"BROADCAST_ARGS has 1 output, got {len(node.outputs)}")
    shape1, shape2 = context.get_input(node, SHAPE1), context.get_input(node, SHAPE2)
    output = context.get_output(node, OUTPUT)
    ensure(shape1 is not None and shape2 is not None, "BROADCAST_ARGS needs two shapes")
    ensure(shape1.type in TYPES, f"the shapes must be int32 or int64, got "
                                 f"{type_name(shape1.type)}")
    ensure(shape1.type == shape2.type == output.type,
           f"shape 1, shape 2 and the output must have one type; got "
           f"{type_name(shape1.type)}, {type_name(shape2.type)}, {type_name(output.type)}")
    for what, t in (("shape 1", shape1), ("shape 2", shape2), ("the output", output)):
        ensure(len(t.shape) == 1, f"{what} must be 1-D, got {list(t.shape)}")


def eval(context, node):
    shape1, shape2 = context.get_input(node, SHAPE1), context.get_input(node, SHAPE2)
    output = context.get_output(node, OUTPUT)
    output.data[...] = broadcast_args(shape1.data, shape2.data, output.shape[0])


# ----------------------------------------------------------------------------- reference math


def broadcast_args(shape1, shape2, length):
    """reference_ops::BroadcastArgs for an output of `length` entries."""
    def aligned(shape):   # the last `length` entries, 1s in front where it is shorter
        values = wrap32(np.asarray(shape, np.int64))   # through a C int
        padded = np.concatenate([np.ones(max(0, length - values.size), np.int64), values])
        return padded[padded.size - length:]

    s1, s2 = aligned(shape1), aligned(shape2)
    clash = (s1 != 1) & (s2 != 1) & (s1 != s2)
    if clash.any():
        raise ModelError(f"shapes {list(shape1)} and {list(shape2)} do not broadcast "
                         f"(TFLM's TFLITE_CHECK_EQ aborts)")
    return np.where(s1 == 1, s2, s1).astype(np.asarray(shape1).dtype)


def register_broadcast_args():
    return Registration("BROADCAST_ARGS", prepare=prepare, eval=eval)


SPEC = OpSpec(Op.BROADCAST_ARGS, register_broadcast_args, None, TYPES, None,
              ArenaRecipe(None, None, inputs_then_output(2)))
