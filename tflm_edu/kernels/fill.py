"""FILL: an output of a given shape, every element the same scalar value.

Mirrors tensorflow/lite/micro/kernels/fill.cc (FillPrepare, EnsureEq, FillEval) and
reference_ops::Fill (kernels/internal/reference/fill.h). The inputs are (dims, value):
with dims [2, 3] and value 1.5 the output is [[1.5, 1.5, 1.5], [1.5, 1.5, 1.5]].

TFLM allocates nothing dynamically, so the output's shape is fixed in the model; dims must
be a constant 1-D integer tensor (int8, int16, int32 or int64) that repeats it exactly, and
Prepare checks that, entry by entry. The value must be a scalar (rank 0) of the output's
type: float32, int32 or int8 (the only types Eval knows - Prepare refuses the others here,
where TFLM would fail at invoke).
"""
from __future__ import annotations

from tflm_edu.kernels.kernel_api import Registration, ensure, unsupported_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, inputs_then_output
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType, type_name
from tflm_edu.schema.options import FillOptions

DIMS, VALUE, OUTPUT = 0, 1, 0
SUPPORTED_TYPES = (TensorType.FLOAT32, TensorType.INT32, TensorType.INT8)
DIMS_TYPES = (TensorType.INT8, TensorType.INT16, TensorType.INT32, TensorType.INT64)


def prepare(context, node):
    ensure(len(node.inputs) == 2, f"FILL takes 2 inputs (dims, value), got {len(node.inputs)}")
    ensure(len(node.outputs) == 1, f"FILL has 1 output, got {len(node.outputs)}")
    dims, value = context.get_input(node, DIMS), context.get_input(node, VALUE)
    output = context.get_output(node, OUTPUT)
    ensure(dims is not None and value is not None, "FILL needs dims and a value")
    ensure(len(value.shape) == 0, f"the value must be a scalar, got shape {list(value.shape)}")
    ensure(value.type == output.type, f"the value is {type_name(value.type)} but the output "
                                      f"is {type_name(output.type)}")
    ensure(dims.is_constant and dims.data is not None,
           "Non-constant >dims< tensor is not supported")
    check_dims(dims, output.shape)
    if value.type not in SUPPORTED_TYPES:
        raise unsupported_type(node, value)


def check_dims(dims, output_shape) -> None:
    """EnsureEq: dims is 1-D, of an integer type, and equal to the output's shape."""
    ensure(len(dims.shape) == 1, f"dims must be 1-D, got shape {list(dims.shape)}")
    ensure(dims.type in DIMS_TYPES, f"dims is {type_name(dims.type)}; FILL compares "
                                    f"int8, int16, int32 or int64 dims only")
    values = [int(v) for v in dims.data.reshape(-1)]
    ensure(values == list(output_shape),
           f"dims {values} must equal the output's shape {list(output_shape)}")


def eval(context, node):
    value, output = context.get_input(node, VALUE), context.get_output(node, OUTPUT)
    output.data[...] = fill(value.data)


# ----------------------------------------------------------------------------- reference math


def fill(value):
    """reference_ops::Fill: the one value, everywhere (numpy broadcasts the scalar)."""
    return value.reshape(())


def register_fill():
    return Registration("FILL", prepare=prepare, eval=eval, max_version=4)


# ParseFill allocates no params struct and FILL has no Init: its Prepare's temporaries
# (dims, value, output) are all it puts in the arena.
SPEC = OpSpec(Op.FILL, register_fill, FillOptions, SUPPORTED_TYPES, None,
              ArenaRecipe(None, None, inputs_then_output(2)))
