"""MAXIMUM and MINIMUM: the larger (smaller) of two tensors, element by element, with
numpy-style broadcasting.

Mirrors tensorflow/lite/micro/kernels/maximum_minimum.cc and maximum_minimum.h (MaximumOp,
MinimumOp, TFLiteOperation), with the loop of reference_ops::MaximumMinimumBroadcastSlow
(kernels/internal/reference/maximum_minimum.h), which walks the broadcast with
BroadcastBinaryOpSimple.

TFLM registers these two ops with no Init and no Prepare: nothing is computed ahead and
nothing is checked. Eval compares the stored values of the output's type, so:

  - quantized tensors are compared as raw integers - the scales and zero points are never
    read (the converter gives both inputs and the output one quantization);
  - the comparison is the C++ ternary, `a > b ? a : b` for MAXIMUM and `a < b ? a : b` for
    MINIMUM: when either is NaN, or the two are -0.0 and +0.0, the second input wins
    (np.maximum would spread NaN instead).

Types: float32, int8, int16, int32 and int64, as TFLM's Eval dispatches on the output's
type. What TFLM leaves unchecked and would read out of bounds on - inputs of another
type than the output, shapes that do not broadcast to the output's, ranks above 6 -
Prepare here refuses. (The broadcast loop itself goes to rank 8, but the RuntimeShape it
is handed holds at most 6 dimensions, kMaxSmallSize: a rank-7 or rank-8 shape overflows
it, and the tflite-micro package then answers rank-8 broadcasts with misplaced values.)
"""
from __future__ import annotations

import numpy as np

from tflm_edu.kernels.add import binary_op_tensors
from tflm_edu.kernels.kernel_api import Registration, ensure, unsupported_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule, nothing
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType
from tflm_edu.schema.options import MaximumMinimumOptions

INPUT1, INPUT2, OUTPUT = 0, 1, 0   # kInputTensor1, kInputTensor2, kOutputTensor
MAX_RANK = 6                       # RuntimeShape::kMaxSmallSize
SUPPORTED_TYPES = (TensorType.FLOAT32, TensorType.INT8, TensorType.INT16, TensorType.INT32,
                   TensorType.INT64)


def prepare(context, node):
    """TFLM has no Prepare for these ops; this one only refuses what its Eval would run
    off the end of a buffer on."""
    input1, input2, output = binary_op_tensors(context, node)
    if output.type not in SUPPORTED_TYPES:
        raise unsupported_type(node, output)
    rank = max(len(input1.shape), len(input2.shape), len(output.shape))
    ensure_rank_at_most_6(node, rank)


def ensure_rank_at_most_6(node, rank):
    ensure(rank <= MAX_RANK, f"{node.op_name} handles tensors up to rank {MAX_RANK} "
                             f"(TFLM's RuntimeShape holds no more); a tensor here has rank {rank}")


def maximum(x1, x2):
    """MaximumOp: el1 > el2 ? el1 : el2."""
    return np.where(x1 > x2, x1, x2)


def minimum(x1, x2):
    """MinimumOp: el1 < el2 ? el1 : el2."""
    return np.where(x1 < x2, x1, x2)


def _eval_with(op):
    def eval(context, node):
        input1, input2 = context.get_input(node, INPUT1), context.get_input(node, INPUT2)
        output = context.get_output(node, OUTPUT)
        output.data[...] = op(input1.data, input2.data).reshape(output.shape)
    return eval


def register_maximum():
    return Registration("MAXIMUM", prepare=prepare, eval=_eval_with(maximum), max_version=4)


def register_minimum():
    return Registration("MINIMUM", prepare=prepare, eval=_eval_with(minimum), max_version=4)


SPECS = [
    OpSpec(Op.MAXIMUM, register_maximum, MaximumMinimumOptions, SUPPORTED_TYPES,
           QuantizerRule(int8_version=2, output="same_scale", int16_version=4),
           ArenaRecipe(None, None, nothing)),
    OpSpec(Op.MINIMUM, register_minimum, MaximumMinimumOptions, SUPPORTED_TYPES,
           QuantizerRule(int8_version=2, output="same_scale", int16_version=4),
           ArenaRecipe(None, None, nothing)),
]
