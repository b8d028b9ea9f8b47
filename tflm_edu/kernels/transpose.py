"""TRANSPOSE: reorder the axes of a tensor, output axis i being input axis perm[i].

Mirrors tensorflow/lite/micro/kernels/transpose.cc and transpose_common.cc
(TransposePrepare, TransposeEval), with the loop of reference_ops::Transpose
(kernels/internal/reference/transpose.h).

With an input of shape [N, H, W, C] and perm [0, 3, 1, 2] the output has shape
[N, C, H, W] and output[n, c, h, w] = input[n, h, w, c]. The C++ walks the output in
order and steps through the input with the stride of axis perm[depth] - exactly what
np.transpose does.

TFLM's Prepare checks little: rank 1 to 5, equal types, a constant 1-D perm with one
entry per input axis, each entry in range. It never checks that perm is a permutation
(with perm [0, 0] its Eval reads past the input) nor that the output tensor has the
permuted shape (its Eval loops over the output's declared shape). Prepare here refuses
both, and also an int64 perm, which TFLM would read as int32 pairs (a different perm).
Eval supports float32, int8 and int16 only, as TFLM's does.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tflm_edu.kernels.kernel_api import Registration, ensure, unsupported_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule, inputs_then_output
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType, type_name
from tflm_edu.schema.options import TransposeOptions

INPUT, PERM, OUTPUT = 0, 1, 0
MAX_DIMS = 5  # "Transpose op only supports 1D-5D input arrays."
SUPPORTED_TYPES = (TensorType.FLOAT32, TensorType.INT8, TensorType.INT16)


@dataclass
class TransposeParams:
    """tflite::TransposeParams, which TFLM's Eval fills from the perm tensor on every
    invoke; here Prepare fills it once (TFLM keeps no OpData for TRANSPOSE)."""

    perm_count: int = 0
    perm: tuple = field(default_factory=tuple)


def init(context, node):
    return TransposeParams()


def prepare(context, node):
    params: TransposeParams = node.user_data
    ensure(len(node.inputs) == 2, f"TRANSPOSE takes 2 inputs (input, perm), got "
                                  f"{len(node.inputs)}")
    ensure(len(node.outputs) == 1, f"TRANSPOSE has 1 output, got {len(node.outputs)}")
    input, perm = context.get_input(node, INPUT), context.get_input(node, PERM)
    output = context.get_output(node, OUTPUT)
    ensure(input is not None and perm is not None, "TRANSPOSE needs an input and a perm")
    dims = len(input.shape)
    ensure(1 <= dims <= MAX_DIMS, f"TRANSPOSE supports 1-D to {MAX_DIMS}-D inputs; the "
                                  f"input is {list(input.shape)}")
    ensure(input.type == output.type, f"input is {type_name(input.type)} but the output "
                                      f"is {type_name(output.type)}")
    if input.type not in SUPPORTED_TYPES:
        raise unsupported_type(node, input)
    params.perm = _read_perm(perm, dims)
    params.perm_count = dims
    expected = tuple(input.shape[p] for p in params.perm)
    ensure(tuple(output.shape) == expected,
           f"output shape {list(output.shape)} should be {list(expected)}: the input "
           f"{list(input.shape)} with its axes in the order {list(params.perm)}")


def _read_perm(perm, dims: int) -> tuple:
    ensure(perm.is_constant and perm.data is not None,
           "Non-constant perm tensor is not supported")
    ensure(perm.type == TensorType.INT32,
           f"perm must be int32 (TFLM reads it as int32), got {type_name(perm.type)}")
    ensure(len(perm.shape) == 1, f"perm must be 1-D, got shape {list(perm.shape)}")
    ensure(perm.shape[0] == dims,
           f"perm has {perm.shape[0]} entries; the input has {dims} dimensions")
    values = tuple(int(v) for v in perm.data.reshape(-1))
    ensure(all(0 <= v < dims for v in values),
           f"perm {list(values)} is out of bounds: each entry must be in [0, {dims - 1}]")
    ensure(sorted(values) == list(range(dims)),
           f"perm {list(values)} is not a permutation of 0..{dims - 1} (an axis repeats)")
    return values


def eval(context, node):
    params: TransposeParams = node.user_data
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    output.data[...] = transpose(input.data, params.perm)


# ----------------------------------------------------------------------------- reference math


def transpose(x, perm):
    """reference_ops::Transpose: output element by element in order, the input index
    stepping by input_stride[perm[depth]] along output axis depth - np.transpose."""
    return np.transpose(x, perm)


def register_transpose():
    return Registration("TRANSPOSE", prepare=prepare, eval=eval, init=init, max_version=8)


# TFLM's ParseTranspose allocates no params struct and TRANSPOSE has no Init: its only
# arena use is TransposeContext's three temporary tensors (input, perm, output).
SPEC = OpSpec(Op.TRANSPOSE, register_transpose, TransposeOptions, SUPPORTED_TYPES,
              QuantizerRule(int8_version=2, output="same_as_input", int16_version=5),
              ArenaRecipe(None, None, inputs_then_output(2)))
