"""ZEROS_LIKE: zeros of the input's type and size; the input's values are never read.

Mirrors tensorflow/lite/micro/kernels/zeros_like.cc (ZerosLikePrepare, ZerosLikeEval,
resetZeros). Types: int64, int32, int8 and float32.

TFLM's Eval writes as many zeros of the INPUT's type as the input has elements, whatever
the output tensor is (its Prepare sets the type only on a temporary copy of the output,
and MatchingFlatSize checks the sizes only in debug builds): a float32 input with an int8
output writes four bytes per element into one. Prepare here refuses an output of another
type or another element count, and an unsupported type (where TFLM fails at invoke).
"""
from __future__ import annotations

from tflm_edu.kernels.kernel_api import Registration, ensure, unsupported_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, inputs_then_output
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType, type_name
from tflm_edu.schema.options import ZerosLikeOptions

INPUT, OUTPUT = 0, 0
SUPPORTED_TYPES = (TensorType.INT64, TensorType.INT32, TensorType.INT8, TensorType.FLOAT32)


def prepare(context, node):
    ensure(len(node.inputs) == 1, f"ZEROS_LIKE takes 1 input, got {len(node.inputs)}")
    ensure(len(node.outputs) == 1, f"ZEROS_LIKE has 1 output, got {len(node.outputs)}")
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    ensure(input is not None, "ZEROS_LIKE needs an input tensor")
    ensure(output.type == input.type, f"the input is {type_name(input.type)} but the output "
                                      f"is {type_name(output.type)} (TFLM writes the input's "
                                      f"type)")
    ensure(output.num_elements == input.num_elements,
           f"the output {list(output.shape)} must have as many elements as the input "
           f"{list(input.shape)}")
    if input.type not in SUPPORTED_TYPES:
        raise unsupported_type(node, input)


def eval(context, node):
    output = context.get_output(node, OUTPUT)
    output.data[...] = 0  # resetZeros: static_cast<T>(0), +0.0 for float32


def register_zeros_like():
    return Registration("ZEROS_LIKE", prepare=prepare, eval=eval, max_version=1)


# ParseZerosLike allocates no params struct and ZEROS_LIKE has no Init: a temporary tensor
# for the input and one for the output are all.
SPEC = OpSpec(Op.ZEROS_LIKE, register_zeros_like, ZerosLikeOptions, SUPPORTED_TYPES, None,
              ArenaRecipe(None, None, inputs_then_output(1)))
