"""SHAPE: the input's dimensions, as a 1-D int32 tensor.

Mirrors tensorflow/lite/micro/kernels/shape.cc (ShapePrepare, ShapeEval / ExtractShape).
The input's data is never read - only its shape, which TFLM knows before the first invoke.

TensorFlow Lite can also write int64 (ShapeOptions.out_type); TFLM's Eval writes int32
only, so Prepare refuses another output type here rather than failing at invoke().
"""
from __future__ import annotations

import numpy as np

from tflm_edu.kernels.kernel_api import Registration, ensure
from tflm_edu.kernels.op_spec import ANY_TYPE, ArenaRecipe, OpSpec, nothing
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType, type_name
from tflm_edu.schema.options import ShapeOptions
from tflm_edu.memory.layout import BUILTIN, c_struct, m

INPUT, OUTPUT = 0, 0


def prepare(context, node):
    ensure(len(node.inputs) == 1, f"SHAPE takes 1 input, got {len(node.inputs)}")
    ensure(len(node.outputs) == 1, f"SHAPE has 1 output, got {len(node.outputs)}")
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    ensure(input is not None, "SHAPE needs an input tensor")
    ensure(output.type == TensorType.INT32,
           f"TFLM's SHAPE writes int32 only; the output is {type_name(output.type)}")
    rank = len(input.shape)
    ensure(output.num_elements == rank,
           f"the output {list(output.shape)} must hold {rank} values, one per dimension of "
           f"the input {list(input.shape)}")


def eval(context, node):
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    output.data.reshape(-1)[...] = extract_shape(input.shape)


# ----------------------------------------------------------------------------- reference math


def extract_shape(shape):
    """ExtractShape: output[i] = dims[i]."""
    return np.asarray(shape, dtype=np.int32).reshape(-1)


def register_shape():
    return Registration("SHAPE", prepare=prepare, eval=eval, max_version=1)


# The C structs this kernel puts in the arena, member by member as TFLM declares them
# (tflm_edu.memory.layout lays them out for each target).
c_struct("TfLiteShapeParams", BUILTIN, m("out_type", "enum"))

SPEC = OpSpec(Op.SHAPE, register_shape, ShapeOptions, ANY_TYPE, None,
              ArenaRecipe("TfLiteShapeParams", None, nothing))
