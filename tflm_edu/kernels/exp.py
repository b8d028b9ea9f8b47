"""EXP: output = e^input, element by element, float32.

Mirrors tensorflow/lite/micro/kernels/exp.cc (ExpPrepare, ExpEval), with the loop of
reference_ops::Exp (kernels/internal/reference/exp.h): std::exp on each float.

std::exp on a float is the C library's expf. On the host that is glibc's (the tflite-micro
package links the system's libm.so.6, expf@GLIBC_2.27), which is not correctly rounded:
tflm_edu.kernels.libm.expf reproduces it - exp in float64 rounded once, and for the few
elements within a hair of a midpoint between two floats, glibc's expf itself. On a board
target (MicroInterpreter(..., target="cortex-m4f")) it is newlib's, libm.newlib_expf.

TFLM's Prepare wants a float32 input and an output of the same type, size and shape
(dimension by dimension). TFLite's version 2 of EXP is int8 / int16, which TFLM does not
implement.
"""
from __future__ import annotations

from tflm_edu.kernels.kernel_api import Registration, ensure, unsupported_type
from tflm_edu.kernels.libm import libm_of
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, inputs_then_output
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType, type_name
from tflm_edu.schema.options import ExpOptions

INPUT, OUTPUT = 0, 0   # kInputTensor, kOutputTensor
SUPPORTED_TYPES = (TensorType.FLOAT32,)


def prepare(context, node):
    """ExpPrepare."""
    ensure(len(node.inputs) == 1, f"EXP takes 1 input, got {len(node.inputs)}")
    ensure(len(node.outputs) == 1, f"EXP has 1 output, got {len(node.outputs)}")
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    ensure(input is not None, "EXP needs an input tensor")
    if input.type not in SUPPORTED_TYPES:
        raise unsupported_type(node, input)
    ensure(output.type == input.type, f"input is {type_name(input.type)} but the output is "
                                      f"{type_name(output.type)}")
    ensure(tuple(output.shape) == tuple(input.shape),
           f"EXP needs an output of the input's shape {list(input.shape)}, got "
           f"{list(output.shape)}")


def eval(context, node):
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    output.data[...] = libm_of(context).expf(input.data)


def register_exp():
    return Registration("EXP", prepare=prepare, eval=eval, max_version=2)


SPEC = OpSpec(Op.EXP, register_exp, ExpOptions, SUPPORTED_TYPES, None,
              ArenaRecipe(None, None, inputs_then_output(1)))
