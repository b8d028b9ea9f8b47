"""SELECT_V2: output = condition ? x : y, element by element, with broadcasting.

Mirrors tensorflow/lite/micro/kernels/select.cc (OpData, SelectInit, CheckBroadcastShape,
SelectPrepare, SelectEval), with reference_ops::Select and BroadcastSelect5DSlow
(kernels/internal/reference/select.h; despite the name it broadcasts up to rank 8, by
numpy's rules). TFLM registers SELECT_V2 only (not SELECT).

The values are copied, never converted: int8 and int16 x and y keep their bytes whatever
their quantization (TFLM compares no scales). Types: float32, int8, int16.

Prepare follows SelectPrepare: a bool condition, x and y of one type, and unless the three
inputs have the same shape (or all three and the output hold one element) the shapes must
broadcast to the output's, rank for rank (the output's rank is the largest input rank).
Prepare also refuses what TFLM leaves unchecked: an output of another type than x (TFLM
only changes the type of its temporary copy, Eval writes x's type), and with equal input
shapes an output of a different shape.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tflm_edu.kernels.kernel_api import Registration, ensure, unsupported_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule, inputs_then_output
from tflm_edu.memory.layout import KERNELS, c_struct, m
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType, type_name
from tflm_edu.schema.options import SelectV2Options

CONDITION, X, Y, OUTPUT = 0, 1, 2, 0
MAX_RANK = 8
SUPPORTED_TYPES = (TensorType.FLOAT32, TensorType.INT8, TensorType.INT16)


@dataclass
class OpData:
    requires_broadcast: bool = False


def init(context, node):
    return OpData()


def prepare(context, node):
    data: OpData = node.user_data
    ensure(len(node.inputs) == 3, f"SELECT_V2 takes 3 inputs, got {len(node.inputs)}")
    ensure(len(node.outputs) == 1, f"SELECT_V2 has 1 output, got {len(node.outputs)}")
    condition, x, y = (context.get_input(node, i) for i in (CONDITION, X, Y))
    output = context.get_output(node, OUTPUT)
    ensure(None not in (condition, x, y), "SELECT_V2 needs a condition, x and y")
    ensure(condition.type == TensorType.BOOL,
           f"the condition must be bool, got {type_name(condition.type)}")
    ensure(x.type == y.type, f"x is {type_name(x.type)} but y is {type_name(y.type)}")
    if x.type not in SUPPORTED_TYPES:
        raise unsupported_type(node, x)
    ensure(output.type == x.type,
           f"the output is {type_name(output.type)}; SELECT_V2 writes x's type, "
           f"{type_name(x.type)}")
    shapes = [tuple(t.shape) for t in (condition, x, y)]
    all_single = all(int(np.prod(s)) == 1 for s in shapes + [tuple(output.shape)])
    same_shape = shapes[0] == shapes[1] == shapes[2]
    data.requires_broadcast = not same_shape and not all_single
    if data.requires_broadcast:
        check_broadcast_shape(shapes, tuple(output.shape))
    elif same_shape and not all_single:
        ensure(tuple(output.shape) == shapes[0],
               f"output shape {list(output.shape)} differs from the inputs' {list(shapes[0])}")


def check_broadcast_shape(shapes, output_shape):
    """CheckBroadcastShape: aligned from the last axis, each input dimension is 1 or the
    largest (0 if any is 0), and the output has exactly that shape."""
    out_dims = max(len(s) for s in shapes)
    ensure(out_dims <= MAX_RANK, f"SELECT_V2 broadcasts up to rank {MAX_RANK}")
    ensure(len(output_shape) == out_dims,
           f"the output has rank {len(output_shape)}; the inputs broadcast to rank {out_dims}")
    for i in range(1, out_dims + 1):
        dims = [s[-i] if i <= len(s) else 1 for s in shapes]
        largest = 0 if min(dims) == 0 else max(dims)
        ensure(all(d in (1, largest) for d in dims),
               f"Given shapes are not broadcastable: {[list(s) for s in shapes]}")
        ensure(output_shape[-i] == largest,
               f"output shape {list(output_shape)} is not the broadcast shape of "
               f"{[list(s) for s in shapes]}")


def eval(context, node):
    condition, x, y = (context.get_input(node, i) for i in (CONDITION, X, Y))
    output = context.get_output(node, OUTPUT)
    output.data[...] = select(condition.data, x.data, y.data).reshape(output.shape)


# ----------------------------------------------------------------------------- reference math


def select(condition, x, y):
    """reference_ops::Select / BroadcastSelect5DSlow: x where the condition holds, else y,
    the three broadcast together; the values are copied bit for bit."""
    return np.where(condition, x, y)


def register_select_v2():
    return Registration("SELECT_V2", prepare=prepare, eval=eval, init=init, max_version=2)


c_struct("OpDataSelect", KERNELS + "select.cc (OpData)", m("requires_broadcast", "bool"))

SPEC = OpSpec(Op.SELECT_V2, register_select_v2, SelectV2Options, SUPPORTED_TYPES,
              QuantizerRule(int8_version=1, output="same_scale", int16_version=1),
              ArenaRecipe(None, "OpDataSelect", inputs_then_output(3)))
