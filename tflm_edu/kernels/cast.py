"""CAST: every element converted to the output tensor's type.

Mirrors tensorflow/lite/micro/kernels/cast.cc (CastPrepare, CastEval, copyToTensor,
copyCast): a static_cast per element, dispatched first on the input type, then on the
output type. The micro_speech audio preprocessor uses it to move between the integer types
of its signal ops (uint32 <-> int32, int16 -> int32, int32 -> int8) and, in its float
variant, int16 -> float32.

Types: the input and the output may each be int8, int16, int32, uint32, float32 or bool -
all 36 pairs. The TFLM source tree (commit 90b983c) writes no bool output; the tflite-micro
package, a newer build and the oracle here, does, so tflm_edu follows the package.

What each conversion does, as C++ defines it (and the package computes):
  integer -> integer   two's complement wrap-around: int32 300 -> int8 44
  integer -> float32   rounded to the nearest float32: int32 16777217 -> 16777216.0
  anything -> bool     0 is false, anything else true (NaN too)
  bool -> anything     0 or 1
  float32 -> integer   truncated toward zero, then SATURATED to the output's range, and NaN
                       becomes 0: 200.7 -> int8 127, -1.5 -> uint32 0, NaN -> 0.
The last line is the package's behaviour. In the source tree, float -> integer is a plain
static_cast, undefined in C++ for a value out of range (x86 gives INT32_MIN, an Arm VCVT
saturates to the int32 range): only values that fit convert the same everywhere.

TFLM's Prepare checks only the tensor counts. Its Eval copies as many elements as the
input has (MatchingFlatSize checks the output only in debug builds) and fails on a type it
does not know; Prepare here refuses both instead: an output with another element count
(TFLM would write past it) and a type outside the six.
"""
from __future__ import annotations

import numpy as np

from tflm_edu.kernels.kernel_api import Registration, ensure, unsupported_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, inputs_then_output
from tflm_edu.memory.layout import BUILTIN, c_struct, m
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType
from tflm_edu.schema.options import CastOptions

INPUT, OUTPUT = 0, 0
SUPPORTED_TYPES = (TensorType.INT8, TensorType.INT16, TensorType.INT32, TensorType.UINT32,
                   TensorType.FLOAT32, TensorType.BOOL)


def prepare(context, node):
    ensure(len(node.inputs) == 1, f"CAST takes 1 input, got {len(node.inputs)}")
    ensure(len(node.outputs) == 1, f"CAST has 1 output, got {len(node.outputs)}")
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    ensure(input is not None, "CAST needs an input tensor")
    for t in (input, output):
        if t.type not in SUPPORTED_TYPES:
            raise unsupported_type(node, t)
    ensure(input.num_elements == output.num_elements,
           f"the output {list(output.shape)} must have as many elements as the input "
           f"{list(input.shape)} ({input.num_elements})")


def eval(context, node):
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    output.data.reshape(-1)[...] = cast(input.data.reshape(-1), output.data.dtype)


# ----------------------------------------------------------------------------- reference math


def cast(x, dtype):
    """copyCast: static_cast<ToT>(x) element by element (float -> integer saturating, as
    the package does)."""
    dtype = np.dtype(dtype)
    if x.dtype.kind == "f" and dtype.kind in "iu":
        return float_to_integer(x, dtype)
    if dtype.kind == "b":
        return x != 0
    return x.astype(dtype)  # numpy wraps integers and rounds to float32 as C++ does


def float_to_integer(x, dtype):
    """Truncate toward zero, clamp to the integer type's range, NaN -> 0. In float64,
    where every int32 and uint32 bound is exact."""
    info = np.iinfo(dtype)
    truncated = np.trunc(x.astype(np.float64))
    clamped = np.clip(np.nan_to_num(truncated, nan=0.0), info.min, info.max)
    return clamped.astype(dtype)


def register_cast():
    return Registration("CAST", prepare=prepare, eval=eval, max_version=8)


# The C structs this kernel puts in the arena, member by member as TFLM declares them
# (tflm_edu.memory.layout lays them out for each target).
c_struct("TfLiteCastParams", BUILTIN, m("in_data_type", "enum"), m("out_data_type", "enum"))

# ParseCast allocates TfLiteCastParams; CAST has no Init, and its Prepare takes a temporary
# tensor for the input and one for the output.
SPEC = OpSpec(Op.CAST, register_cast, CastOptions, SUPPORTED_TYPES, None,
              ArenaRecipe("TfLiteCastParams", None, inputs_then_output(1)))
