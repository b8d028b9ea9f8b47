"""SQUEEZE: drop axes of size 1 - the ones listed in squeeze_dims, or all of them.

Mirrors tensorflow/lite/micro/kernels/squeeze.cc (SqueezePrepare, SqueezeEval). The bytes
do not move: [1, 5, 1, 3] squeezed is [5, 3] (no squeeze_dims) or [1, 5, 3]
(squeeze_dims [2] or [-2]), and Eval copies the input's bytes to the output.

TFLM's Prepare refuses inputs above 8-D and a squeeze_dims entry that is out of range or
names an axis whose size is not 1; of the output it only checks that each kept axis is
at least as large as the input's (Eval then checks the byte counts are equal). Prepare
here asks for the exact squeezed shape. ParseSqueeze refuses more than 8 squeeze_dims
(they go into a fixed array).
"""
from __future__ import annotations

from dataclasses import dataclass

from tflm_edu.kernels.kernel_api import Registration, ensure
from tflm_edu.kernels.op_spec import (ANY_TYPE, ArenaRecipe, OpSpec, QuantizerRule,
                                      inputs_then_output)
from tflm_edu.schema.enums import NUMPY_DTYPE, BuiltinOperator as Op, type_name
from tflm_edu.schema.options import SqueezeOptions
from tflm_edu.memory.layout import BUILTIN, c_struct, m

INPUT, OUTPUT = 0, 0
MAX_SQUEEZE_DIMS = 8  # the size of TfLiteSqueezeParams::squeeze_dims and of the input rank


@dataclass
class OpDataSqueeze:
    """Not in TFLM (it keeps no OpData for SQUEEZE): the axes Prepare decided to drop."""

    should_squeeze: tuple = ()


def init(context, node):
    return OpDataSqueeze()


def prepare(context, node):
    data: OpDataSqueeze = node.user_data
    params = node.builtin_data or SqueezeOptions()
    ensure(len(node.inputs) == 1, f"SQUEEZE takes 1 input, got {len(node.inputs)}")
    ensure(len(node.outputs) == 1, f"SQUEEZE has 1 output, got {len(node.outputs)}")
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    ensure(input is not None, "SQUEEZE needs an input tensor")
    ensure(input.type in NUMPY_DTYPE, f"type {type_name(input.type)} is not supported by "
                                      f"SQUEEZE")
    ensure(input.type == output.type, f"input is {type_name(input.type)} but the output "
                                      f"is {type_name(output.type)}")
    shape = tuple(input.shape)
    ensure(len(shape) <= MAX_SQUEEZE_DIMS, f"SQUEEZE supports inputs of up to "
                                           f"{MAX_SQUEEZE_DIMS} dimensions; the input is "
                                           f"{list(shape)}")
    squeeze_dims = list(params.squeeze_dims or ())
    ensure(len(squeeze_dims) <= MAX_SQUEEZE_DIMS,
           f"squeeze_dims has {len(squeeze_dims)} entries; TFLM holds at most "
           f"{MAX_SQUEEZE_DIMS}")
    data.should_squeeze = should_squeeze(shape, squeeze_dims)
    expected = [d for d, dropped in zip(shape, data.should_squeeze) if not dropped]
    ensure(list(output.shape) == expected,
           f"output shape {list(output.shape)} should be {expected}: the input "
           f"{list(shape)} without the axes squeezed")


def should_squeeze(shape, squeeze_dims) -> tuple:
    """SqueezePrepare's should_squeeze: every axis of size 1 when squeeze_dims is empty,
    else the listed ones (negative counting from the end), each of which must be 1."""
    rank = len(shape)
    if not squeeze_dims:
        return tuple(d == 1 for d in shape)
    marked = [False] * rank
    for dim in squeeze_dims:
        current = dim + rank if dim < 0 else dim
        ensure(0 <= current < rank, f"squeeze_dims entry {dim} is out of range for a "
                                    f"{rank}-D input")
        ensure(shape[current] == 1, f"squeeze_dims entry {dim} names axis {current}, of "
                                    f"size {shape[current]}; only axes of size 1 squeeze")
        marked[current] = True
    return tuple(marked)


def eval(context, node):
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    # SqueezeEval: a memcpy of the input's bytes (the shapes only differ in 1s).
    output.data.reshape(-1)[...] = input.data.reshape(-1)


def register_squeeze():
    return Registration("SQUEEZE", prepare=prepare, eval=eval, init=init, max_version=2)


# The C structs this kernel puts in the arena, member by member as TFLM declares them
# (tflm_edu.memory.layout lays them out for each target).
c_struct("TfLiteSqueezeParams", BUILTIN, m("squeeze_dims", "int32", 8),
         m("num_squeeze_dims", "int"))

# SqueezeContext allocates a temporary tensor for the input, then one for the output.
SPEC = OpSpec(Op.SQUEEZE, register_squeeze, SqueezeOptions, ANY_TYPE,
              QuantizerRule(int8_version=1, output="same_as_input", int16_version=1),
              ArenaRecipe("TfLiteSqueezeParams", None, inputs_then_output(1)))
