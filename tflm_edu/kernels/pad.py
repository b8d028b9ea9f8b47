"""PAD and PADV2: surround the input with a constant, paddings[d] = [before, after] per
dimension.

Mirrors tensorflow/lite/micro/kernels/pad.cc and pad_common.cc (OpData with PadParams,
PadPrepare, PadEval), with the arithmetic of reference_ops::Pad / PadImageStyle (which
writes each output element in order: the pad value, or the next input element).

TFLM registers PAD and PADV2 with the same Init, Prepare and Eval: both take 2 or 3 inputs
(the converter writes PADV2 when the model gives constant_values), so PADV2 here is the
same registration under its own name.

The pad value: a third input (constant_values, a one-element tensor of the input's type)
if present; otherwise 0.0 for float32, the output zero point for int8 (the quantized
value of real 0.0), and 0 for int16 and int32.

On a microcontroller the output is sized by the converter, so the paddings must be a
constant int32 tensor with one [before, after] pair per dimension, and every output
dimension must equal input + before + after. Prepare also refuses negative paddings:
TFLM's loop would not crop with them but copy a shifted window of the input.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tflm_edu.kernels.kernel_api import Registration, ensure, unsupported_type
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, QuantizerRule
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType, type_name
from tflm_edu.schema.options import PadOptions, PadV2Options
from tflm_edu.memory.layout import KERNELS, TYPES, c_struct, m

INPUT, PADDINGS, CONSTANT_VALUES, OUTPUT = 0, 1, 2, 0
MAX_DIMENSIONS = 5  # PadKernelMaxDimensionCount()
SUPPORTED_TYPES = (TensorType.FLOAT32, TensorType.INT8, TensorType.INT16, TensorType.INT32)


@dataclass
class PadParams:
    left_padding_count: int = 0
    left_padding: list = field(default_factory=list)
    right_padding_count: int = 0
    right_padding: list = field(default_factory=list)
    resizing_category: str = "generic"  # "image_style" when only H and W of 4-D are padded


@dataclass
class OpData:
    params: PadParams
    output_zero_point: int = 0


def init(context, node):
    return OpData(PadParams())


def prepare(context, node):
    data: OpData = node.user_data
    ensure(len(node.inputs) in (2, 3),
           f"{node.op_name} takes 2 or 3 inputs, got {len(node.inputs)}")
    ensure(len(node.outputs) == 1, f"{node.op_name} has 1 output, got {len(node.outputs)}")
    input, paddings = context.get_input(node, INPUT), context.get_input(node, PADDINGS)
    constant_values = context.get_input(node, CONSTANT_VALUES) if len(node.inputs) == 3 else None
    output = context.get_output(node, OUTPUT)
    ensure(input is not None and paddings is not None,
           f"{node.op_name} needs an input and paddings")
    if input.type not in SUPPORTED_TYPES:
        raise unsupported_type(node, input)
    ensure(input.type == output.type, "input and output types differ")
    ensure(len(input.shape) <= MAX_DIMENSIONS,
           f"input has rank {len(input.shape)}; TFLM pads up to {MAX_DIMENSIONS} dimensions")
    ensure(len(input.shape) == len(output.shape),
           f"input {list(input.shape)} and output {list(output.shape)} differ in rank")
    if constant_values is not None:
        ensure(constant_values.type == input.type,
               f"constant_values is {type_name(constant_values.type)}, the input "
               f"{type_name(input.type)}")
        ensure(constant_values.num_elements == 1,
               f"constant_values must hold one value, has {constant_values.num_elements}")

    pads = _read_paddings(paddings, input, output)
    _fill_params(data.params, pads)
    if input.type == TensorType.INT8:
        _check_int8_pad_value(output, constant_values)
        data.output_zero_point = output.zero_point


def _read_paddings(paddings, input, output):
    rank = len(output.shape)
    ensure(paddings.is_constant and paddings.data is not None,
           "Non-constant paddings tensor is not supported: TFLM sizes the output before "
           "the first invoke")
    ensure(paddings.type == TensorType.INT32,
           f"paddings must be int32, got {type_name(paddings.type)}")
    ensure(paddings.num_elements == 2 * rank,
           f"paddings has {paddings.num_elements} values; a rank-{rank} output needs "
           f"{2 * rank} (a [before, after] pair per dimension)")
    pads = paddings.data.reshape(rank, 2).astype(np.int64)
    ensure(bool((pads >= 0).all()), f"paddings {pads.tolist()} must not be negative")
    for d in range(rank):
        expected = input.shape[d] + pads[d, 0] + pads[d, 1]
        ensure(output.shape[d] == expected,
               f"output dimension {d} is {output.shape[d]}, but input {input.shape[d]} + "
               f"paddings {pads[d].tolist()} make {expected}")
    return pads


def _fill_params(params: PadParams, pads):
    rank = len(pads)
    params.left_padding_count = params.right_padding_count = rank
    params.left_padding = [int(p) for p in pads[:, 0]]
    params.right_padding = [int(p) for p in pads[:, 1]]
    # Only a label here: TFLM's image-style path is the generic loop as well.
    image_style = rank == 4 and not pads[0].any() and not pads[3].any()
    params.resizing_category = "image_style" if image_style else "generic"


def _check_int8_pad_value(output, constant_values):
    ensure(output.quantization is not None, "int8 PAD needs a quantized output")
    if constant_values is None:
        ensure(-128 <= output.zero_point <= 127,
               f"output zero point {output.zero_point} is outside the int8 range, so real 0 "
               f"cannot be the pad value")
    else:
        ensure(constant_values.quantization is not None
               and constant_values.zero_point == output.zero_point
               and float(constant_values.scale) == float(output.scale),
               "constant_values must be quantized like the output (same scale and zero "
               "point)")


def eval(context, node):
    data: OpData = node.user_data
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    constant_values = context.get_input(node, CONSTANT_VALUES) if len(node.inputs) == 3 else None
    if constant_values is not None:
        pad_value = constant_values.data.reshape(-1)[0]
    elif input.type == TensorType.INT8:
        pad_value = data.output_zero_point
    else:
        pad_value = 0
    pad(input.data, data.params, pad_value, output.data)


# ----------------------------------------------------------------------------- reference math


def pad(x, params: PadParams, pad_value, out):
    """reference_ops::Pad into `out`: every element is the pad value except the interior
    block [left, left + input size) on each axis, which is the input in order. The value
    is written with the output's dtype, so a float pad value keeps its exact bits."""
    out[...] = np.asarray(pad_value).astype(out.dtype)
    interior = tuple(slice(left, left + size)
                     for left, size in zip(params.left_padding, x.shape))
    out[interior] = x


def register_pad():
    return Registration("PAD", prepare=prepare, eval=eval, init=init, max_version=5)


def register_padv2():
    return Registration("PADV2", prepare=prepare, eval=eval, init=init, max_version=5)


def arena_prepare(k):
    """PadPrepare: input, paddings, constant_values (PADV2 only), output."""
    k.temp_input(0)
    k.temp_input(1)
    if k.num_inputs == 3:
        k.temp_input(2)
    k.temp_output(0)


# The C structs this kernel puts in the arena, member by member as TFLM declares them
# (tflm_edu.memory.layout lays them out for each target).
c_struct("PadParams", TYPES, m("left_padding_count", "int8"), m("left_padding", "int32", 5),
         m("right_padding_count", "int8"), m("right_padding", "int32", 5),
         m("resizing_category", "uint8"))
c_struct("OpDataPad", KERNELS + "pad.h (OpData)", m("params", "PadParams"),
         m("output_zero_point", "int32"))

SPEC = OpSpec(Op.PAD, register_pad, PadOptions, SUPPORTED_TYPES,
              QuantizerRule(int8_version=2, output="same_as_input", int16_version=3),
              ArenaRecipe(None, "OpDataPad", arena_prepare))
SPEC_PADV2 = OpSpec(Op.PADV2, register_padv2, PadV2Options, SUPPORTED_TYPES,
                    QuantizerRule(int8_version=2, output="same_scale", int16_version=3),
                    ArenaRecipe(None, "OpDataPad", arena_prepare))
SPECS = [SPEC, SPEC_PADV2]
