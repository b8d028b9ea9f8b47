"""MIRROR_PAD: pad each dimension with a mirror image of the input's border.

Mirrors tensorflow/lite/micro/kernels/mirror_pad.cc (OpDataMirrorPad, GetInputDimension,
GetFlatIndex, MirrorPad, MirrorPadPrepare, MirrorPadEval).

Each output element is read from one input element: along each dimension, an index in
the left pad p < left maps to (left + offset - 1) - p, one in the right pad (p past the
input's end by r) to (size - 1 - offset) - r, the rest to p - left. offset is 1 for
REFLECT (the border element is not repeated: [1 2 3] padded by 2 is [3 2 1 2 3 2 1]) and
0 for SYMMETRIC (it is: [2 1 1 2 3 3 2]) - numpy's np.pad modes "reflect" and
"symmetric". An operator without MirrorPadOptions gets TfLiteMirrorPaddingParams with
mode "unknown", which the C++ treats as SYMMETRIC (tflm_edu's default options would
say REFLECT: Prepare tells the two apart).

TFLM reads the paddings (int32 or int64, shape [rank, 2]) at every Eval and checks only
their shape. Pads larger than the input allows (size - offset) would read outside it,
and the output's shape is trusted: Prepare (or Eval, for paddings that are not constant)
refuses both, and negative pads. Types: float32, int8.

Prepare requests two scratch buffers of one int per dimension (the element counts of
each dimension's step in the output and the input).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tflm_edu.errors import ModelError
from tflm_edu.kernels.kernel_api import Registration, ensure, unsupported_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule, inputs_then_output
from tflm_edu.memory.layout import BUILTIN, KERNELS, c_struct, m
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType, type_name
from tflm_edu.schema.options import MirrorPadOptions

INPUT, PADDINGS, OUTPUT = 0, 1, 0
REFLECT = 0   # MirrorPadMode in schema.fbs (SYMMETRIC = 1)
SUPPORTED_TYPES = (TensorType.FLOAT32, TensorType.INT8)


@dataclass
class OpDataMirrorPad:
    input_dims: int = 0
    output_size: int = 0
    offset: int = 0
    output_dims_num_elements_buffer_index: int = -1
    input_dims_num_elements_buffer_index: int = -1


def init(context, node):
    return OpDataMirrorPad()


def prepare(context, node):
    data: OpDataMirrorPad = node.user_data
    ensure(len(node.inputs) == 2, f"MIRROR_PAD takes 2 inputs, got {len(node.inputs)}")
    ensure(len(node.outputs) == 1, f"MIRROR_PAD has 1 output, got {len(node.outputs)}")
    input, paddings = context.get_input(node, INPUT), context.get_input(node, PADDINGS)
    output = context.get_output(node, OUTPUT)
    ensure(input is not None and paddings is not None, "MIRROR_PAD needs an input and paddings")
    ensure(len(paddings.shape) == 2 and paddings.shape[0] == len(input.shape)
           and paddings.shape[1] == 2,
           f"paddings must have shape [{len(input.shape)}, 2], got {list(paddings.shape)}")
    ensure(paddings.type in (TensorType.INT32, TensorType.INT64),
           f"paddings must be int32 or int64, got {type_name(paddings.type)}")
    if input.type not in SUPPORTED_TYPES:
        raise unsupported_type(node, input)
    ensure(output.type == input.type,
           f"the output is {type_name(output.type)}, the input {type_name(input.type)}")
    ensure(len(output.shape) == len(input.shape),
           f"output {list(output.shape)} and input {list(input.shape)} differ in rank")
    params = node.builtin_data
    data.offset = 1 if params is not None and params.mode == REFLECT else 0
    data.input_dims = len(input.shape)
    data.output_size = int(np.prod(output.shape))
    data.output_dims_num_elements_buffer_index = \
        context.request_scratch_buffer_in_arena(4 * data.input_dims)
    data.input_dims_num_elements_buffer_index = \
        context.request_scratch_buffer_in_arena(4 * data.input_dims)
    if paddings.is_constant and paddings.data is not None:
        check_paddings(paddings.data, input.shape, output.shape, data.offset)


def check_paddings(pads, input_shape, output_shape, offset):
    """Every pad at least 0 and at most size - offset (no read outside the input), and
    the output shape the padded input's."""
    pads = np.asarray(pads, np.int64).reshape(-1, 2)
    for d, (size, (left, right)) in enumerate(zip(input_shape, pads)):
        limit = size - offset
        ensure(0 <= left <= limit and 0 <= right <= limit,
               f"paddings {[int(left), int(right)]} of dimension {d} must lie in "
               f"[0, {limit}] (the input size {size}"
               f"{' minus 1: REFLECT does not repeat the border' if offset else ''})")
        ensure(output_shape[d] == size + left + right,
               f"output dimension {d} is {output_shape[d]}, but input {size} + paddings "
               f"{[int(left), int(right)]} make {size + left + right}")
    return pads


def eval(context, node):
    data: OpDataMirrorPad = node.user_data
    input, paddings = context.get_input(node, INPUT), context.get_input(node, PADDINGS)
    output = context.get_output(node, OUTPUT)
    try:
        pads = check_paddings(paddings.data, input.shape, output.shape, data.offset)
    except ModelError as e:
        raise ModelError(f"the paddings fed to MIRROR_PAD do not fit: {e}") from None
    output.data[...] = mirror_pad(input.data, pads, data.offset)


# ----------------------------------------------------------------------------- reference math


def mirror_pad(x, pads, offset):
    """MirrorPad: GetInputDimension along every axis - np.pad's reflect (offset 1) or
    symmetric (offset 0) mode, for pads of at most size - offset."""
    return np.pad(x, [tuple(int(v) for v in p) for p in pads],
                  mode="reflect" if offset else "symmetric")


def register_mirror_pad():
    return Registration("MIRROR_PAD", prepare=prepare, eval=eval, init=init, max_version=3)


c_struct("TfLiteMirrorPaddingParams", BUILTIN, m("mode", "enum"))
c_struct("OpDataMirrorPad", KERNELS + "mirror_pad.cc", m("input_dims", "int"),
         m("output_size", "int"), m("offset", "int"),
         m("output_dims_num_elements_buffer_index", "int"),
         m("input_dims_num_elements_buffer_index", "int"))

SPEC = OpSpec(Op.MIRROR_PAD, register_mirror_pad, MirrorPadOptions, SUPPORTED_TYPES,
              QuantizerRule(int8_version=2, output="same_as_input"),
              ArenaRecipe("TfLiteMirrorPaddingParams", "OpDataMirrorPad", inputs_then_output(2)))
