"""FLOOR, CEIL and ROUND: float32 to the integer below, above, or nearest (ties to even).

Mirrors tensorflow/lite/micro/kernels/floor.cc, ceil.cc and round.cc, with
reference_ops::Floor, Ceil (std::floor, std::ceil) and Round (RoundToNearest) of
kernels/internal/reference/{floor,ceil,round}.h. float32 only.

RoundToNearest is not rint: it takes f = floor(x) and returns f when x - f < 0.5 or when
it is exactly 0.5 and f is even, and f + 1.0 otherwise. The result differs from rint in
the sign of zero: -0.3 becomes -1 + 1 = +0.0 (rint gives -0.0). inf - floor(inf) is NaN, so
+-inf takes the "f + 1" branch and stays +-inf; NaN stays NaN.

TFLM's FLOOR has neither Init nor Prepare (its Eval checks the type at every invoke),
CEIL and ROUND a Prepare that checks: one float32 input, an output of the same type and
shape. tflm_edu's FLOOR checks the same at prepare.
"""
from __future__ import annotations

import numpy as np

from tflm_edu.kernels.kernel_api import Registration, ensure
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, inputs_then_output, nothing
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType, type_name

INPUT, OUTPUT = 0, 0
TYPES = (TensorType.FLOAT32,)


def prepare(context, node):
    """CeilPrepare / RoundPrepare (and FloorEval's type check)."""
    ensure(len(node.inputs) == 1, f"{node.op_name} takes 1 input, got {len(node.inputs)}")
    ensure(len(node.outputs) == 1, f"{node.op_name} has 1 output, got {len(node.outputs)}")
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    ensure(input is not None, f"{node.op_name} needs an input")
    ensure(input.type == TensorType.FLOAT32,
           f"{node.op_name} takes float32, got {type_name(input.type)}")
    ensure(output.type == input.type,
           f"the output is {type_name(output.type)}, the input float32")
    ensure(tuple(output.shape) == tuple(input.shape),
           f"output shape {list(output.shape)} differs from the input's {list(input.shape)}")


def make_eval(func):
    def eval(context, node):
        input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
        output.data[...] = func(input.data)
    return eval


# ----------------------------------------------------------------------------- reference math


def round_to_nearest(x):
    """reference_ops::RoundToNearest, element by element."""
    with np.errstate(invalid="ignore"):   # inf - inf: NaN, as in C
        floor_val = np.floor(x)
        diff = x - floor_val
        keep = (diff < np.float32(0.5)) | ((diff == np.float32(0.5)) & (floor_val % 2 == 0))
        return np.where(keep, floor_val, floor_val + np.float32(1.0)).astype(np.float32)


floor_eval, ceil_eval, round_eval = (make_eval(np.floor), make_eval(np.ceil),
                                     make_eval(round_to_nearest))


def register_floor():
    return Registration("FLOOR", prepare=prepare, eval=floor_eval)


def register_ceil():
    return Registration("CEIL", prepare=prepare, eval=ceil_eval)


def register_round():
    return Registration("ROUND", prepare=prepare, eval=round_eval)


# No Parse params and no OpData; FLOOR has no Prepare, CEIL's and ROUND's fetch the
# input and the output.
SPECS = [
    OpSpec(Op.FLOOR, register_floor, None, TYPES, None, ArenaRecipe(None, None, nothing)),
    OpSpec(Op.CEIL, register_ceil, None, TYPES, None,
           ArenaRecipe(None, None, inputs_then_output(1))),
    OpSpec(Op.ROUND, register_round, None, TYPES, None,
           ArenaRecipe(None, None, inputs_then_output(1))),
]
