"""NEG: output = -input, element by element.

Mirrors tensorflow/lite/micro/kernels/neg.cc (NegEval), with the loop of
reference_ops::Negate (kernels/internal/reference/neg.h).

TFLM registers NEG with no Init and no Prepare, and its Eval takes float32 only (an int8
input fails the invoke). Negating a float flips its sign bit and nothing else: -0.0 for
0.0, and a NaN keeps its payload with the other sign. Eval writes as many elements as the
input has; Prepare here refuses an output of another size or type, which TFLM would write
past or misread.
"""
from __future__ import annotations

import numpy as np

from tflm_edu.kernels.kernel_api import Registration, ensure, unsupported_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, nothing
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType, type_name
from tflm_edu.schema.options import NegOptions

INPUT, OUTPUT = 0, 0   # kInputTensor, kOutputTensor
SUPPORTED_TYPES = (TensorType.FLOAT32,)


def prepare(context, node):
    """TFLM has no Prepare for NEG; this one only refuses what its Eval cannot run."""
    ensure(len(node.inputs) == 1, f"NEG takes 1 input, got {len(node.inputs)}")
    ensure(len(node.outputs) == 1, f"NEG has 1 output, got {len(node.outputs)}")
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    ensure(input is not None, "NEG needs an input tensor")
    if input.type not in SUPPORTED_TYPES:
        raise unsupported_type(node, input)
    ensure(output.type == input.type, f"input is {type_name(input.type)} but the output is "
                                      f"{type_name(output.type)}")
    ensure(input.num_elements == output.num_elements,
           f"input {list(input.shape)} and output {list(output.shape)} differ in size")


def eval(context, node):
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    output.data.reshape(-1)[...] = negate(input.data.reshape(-1))


def negate(x):
    """reference_ops::Negate: output_data[i] = -input_data[i]."""
    return np.negative(x)


def register_neg():
    return Registration("NEG", prepare=prepare, eval=eval, max_version=1)


SPEC = OpSpec(Op.NEG, register_neg, NegOptions, SUPPORTED_TYPES, None,
              ArenaRecipe(None, None, nothing))
